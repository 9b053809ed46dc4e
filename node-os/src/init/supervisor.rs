//! The service supervisor's decisions, without processes or clocks: which service starts when
//! (dependencies ready, restart backoff due), what an exit means, and the order services stop
//! in. PID 1's loop ([`super::services`]) spawns, probes and signals; this file only decides.
//!
//! A service starts once every service it comes `after` is ready (a service with a port is
//! ready when the port accepts connections). A service that exits is started again after an
//! exponential backoff (1 s doubling to 30 s); one that ran long enough counts as healthy and
//! its backoff starts over.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// When a service counts as ready for the services that come after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// As soon as its process runs.
    Started,
    /// When this address accepts TCP connections.
    Listening(SocketAddr),
}

/// One service: a process of this same executable with these arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    /// Arguments after the executable's path (`agent --data-dir ...`).
    pub args: Vec<String>,
    /// Services that must be ready before this one starts.
    pub after: Vec<String>,
    pub ready: Readiness,
}

/// Restart delays: `initial` doubling per consecutive failure up to `max`; a run of at least
/// `stable_after` resets the count.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before restart number `failures` (1 for the first failure).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not started yet: waiting for dependencies.
    Waiting,
    Running {
        pid: i32,
        since: Instant,
        ready: bool,
    },
    /// Exited; starts again at `at`.
    Restarting { at: Instant },
    /// Exited during shutdown; stays down.
    Stopped,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub spec: ServiceSpec,
    pub status: Status,
    /// Consecutive failures (reset by a stable run).
    pub failures: u32,
    pub restarts: u32,
}

/// What happened to an exited service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitOutcome {
    /// It restarts after this delay.
    Restart(Duration),
    /// Shutdown is under way: it stays down.
    Stopped,
}

pub struct Supervisor {
    services: Vec<Service>,
    backoff: Backoff,
    stopping: bool,
}

