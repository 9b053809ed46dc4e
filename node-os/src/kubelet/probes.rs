//! Liveness, readiness and startup probes as kubelet's prober workers run them
//! (pkg/kubelet/prober/worker.go): when each probe is due (initialDelaySeconds after the
//! container started, then every periodSeconds), how raw outcomes become results through
//! successThreshold and failureThreshold, the startup probe holding back the other two until
//! it succeeds, and a failed liveness or startup probe asking for a restart. Also what a probe
//! action targets (`httpGet` host, port by number or name, scheme; `tcpSocket`; `exec`).
//! Pure: the caller runs the action and passes the clock.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe as ProbeSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

/// A probe's current result, as the status manager sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Unknown,
    Success,
    Failure,
}

/// Timing and thresholds with Kubernetes' defaults (period 10 s, timeout 1 s, success 1,
/// failure 3; liveness and startup must have successThreshold 1, which validation enforces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timing {
    pub fn from_spec(p: &ProbeSpec) -> Timing {
        let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(0) as u64);
        Timing {
            initial_delay: secs(p.initial_delay_seconds, 0),
            period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// What the kubelet should do after a result was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changes.
    Keep,
    /// The result changed (readiness flips, startup completes).
    Changed(ProbeResult),
    /// Liveness or startup failed `failureThreshold` times: kill the container and let the
    /// restart policy decide, with kubelet's message.
    Restart(String),
}

/// One probe of one container instance.
#[derive(Debug, Clone)]
pub struct ProbeWorker {
    pub kind: Kind,
    pub timing: Timing,
    result: ProbeResult,
    /// Consecutive raw outcomes equal to `last_raw`.
    run: u32,
    last_raw: Option<ProbeResult>,
    next: Option<Instant>,
    /// After a liveness/startup failure, nothing more until the container is replaced.
    on_hold: bool,
}

impl ProbeWorker {
    pub fn new(kind: Kind, timing: Timing) -> ProbeWorker {
        ProbeWorker {
            kind,
            timing,
            result: Self::initial(kind),
            run: 0,
            last_raw: None,
            next: None,
            on_hold: false,
        }
    }

    /// kubelet's initial values: not ready until proven, alive until proven otherwise,
    /// startup unknown.
    fn initial(kind: Kind) -> ProbeResult {
        match kind {
            Kind::Readiness => ProbeResult::Failure,
            Kind::Liveness => ProbeResult::Success,
            Kind::Startup => ProbeResult::Unknown,
        }
    }

    pub fn result(&self) -> ProbeResult {
        self.result
    }

    /// A new instance of the container started at `at`: everything starts over.
    pub fn container_started(&mut self, at: Instant) {
        *self = ProbeWorker::new(self.kind, self.timing);
        self.next = Some(at + self.timing.initial_delay);
    }

    /// The container is no longer running: readiness drops, nothing is due.
    pub fn container_stopped(&mut self) {
        self.next = None;
        if self.kind == Kind::Readiness {
            self.result = ProbeResult::Failure;
        }
    }

    /// Whether the probe should run at `now`. Liveness and readiness wait for the startup
    /// probe (when there is one) to succeed; the startup probe stops once it has.
    pub fn due(&self, now: Instant, started: bool) -> bool {
        if self.on_hold {
            return false;
        }
        match self.kind {
            Kind::Startup if self.result == ProbeResult::Success => return false,
            Kind::Liveness | Kind::Readiness if !started => return false,
            _ => {}
        }
        self.next.is_some_and(|n| now >= n)
    }

    /// When the probe is next due (for the caller's timer).
    pub fn next_due(&self) -> Option<Instant> {
        (!self.on_hold).then_some(self.next).flatten()
    }

