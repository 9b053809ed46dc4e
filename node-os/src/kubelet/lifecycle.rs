//! What to do next with one pod, as kuberuntime's `computePodActions` and the pod workers
//! decide it: make the sandbox, run init containers one at a time in order, then start the
//! app containers, restart exited ones per restartPolicy (subject to CrashLoopBackOff), kill a
//! container whose liveness or startup probe failed, and on deletion stop everything with the
//! grace period (preStop hooks first) before the pod object is released. Also which runtime
//! leftovers belong to no pod after a kubelet restart. Pure: observations in, actions out.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

/// The newest instance of one container, as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub attempt: u32,
    pub state: InstanceState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Created,
    Running,
    Exited { exit_code: i32 },
}

/// What the runtime holds for a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The sandbox id and whether it is ready.
    pub sandbox: Option<(String, bool)>,
    /// Per container name, its instances (any order).
    pub instances: HashMap<String, Vec<Instance>>,
}

impl Observed {
    fn latest(&self, name: &str) -> Option<&Instance> {
        self.instances.get(name)?.iter().max_by_key(|i| i.attempt)
    }

    fn live(&self) -> impl Iterator<Item = (&String, &Instance)> {
        self.instances.iter().flat_map(|(n, is)| {
            is.iter()
                .filter(|i| matches!(i.state, InstanceState::Running | InstanceState::Created))
                .map(move |i| (n, i))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    CreateSandbox,
    /// Stop the sandbox (kill what is left in it, release its address) but keep it and its
    /// containers' records: a terminal pod's status still shows how its containers ended.
    StopSandbox {
        id: String,
    },
    /// Stop and remove the sandbox with everything in it (the pod is going away, or its
    /// sandbox died and is replaced).
    RemoveSandbox {
        id: String,
    },
    /// Start (a new instance of) a container; `attempt` counts its restarts.
    Start {
        name: String,
        init: bool,
        attempt: u32,
    },
    /// Stop a container: the preStop hook (when the container has one and `pre_stop`), then
    /// SIGTERM, then SIGKILL once `grace` is spent.
    Kill {
        id: String,
        name: String,
        grace: Duration,
        pre_stop: bool,
        reason: String,
    },
    /// Remove exited instances no status needs any longer.
    Remove {
        id: String,
    },
    /// Wait before restarting: the container shows `CrashLoopBackOff`.
    BackOff {
        name: String,
        remaining: Duration,
    },
    /// Everything has stopped: the pod object may be deleted for good.
    Finalize,
}

/// Facts about the pod decided elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Containers whose liveness or startup probe failed (restart requested).
    pub restart_requested: BTreeSet<String>,
    /// Remaining CrashLoopBackOff per container name, if any.
    pub backoff: HashMap<String, Duration>,
    /// The pod's phase is Succeeded or Failed: nothing more is started.
    pub terminal: bool,
}

/// The grace period for stopping a pod: the deletion's, else terminationGracePeriodSeconds
/// (30 s by default).
pub fn grace_period(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    Duration::from_secs(secs.max(0) as u64)
}

fn has_pre_stop(c: &Container) -> bool {
    c.lifecycle.as_ref().is_some_and(|l| l.pre_stop.is_some())
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

/// Whether an exited container is started again (kubelet's `ShouldContainerBeRestarted`).
pub fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Always" => true,
        "OnFailure" => exit_code != 0,
        _ => false,
    }
}

/// The next actions for `pod`. Actions of one call may run in any order except that they are
/// listed in the order kubelet would take them; the caller re-plans after applying them.
pub fn plan(pod: &Pod, obs: &Observed, ctx: &Context) -> Vec<Action> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let by_name: HashMap<&str, &Container> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .map(|c| (c.name.as_str(), c))
        .collect();
    let mut actions = Vec::new();
    // Old exited instances: keep the newest instance and the newest exited one (the current
    // state and lastState of the container status), remove the rest.
    for (name, is) in &obs.instances {
        let newest = obs.latest(name).map(|i| i.attempt);
        let newest_exited = is
            .iter()
            .filter(|i| matches!(i.state, InstanceState::Exited { .. }))
            .map(|i| i.attempt)
            .max();
        for i in is {
            if matches!(i.state, InstanceState::Exited { .. })
                && Some(i.attempt) != newest
                && Some(i.attempt) != newest_exited
            {
                actions.push(Action::Remove { id: i.id.clone() });
            }
        }
    }
    let kill_all = |reason: &str, grace: Duration, actions: &mut Vec<Action>| {
        let mut live: Vec<_> = obs.live().collect();
        live.sort_by(|a, b| a.0.cmp(b.0));
        for (name, i) in live {
            actions.push(Action::Kill {
                id: i.id.clone(),
                name: name.clone(),
                grace,
                pre_stop: by_name.get(name.as_str()).is_some_and(|c| has_pre_stop(c)),
                reason: reason.to_string(),
            });
        }
    };
    if pod.metadata.deletion_timestamp.is_some() || ctx.terminal {
        let deleting = pod.metadata.deletion_timestamp.is_some();
        if obs.live().next().is_some() {
            kill_all("Killing", grace_period(pod), &mut actions);
        } else {
            match &obs.sandbox {
                Some((id, _)) if deleting => actions.push(Action::RemoveSandbox { id: id.clone() }),
                Some((id, true)) => actions.push(Action::StopSandbox { id: id.clone() }),
                Some((_, false)) => {}
                None if deleting => actions.push(Action::Finalize),
                None => {}
            }
        }
        return actions;
    }
    match &obs.sandbox {
        Some((_, true)) => {}
        Some((id, false)) => {
            // The sandbox died (reboot, network torn down): its containers go with it and the
            // pod starts over in a new one, as kubelet does on a sandbox change.
            if obs.live().next().is_some() {
                kill_all("SandboxChanged", grace_period(pod), &mut actions);
            } else {
                actions.push(Action::RemoveSandbox { id: id.clone() });
                actions.push(Action::CreateSandbox);
            }
            return actions;
        }
        None => {
            if obs.live().next().is_some() {
                kill_all("SandboxChanged", grace_period(pod), &mut actions);
            } else {
                actions.push(Action::CreateSandbox);
            }
            return actions;
        }
    }
    let policy = restart_policy(pod);
    let next_attempt = |name: &str| obs.latest(name).map_or(0, |i| i.attempt + 1);
    let start_or_back_off =
        |name: &str, init: bool, actions: &mut Vec<Action>| match ctx.backoff.get(name) {
            Some(&remaining) if !remaining.is_zero() => actions.push(Action::BackOff {
                name: name.to_string(),
                remaining,
            }),
            _ => actions.push(Action::Start {
                name: name.to_string(),
                init,
                attempt: next_attempt(name),
            }),
        };
    // Init containers, one at a time.
    for c in spec.init_containers.iter().flatten() {
        let sidecar = c.restart_policy.as_deref() == Some("Always");
        match obs.latest(&c.name).map(|i| i.state) {
            None => {
                actions.push(Action::Start {
                    name: c.name.clone(),
                    init: true,
                    attempt: 0,
                });
                return actions;
            }
            Some(InstanceState::Running) if sidecar => continue,
            Some(InstanceState::Running | InstanceState::Created) => return actions,
            Some(InstanceState::Exited { .. }) if sidecar => {
                start_or_back_off(&c.name, true, &mut actions);
                return actions;
            }
            Some(InstanceState::Exited { exit_code: 0 }) => continue,
            Some(InstanceState::Exited { .. }) => {
                // A failed init container is retried unless the pod never restarts; then the
                // pod has failed and nothing else starts.
                if policy != "Never" {
                    start_or_back_off(&c.name, true, &mut actions);
                }
                return actions;
            }
        }
    }
    for c in &spec.containers {
        match obs.latest(&c.name) {
            None => actions.push(Action::Start {
                name: c.name.clone(),
                init: false,
                attempt: 0,
            }),
            Some(i) => match i.state {
                InstanceState::Running if ctx.restart_requested.contains(&c.name) => {
                    actions.push(Action::Kill {
                        id: i.id.clone(),
                        name: c.name.clone(),
                        grace: grace_period(pod),
                        pre_stop: has_pre_stop(c),
                        reason: "Unhealthy".into(),
                    })
                }
                InstanceState::Running | InstanceState::Created => {}
                InstanceState::Exited { exit_code } => {
                    if should_restart(policy, exit_code) {
                        start_or_back_off(&c.name, false, &mut actions);
                    }
                }
            },
        }
    }
    actions
}

