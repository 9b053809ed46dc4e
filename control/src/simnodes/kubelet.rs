//! What a simulated kubelet does with one pod bound to its node, as a pure function of the
//! pod, the addresses it may use and the time.
//!
//! A hollow kubelet runs nothing: a pod "starts" the moment it is seen (every container
//! running, started and ready), and a pod that is meant to end (restartPolicy `Never` or
//! `OnFailure`) "exits" once it has run for the configured job duration. Its exit code comes
//! from its command line: `exit N` anywhere in the command and args, or a bare `false`, exits
//! with that code; anything else exits 0. That is enough to drive Jobs to completion and to
//! failure in tests without pretending to interpret shell.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Value};

/// What the simulated kubelet writes for a pod in this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum PodAction {
    /// Write this status (a merge patch body for `pods/status`).
    Status(Value),
    /// The pod is marked for deletion: its containers "stopped", so remove it for good
    /// (gracePeriodSeconds 0, preconditioned on the pod's uid), as a kubelet does.
    Remove { uid: String },
}

/// The addresses the pod gets when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub host_ip: String,
    pub pod_ip: String,
}

/// The exit code a simulated container ends with (see the module notes).
pub fn simulated_exit_code(c: &Container) -> i32 {
    let words: Vec<String> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .flat_map(|part| {
            part.split(|ch: char| ch.is_whitespace() || ch == ';' || ch == '&' || ch == '|')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    if words.len() == 1 && words[0] == "false" {
        return 1;
    }
    for pair in words.windows(2) {
        if pair[0] == "exit" {
            if let Ok(code) = pair[1].parse::<i32>() {
                if code != 0 {
                    return code & 0xff;
                }
            }
        }
    }
    0
}

fn ends(pod: &Pod) -> bool {
    matches!(
        pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()),
        Some("Never") | Some("OnFailure")
    )
}

fn condition(kind: &str, status: bool, reason: Option<&str>, now: &str) -> Value {
    let mut c = json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": now,
    });
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

fn container_id(pod_uid: &str, name: &str, restarts: i32) -> String {
    format!("sim://{pod_uid}-{name}-{restarts}")
}