    /// Records one raw outcome (a timeout is a failure) observed at `now`.
    pub fn record(&mut self, raw_success: bool, now: Instant) -> Verdict {
        let raw = if raw_success {
            ProbeResult::Success
        } else {
            ProbeResult::Failure
        };
        self.next = Some(now + self.timing.period);
        if self.last_raw == Some(raw) {
            self.run += 1;
        } else {
            self.last_raw = Some(raw);
            self.run = 1;
        }
        let threshold = match raw {
            ProbeResult::Success => self.timing.success_threshold,
            _ => self.timing.failure_threshold,
        };
        if self.run < threshold || self.result == raw {
            return Verdict::Keep;
        }
        self.result = raw;
        if raw == ProbeResult::Failure && matches!(self.kind, Kind::Liveness | Kind::Startup) {
            self.on_hold = true;
            self.run = 0;
            let what = if self.kind == Kind::Liveness {
                "liveness"
            } else {
                "startup"
            };
            return Verdict::Restart(format!("failed {what} probe, will be restarted"));
        }
        Verdict::Changed(raw)
    }
}

/// The probes of one container instance, with the gating between them.
#[derive(Debug, Clone)]
pub struct ContainerProbes {
    pub liveness: Option<ProbeWorker>,
    pub readiness: Option<ProbeWorker>,
    pub startup: Option<ProbeWorker>,
}

impl ContainerProbes {
    pub fn for_container(c: &Container) -> ContainerProbes {
        let w = |k, p: &Option<ProbeSpec>| {
            p.as_ref()
                .map(|p| ProbeWorker::new(k, Timing::from_spec(p)))
        };
        ContainerProbes {
            liveness: w(Kind::Liveness, &c.liveness_probe),
            readiness: w(Kind::Readiness, &c.readiness_probe),
            startup: w(Kind::Startup, &c.startup_probe),
        }
    }

    pub fn container_started(&mut self, at: Instant) {
        for w in [&mut self.liveness, &mut self.readiness, &mut self.startup]
            .into_iter()
            .flatten()
        {
            w.container_started(at);
        }
    }

    pub fn container_stopped(&mut self) {
        for w in [&mut self.liveness, &mut self.readiness, &mut self.startup]
            .into_iter()
            .flatten()
        {
            w.container_stopped();
        }
    }

    /// `containerStatuses[].started`: the startup probe succeeded, or there is none.
    pub fn started(&self) -> bool {
        self.startup
            .as_ref()
            .is_none_or(|w| w.result() == ProbeResult::Success)
    }

    /// `containerStatuses[].ready` for a running container: started, and the readiness probe
    /// succeeded (or there is none).
    pub fn ready(&self) -> bool {
        self.started()
            && self
                .readiness
                .as_ref()
                .is_none_or(|w| w.result() == ProbeResult::Success)
    }

    /// The probes due at `now`.
    pub fn due(&self, now: Instant) -> Vec<Kind> {
        let started = self.started();
        [&self.startup, &self.liveness, &self.readiness]
            .into_iter()
            .flatten()
            .filter(|w| w.due(now, started))
            .map(|w| w.kind)
            .collect()
    }

    pub fn worker_mut(&mut self, k: Kind) -> Option<&mut ProbeWorker> {
        match k {
            Kind::Liveness => self.liveness.as_mut(),
            Kind::Readiness => self.readiness.as_mut(),
            Kind::Startup => self.startup.as_mut(),
        }
    }
}

/// What a probe does, resolved against the pod and container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec(Vec<String>),
    Http {
        scheme: String,
        host: String,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Grpc {
        host: String,
        port: u16,
        service: Option<String>,
    },
}

fn resolve_port(p: &IntOrString, c: &Container) -> Result<u16, String> {
    match p {
        IntOrString::Int(n) if (1..=65535).contains(n) => Ok(*n as u16),
        IntOrString::Int(n) => Err(format!("invalid port number: {n}")),
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            _ => c
                .ports
                .iter()
                .flatten()
                .find(|cp| cp.name.as_deref() == Some(s.as_str()))
                .map(|cp| cp.container_port as u16)
                .ok_or_else(|| format!("couldn't find port: {s} in {}", c.name)),
        },
    }
}

