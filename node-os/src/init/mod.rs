//! node-os as PID 1 of the initramfs: the boot sequence, then the loop that supervises the
//! role's services until the machine powers off.
//!
//! Boot: leave the rootfs for a tmpfs root, mount the pseudo filesystems (cgroup v2 with its
//! controllers delegated), log to the console, load the image's kernel modules, watch the
//! power button, mount the state disk (or a tmpfs) on `/var`, seed the random generator,
//! bring up loopback and the kernel command line's `ip=`, read the machine config (maintenance
//! mode until there is a valid one), configure the interfaces (static and DHCP), set the
//! hostname, write `/etc`, then start the services ([`services::role_services`]).
//!
//! The state disk is mounted before the config is read, not after the network as one might
//! expect: the config may live on it (`file:` source), and the random seed does.
//!
//! PID 1 never exits and never lets a panic out: a fatal error, or a panic, puts the machine
//! in maintenance mode ([`maintenance`]), which still reaps and powers off on request.

pub mod console;
pub mod control_socket;
pub mod dhcp;
pub mod entropy;
pub mod etc;
pub mod events;
pub mod machineconfig;
pub mod maintenance;
pub mod modules;
pub mod mounts;
pub mod netconfig;
pub mod power;
pub mod services;
pub mod shutdown;
pub mod state;
pub mod supervisor;

use std::net::Ipv4Addr;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use node_config::cmdline::Cmdline;
use node_config::MachineConfig;

use crate::network::netlink::{Link, Netlink};
use console::say;
use events::{Event, Events};
use netconfig::LinkPlan;
use supervisor::{Backoff, ExitOutcome, Supervisor};

/// How long configured interfaces get to appear (drivers probe asynchronously).
const LINK_WAIT: Duration = Duration::from_secs(10);
/// How long boot waits for a first DHCP lease before going on without it (the lease keeps
/// being sought in the background).
const DHCP_WAIT: Duration = Duration::from_secs(30);

/// Whether this process is the machine's init: PID 1, or started as `/init` with no
/// arguments (as a test harness might).
pub fn is_init() -> bool {
    if rustix::process::getpid().is_init() {
        return true;
    }
    let mut args = std::env::args_os();
    let first = args.next();
    first.is_some_and(|a| a.to_string_lossy().ends_with("/init")) && args.next().is_none()
}

/// What the network setup learned.
#[derive(Default)]
struct NetState {
    static_addresses: Vec<Ipv4Addr>,
    dhcp_addresses: Vec<Ipv4Addr>,
    dhcp_dns: Vec<Ipv4Addr>,
}

impl NetState {
    fn node_ip(&self) -> Option<Ipv4Addr> {
        self.static_addresses
            .first()
            .or(self.dhcp_addresses.first())
            .copied()
    }

    fn all(&self) -> Vec<Ipv4Addr> {
        self.static_addresses
            .iter()
            .chain(&self.dhcp_addresses)
            .copied()
            .collect()
    }
}

