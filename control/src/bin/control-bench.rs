//! `control-bench`: benchmarks of the store (against etcd in the same run) and of the API.

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: the API server and the loops allocate from many threads at
/// once, and glibc's arenas spent a third of the scheduler benchmark's CPU in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// The scheduler: 10,000 pods onto 5,000 nodes, against kube-scheduler's published floor.
    Scheduler(control::bench::scheduler::SchedulerBenchArgs),
    /// Seconds from a node's last heartbeat to its pods running elsewhere.
    Eviction(control::bench::eviction::EvictionBenchArgs),
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
            Command::Scheduler(a) => control::bench::scheduler::run(a).await,
            Command::Eviction(a) => control::bench::eviction::run(a).await,
        }
    })
}