/// The action of `p` for container `c` of a pod whose IP is `pod_ip` (the default host).
pub fn action(p: &ProbeSpec, c: &Container, pod_ip: &str) -> Result<Action, String> {
    if let Some(e) = &p.exec {
        return Ok(Action::Exec(e.command.clone().unwrap_or_default()));
    }
    if let Some(h) = &p.http_get {
        let path = h.path.clone().unwrap_or_default();
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        return Ok(Action::Http {
            scheme: h
                .scheme
                .clone()
                .unwrap_or_else(|| "HTTP".into())
                .to_ascii_lowercase(),
            host: h
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| pod_ip.to_string()),
            port: resolve_port(&h.port, c)?,
            path,
            headers: h
                .http_headers
                .iter()
                .flatten()
                .map(|hh| (hh.name.clone(), hh.value.clone()))
                .collect(),
        });
    }
    if let Some(t) = &p.tcp_socket {
        return Ok(Action::Tcp {
            host: t
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| pod_ip.to_string()),
            port: resolve_port(&t.port, c)?,
        });
    }
    if let Some(g) = &p.grpc {
        return Ok(Action::Grpc {
            host: pod_ip.to_string(),
            port: u16::try_from(g.port).map_err(|_| format!("invalid port number: {}", g.port))?,
            service: g.service.clone(),
        });
    }
    Err("missing probe handler".into())
}