/// PID 1's entry point.
pub fn main() -> ! {
    // Before any thread exists, so that every thread inherits the blocked signals.
    let ev = Events::new();
    let booted = std::panic::catch_unwind(AssertUnwindSafe(|| boot(&ev)));
    let mut sup = match booted {
        Ok(Ok(sup)) => sup,
        Ok(Err(e)) => maintenance::hold(&ev, &format!("{e:#}")),
        Err(_) => maintenance::hold(&ev, "internal error during boot (see the panic above)"),
    };
    loop {
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| supervise(&ev, &mut sup)));
        if run.is_err() {
            // A panic in one turn of the loop must not end PID 1: carry on supervising.
            say("internal error in the service loop (see the panic above); continuing");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Everything up to the services' start.
fn boot(ev: &Events) -> Result<Supervisor> {
    if mounts::root_is_initramfs() {
        if let Err(e) = mounts::leave_rootfs() {
            // Containers cannot start on rootfs, but the machine can still come up.
            eprintln!("node-os: staying on the initramfs root: {e}");
        }
    }
    mounts::mount_pseudo().context("mounting the pseudo filesystems")?;
    console::attach();
    let cmdline = Cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    let log_from_cmdline = cmdline.get("nodeos.log").map(str::to_string);
    let log = console::init_logging(log_from_cmdline.as_deref().unwrap_or("info"));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "node-os starting as PID 1"
    );
    // Ctrl-Alt-Del becomes SIGINT to PID 1 (a clean reboot) instead of an instant reset.
    if let Err(e) = rustix::system::reboot(rustix::system::RebootCommand::CadOff) {
        tracing::warn!("disabling Ctrl-Alt-Del reset: {e}");
    }
    match mounts::enable_cgroup_controllers() {
        Ok(c) => tracing::info!(controllers = ?c, "cgroup v2 mounted"),
        Err(e) => tracing::warn!("delegating cgroup controllers: {e}"),
    }
    modules::load_all();
    power::watch(&ev.requester());
    if let Err(e) = control_socket::serve(ev.requester()) {
        tracing::warn!("control socket {}: {e}", control_socket::SOCKET);
    }

    let state = state::mount_var()?;
    tracing::info!(?state, "state mounted on /var");
    match entropy::seed() {
        Ok(had) => tracing::debug!(saved_seed = had, "random seed mixed in and replaced"),
        Err(e) => tracing::warn!("random seed: {e}"),
    }
    write_identity();

    let mut nl = Netlink::open().context("opening a netlink socket")?;
    netconfig::loopback_up(&mut nl).context("bringing up lo")?;
    let mut net = NetState::default();
    if let Some(ip) = cmdline.ip() {
        match ip {
            Ok(ip) => {
                let links = wait_links(&mut nl, |links| {
                    netconfig::plan_ip_option(&ip, links).is_some()
                })?;
                match netconfig::plan_ip_option(&ip, &links) {
                    Some(plan) => configure(&mut nl, &[plan], None, &mut net),
                    None => tracing::warn!("ip=: no matching interface"),
                }
            }
            Err(e) => tracing::warn!("ignoring the kernel command line's {e}"),
        }
    }

    let (config, source) = maintenance::wait_for_config(ev, &cmdline);
    tracing::info!(
        source = %source.describe(), hostname = %config.hostname, role = ?config.role,
        "machine config read"
    );
    let log_filter = log_from_cmdline
        .or(config.log_level.clone())
        .unwrap_or_else(|| "info".into());
    log.set(&log_filter);

    let links = wait_links(&mut nl, |links| {
        netconfig::plan_config(&config.network, links).1.is_empty()
    })?;
    let (plans, missing) = netconfig::plan_config(&config.network, &links);
    for i in missing {
        tracing::error!("network.interfaces[{i}] matches no interface of this machine");
    }
    configure(&mut nl, &plans, Some(&config.hostname), &mut net);

    rustix::system::sethostname(config.hostname.as_bytes())
        .with_context(|| format!("setting the hostname to {}", config.hostname))?;
    let etc = [
        (
            "/etc/resolv.conf",
            etc::resolv_conf(&config.network.nameservers, &net.dhcp_dns),
        ),
        ("/etc/hosts", etc::hosts(&config.hostname, net.node_ip())),
    ];
    for (path, text) in etc {
        std::fs::write(path, text).with_context(|| format!("writing {path}"))?;
    }
    tracing::info!(hostname = %config.hostname, node_ip = ?net.node_ip(), addresses = ?net.all(), "network configured");

    start_role(&config, &net, &log_filter)
}

/// /etc/os-release and /etc/machine-id (kept on the state disk).
fn write_identity() {
    let _ = std::fs::create_dir_all("/etc");
    if let Err(e) = std::fs::write(
        "/etc/os-release",
        etc::os_release(env!("CARGO_PKG_VERSION")),
    ) {
        tracing::warn!("writing /etc/os-release: {e}");
    }
    match etc::ensure_machine_id(Path::new("/var/lib/nodeos/machine-id")) {
        Ok(id) => {
            if let Err(e) = std::fs::write("/etc/machine-id", format!("{id}\n")) {
                tracing::warn!("writing /etc/machine-id: {e}");
            }
        }
        Err(e) => tracing::warn!("machine id: {e}"),
    }
}

