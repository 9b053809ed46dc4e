//! `node-os`: the node's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use node_os::join::{JoinConfig, Joined};

#[derive(Parser, Debug)]
#[command(name = "node-os", version, about = "The node's one executable")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Join the cluster (or reuse this node's saved identity) as the kubelet would.
    Agent(AgentArgs),
}

#[derive(clap::Args, Debug)]
struct AgentArgs {
    /// Where the node keeps its state (kubelet.kubeconfig).
    #[arg(long)]
    data_dir: PathBuf,
    /// The API server, https://HOST:PORT.
    #[arg(long)]
    server: String,
    /// Bootstrap token, as printed by `control token create`.
    #[arg(long)]
    token: String,
    /// Pin of the cluster CA's public key, sha256:HEX (printed by `control token create`).
    #[arg(long)]
    ca_hash: String,
    /// The node's name (default: the hostname).
    #[arg(long)]
    node_name: Option<String>,
    /// How long discovery waits for the server and for cluster-info to be signed with the
    /// token, in seconds.
    #[arg(long, default_value_t = 300)]
    discovery_timeout_seconds: u64,
    /// How long to wait for the node certificate to be approved and issued, in seconds.
    #[arg(long, default_value_t = 300)]
    approval_timeout_seconds: u64,
    /// Log filter, as RUST_LOG.
    #[arg(long, default_value = "warn")]
    log: String,
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

fn main() -> ExitCode {
    let Command::Agent(args) = Cli::parse().command;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let Some(node_name) = args.node_name.or_else(hostname) else {
        eprintln!("node-os: error: no --node-name given and no hostname to default to");
        return ExitCode::from(2);
    };
    let cfg = JoinConfig {
        data_dir: args.data_dir,
        server: args.server,
        token: args.token,
        ca_hash: args.ca_hash,
        node_name,
        discovery_timeout: Duration::from_secs(args.discovery_timeout_seconds),
        approval_timeout: Duration::from_secs(args.approval_timeout_seconds),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("node-os: error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(node_os::agent::run(cfg)) {
        Ok((node, joined)) => {
            let how = match joined {
                Joined::New => "",
                Joined::Reused => " (reused the saved certificate)",
            };
            println!("node-os: joined as system:node:{}{how}", node.node_name);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("node-os: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