/// httpGet succeeds on 200 <= code < 400 (redirects to other hosts count as success too, as
/// kubelet does not follow them).
pub fn http_success(code: u16) -> bool {
    (200..400).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn timing(delay: u64, period: u64, success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(delay),
            period: Duration::from_secs(period),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn defaults_come_from_kubernetes() {
        let p: ProbeSpec = serde_json::from_value(json!({"exec": {"command": ["true"]}})).unwrap();
        assert_eq!(Timing::from_spec(&p), timing(0, 10, 1, 3));
    }

    #[test]
    fn probes_wait_for_the_initial_delay_then_run_every_period() {
        let t0 = Instant::now();
        let mut w = ProbeWorker::new(Kind::Readiness, timing(5, 10, 1, 3));
        assert!(!w.due(t0, true), "not before the container starts");
        w.container_started(t0);
        assert!(!w.due(t0 + Duration::from_secs(4), true));
        assert!(w.due(t0 + Duration::from_secs(5), true));
        w.record(true, t0 + Duration::from_secs(5));
        assert!(!w.due(t0 + Duration::from_secs(14), true));
        assert!(w.due(t0 + Duration::from_secs(15), true));
    }

    #[test]
    fn readiness_needs_success_threshold_and_drops_after_failure_threshold() {
        let t0 = Instant::now();
        let mut w = ProbeWorker::new(Kind::Readiness, timing(0, 1, 2, 3));
        w.container_started(t0);
        assert_eq!(w.result(), ProbeResult::Failure);
        let s = |n| t0 + Duration::from_secs(n);
        assert_eq!(w.record(true, s(0)), Verdict::Keep);
        assert_eq!(w.record(true, s(1)), Verdict::Changed(ProbeResult::Success));
        assert_eq!(w.record(true, s(2)), Verdict::Keep);
        assert_eq!(w.record(false, s(3)), Verdict::Keep);
        assert_eq!(w.record(false, s(4)), Verdict::Keep);
        // A success in between resets the failure count.
        assert_eq!(w.record(true, s(5)), Verdict::Keep);
        assert_eq!(w.record(false, s(6)), Verdict::Keep);
        assert_eq!(w.record(false, s(7)), Verdict::Keep);
        assert_eq!(
            w.record(false, s(8)),
            Verdict::Changed(ProbeResult::Failure)
        );
        assert_eq!(w.result(), ProbeResult::Failure);
        w.container_stopped();
        assert!(!w.due(s(100), true));
    }

    #[test]
    fn liveness_failure_asks_for_a_restart_once_and_holds_until_the_next_instance() {
        let t0 = Instant::now();
        let mut w = ProbeWorker::new(Kind::Liveness, timing(0, 1, 1, 2));
        w.container_started(t0);
        assert_eq!(w.result(), ProbeResult::Success);
        assert_eq!(w.record(false, t0), Verdict::Keep);
        assert_eq!(
            w.record(false, t0 + Duration::from_secs(1)),
            Verdict::Restart("failed liveness probe, will be restarted".into())
        );
        assert!(!w.due(t0 + Duration::from_secs(60), true));
        let t1 = t0 + Duration::from_secs(70);
        w.container_started(t1);
        assert_eq!(w.result(), ProbeResult::Success);
        assert!(w.due(t1, true));
    }

    #[test]
    fn the_startup_probe_gates_liveness_and_readiness() {
        let c: Container = serde_json::from_value(json!({"name": "c",
            "startupProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 3},
            "livenessProbe": {"exec": {"command": ["x"]}},
            "readinessProbe": {"exec": {"command": ["x"]}}}))
        .unwrap();
        let mut p = ContainerProbes::for_container(&c);
        let t0 = Instant::now();
        p.container_started(t0);
        assert!(!p.started() && !p.ready());
        assert_eq!(p.due(t0), vec![Kind::Startup]);
        let v = p.worker_mut(Kind::Startup).unwrap().record(true, t0);
        assert_eq!(v, Verdict::Changed(ProbeResult::Success));
        assert!(p.started());
        // Readiness still has to pass before the container is ready.
        assert!(!p.ready());
        assert_eq!(p.due(t0), vec![Kind::Liveness, Kind::Readiness]);
        p.worker_mut(Kind::Readiness).unwrap().record(true, t0);
        assert!(p.ready());
        // The startup probe is done for this instance.
        assert!(!p
            .startup
            .as_ref()
            .unwrap()
            .due(t0 + Duration::from_secs(60), true));
    }

    #[test]
    fn a_startup_probe_that_never_passes_restarts_the_container() {
        let mut w = ProbeWorker::new(Kind::Startup, timing(0, 1, 1, 2));
        let t0 = Instant::now();
        w.container_started(t0);
        assert_eq!(w.record(false, t0), Verdict::Keep);
        assert!(matches!(w.record(false, t0), Verdict::Restart(m) if m.contains("startup")));
    }

    #[test]
    fn containers_without_probes_are_started_and_ready() {
        let c: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        let p = ContainerProbes::for_container(&c);
        assert!(p.started() && p.ready());
        assert!(p.due(Instant::now()).is_empty());
    }

    #[test]
    fn actions_resolve_hosts_and_named_ports() {
        let c: Container = serde_json::from_value(json!({"name": "web",
            "ports": [{"name": "http", "containerPort": 8080}]}))
        .unwrap();
        let p: ProbeSpec =
            serde_json::from_value(json!({"httpGet": {"path": "healthz", "port": "http",
            "httpHeaders": [{"name": "X", "value": "y"}]}}))
            .unwrap();
        assert_eq!(
            action(&p, &c, "10.244.0.5").unwrap(),
            Action::Http {
                scheme: "http".into(),
                host: "10.244.0.5".into(),
                port: 8080,
                path: "/healthz".into(),
                headers: vec![("X".into(), "y".into())]
            }
        );
        let p: ProbeSpec =
            serde_json::from_value(json!({"tcpSocket": {"port": 6379, "host": "127.0.0.1"}}))
                .unwrap();
        assert_eq!(
            action(&p, &c, "10.244.0.5").unwrap(),
            Action::Tcp {
                host: "127.0.0.1".into(),
                port: 6379
            }
        );
        let p: ProbeSpec =
            serde_json::from_value(json!({"tcpSocket": {"port": "metrics"}})).unwrap();
        assert_eq!(
            action(&p, &c, "x").unwrap_err(),
            "couldn't find port: metrics in web"
        );
        assert!(http_success(200) && http_success(302) && !http_success(404) && !http_success(199));
    }
}