/// Lists links until `ready` holds for them or [`LINK_WAIT`] passes.
fn wait_links(nl: &mut Netlink, ready: impl Fn(&[Link]) -> bool) -> Result<Vec<Link>> {
    let until = Instant::now() + LINK_WAIT;
    loop {
        let links = nl.links().context("listing network interfaces")?;
        if ready(&links) || Instant::now() >= until {
            return Ok(links);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Applies the plans' static parts, then runs DHCP where asked (first lease waited for,
/// renewals on a thread of their own). Failures are logged: a machine with part of its
/// network still boots and reports.
fn configure(nl: &mut Netlink, plans: &[LinkPlan], hostname: Option<&str>, net: &mut NetState) {
    for p in plans {
        if let Err(e) = netconfig::apply(nl, p) {
            tracing::error!("{e}");
            continue;
        }
        net.static_addresses.extend(p.addresses.iter().map(|a| a.0));
        tracing::info!(interface = %p.link.name, addresses = ?p.addresses, dhcp = p.dhcp, "interface up");
    }
    for p in plans.iter().filter(|p| p.dhcp) {
        let mut client = match dhcp::Dhcp::new(p.link.clone(), hostname.map(str::to_string)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(interface = %p.link.name, "DHCP: {e}");
                continue;
            }
        };
        match client.acquire(DHCP_WAIT) {
            Ok(lease) => {
                net.dhcp_addresses.push(lease.address);
                net.dhcp_dns.extend(lease.dns.iter().copied());
            }
            Err(e) => tracing::warn!("{e}; still trying in the background"),
        }
        let name = format!("dhcp-{}", client.link().name);
        if let Err(e) = std::thread::Builder::new()
            .name(name)
            .spawn(move || client.maintain())
        {
            tracing::error!("starting the DHCP thread: {e}");
        }
    }
}

/// Writes what the services read, and makes the supervisor for the role.
fn start_role(config: &MachineConfig, net: &NetState, log: &str) -> Result<Supervisor> {
    services::write_secret(
        Path::new(services::TOKEN_FILE),
        format!("{}\n", config.cluster.token).as_bytes(),
    )
    .context("writing the bootstrap token file")?;
    if let Some(ctl) = &config.control {
        services::write_control_pki(&ctl.ca_cert, &ctl.ca_key)
            .context("writing the cluster CA for the control plane")?;
    }
    let specs = services::role_services(&services::Inputs {
        config,
        node_ip: net.node_ip(),
        addresses: net.all(),
        log: log.to_string(),
    })
    .map_err(anyhow::Error::msg)?;
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    tracing::info!(role = ?config.role, services = ?names, "starting the role's services");
    Supervisor::new(specs, Backoff::default()).map_err(anyhow::Error::msg)
}

/// One turn of the service loop: start what is due, probe readiness, wait for events.
fn supervise(ev: &Events, sup: &mut Supervisor) {
    let now = Instant::now();
    for i in sup.due(now) {
        let spec = sup.services()[i].spec.clone();
        match services::spawn(&spec) {
            Ok(pid) => {
                tracing::info!(service = %spec.name, pid, "started");
                sup.started(i, pid, now);
            }
            Err(e) => {
                let d = sup.start_failed(i, now);
                tracing::error!(service = %spec.name, "starting: {e}; retrying in {d:?}");
            }
        }
    }
    let mut became_ready = false;
    for (i, addr) in sup.unready() {
        if services::listening(addr) {
            tracing::info!(service = %sup.services()[i].spec.name, %addr, "ready");
            sup.mark_ready(i);
            became_ready = true;
        }
    }
    let now = Instant::now();
    let timeout = if became_ready {
        Duration::ZERO
    } else {
        sup.next_wakeup(now)
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(60))
    };
    for e in ev.wait(timeout.max(Duration::from_millis(1))) {
        match e {
            Event::Exited(list) => {
                for (pid, status) in list {
                    let how = events::describe_status(status);
                    match sup.exited(pid, Instant::now()) {
                        Some((i, ExitOutcome::Restart(d))) => tracing::warn!(
                            service = %sup.services()[i].spec.name,
                            "{how}; restarting in {d:?}"
                        ),
                        Some((i, ExitOutcome::Stopped)) => {
                            tracing::info!(service = %sup.services()[i].spec.name, "{how}")
                        }
                        None => tracing::debug!(pid, "reaped an orphan that {how}"),
                    }
                }
            }
            Event::Power(p, why) => shutdown::shutdown(ev, Some(sup), p, why),
        }
    }
}
