//! Pod status from container states, as kubelet's `generateAPIPodStatus` and `getPhase`
//! compute it: the phase (init containers first, then the restart policy deciding whether
//! exited containers end the pod), the Initialized / ContainersReady / Ready /
//! PodReadyToStartContainers conditions with kubelet's reasons and messages, and the
//! containerStatuses entries. Pure: states come in, JSON for `pods/status` goes out.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

/// A container instance's state, as the runtime reports it and the API spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    Terminated {
        exit_code: i32,
        reason: String,
        message: Option<String>,
        started_at: String,
        finished_at: String,
        container_id: String,
    },
}

/// Everything kubelet reports about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerView {
    pub name: String,
    pub state: State,
    /// The previous instance's end, if there was one.
    pub last_terminated: Option<State>,
    pub ready: bool,
    pub started: bool,
    pub restart_count: i32,
    pub image: String,
    pub image_id: String,
    pub container_id: Option<String>,
}

impl ContainerView {
    /// A container that has not been created yet (`PodInitializing` or `ContainerCreating`).
    pub fn waiting(name: &str, image: &str, reason: &str) -> ContainerView {
        ContainerView {
            name: name.into(),
            state: State::Waiting {
                reason: reason.into(),
                message: None,
            },
            last_terminated: None,
            ready: false,
            started: false,
            restart_count: 0,
            image: image.into(),
            image_id: String::new(),
            container_id: None,
        }
    }
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

fn find<'a>(views: &'a [ContainerView], name: &str) -> Option<&'a ContainerView> {
    views.iter().find(|v| v.name == name)
}

/// The pod phase. `terminal` says the kubelet has decided the pod is done (deleted or its
/// containers will not be restarted), in which case exited containers settle it as
/// Succeeded or Failed whatever the restart policy.
pub fn phase(
    pod: &Pod,
    init: &[ContainerView],
    containers: &[ContainerView],
    terminal: bool,
) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "Pending";
    };
    let policy = restart_policy(pod);
    let (mut pending_init, mut failed_init) = (0, 0);
    for c in spec.init_containers.iter().flatten() {
        // Sidecars (restartable init containers) count with the regular containers' rules;
        // they only hold initialization until they have started.
        let sidecar = c.restart_policy.as_deref() == Some("Always");
        match find(init, &c.name).map(|v| (&v.state, &v.last_terminated, v.started)) {
            None => pending_init += 1,
            Some((State::Running { .. }, _, started)) => {
                if !sidecar || !started {
                    pending_init += 1;
                }
            }
            Some((State::Terminated { exit_code, .. }, _, _)) => {
                if *exit_code != 0 && !sidecar {
                    failed_init += 1;
                }
            }
            Some((State::Waiting { .. }, last, _)) => match last {
                Some(State::Terminated { exit_code, .. }) if *exit_code != 0 && !sidecar => {
                    failed_init += 1
                }
                Some(State::Terminated { .. }) if !sidecar => {}
                _ => pending_init += 1,
            },
        }
    }
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in &spec.containers {
        match find(containers, &c.name).map(|v| (&v.state, &v.last_terminated)) {
            None => unknown += 1,
            Some((State::Running { .. }, _)) => running += 1,
            Some((State::Terminated { exit_code, .. }, _)) => {
                stopped += 1;
                if *exit_code == 0 {
                    succeeded += 1;
                }
            }
            Some((State::Waiting { .. }, Some(State::Terminated { .. }))) => stopped += 1,
            Some((State::Waiting { .. }, _)) => waiting += 1,
        }
    }
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || failed_init > 0 || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        return match policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        };
    }
    "Pending"
}