fn image_id(image: &str) -> String {
    format!("sim-registry/{image}@sha256:{:064x}", fnv(image))
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn running_status(c: &Container, uid: &str, started: &str, restarts: i32, last: Value) -> Value {
    json!({
        "name": c.name,
        "image": c.image.clone().unwrap_or_default(),
        "imageID": image_id(c.image.as_deref().unwrap_or_default()),
        "containerID": container_id(uid, &c.name, restarts),
        "ready": true,
        "started": true,
        "restartCount": restarts,
        "state": {"running": {"startedAt": started}},
        "lastState": last,
    })
}

fn terminated(code: i32, started: &str, finished: &str, id: &str) -> Value {
    json!({
        "exitCode": code,
        "reason": if code == 0 { "Completed" } else { "Error" },
        "startedAt": started,
        "finishedAt": finished,
        "containerID": id,
    })
}

/// Decides what to write for `pod` (already known to be bound to one of our nodes).
pub fn decide(
    pod: &Pod,
    addresses: impl FnOnce() -> Addresses,
    now: Timestamp,
    job_duration: SignedDuration,
) -> Option<PodAction> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        return Some(PodAction::Remove { uid });
    }
    let spec = pod.spec.as_ref()?;
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let now_s = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    match phase {
        "Succeeded" | "Failed" => None,
        "Running" => {
            if !ends(pod) {
                return None;
            }
            let statuses = status.container_statuses.clone().unwrap_or_default();
            let started_at = |name: &str| -> Option<Timestamp> {
                statuses
                    .iter()
                    .find(|s| s.name == name)
                    .and_then(|s| s.state.as_ref())
                    .and_then(|s| s.running.as_ref())
                    .and_then(|r| r.started_at.as_ref())
                    .map(|t| t.0)
            };
            // The pod ends when its last container has run for the job duration.
            let due = spec.containers.iter().all(|c| {
                started_at(&c.name).is_some_and(|t| now.duration_since(t) >= job_duration)
            });
            if !due {
                return None;
            }
            let codes: Vec<(&Container, i32)> = spec
                .containers
                .iter()
                .map(|c| (c, simulated_exit_code(c)))
                .collect();
            let failed = codes.iter().any(|(_, code)| *code != 0);
            let restart_count = |name: &str| {
                statuses
                    .iter()
                    .find(|s| s.name == name)
                    .map_or(0, |s| s.restart_count)
            };
            let start_str = |name: &str| {
                started_at(name).map_or(now_s.clone(), |t| {
                    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
                })
            };
            if failed && spec.restart_policy.as_deref() == Some("OnFailure") {
                // OnFailure restarts failed containers in place; the Job controller counts
                // these restarts against backoffLimit.
                let containers: Vec<Value> = codes
                    .iter()
                    .map(|(c, code)| {
                        let n = restart_count(&c.name);
                        if *code == 0 {
                            running_status(c, &uid, &start_str(&c.name), n, json!({}))
                        } else {
                            let last = terminated(
                                *code,
                                &start_str(&c.name),
                                &now_s,
                                &container_id(&uid, &c.name, n),
                            );
                            running_status(c, &uid, &now_s, n + 1, json!({"terminated": last}))
                        }
                    })
                    .collect();
                return Some(PodAction::Status(
                    json!({"status": {"containerStatuses": containers}}),
                ));
            }
            let containers: Vec<Value> = codes
                .iter()
                .map(|(c, code)| {
                    let n = restart_count(&c.name);
                    json!({
                        "name": c.name,
                        "image": c.image.clone().unwrap_or_default(),
                        "imageID": image_id(c.image.as_deref().unwrap_or_default()),
                        "containerID": container_id(&uid, &c.name, n),
                        "ready": false,
                        "started": false,
                        "restartCount": n,
                        "state": {"terminated": terminated(*code, &start_str(&c.name), &now_s, &container_id(&uid, &c.name, n))},
                    })
                })
                .collect();
            let ready_reason = Some("PodCompleted");
            Some(PodAction::Status(json!({"status": {
                "phase": if failed { "Failed" } else { "Succeeded" },
                "conditions": [
                    condition("PodReadyToStartContainers", false, None, &now_s),
                    condition("Initialized", true, ready_reason, &now_s),
                    condition("Ready", false, ready_reason, &now_s),
                    condition("ContainersReady", false, ready_reason, &now_s),
                    condition("PodScheduled", true, None, &now_s),
                ],
                "containerStatuses": containers,
            }})))
        }
        // Pending (or an unknown phase): start it.
        _ => {
            let addr = addresses();
            let pod_ip = if spec.host_network == Some(true) {
                addr.host_ip.clone()
            } else {
                addr.pod_ip
            };
            let init: Vec<Value> = spec
                .init_containers
                .iter()
                .flatten()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "image": c.image.clone().unwrap_or_default(),
                        "imageID": image_id(c.image.as_deref().unwrap_or_default()),
                        "containerID": container_id(&uid, &c.name, 0),
                        "ready": true,
                        "started": false,
                        "restartCount": 0,
                        "state": {"terminated": terminated(0, &now_s, &now_s, &container_id(&uid, &c.name, 0))},
                    })
                })
                .collect();
            let containers: Vec<Value> = spec
                .containers
                .iter()
                .map(|c| running_status(c, &uid, &now_s, 0, json!({})))
                .collect();
            let mut st = json!({
                "phase": "Running",
                "conditions": [
                    condition("PodReadyToStartContainers", true, None, &now_s),
                    condition("Initialized", true, None, &now_s),
                    condition("Ready", true, None, &now_s),
                    condition("ContainersReady", true, None, &now_s),
                    condition("PodScheduled", true, None, &now_s),
                ],
                "hostIP": addr.host_ip,
                "hostIPs": [{"ip": addr.host_ip}],
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}],
                "startTime": now_s,
                "containerStatuses": containers,
                "qosClass": status.qos_class.clone().unwrap_or_else(|| "BestEffort".to_string()),
            });
            if !init.is_empty() {
                st["initContainerStatuses"] = json!(init);
            }
            Some(PodAction::Status(json!({ "status": st })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn addrs() -> Addresses {
        Addresses {
            host_ip: "100.64.0.1".into(),
            pod_ip: "10.244.0.2".into(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn container(cmd: &[&str], args: &[&str]) -> Container {
        serde_json::from_value(json!({"name": "c", "command": cmd, "args": args})).unwrap()
    }

    #[test]
    fn exit_codes_come_from_the_command_line() {
        assert_eq!(simulated_exit_code(&container(&["false"], &[])), 1);
        assert_eq!(
            simulated_exit_code(&container(&["sh", "-c"], &["echo hi; exit 3"])),
            3
        );
        assert_eq!(
            simulated_exit_code(&container(&["sh", "-c", "exit 0"], &[])),
            0
        );
        assert_eq!(
            simulated_exit_code(&container(
                &["bash"],
                &["-c", "for i in {1..10}; do echo $i; done"]
            )),
            0
        );
        assert_eq!(
            simulated_exit_code(&container(&["sh", "-c", "exit 300"], &[])),
            44
        );
        assert_eq!(simulated_exit_code(&container(&["echo", "false"], &[])), 0);
    }

    #[test]
    fn pending_pods_start_ready_with_addresses() {
        let p = pod(json!({"metadata": {"name": "p", "uid": "u"},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "nginx"}],
                     "initContainers": [{"name": "i", "image": "busybox"}]}}));
        let Some(PodAction::Status(s)) = decide(
            &p,
            addrs,
            at("2026-01-01T00:00:00Z"),
            SignedDuration::from_secs(1),
        ) else {
            panic!("expected a status");
        };
        assert_eq!(s["status"]["phase"], "Running");
        assert_eq!(s["status"]["podIP"], "10.244.0.2");
        assert_eq!(s["status"]["hostIP"], "100.64.0.1");
        assert_eq!(s["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(
            s["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"],
            0
        );
        let ready = s["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
    }

    #[test]
    fn host_network_pods_use_the_node_address() {
        let p = pod(json!({"metadata": {"name": "p", "uid": "u"},
            "spec": {"hostNetwork": true, "containers": [{"name": "c"}]}}));
        let Some(PodAction::Status(s)) =
            decide(&p, addrs, Timestamp::UNIX_EPOCH, SignedDuration::ZERO)
        else {
            panic!()
        };
        assert_eq!(s["status"]["podIP"], "100.64.0.1");
    }

    fn running(policy: &str, cmd: &[&str], started: &str, restarts: i32) -> Pod {
        pod(json!({"metadata": {"name": "p", "uid": "u"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "x", "command": cmd}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "image": "x", "imageID": "",
                "ready": true, "restartCount": restarts, "state": {"running": {"startedAt": started}}}]}}))
    }

    #[test]
    fn jobs_end_after_their_duration_with_their_exit_code() {
        let d = SignedDuration::from_secs(2);
        let p = running("Never", &["true"], "2026-01-01T00:00:00Z", 0);
        assert_eq!(decide(&p, addrs, at("2026-01-01T00:00:01Z"), d), None);
        let Some(PodAction::Status(s)) = decide(&p, addrs, at("2026-01-01T00:00:02Z"), d) else {
            panic!()
        };
        assert_eq!(s["status"]["phase"], "Succeeded");
        assert_eq!(
            s["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        let p = running("Never", &["false"], "2026-01-01T00:00:00Z", 0);
        let Some(PodAction::Status(s)) = decide(&p, addrs, at("2026-01-01T00:00:05Z"), d) else {
            panic!()
        };
        assert_eq!(s["status"]["phase"], "Failed");
        assert_eq!(
            s["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            1
        );
    }

    #[test]
    fn on_failure_restarts_in_place() {
        let d = SignedDuration::from_secs(1);
        let p = running("OnFailure", &["false"], "2026-01-01T00:00:00Z", 2);
        let Some(PodAction::Status(s)) = decide(&p, addrs, at("2026-01-01T00:00:05Z"), d) else {
            panic!()
        };
        assert!(s["status"].get("phase").is_none());
        let c = &s["status"]["containerStatuses"][0];
        assert_eq!(c["restartCount"], 3);
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        assert!(c["state"]["running"].is_object());
    }

    #[test]
    fn services_keep_running_and_deleted_pods_are_removed() {
        let p = running("Always", &["false"], "2026-01-01T00:00:00Z", 0);
        assert_eq!(
            decide(&p, addrs, at("2027-01-01T00:00:00Z"), SignedDuration::ZERO),
            None
        );
        let mut p = p;
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::UNIX_EPOCH,
        ));
        assert_eq!(
            decide(&p, addrs, Timestamp::UNIX_EPOCH, SignedDuration::ZERO),
            Some(PodAction::Remove { uid: "u".into() })
        );
    }
}
