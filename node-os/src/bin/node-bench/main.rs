//! `node-bench`: the node's benchmarks, printing `bench: <name> <value> <unit>` lines.
//!
//! `node-bench startup` builds `control`, `node-os` and the test image (release), starts a
//! registry (Debian's `docker-registry`), a control plane and one host-mode node on loopback,
//! then measures pod startup (creation to Running, seen through a watch) for 100 pods whose
//! image is already on the node, created at once and then again one every `--pace-ms`, the
//! agent's memory, and the runtime's container start beside Debian's `crun` starting the same
//! bundle. Needs root, as the node does.

mod cluster;
mod container;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "node-bench",
    about = "Benchmarks of the node's kubelet and runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pod startup latency on one host-mode node, agent memory, container start vs crun.
    Startup {
        /// Pods created at once.
        #[arg(long, default_value_t = 100)]
        pods: usize,
        /// Container starts timed for ours and for crun.
        #[arg(long, default_value_t = 20)]
        starts: usize,
        /// Milliseconds between pod creations in the paced round.
        #[arg(long, default_value_t = 100)]
        pace_ms: u64,
    },
    /// (internal) Times crun in a private mount namespace; see `container::crun_timer`.
    #[command(hide = true)]
    CrunTimer {
        #[arg(long)]
        bundle: std::path::PathBuf,
        #[arg(long)]
        state: std::path::PathBuf,
        #[arg(long)]
        starts: usize,
    },
}

fn main() -> ExitCode {
    // The runtime re-executes this program as its helper (container starts below).
    node_runtime::run_if_helper();
    let (pods, starts, pace_ms) = match Cli::parse().command {
        Command::Startup {
            pods,
            starts,
            pace_ms,
        } => (pods, starts, pace_ms),
        Command::CrunTimer {
            bundle,
            state,
            starts,
        } => {
            return match container::crun_timer(&bundle, &state, starts) {
                Ok(ms) => {
                    println!("{ms}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(pods, starts, pace_ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("node-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(pods: usize, starts: usize, pace_ms: u64) -> anyhow::Result<()> {
    let mut c = cluster::Cluster::start().await?;
    let result = async {
        let rss_idle_mb = c.warm_up().await?;
        let s = c.pod_startup(pods, None, "batch").await?;
        println!(
            "bench: pod_startup_p50_ms {:.1} ms ({pods} pods created at once)",
            s.p50_ms
        );
        println!("bench: pod_startup_p99_ms {:.1} ms", s.p99_ms);
        println!("bench: pod_startup_max_ms {:.1} ms", s.max_ms);
        println!("bench: agent_rss_idle_mb {rss_idle_mb:.1} MB");
        println!("bench: agent_rss_50_pods_mb {:.1} MB", s.rss_50_pods_mb);
        // Kubernetes measures its startup SLO on pods created at a steady rate, not in one
        // burst: the same count again, paced.
        let pace = std::time::Duration::from_millis(pace_ms);
        let p = c.pod_startup(pods, Some(pace), "paced").await?;
        println!(
            "bench: pod_startup_paced_p50_ms {:.1} ms (one pod every {pace_ms} ms)",
            p.p50_ms
        );
        println!("bench: pod_startup_paced_p99_ms {:.1} ms", p.p99_ms);
        let rootfs = c.flattened_testapp().await?;
        let (ours, crun) = container::compare(&rootfs, starts).await?;
        println!("bench: container_start_ms {ours:.1} ms (median of {starts})");
        match crun {
            Ok(v) => println!("bench: crun_start_ms {v:.1} ms (median of {starts})"),
            Err(e) => println!("bench: crun_start_ms unavailable ({e:#})"),
        }
        anyhow::Ok(())
    }
    .await;
    if result.is_err() {
        eprintln!("--- agent log (tail) ---\n{}", c.log_tail("agent.log", 30));
        eprintln!(
            "--- control log (tail) ---\n{}",
            c.log_tail("control.log", 15)
        );
        eprintln!("--- pods ---\n{}", c.log_tail("pods", 0));
    }
    c.stop().await;
    result
}
