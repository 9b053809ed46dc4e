//! `node-os`: the node's one executable. Started by the kernel as PID 1 it is the machine's
//! init ([`node_os::init`]); otherwise a command line: `agent` (the node's kubelet, also the
//! service PID 1 runs), the hidden `control-plane` service, and `poweroff`/`reboot`, which ask
//! a running init to stop the machine.

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
    /// The API server, store and control loops of a control machine, as PID 1 runs them.
    #[command(hide = true)]
    ControlPlane(ControlPlaneArgs),
    /// Ask the node's init (PID 1) to stop its services and power the machine off.
    Poweroff(PowerArgs),
    /// Ask the node's init (PID 1) to stop its services and reboot the machine.
    Reboot(PowerArgs),
}

#[derive(clap::Args, Debug)]
struct PowerArgs {
    /// The init's control socket.
    #[arg(long, default_value = node_os::init::control_socket::SOCKET)]
    socket: PathBuf,
}

/// `control-plane`: what a control machine's PID 1 starts (see `control serve` for the same
/// server as a standalone program).
#[derive(clap::Args, Debug)]
struct ControlPlaneArgs {
    /// Where the store, the cluster CA (pki/ca.crt, pki/ca.key) and admin.kubeconfig live.
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long, default_value = "0.0.0.0:6443")]
    listen: std::net::SocketAddr,
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// Range node pod CIDRs are allocated from (/24 each).
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    /// The URL nodes reach the API server at (published in cluster-info).
    #[arg(long)]
    advertise_url: Option<String>,
    /// Another name or address for the serving certificate (repeatable).
    #[arg(long = "extra-san")]
    extra_sans: Vec<String>,
    /// Bootstrap tokens (id.secret, one per line) to create at start when absent.
    #[arg(long)]
    bootstrap_token_file: Option<PathBuf>,
    /// Log filter, as RUST_LOG.
    #[arg(long, default_value = "info")]
    log: String,
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
    #[arg(
        long,
        required_unless_present = "token_file",
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// A file holding the bootstrap token (kept out of the process's command line).
    #[arg(long)]
    token_file: Option<PathBuf>,
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
    /// Taints the Node is registered with, key[=value]:Effect, comma separated (as
    /// kubelet's flag; only applied when the Node is created).
    #[arg(long, default_value = "", value_parser = parse_taints)]
    register_with_taints: TaintList,
    /// Labels the Node is registered with, key=value, comma separated.
    #[arg(long, default_value = "", value_parser = parse_labels)]
    node_labels: LabelList,
    /// Log filter, as RUST_LOG.
    #[arg(long, default_value = "warn")]
    log: String,
}

type TaintList = Vec<serde_json::Value>;
type LabelList = std::collections::BTreeMap<String, String>;

fn parse_taints(s: &str) -> Result<TaintList, String> {
    node_os::kubelet::nodestatus::parse_taints(s)
}

fn parse_labels(s: &str) -> Result<LabelList, String> {
    node_os::kubelet::nodestatus::parse_labels(s)
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
    // namespaces; those invocations must not get as far as the multi-threaded runtime. (They
    // may run as PID 1 of a new PID namespace, hence before the init check.)
    node_runtime::run_if_helper();
    if node_os::init::is_init() {
        node_os::init::main();
    }
    match Cli::parse().command {
        Command::Agent(args) => agent(args),
        Command::ControlPlane(args) => control_plane(args),
        Command::Poweroff(args) => power(&args, node_os::init::events::Power::Off),
        Command::Reboot(args) => power(&args, node_os::init::events::Power::Reboot),
    }
}

fn init_logging(filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn power(args: &PowerArgs, p: node_os::init::events::Power) -> ExitCode {
    match node_os::init::control_socket::request(&args.socket, p) {
        Ok(answer) if answer == "ok" => ExitCode::SUCCESS,
        Ok(answer) => {
            eprintln!("node-os: init answered: {answer}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "node-os: error: asking init through {}: {e}",
                args.socket.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn control_plane(args: ControlPlaneArgs) -> ExitCode {
    init_logging(&args.log);
    let tokens = match args
        .bootstrap_token_file
        .as_deref()
        .map(control::join::token::read_token_file)
        .transpose()
    {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => {
            eprintln!("node-os: error: --bootstrap-token-file: {e}");
            return ExitCode::from(2);
        }
    };
    let pod_cidrs = match control::loops::nodeipam::PodCidrs::new(&args.cluster_cidr, 24) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("node-os: error: --cluster-cidr: {e}");
            return ExitCode::from(2);
        }
    };
    let config = control::apiserver::Config {
        data_dir: args.data_dir,
        listen: args.listen,
        service_cidr: args.service_cluster_ip_range,
        node_port_range: (30000, 32767),
        store: control_store::StoreOptions::default(),
        run_scheduler: true,
        run_controllers: true,
        node_lifecycle: Some(control_nodelifecycle::Config::default()),
        pod_cidrs: Some(pod_cidrs),
        extra_sans: args.extra_sans,
        advertise_url: args.advertise_url,
        bootstrap_tokens: tokens,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("node-os: error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(control::apiserver::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("node-os: error: control plane: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn read_token(args: &AgentArgs) -> Result<String, String> {
    match (&args.token, &args.token_file) {
        (Some(t), _) => Ok(t.clone()),
        (None, Some(p)) => std::fs::read_to_string(p)
            .map(|t| t.trim().to_string())
            .map_err(|e| format!("reading --token-file {}: {e}", p.display())),
        (None, None) => Err("give --token or --token-file".into()),
    }
}

fn agent(args: AgentArgs) -> ExitCode {
    init_logging(&args.log);
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
    let token = match read_token(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("node-os: error: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = JoinConfig {
        data_dir: args.data_dir,
        server: args.server,
        token,
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
        register_with_taints: args.register_with_taints,
        node_labels: args.node_labels,
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
