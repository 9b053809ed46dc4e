//! The role's services and their processes. [`role_services`] decides, from the machine
//! config, which services this machine runs and with what arguments (pure); the rest starts
//! them as processes of this same executable, forwards their output to the console with a
//! `[name]` prefix, and probes their readiness.
//!
//! Services are separate processes, not threads of PID 1, because PID 1 reaps every child
//! with `waitpid(-1)`: a service that waits for children of its own (the runtime's helpers)
//! would have their exit statuses stolen if it lived in PID 1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use node_config::{MachineConfig, Role};

use super::supervisor::{Readiness, ServiceSpec};

pub const NODE_DATA_DIR: &str = "/var/lib/nodeos";
pub const CONTROL_DATA_DIR: &str = "/var/lib/control";
/// The bootstrap token, for the agent (`--token-file`) and the control plane
/// (`--bootstrap-token-file`): a file, so it never shows in a process's command line.
pub const TOKEN_FILE: &str = "/run/nodeos/bootstrap-token";
pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane:NoSchedule";
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane=";

/// What the services are built from besides the config.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub config: &'a MachineConfig,
    /// The node's InternalIP: its first static address, else its first DHCP address.
    pub node_ip: Option<Ipv4Addr>,
    /// Every address the machine has (the API server's certificate names them).
    pub addresses: Vec<Ipv4Addr>,
    /// The services' log filter.
    pub log: String,
}

/// Where the local agent reaches the API server on a control machine: its listen address,
/// or loopback when it listens on all addresses.
pub fn local_api(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, listen.port()))
    } else {
        listen
    }
}

fn agent(i: &Inputs, server: &str, control: bool) -> ServiceSpec {
    let c = i.config;
    let mut args: Vec<String> = [
        "agent",
        "--data-dir",
        NODE_DATA_DIR,
        "--server",
        server,
        "--token-file",
        TOKEN_FILE,
        "--ca-hash",
        &c.cluster.ca_hash,
        "--node-name",
        &c.hostname,
        "--log",
        &i.log,
    ]
    .map(String::from)
    .to_vec();
    if let Some(ip) = i.node_ip {
        args.extend(["--node-ip".into(), ip.to_string()]);
    }
    for r in &c.cluster.insecure_registries {
        args.extend(["--insecure-registry".into(), r.clone()]);
    }
    if control {
        args.extend(["--node-labels".into(), CONTROL_PLANE_LABEL.into()]);
        if !c.control.as_ref().is_some_and(|ctl| ctl.allow_workloads) {
            args.extend(["--register-with-taints".into(), CONTROL_PLANE_TAINT.into()]);
        }
    }
    ServiceSpec {
        name: "agent".into(),
        args,
        after: if control {
            vec!["control-plane".into()]
        } else {
            Vec::new()
        },
        ready: Readiness::Started,
    }
}

/// The services of the machine's role, in start order.
pub fn role_services(i: &Inputs) -> Result<Vec<ServiceSpec>, String> {
    let c = i.config;
    match (c.role, &c.control) {
        (Role::Worker, _) => Ok(vec![agent(i, &c.cluster.endpoint, false)]),
        (Role::Control, None) => Err("role control without a control section".into()),
        (Role::Control, Some(ctl)) => {
            let listen: SocketAddr = ctl
                .listen
                .parse()
                .map_err(|_| format!("control.listen {:?} is not ADDRESS:PORT", ctl.listen))?;
            let mut args: Vec<String> = [
                "control-plane",
                "--data-dir",
                CONTROL_DATA_DIR,
                "--listen",
                &ctl.listen,
                "--service-cluster-ip-range",
                &c.cluster.service_cidr,
                "--cluster-cidr",
                &c.cluster.pod_cidr,
                "--advertise-url",
                &c.cluster.endpoint,
                "--bootstrap-token-file",
                TOKEN_FILE,
                "--log",
                &i.log,
            ]
            .map(String::from)
            .to_vec();
            // The machine's addresses, the configured names, and the endpoint's host (a VIP or
            // a forwarded address nodes use), each once.
            let mut sans: Vec<String> = Vec::new();
            for s in i
                .addresses
                .iter()
                .map(|a| a.to_string())
                .chain(ctl.cert_sans.iter().cloned())
                .chain(endpoint_host(&c.cluster.endpoint))
            {
                if !sans.contains(&s) {
                    sans.push(s);
                }
            }
            for s in sans {
                args.extend(["--extra-san".into(), s]);
            }
            let local = local_api(listen);
            Ok(vec![
                ServiceSpec {
                    name: "control-plane".into(),
                    args,
                    after: Vec::new(),
                    ready: Readiness::Listening(local),
                },
                agent(i, &format!("https://{local}"), true),
            ])
        }
    }
}

/// `https://HOST:PORT` → HOST (brackets of an IPv6 literal removed).
pub fn endpoint_host(endpoint: &str) -> Option<String> {
    let hostport = endpoint.strip_prefix("https://")?;
    let host = match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => hostport,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| host.to_string())
}

/// Writes a secret file (0600), replacing any older one.
pub fn write_secret(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Puts the cluster CA from the machine config where the control plane loads it
/// (`<data-dir>/pki/ca.crt` and `ca.key`); the config is the source of truth on every boot.
pub fn write_control_pki(ca_cert: &str, ca_key: &str) -> std::io::Result<()> {
    let dir = Path::new(CONTROL_DATA_DIR).join("pki");
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    write_secret(&dir.join("ca.key"), ca_key.as_bytes())?;
    write_secret(&dir.join("ca.crt"), ca_cert.as_bytes())?;
    std::fs::set_permissions(
        dir.join("ca.crt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
}

/// Copies a service's output to the console line by line, each line prefixed.
fn forward(name: String, from: impl Read + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name(format!("{name}-output"))
        .spawn(move || {
            let mut r = BufReader::new(from);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let mut e = std::io::stderr().lock();
                        let _ = writeln!(e, "[{name}] {}", text.trim_end());
                    }
                }
            }
        });
}