fn condition(
    ty: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: &str,
    prev: &Value,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let transition = prev["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty && c["status"] == status))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now)
        .to_string();
    let mut c = json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": transition});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// `[a b]`, as Go prints a slice of names.
fn names(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

fn state_json(s: &State) -> Value {
    match s {
        State::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated {
            exit_code,
            reason,
            message,
            started_at,
            finished_at,
            container_id,
        } => {
            let mut t = json!({"exitCode": exit_code, "reason": reason, "startedAt": started_at,
                               "finishedAt": finished_at, "containerID": container_id});
            if let Some(m) = message {
                t["message"] = json!(m);
            }
            json!({"terminated": t})
        }
    }
}

fn status_json(v: &ContainerView) -> Value {
    let mut s = json!({
        "name": v.name, "state": state_json(&v.state),
        "lastState": v.last_terminated.as_ref().map(state_json).unwrap_or_else(|| json!({})),
        "ready": v.ready, "started": v.started, "restartCount": v.restart_count,
        "image": v.image, "imageID": v.image_id,
    });
    if let Some(id) = &v.container_id {
        s["containerID"] = json!(id);
    }
    s
}

/// Where the pod runs and whether its sandbox (network) is up.
#[derive(Debug, Clone, Default)]
pub struct PodNet {
    pub sandbox_ready: bool,
    pub host_ip: String,
    pub pod_ip: Option<String>,
    pub start_time: Option<String>,
}

/// The `status` to write for `pod`; `prev` is its current status (for transition times).
pub fn pod_status(
    pod: &Pod,
    init: &[ContainerView],
    containers: &[ContainerView],
    net: &PodNet,
    terminal: bool,
    now: &str,
) -> Value {
    let prev = serde_json::to_value(&pod.status).unwrap_or(Value::Null);
    let phase = phase(pod, init, containers, terminal);
    let done = matches!(phase, "Succeeded" | "Failed");
    let spec = pod.spec.clone().unwrap_or_default();
    let incomplete: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| match find(init, &c.name) {
            Some(v) if c.restart_policy.as_deref() == Some("Always") => !v.started,
            Some(v) => !matches!(v.state, State::Terminated { exit_code: 0, .. }),
            None => true,
        })
        .map(|c| c.name.clone())
        .collect();
    let unready: Vec<String> = spec
        .containers
        .iter()
        .filter(|c| !find(containers, &c.name).is_some_and(|v| v.ready))
        .map(|c| c.name.clone())
        .collect();
    let initialized = if incomplete.is_empty() {
        condition("Initialized", true, None, None, now, &prev)
    } else {
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
            now,
            &prev,
        )
    };
    let ready_cond = |ty: &str| {
        if done {
            condition(ty, false, Some("PodCompleted"), None, now, &prev)
        } else if unready.is_empty() {
            condition(ty, true, None, None, now, &prev)
        } else {
            condition(
                ty,
                false,
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: {}",
                    names(&unready)
                )),
                now,
                &prev,
            )
        }
    };
    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            net.sandbox_ready,
            None,
            None,
            now,
            &prev,
        ),
        initialized,
        ready_cond("Ready"),
        ready_cond("ContainersReady"),
    ];
    // PodScheduled belongs to the scheduler; keep it as it is.
    if let Some(s) = prev["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
    {
        conditions.push(s.clone());
    }
    let mut st = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": net.host_ip,
        "hostIPs": [{"ip": net.host_ip}],
        "containerStatuses": containers.iter().map(status_json).collect::<Vec<_>>(),
        "qosClass": prev["qosClass"].clone(),
    });
    if !init.is_empty() {
        st["initContainerStatuses"] = json!(init.iter().map(status_json).collect::<Vec<_>>());
    }
    if let Some(ip) = &net.pod_ip {
        st["podIP"] = json!(ip);
        st["podIPs"] = json!([{"ip": ip}]);
    }
    if let Some(t) = prev["startTime"]
        .as_str()
        .map(str::to_string)
        .or_else(|| net.start_time.clone())
    {
        st["startTime"] = json!(t);
    }
    if st["qosClass"].is_null() {
        st.as_object_mut().expect("object").remove("qosClass");
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
        let c = |n: &&str| json!({"name": n, "image": "busybox"});
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "d", "uid": "u"},
            "spec": {"restartPolicy": policy,
                     "initContainers": init.iter().map(c).collect::<Vec<_>>(),
                     "containers": containers.iter().map(c).collect::<Vec<_>>()},
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                       "conditions": [{"type": "PodScheduled", "status": "True"}]},
        }))
        .unwrap()
    }

    fn running(n: &str, ready: bool) -> ContainerView {
        ContainerView {
            state: State::Running {
                started_at: "2026-01-01T00:00:00Z".into(),
            },
            ready,
            started: true,
            ..ContainerView::waiting(n, "busybox", "")
        }
    }

    fn exited(n: &str, code: i32) -> ContainerView {
        ContainerView {
            state: State::Terminated {
                exit_code: code,
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                message: None,
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:09Z".into(),
                container_id: "node-os://c1".into(),
            },
            ..ContainerView::waiting(n, "busybox", "")
        }
    }

    fn backing_off(n: &str, last_code: i32) -> ContainerView {
        ContainerView {
            state: State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: None,
            },
            last_terminated: Some(exited(n, last_code).state),
            restart_count: 1,
            ..ContainerView::waiting(n, "busybox", "")
        }
    }

    #[test]
    fn phases_follow_kubelets_get_phase() {
        let p = pod("Always", &["init"], &["app"]);
        let w = |n: &str| ContainerView::waiting(n, "busybox", "PodInitializing");
        // Init still to run or running: Pending.
        assert_eq!(phase(&p, &[], &[w("app")], false), "Pending");
        assert_eq!(
            phase(&p, &[running("init", false)], &[w("app")], false),
            "Pending"
        );
        // Init failed: Pending while it will be retried, Failed under Never.
        assert_eq!(
            phase(&p, &[backing_off("init", 1)], &[w("app")], false),
            "Pending"
        );
        let never = pod("Never", &["init"], &["app"]);
        assert_eq!(
            phase(&never, &[exited("init", 1)], &[w("app")], false),
            "Failed"
        );
        // Init done, app running.
        assert_eq!(
            phase(&p, &[exited("init", 0)], &[running("app", false)], false),
            "Running"
        );
        assert_eq!(
            phase(&p, &[exited("init", 0)], &[w("app")], false),
            "Pending"
        );
        // Exited apps: Always keeps running; OnFailure settles success; Never settles both.
        let q = |pol: &str| pod(pol, &[], &["a", "b"]);
        assert_eq!(
            phase(&q("Always"), &[], &[exited("a", 0), exited("b", 0)], false),
            "Running"
        );
        assert_eq!(
            phase(
                &q("OnFailure"),
                &[],
                &[exited("a", 0), exited("b", 0)],
                false
            ),
            "Succeeded"
        );
        assert_eq!(
            phase(
                &q("OnFailure"),
                &[],
                &[exited("a", 0), backing_off("b", 2)],
                false
            ),
            "Running"
        );
        assert_eq!(
            phase(&q("Never"), &[], &[exited("a", 0), exited("b", 2)], false),
            "Failed"
        );
        assert_eq!(
            phase(
                &q("Never"),
                &[],
                &[exited("a", 0), running("b", true)],
                false
            ),
            "Running"
        );
        // A terminal pod settles whatever the policy.
        assert_eq!(
            phase(&q("Always"), &[], &[exited("a", 0), exited("b", 137)], true),
            "Failed"
        );
        assert_eq!(
            phase(&q("Always"), &[], &[exited("a", 0), exited("b", 0)], true),
            "Succeeded"
        );
        // Unknown containers keep it Pending.
        assert_eq!(
            phase(&q("Always"), &[], &[running("a", true)], false),
            "Pending"
        );
    }

    fn cond(s: &Value, ty: &str) -> Value {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap()
            .clone()
    }

    #[test]
    fn conditions_carry_kubelets_reasons_and_messages() {
        let p = pod("Always", &["init"], &["a", "b"]);
        let net = PodNet {
            sandbox_ready: true,
            host_ip: "10.0.0.1".into(),
            pod_ip: Some("10.244.0.9".into()),
            start_time: Some("t0".into()),
        };
        let s = pod_status(
            &p,
            &[running("init", false)],
            &[
                ContainerView::waiting("a", "busybox", "PodInitializing"),
                ContainerView::waiting("b", "busybox", "PodInitializing"),
            ],
            &net,
            false,
            "now",
        );
        assert_eq!(s["phase"], "Pending");
        assert_eq!(
            cond(&s, "Initialized")["reason"],
            "ContainersNotInitialized"
        );
        assert_eq!(
            cond(&s, "Initialized")["message"],
            "containers with incomplete status: [init]"
        );
        assert_eq!(
            cond(&s, "Ready")["message"],
            "containers with unready status: [a b]"
        );
        assert_eq!(cond(&s, "PodReadyToStartContainers")["status"], "True");
        assert_eq!(cond(&s, "PodScheduled")["status"], "True");
        assert_eq!(s["podIP"], "10.244.0.9");
        assert_eq!(s["startTime"], "t0");
        assert_eq!(s["qosClass"], "BestEffort");
        assert_eq!(
            s["initContainerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-01-01T00:00:00Z"
        );

        let s = pod_status(
            &p,
            &[exited("init", 0)],
            &[running("a", true), running("b", false)],
            &net,
            false,
            "now",
        );
        assert_eq!(s["phase"], "Running");
        assert_eq!(cond(&s, "Initialized")["status"], "True");
        assert_eq!(
            cond(&s, "ContainersReady")["message"],
            "containers with unready status: [b]"
        );
        let s = pod_status(
            &p,
            &[exited("init", 0)],
            &[running("a", true), running("b", true)],
            &net,
            false,
            "now",
        );
        assert_eq!(cond(&s, "Ready")["status"], "True");
        assert_eq!(s["containerStatuses"][1]["ready"], true);

        let job = pod("Never", &[], &["a"]);
        let s = pod_status(&job, &[], &[exited("a", 3)], &net, false, "now");
        assert_eq!(s["phase"], "Failed");
        assert_eq!(cond(&s, "Ready")["reason"], "PodCompleted");
        assert_eq!(
            s["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            3
        );
        assert_eq!(
            s["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Error"
        );
    }

    #[test]
    fn transition_times_survive_unchanged_conditions() {
        let mut p = pod("Always", &[], &["a"]);
        let net = PodNet {
            sandbox_ready: true,
            host_ip: "h".into(),
            ..Default::default()
        };
        let s1 = pod_status(
            &p,
            &[],
            &[running("a", true)],
            &net,
            false,
            "2026-01-01T00:00:01Z",
        );
        p.status = serde_json::from_value(s1).unwrap();
        let s2 = pod_status(
            &p,
            &[],
            &[running("a", true)],
            &net,
            false,
            "2026-01-01T00:00:02Z",
        );
        assert_eq!(
            cond(&s2, "Ready")["lastTransitionTime"],
            "2026-01-01T00:00:01Z"
        );
        p.status = serde_json::from_value(s2).unwrap();
        let s3 = pod_status(
            &p,
            &[],
            &[running("a", false)],
            &net,
            false,
            "2026-01-01T00:00:03Z",
        );
        assert_eq!(
            cond(&s3, "Ready")["lastTransitionTime"],
            "2026-01-01T00:00:03Z"
        );
    }
}
