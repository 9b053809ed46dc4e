//! `control`: the control-plane appliance's command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use control::apiserver::{self, Config};
use control_store::StoreOptions;

#[derive(Parser, Debug)]
#[command(
    name = "control",
    version,
    about = "Kubernetes-compatible control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the Kubernetes API from a data directory (created on first start).
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Where the store, the cluster CA and admin.kubeconfig live.
    #[arg(long)]
    data_dir: PathBuf,
    /// Address and port of the HTTPS API.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Range Service cluster IPs are allocated from.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// Range NodePorts are allocated from, as FIRST-LAST.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// How often history older than one interval is compacted, in seconds (0 = never).
    #[arg(long, default_value_t = 300)]
    compaction_interval_seconds: u64,
    /// Do not run the scheduler loop (pods stay pending unless something else binds them).
    #[arg(long)]
    disable_scheduler: bool,
    /// Do not run the workload controllers (ReplicaSet, ReplicationController, Deployment).
    #[arg(long)]
    disable_controllers: bool,
    /// Do not run the node lifecycle loop (node health, taints, taint-based eviction).
    #[arg(long)]
    disable_node_lifecycle: bool,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    node_monitor_period: jiff::SignedDuration,
    /// How long a node may go without a status or Lease renewal before it is Unknown.
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    node_monitor_grace_period: jiff::SignedDuration,
    /// How long a new node has to report Ready before it is Unknown.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    node_startup_grace_period: jiff::SignedDuration,
    /// Nodes per second whose pods may start being evicted, per healthy zone.
    #[arg(long, default_value_t = 0.1)]
    node_eviction_rate: f64,
    /// The eviction rate in a partially disrupted zone larger than the large-cluster threshold.
    #[arg(long, default_value_t = 0.01)]
    secondary_node_eviction_rate: f64,
    /// Zone size above which a partially disrupted zone uses the secondary rate (else 0).
    #[arg(long, default_value_t = 50)]
    large_cluster_size_threshold: u32,
    /// Range node pod CIDRs are allocated from.
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    /// Prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// Do not allocate pod CIDRs to nodes.
    #[arg(long)]
    disable_node_ipam: bool,
    /// Fraction of not-ready nodes at which a zone counts as partially disrupted.
    #[arg(long, default_value_t = 0.55)]
    unhealthy_zone_threshold: f64,
    /// Log filter, as RUST_LOG (e.g. info, control=debug).
    #[arg(long, default_value = "info")]
    log: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            let ports = match parse_port_range(&args.service_node_port_range) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: --service-node-port-range: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            let pod_cidrs = if args.disable_node_ipam {
                None
            } else {
                match control::loops::nodeipam::PodCidrs::new(
                    &args.cluster_cidr,
                    args.node_cidr_mask_size,
                ) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        eprintln!("error: --cluster-cidr/--node-cidr-mask-size: {e}");
                        return std::process::ExitCode::from(2);
                    }
                }
            };
            let store = StoreOptions {
                compaction_interval: (args.compaction_interval_seconds > 0)
                    .then(|| std::time::Duration::from_secs(args.compaction_interval_seconds)),
                ..StoreOptions::default()
            };
            let config = Config {
                data_dir: args.data_dir,
                listen: args.listen,
                service_cidr: args.service_cluster_ip_range,
                node_port_range: ports,
                store,
                run_scheduler: !args.disable_scheduler,
                run_controllers: !args.disable_controllers,
                pod_cidrs,
                node_lifecycle: (!args.disable_node_lifecycle).then(|| {
                    control_nodelifecycle::Config {
                        node_monitor_period: args.node_monitor_period,
                        node_monitor_grace_period: args.node_monitor_grace_period,
                        node_startup_grace_period: args.node_startup_grace_period,
                        eviction_rate: args.node_eviction_rate,
                        secondary_eviction_rate: args.secondary_node_eviction_rate,
                        large_cluster_size_threshold: args.large_cluster_size_threshold,
                        unhealthy_zone_threshold: args.unhealthy_zone_threshold,
                        ..control_nodelifecycle::Config::default()
                    }
                }),
            };
            if let Some(nl) = &config.node_lifecycle {
                if let Err(e) = nl.validate() {
                    eprintln!("error: node lifecycle settings: {e}");
                    return std::process::ExitCode::from(2);
                }
            }
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: starting the runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            match rt.block_on(apiserver::serve(config)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or("expected FIRST-LAST, e.g. 30000-32767")?;
    let a: u16 = a.trim().parse().map_err(|_| format!("bad port {a:?}"))?;
    let b: u16 = b.trim().parse().map_err(|_| format!("bad port {b:?}"))?;
    if a > b {
        return Err(format!("range {a}-{b} is empty"));
    }
    Ok((a, b))
}

fn parse_duration(s: &str) -> Result<jiff::SignedDuration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("{s:?} is not a duration such as 40s, 5m or 1h30m: {e}"))?;
    if d.is_negative() {
        return Err(format!("{s:?} is negative"));
    }
    Ok(d)
}
