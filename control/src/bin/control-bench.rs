//! `control-bench`: benchmarks of the store (against etcd in the same run) and of the API.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "control-bench",
    about = "Benchmarks that print `bench: <name> <value> <unit>` lines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The store against etcd 3.4 with the same workload, in one run.
    Store(control::bench::store::StoreBenchArgs),
    /// The API end to end over HTTPS.
    Api(control::bench::api::ApiBenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.command {
            Command::Store(a) => control::bench::store::run(a).await,
            Command::Api(a) => control::bench::api::run(a).await,
        }
    })
}
