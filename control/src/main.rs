//! `control`: the control-plane appliance's command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use control::apiserver::{self, Config};
use control_store::StoreOptions;

/// mimalloc instead of glibc's malloc: the API server and the loops allocate from many threads at
/// once, and glibc's arenas spent a third of the scheduler benchmark's CPU in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Register simulated nodes that heartbeat and play the kubelet for their pods (like
    /// kubemark's hollow nodes); killing the process stops every heartbeat at once.
    SimNodes(SimNodesArgs),
    /// Run the scheduler and controllers against an API server, under leader election: any
    /// number of these (and of `control serve`) may run, and exactly one of them acts.
    Controllers(ControllersArgs),
    /// Manage bootstrap tokens that let nodes join (`node-os agent --token ...`), as
    /// `kubeadm token` does.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Where `control token` finds the cluster: an admin kubeconfig, or the data directory of a
/// running `control serve` (its admin.kubeconfig).
#[derive(clap::Args, Debug)]
struct ClusterArgs {
    /// Admin kubeconfig (e.g. DATA_DIR/admin.kubeconfig).
    #[arg(long, conflicts_with = "data_dir")]
    kubeconfig: Option<PathBuf>,
    /// Data directory of a running `control serve`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token; prints it, then the command a node runs to join with it.
    Create {
        /// How long the token is valid (0: forever).
        #[arg(long, default_value = "24h", value_parser = parse_ttl)]
        ttl: jiff::SignedDuration,
        /// A note shown by `control token list`.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// List tokens.
    List {
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Delete a token, given its id or the whole token.
    Delete {
        id: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

/// The loops beside the API server (scheduler, controllers, node lifecycle) and their settings.
#[derive(clap::Args, Debug)]
struct BrainArgs {
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
}

/// What [`BrainArgs`] asks for, checked.
struct BrainParts {
    pod_cidrs: Option<control::loops::nodeipam::PodCidrs>,
    node_lifecycle: Option<control_nodelifecycle::Config>,
}

impl BrainArgs {
    fn parts(&self) -> Result<BrainParts, String> {
        let pod_cidrs = if self.disable_node_ipam {
            None
        } else {
            Some(
                control::loops::nodeipam::PodCidrs::new(
                    &self.cluster_cidr,
                    self.node_cidr_mask_size,
                )
                .map_err(|e| format!("--cluster-cidr/--node-cidr-mask-size: {e}"))?,
            )
        };
        let node_lifecycle =
            (!self.disable_node_lifecycle).then(|| control_nodelifecycle::Config {
                node_monitor_period: self.node_monitor_period,
                node_monitor_grace_period: self.node_monitor_grace_period,
                node_startup_grace_period: self.node_startup_grace_period,
                eviction_rate: self.node_eviction_rate,
                secondary_eviction_rate: self.secondary_node_eviction_rate,
                large_cluster_size_threshold: self.large_cluster_size_threshold,
                unhealthy_zone_threshold: self.unhealthy_zone_threshold,
                ..control_nodelifecycle::Config::default()
            });
        if let Some(nl) = &node_lifecycle {
            nl.validate()
                .map_err(|e| format!("node lifecycle settings: {e}"))?;
        }
        Ok(BrainParts {
            pod_cidrs,
            node_lifecycle,
        })
    }
}

/// `control controllers`: the scheduler and controllers against a remote API server.
#[derive(clap::Args, Debug)]
struct ControllersArgs {
    /// Kubeconfig with a client certificate (e.g. DATA_DIR/admin.kubeconfig).
    #[arg(long)]
    kubeconfig: PathBuf,
    #[command(flatten)]
    brain: BrainArgs,
    /// Log filter, as RUST_LOG.
    #[arg(long, default_value = "info")]
    log: String,
}

#[derive(clap::Args, Debug)]
struct SimNodesArgs {
    /// Kubeconfig with a client certificate (e.g. DATA_DIR/admin.kubeconfig).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// How many nodes to register.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Nodes are named PREFIX-0 .. PREFIX-(N-1).
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Allocatable CPU of each node.
    #[arg(long, default_value = "4")]
    cpu: String,
    /// Allocatable memory of each node.
    #[arg(long, default_value = "16Gi")]
    memory: String,
    /// Pods each node accepts.
    #[arg(long, default_value_t = 110)]
    pods: u32,
    /// topology.kubernetes.io/zone of every node.
    #[arg(long)]
    zone: Option<String>,
    /// Extra labels, as k=v,k2=v2.
    #[arg(long, default_value = "")]
    labels: String,
    /// Taints, as key[=value]:Effect,...
    #[arg(long, default_value = "")]
    taints: String,
    /// leaseDurationSeconds written into each Lease.
    #[arg(long, default_value_t = 40)]
    lease_duration_seconds: i32,
    /// How often each Lease is renewed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    renew_interval: jiff::SignedDuration,
    /// How long pods with restartPolicy Never/OnFailure run before they exit.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    job_duration: jiff::SignedDuration,
    /// Parallel API connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Log filter, as RUST_LOG.
    #[arg(long, default_value = "warn")]
    log: String,
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
    /// Another name or address for the API server's certificate (repeatable): the machine's
    /// addresses when listening on 0.0.0.0, a load balancer's name.
    #[arg(long = "extra-san")]
    extra_sans: Vec<String>,
    /// The URL nodes reach the API server at, published in kube-public/cluster-info.
    #[arg(long)]
    advertise_url: Option<String>,
    /// A file of bootstrap tokens (id.secret, one per line) to create at start when absent,
    /// so machines can be given their join token before the control plane first runs.
    #[arg(long)]
    bootstrap_token_file: Option<PathBuf>,
    #[command(flatten)]
    brain: BrainArgs,
    /// Log filter, as RUST_LOG (e.g. info, control=debug).
    #[arg(long, default_value = "info")]
    log: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::SimNodes(args) => sim_nodes(args),
        Command::Controllers(args) => controllers(args),
        Command::Token(cmd) => token(cmd),
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
            let brain = match args.brain.parts() {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            let bootstrap_tokens = match args
                .bootstrap_token_file
                .as_deref()
                .map(control::join::token::read_token_file)
                .transpose()
            {
                Ok(t) => t.unwrap_or_default(),
                Err(e) => {
                    eprintln!("error: --bootstrap-token-file: {e}");
                    return std::process::ExitCode::from(2);
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
                run_scheduler: !args.brain.disable_scheduler,
                run_controllers: !args.brain.disable_controllers,
                pod_cidrs: brain.pod_cidrs,
                node_lifecycle: brain.node_lifecycle,
                extra_sans: args.extra_sans,
                advertise_url: args.advertise_url,
                bootstrap_tokens,
            };
            block_on(
                &mut tokio::runtime::Builder::new_multi_thread(),
                apiserver::serve(config),
            )
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

/// A duration, or a bare `0` for "never expires", as `kubeadm token create --ttl 0`.
fn parse_ttl(s: &str) -> Result<jiff::SignedDuration, String> {
    if s.trim() == "0" {
        return Ok(jiff::SignedDuration::ZERO);
    }
    parse_duration(s)
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

fn sim_nodes(args: SimNodesArgs) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let taints: Result<Vec<_>, _> = args
        .taints
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| control::simnodes::parse_taint(t.trim()))
        .collect();
    let (taints, labels, cfg) = match (
        taints,
        control::simnodes::parse_labels(&args.labels),
        control::client::KubeConfig::load(&args.kubeconfig),
    ) {
        (Ok(t), Ok(l), Ok(c)) => (t, l, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let to_std = |d: jiff::SignedDuration| std::time::Duration::try_from(d).unwrap_or_default();
    let sim = control::simnodes::SimConfig {
        count: args.count,
        prefix: args.prefix,
        cpu: args.cpu,
        memory: args.memory,
        pods: args.pods,
        zone: args.zone,
        labels,
        taints,
        lease_duration_seconds: args.lease_duration_seconds,
        renew_interval: to_std(args.renew_interval).max(std::time::Duration::from_millis(100)),
        job_duration: args.job_duration,
        connections: args.connections.max(1),
        ..control::simnodes::SimConfig::default()
    };
    block_on(
        &mut tokio::runtime::Builder::new_multi_thread(),
        control::simnodes::run(cfg, sim),
    )
}

fn controllers(args: ControllersArgs) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let parts = match args.brain.parts() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let cfg = match control::client::KubeConfig::load(&args.kubeconfig) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let brain = control::loops::Brain {
        scheduler: !args.brain.disable_scheduler,
        controllers: !args.brain.disable_controllers,
        pod_cidrs: parts.pod_cidrs,
        node_lifecycle: parts.node_lifecycle,
        identity: control::leader::process_identity(),
    };
    eprintln!("controllers: campaigning as {}", brain.identity);
    block_on(
        &mut tokio::runtime::Builder::new_multi_thread(),
        async move {
            control::loops::start(cfg.clone(), cfg, brain);
            let _ = tokio::signal::ctrl_c().await;
            Ok(())
        },
    )
}

fn token(cmd: TokenCommand) -> std::process::ExitCode {
    use control::join::cli;
    let cluster = match &cmd {
        TokenCommand::Create { cluster, .. }
        | TokenCommand::List { cluster }
        | TokenCommand::Delete { cluster, .. } => cluster,
    };
    let cfg =
        match cli::admin_kubeconfig(cluster.kubeconfig.as_deref(), cluster.data_dir.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return std::process::ExitCode::from(2);
            }
        };
    block_on(&mut tokio::runtime::Builder::new_current_thread(), async {
        match cmd {
            TokenCommand::Create {
                ttl, description, ..
            } => {
                let created = cli::create(&cfg, Some(ttl), description).await?;
                out(&format!(
                    "{}\n{}\n",
                    created.token.expose(),
                    created.join_command
                ));
            }
            TokenCommand::List { .. } => {
                let tokens = cli::list(&cfg).await?;
                out(&cli::render_table(&tokens, jiff::Timestamp::now()));
            }
            TokenCommand::Delete { id, .. } => {
                let id = cli::delete(&cfg, &id).await?;
                out(&format!("bootstrap token \"{id}\" deleted\n"));
            }
        }
        anyhow::Ok(())
    })
}

/// Runs `main` to completion on the runtime `rt` builds. A runtime that cannot be built, or
/// an error from `main`, is printed and exits with 1.
fn block_on(
    rt: &mut tokio::runtime::Builder,
    main: impl std::future::Future<Output = anyhow::Result<()>>,
) -> std::process::ExitCode {
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(main) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Prints to stdout, ignoring a closed pipe (`control token create | head -1`).
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
}
