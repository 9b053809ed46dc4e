//! `control-bench`: benchmarks of the store (against etcd in the same run) and of the API.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "control-bench", about = "Benchmarks that print `bench: <name> <value> <unit>` lines")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The API end to end over HTTPS.
    Api(control::bench::api::ApiBenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        match cli.command {
            Command::Api(a) => control::bench::api::run(a).await,
        }
    })
}
