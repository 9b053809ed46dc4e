//! `node-os`: the node's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use node_os::agent::KubeletOptions;
use node_os::join::{JoinConfig, Joined};
use node_os::kubelet::node::HeartbeatConfig;

#[derive(Parser, Debug)]
#[command(name = "node-os", version, about = "The node's one executable")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Join the cluster (or reuse this node's saved identity), then run as the node's kubelet.
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
    /// Join (or check the saved identity), print the result and exit without starting the
    /// kubelet, as for provisioning a machine ahead of its first boot.
    #[arg(long)]
    join_only: bool,
    /// The address reported as the node's InternalIP (default: the source address of the
    /// route to the API server).
    #[arg(long)]
    node_ip: Option<std::net::IpAddr>,
    /// Resources held back for the OS, as name=quantity pairs (cpu=100m,memory=256Mi).
    #[arg(long, default_value = "", value_parser = parse_reserved)]
    system_reserved: ReservedList,
    /// Resources held back for Kubernetes' node daemons, as name=quantity pairs.
    #[arg(long, default_value = "", value_parser = parse_reserved)]
    kube_reserved: ReservedList,
    /// The most pods this node runs.
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// The Lease duration; the Lease is renewed every quarter of it.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(i32).range(1..))]
    node_lease_duration_seconds: i32,
    /// How often Node status is computed and posted if it changed, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    node_status_update_frequency_seconds: u64,
    /// How often Node status is posted even when unchanged, in seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    node_status_report_frequency_seconds: u64,
    /// Registry settings, a JSON file: `{"hosts": {"HOST:PORT": {"insecure": true,
    /// "credentials": {"username": "..", "password": ".."}, "ca_files": [..]}},
    /// "mirrors": {"docker.io": ["http://HOST:PORT"]}}`.
    #[arg(long)]
    registry_config: Option<PathBuf>,
    /// A registry host (HOST:PORT) spoken to over plain HTTP; repeatable.
    #[arg(long)]
    insecure_registry: Vec<String>,
    /// The bridge pods attach to.
    #[arg(long, default_value = node_os::network::DEFAULT_BRIDGE)]
    pod_bridge: String,
    /// The kubelet API's port (logs, exec, port-forward for the API server).
    #[arg(long, default_value_t = node_os::kubelet::nodestatus::KUBELET_PORT)]
    kubelet_port: u16,
    /// Log filter, as RUST_LOG.
    #[arg(long, default_value = "warn")]
    log: String,
}

type ReservedList = std::collections::BTreeMap<String, i128>;

fn parse_reserved(s: &str) -> Result<ReservedList, String> {
    node_os::kubelet::quantity::parse_resource_list(s).map_err(|e| e.to_string())
}

/// Resolves on SIGTERM or SIGINT (ctrl-c), the two ways the node's supervisor or an operator
/// stops the agent.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

/// The registry settings from `--registry-config` and `--insecure-registry`.
fn registry_config(args: &AgentArgs) -> Result<node_image::RegistryConfig, String> {
    let mut cfg: node_image::RegistryConfig = match &args.registry_config {
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            serde_json::from_slice(&text).map_err(|e| format!("parsing {}: {e}", p.display()))?
        }
        None => Default::default(),
    };
    for h in &args.insecure_registry {
        cfg.hosts.entry(h.clone()).or_default().insecure = true;
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    // The container runtime re-executes this executable for everything that forks or enters
    // namespaces; those invocations must not get as far as the multi-threaded runtime.
    node_runtime::run_if_helper();
    let Command::Agent(args) = Cli::parse().command;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let Some(node_name) = args.node_name.clone().or_else(hostname) else {
        eprintln!("node-os: error: no --node-name given and no hostname to default to");
        return ExitCode::from(2);
    };
    let registries = match registry_config(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("node-os: error: {e}");
            return ExitCode::from(2);
        }
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
    let data_dir = cfg.data_dir.clone();
    let (node, joined) = match rt.block_on(node_os::agent::run(cfg)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("node-os: error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let how = match joined {
        Joined::New => "",
        Joined::Reused => " (reused the saved certificate)",
    };
    println!("node-os: joined as system:node:{}{how}", node.node_name);
    if args.join_only {
        return ExitCode::SUCCESS;
    }
    let opts = KubeletOptions {
        data_dir,
        node_ip: args.node_ip,
        max_pods: args.max_pods,
        system_reserved: args.system_reserved,
        kube_reserved: args.kube_reserved,
        heartbeat: HeartbeatConfig {
            lease_duration_seconds: args.node_lease_duration_seconds,
            status_update_frequency: Duration::from_secs(args.node_status_update_frequency_seconds),
            status_report_frequency: Duration::from_secs(args.node_status_report_frequency_seconds),
        },
        registries,
        pod_bridge: args.pod_bridge,
        kubelet_port: args.kubelet_port,
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = node_os::agent::run_kubelet(&node, opts) => r,
            _ = shutdown_signal() => {
                tracing::info!("stopping on signal");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => {
            println!("node-os: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("node-os: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