impl Supervisor {
    /// Services in any order; every `after` must name a service, and there must be no cycle.
    pub fn new(specs: Vec<ServiceSpec>, backoff: Backoff) -> Result<Supervisor, String> {
        for s in &specs {
            for d in &s.after {
                if !specs.iter().any(|o| &o.name == d) {
                    return Err(format!(
                        "service {} comes after unknown service {d}",
                        s.name
                    ));
                }
            }
        }
        let sup = Supervisor {
            services: specs
                .into_iter()
                .map(|spec| Service {
                    spec,
                    status: Status::Waiting,
                    failures: 0,
                    restarts: 0,
                })
                .collect(),
            backoff,
            stopping: false,
        };
        // Every service must be reachable in a dependency order.
        if sup.start_order().len() != sup.services.len() {
            return Err("services depend on each other in a cycle".into());
        }
        Ok(sup)
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.spec.name == name)
    }

    fn is_ready(&self, name: &str) -> bool {
        self.index(name)
            .is_some_and(|i| matches!(self.services[i].status, Status::Running { ready: true, .. }))
    }

    /// Indices in an order where each service comes after its dependencies.
    pub fn start_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = Vec::new();
        loop {
            let before = order.len();
            for (i, s) in self.services.iter().enumerate() {
                let deps_placed = s
                    .spec
                    .after
                    .iter()
                    .all(|d| order.iter().any(|&j| &self.services[j].spec.name == d));
                if !order.contains(&i) && deps_placed {
                    order.push(i);
                }
            }
            if order.len() == before {
                return order;
            }
        }
    }

    /// Services to start now, in dependency order.
    pub fn due(&self, now: Instant) -> Vec<usize> {
        if self.stopping {
            return Vec::new();
        }
        self.start_order()
            .into_iter()
            .filter(|&i| {
                let s = &self.services[i];
                let time_ok = match s.status {
                    Status::Waiting => true,
                    Status::Restarting { at } => at <= now,
                    Status::Running { .. } | Status::Stopped => false,
                };
                time_ok && s.spec.after.iter().all(|d| self.is_ready(d))
            })
            .collect()
    }

    pub fn started(&mut self, i: usize, pid: i32, now: Instant) {
        let ready = self.services[i].spec.ready == Readiness::Started;
        self.services[i].status = Status::Running {
            pid,
            since: now,
            ready,
        };
    }

    /// The process could not even be spawned: retried like an exit.
    pub fn start_failed(&mut self, i: usize, now: Instant) -> Duration {
        let s = &mut self.services[i];
        s.failures += 1;
        let delay = self.backoff.delay(s.failures);
        s.status = Status::Restarting { at: now + delay };
        delay
    }

    /// A child exited; None when it was no service (an orphan PID 1 reaped).
    pub fn exited(&mut self, pid: i32, now: Instant) -> Option<(usize, ExitOutcome)> {
        let i = self
            .services
            .iter()
            .position(|s| matches!(s.status, Status::Running { pid: p, .. } if p == pid))?;
        let s = &mut self.services[i];
        let Status::Running { since, .. } = s.status else {
            unreachable!("matched Running above")
        };
        if self.stopping {
            s.status = Status::Stopped;
            return Some((i, ExitOutcome::Stopped));
        }
        if now.saturating_duration_since(since) >= self.backoff.stable_after {
            s.failures = 0;
        }
        s.failures += 1;
        s.restarts += 1;
        let delay = self.backoff.delay(s.failures);
        s.status = Status::Restarting { at: now + delay };
        Some((i, ExitOutcome::Restart(delay)))
    }

    pub fn mark_ready(&mut self, i: usize) {
        if let Status::Running { ready, .. } = &mut self.services[i].status {
            *ready = true;
        }
    }

    /// Running services whose readiness is still to be probed, with the address to probe.
    pub fn unready(&self) -> Vec<(usize, SocketAddr)> {
        self.services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match (&s.status, &s.spec.ready) {
                (Status::Running { ready: false, .. }, Readiness::Listening(a)) => Some((i, *a)),
                _ => None,
            })
            .collect()
    }

    /// When the loop must wake up next at the latest (a restart falls due, or readiness is
    /// to be probed again).
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        if self.stopping {
            return None;
        }
        let probe = (!self.unready().is_empty()).then(|| now + Duration::from_millis(500));
        self.services
            .iter()
            .filter_map(|s| match s.status {
                Status::Restarting { at } => Some(at),
                _ => None,
            })
            .chain(probe)
            .min()
    }

    /// Stops starting anything: shutdown begins. Services waiting or backing off count as
    /// stopped at once.
    pub fn begin_stop(&mut self) {
        self.stopping = true;
        for s in &mut self.services {
            if matches!(s.status, Status::Waiting | Status::Restarting { .. }) {
                s.status = Status::Stopped;
            }
        }
    }

    /// The pids to stop, in groups: dependents before what they depend on (the agent before
    /// the API server it talks to), each group signalled once the previous one is gone.
    pub fn stop_groups(&self) -> Vec<Vec<i32>> {
        let order = self.start_order();
        order
            .iter()
            .rev()
            .filter_map(|&i| match self.services[i].status {
                Status::Running { pid, .. } => Some(vec![pid]),
                _ => None,
            })
            .collect()
    }

    pub fn running_pids(&self) -> Vec<i32> {
        self.services
            .iter()
            .filter_map(|s| match s.status {
                Status::Running { pid, .. } => Some(pid),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, after: &[&str], ready: Readiness) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            args: vec![name.into()],
            after: after.iter().map(|s| s.to_string()).collect(),
            ready,
        }
    }

    fn control_and_agent() -> Supervisor {
        let api: SocketAddr = "127.0.0.1:6443".parse().unwrap();
        Supervisor::new(
            vec![
                spec("agent", &["control-plane"], Readiness::Started),
                spec("control-plane", &[], Readiness::Listening(api)),
            ],
            Backoff::default(),
        )
        .unwrap()
    }

    #[test]
    fn backoff_doubles_from_one_second_to_thirty() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=7).map(|f| b.delay(f).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(1000), Duration::from_secs(30));
    }

    #[test]
    fn a_service_starts_only_once_what_it_comes_after_is_ready() {
        let mut s = control_and_agent();
        let t0 = Instant::now();
        assert_eq!(s.due(t0), [1], "only the control plane at first");
        s.started(1, 100, t0);
        assert_eq!(
            s.due(t0),
            Vec::<usize>::new(),
            "the API is not listening yet"
        );
        assert_eq!(s.unready(), [(1, "127.0.0.1:6443".parse().unwrap())]);
        assert!(s.next_wakeup(t0).is_some(), "readiness is probed again");
        s.mark_ready(1);
        assert_eq!(s.due(t0), [0]);
        s.started(0, 101, t0);
        assert!(s.due(t0).is_empty());
        assert_eq!(s.next_wakeup(t0), None);
    }

    #[test]
    fn an_exited_service_restarts_with_growing_delays_and_a_stable_run_resets_them() {
        let mut s = control_and_agent();
        let t0 = Instant::now();
        s.started(1, 10, t0);
        let mut t = t0;
        let mut delays = Vec::new();
        for pid in 11..16 {
            let (i, out) = s.exited(pid - 1, t).unwrap();
            assert_eq!(i, 1);
            let ExitOutcome::Restart(d) = out else {
                panic!("{out:?}")
            };
            delays.push(d.as_secs());
            assert!(s.due(t + d - Duration::from_millis(1)).is_empty());
            t += d;
            assert_eq!(s.due(t), [1]);
            s.started(1, pid, t);
        }
        assert_eq!(delays, [1, 2, 4, 8, 16]);
        // A run past `stable_after` counts as healthy: back to one second.
        let later = t + Duration::from_secs(61);
        assert_eq!(
            s.exited(15, later),
            Some((1, ExitOutcome::Restart(Duration::from_secs(1))))
        );
        assert_eq!(s.services()[1].restarts, 6);
    }

    #[test]
    fn exits_of_unknown_pids_are_orphans_not_services() {
        let mut s = control_and_agent();
        s.started(1, 10, Instant::now());
        assert_eq!(s.exited(999, Instant::now()), None);
    }

    #[test]
    fn during_shutdown_nothing_restarts_and_dependents_stop_first() {
        let mut s = control_and_agent();
        let t0 = Instant::now();
        s.started(1, 10, t0);
        s.mark_ready(1);
        s.started(0, 11, t0);
        s.begin_stop();
        assert_eq!(s.stop_groups(), [vec![11], vec![10]]);
        assert_eq!(s.exited(11, t0), Some((0, ExitOutcome::Stopped)));
        assert!(s.due(t0 + Duration::from_secs(100)).is_empty());
        assert_eq!(s.running_pids(), [10]);
    }

    #[test]
    fn unknown_dependencies_and_cycles_are_refused() {
        assert!(Supervisor::new(
            vec![spec("a", &["b"], Readiness::Started)],
            Backoff::default()
        )
        .is_err());
        assert!(Supervisor::new(
            vec![
                spec("a", &["b"], Readiness::Started),
                spec("b", &["a"], Readiness::Started)
            ],
            Backoff::default()
        )
        .is_err());
    }
}