/// Starts a service: this executable (`/proc/self/exe`) with the service's arguments, in its
/// own process group (so a signal meant for it reaches its helpers too), output forwarded.
pub fn spawn(spec: &ServiceSpec) -> std::io::Result<i32> {
    let mut cmd = Command::new("/proc/self/exe");
    // SAFETY: the closure runs in the forked child before exec and only calls sigemptyset
    // and pthread_sigmask, which are async-signal-safe and touch only its own stack. It is
    // needed because PID 1 blocks SIGTERM, SIGCHLD and others (see `events`), std keeps the
    // mask across exec, and a service with SIGTERM blocked would never stop.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = cmd
        .arg0("node-os")
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .env("PATH", "/")
        .process_group(0)
        .spawn()?;
    if let Some(out) = child.stdout.take() {
        forward(spec.name.clone(), out);
    }
    if let Some(err) = child.stderr.take() {
        forward(spec.name.clone(), err);
    }
    // PID 1's reaper collects the exit status; the Child handle is only dropped.
    Ok(child.id() as i32)
}

/// Whether `addr` accepts TCP connections now.
pub fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str = "
version: v1alpha1
hostname: cp-1
role: control
cluster:
  endpoint: https://10.10.0.2:6443
  token: abcdef.0123456789abcdef
  caHash: sha256:0000000000000000000000000000000000000000000000000000000000000000
  podCIDR: 10.244.0.0/16
control:
  caCert: '-----BEGIN CERTIFICATE-----'
  caKey: '-----BEGIN PRIVATE KEY-----'
  certSans: [api.example]
";

    fn inputs(c: &MachineConfig) -> Inputs<'_> {
        Inputs {
            config: c,
            node_ip: Some("10.10.0.2".parse().unwrap()),
            addresses: vec!["10.10.0.2".parse().unwrap()],
            log: "info".into(),
        }
    }

    fn flag<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == name)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn a_worker_runs_one_agent_joining_the_endpoint() {
        let text = CONTROL
            .replace("role: control", "role: worker")
            .split("control:\n")
            .next()
            .unwrap()
            .to_string();
        let c = MachineConfig::parse(&text).unwrap();
        let s = role_services(&inputs(&c)).unwrap();
        assert_eq!(s.len(), 1);
        let a = &s[0].args;
        assert_eq!(a[0], "agent");
        assert_eq!(flag(a, "--server"), ["https://10.10.0.2:6443"]);
        assert_eq!(flag(a, "--node-name"), ["cp-1"]);
        assert_eq!(flag(a, "--node-ip"), ["10.10.0.2"]);
        assert!(flag(a, "--register-with-taints").is_empty());
        assert!(
            !a.iter().any(|x| x.contains("0123456789abcdef")),
            "no token in argv"
        );
    }

    #[test]
    fn a_control_machine_runs_the_control_plane_then_a_tainted_agent_on_loopback() {
        let c = MachineConfig::parse(CONTROL).unwrap();
        let s = role_services(&inputs(&c)).unwrap();
        assert_eq!(s[0].name, "control-plane");
        assert_eq!(
            s[0].ready,
            Readiness::Listening("127.0.0.1:6443".parse().unwrap())
        );
        let cp = &s[0].args;
        assert_eq!(flag(cp, "--listen"), ["0.0.0.0:6443"]);
        assert_eq!(flag(cp, "--extra-san"), ["10.10.0.2", "api.example"]);
        assert_eq!(flag(cp, "--advertise-url"), ["https://10.10.0.2:6443"]);
        assert_eq!(flag(cp, "--cluster-cidr"), ["10.244.0.0/16"]);
        let a = &s[1].args;
        assert_eq!(s[1].after, ["control-plane"]);
        assert_eq!(flag(a, "--server"), ["https://127.0.0.1:6443"]);
        assert_eq!(flag(a, "--register-with-taints"), [CONTROL_PLANE_TAINT]);
        assert_eq!(flag(a, "--node-labels"), [CONTROL_PLANE_LABEL]);
    }

    #[test]
    fn allow_workloads_drops_the_taint_but_keeps_the_label() {
        let c = MachineConfig::parse(&format!("{CONTROL}  allowWorkloads: true\n")).unwrap();
        let s = role_services(&inputs(&c)).unwrap();
        assert!(flag(&s[1].args, "--register-with-taints").is_empty());
        assert_eq!(flag(&s[1].args, "--node-labels"), [CONTROL_PLANE_LABEL]);
    }

    #[test]
    fn endpoint_hosts_and_local_api_addresses() {
        assert_eq!(
            endpoint_host("https://10.0.0.1:6443").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            endpoint_host("https://api.example").as_deref(),
            Some("api.example")
        );
        assert_eq!(
            endpoint_host("https://[fd00::1]:6443").as_deref(),
            Some("fd00::1")
        );
        assert_eq!(
            local_api("0.0.0.0:6443".parse().unwrap()),
            "127.0.0.1:6443".parse().unwrap()
        );
        assert_eq!(
            local_api("10.0.0.2:443".parse().unwrap()),
            "10.0.0.2:443".parse().unwrap()
        );
    }
}