/// After a kubelet restart: the sandboxes (by pod uid) the runtime has but the API no longer
/// binds to this node, which are stopped and removed with everything in them.
pub fn orphaned_sandboxes<'a>(
    runtime: &'a [(String, String)],
    bound_uids: &BTreeSet<String>,
) -> Vec<&'a str> {
    runtime
        .iter()
        .filter(|(_, uid)| !bound_uids.contains(uid))
        .map(|(id, _)| id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(policy: &str, init: &[&str], apps: &[&str]) -> Pod {
        let c = |n: &&str| json!({"name": n, "image": "busybox"});
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "d", "uid": "u"},
            "spec": {"restartPolicy": policy, "terminationGracePeriodSeconds": 20,
                     "initContainers": init.iter().map(c).collect::<Vec<_>>(),
                     "containers": apps.iter().map(c).collect::<Vec<_>>()},
        }))
        .unwrap()
    }

    fn obs(sandbox: bool, inst: &[(&str, u32, InstanceState)]) -> Observed {
        let mut o = Observed {
            sandbox: sandbox.then(|| ("sb".to_string(), true)),
            ..Default::default()
        };
        for (n, a, s) in inst {
            o.instances
                .entry(n.to_string())
                .or_default()
                .push(Instance {
                    id: format!("{n}-{a}"),
                    attempt: *a,
                    state: *s,
                });
        }
        o
    }

    fn start(n: &str, init: bool, attempt: u32) -> Action {
        Action::Start {
            name: n.into(),
            init,
            attempt,
        }
    }

    use InstanceState::*;

    #[test]
    fn a_new_pod_gets_a_sandbox_then_its_init_containers_in_order_then_its_apps() {
        let p = pod("Always", &["i1", "i2"], &["a", "b"]);
        let ctx = Context::default();
        assert_eq!(plan(&p, &obs(false, &[]), &ctx), [Action::CreateSandbox]);
        assert_eq!(plan(&p, &obs(true, &[]), &ctx), [start("i1", true, 0)]);
        assert!(plan(&p, &obs(true, &[("i1", 0, Running)]), &ctx).is_empty());
        assert_eq!(
            plan(&p, &obs(true, &[("i1", 0, Exited { exit_code: 0 })]), &ctx),
            [start("i2", true, 0)]
        );
        assert_eq!(
            plan(
                &p,
                &obs(
                    true,
                    &[
                        ("i1", 0, Exited { exit_code: 0 }),
                        ("i2", 0, Exited { exit_code: 0 })
                    ]
                ),
                &ctx
            ),
            [start("a", false, 0), start("b", false, 0)]
        );
    }

    #[test]
    fn failed_init_containers_retry_with_backoff_unless_never() {
        let o = obs(true, &[("i1", 0, Exited { exit_code: 1 })]);
        let p = pod("Always", &["i1"], &["a"]);
        assert_eq!(plan(&p, &o, &Context::default()), [start("i1", true, 1)]);
        let ctx = Context {
            backoff: HashMap::from([("i1".into(), Duration::from_secs(10))]),
            ..Default::default()
        };
        assert_eq!(
            plan(&p, &o, &ctx),
            [Action::BackOff {
                name: "i1".into(),
                remaining: Duration::from_secs(10)
            }]
        );
        assert!(plan(&pod("Never", &["i1"], &["a"]), &o, &Context::default()).is_empty());
    }

    #[test]
    fn restart_policies_decide_which_exits_restart() {
        let exited = |code| obs(true, &[("a", 3, Exited { exit_code: code })]);
        let ctx = Context::default();
        assert_eq!(
            plan(&pod("Always", &[], &["a"]), &exited(0), &ctx),
            [start("a", false, 4)]
        );
        assert_eq!(
            plan(&pod("OnFailure", &[], &["a"]), &exited(1), &ctx),
            [start("a", false, 4)]
        );
        assert!(plan(&pod("OnFailure", &[], &["a"]), &exited(0), &ctx).is_empty());
        assert!(plan(&pod("Never", &[], &["a"]), &exited(1), &ctx).is_empty());
        let ctx = Context {
            backoff: HashMap::from([("a".into(), Duration::from_secs(40))]),
            ..Default::default()
        };
        assert_eq!(
            plan(&pod("Always", &[], &["a"]), &exited(1), &ctx),
            [Action::BackOff {
                name: "a".into(),
                remaining: Duration::from_secs(40)
            }]
        );
    }

    #[test]
    fn a_failed_liveness_probe_kills_the_container_with_its_grace_period() {
        let mut p = pod("Always", &[], &["a"]);
        p.spec.as_mut().unwrap().containers[0].lifecycle = Some(
            serde_json::from_value(json!({"preStop": {"exec": {"command": ["drain"]}}})).unwrap(),
        );
        let ctx = Context {
            restart_requested: BTreeSet::from(["a".to_string()]),
            ..Default::default()
        };
        assert_eq!(
            plan(&p, &obs(true, &[("a", 0, Running)]), &ctx),
            [Action::Kill {
                id: "a-0".into(),
                name: "a".into(),
                grace: Duration::from_secs(20),
                pre_stop: true,
                reason: "Unhealthy".into()
            }]
        );
    }

    #[test]
    fn deletion_stops_everything_then_the_sandbox_then_finalizes() {
        let mut p = pod("Always", &[], &["a", "b"]);
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
        p.metadata.deletion_grace_period_seconds = Some(5);
        let ctx = Context::default();
        let acts = plan(
            &p,
            &obs(
                true,
                &[("a", 0, Running), ("b", 0, Exited { exit_code: 0 })],
            ),
            &ctx,
        );
        assert_eq!(
            acts,
            [Action::Kill {
                id: "a-0".into(),
                name: "a".into(),
                grace: Duration::from_secs(5),
                pre_stop: false,
                reason: "Killing".into()
            }]
        );
        assert_eq!(
            plan(&p, &obs(true, &[("a", 0, Exited { exit_code: 137 })]), &ctx),
            [Action::RemoveSandbox { id: "sb".into() }]
        );
        let mut stopped = obs(true, &[("a", 0, Exited { exit_code: 137 })]);
        stopped.sandbox = Some(("sb".into(), false));
        assert_eq!(
            plan(&p, &stopped, &ctx),
            [Action::RemoveSandbox { id: "sb".into() }]
        );
        assert_eq!(plan(&p, &obs(false, &[]), &ctx), [Action::Finalize]);
    }

    #[test]
    fn terminal_pods_start_nothing_and_release_their_sandbox() {
        let p = pod("Never", &[], &["a"]);
        let ctx = Context {
            terminal: true,
            ..Default::default()
        };
        assert_eq!(
            plan(&p, &obs(true, &[("a", 0, Exited { exit_code: 0 })]), &ctx),
            [Action::StopSandbox { id: "sb".into() }]
        );
        // Stopped, the sandbox and the container records stay: the status keeps how the
        // container ended until the pod is deleted.
        let mut stopped = obs(true, &[("a", 0, Exited { exit_code: 0 })]);
        stopped.sandbox = Some(("sb".into(), false));
        assert!(plan(&p, &stopped, &ctx).is_empty());
        assert!(plan(&p, &obs(false, &[("a", 0, Exited { exit_code: 0 })]), &ctx).is_empty());
    }

    #[test]
    fn a_dead_sandbox_is_replaced_after_its_containers_are_stopped() {
        let p = pod("Always", &[], &["a"]);
        let mut o = obs(true, &[("a", 0, Running)]);
        o.sandbox = Some(("sb".into(), false));
        assert!(
            matches!(&plan(&p, &o, &Context::default())[..], [Action::Kill { reason, .. }] if reason == "SandboxChanged")
        );
        let mut o = obs(true, &[]);
        o.sandbox = Some(("sb".into(), false));
        assert_eq!(
            plan(&p, &o, &Context::default()),
            [
                Action::RemoveSandbox { id: "sb".into() },
                Action::CreateSandbox
            ]
        );
    }

    #[test]
    fn old_instances_are_removed_but_the_newest_is_kept_for_last_state() {
        let p = pod("Always", &[], &["a"]);
        let o = obs(
            true,
            &[
                ("a", 0, Exited { exit_code: 1 }),
                ("a", 1, Exited { exit_code: 1 }),
                ("a", 2, Running),
            ],
        );
        let acts = plan(&p, &o, &Context::default());
        assert_eq!(acts, [Action::Remove { id: "a-0".into() }]);
    }

    #[test]
    fn orphans_are_the_sandboxes_of_pods_no_longer_bound_here() {
        let rt = vec![
            ("s1".to_string(), "u1".to_string()),
            ("s2".to_string(), "u2".to_string()),
        ];
        assert_eq!(
            orphaned_sandboxes(&rt, &BTreeSet::from(["u1".to_string()])),
            ["s2"]
        );
    }
}
