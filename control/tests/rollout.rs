//! Deployments under real `kubectl rollout`, on simulated nodes (`control sim-nodes`): a
//! rolling update that stays within its surge and availability bounds at every watch event,
//! history with change causes, undo to the previous and to a named revision (reusing the old
//! ReplicaSet), scaling, pause and resume, restart, the progress deadline, and cascading
//! deletion. Also the seed ReplicaSet and ReplicationController spreading over the nodes.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use support::{eventually, kubectl_path, Server, SimNodes};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: first nginx
spec:
  replicas: 4
  selector:
    matchLabels:
      app: web
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 1
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
";

/// What a watch of the Deployment's pods saw from the moment all 4 were ready.
#[derive(Debug, Default)]
struct Seen {
    max_not_terminating: usize,
    min_ready: usize,
    events: usize,
    /// Images of pods seen ready (and not terminating).
    ready_images: BTreeSet<String>,
    pods: BTreeSet<String>,
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn is_terminating(pod: &Value) -> bool {
    !pod["metadata"]["deletionTimestamp"].is_null()
        || matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        )
}

/// `kubectl get pods --watch --output-watch-events -o json`, replayed into the set of pods
/// after every event. The extremes are only counted once the watch has shown the steady
/// state of `replicas` ready pods (the initial list arrives one ADDED event at a time);
/// the receiver is told when that happens.
fn watch_pods(s: &Server, replicas: usize) -> (Child, mpsc::Receiver<()>, JoinHandle<Seen>) {
    let mut child = Command::new(kubectl_path("kubectl"))
        .arg("--kubeconfig")
        .arg(s.kubeconfig())
        .args([
            "get",
            "pods",
            "-l",
            "app=web",
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .env("KUBECACHEDIR", s.data_dir().join("kubecache"))
        .env("HOME", s.data_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get --watch");
    let stdout = child.stdout.take().unwrap();
    let (armed_tx, armed_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut pods: HashMap<String, Value> = HashMap::new();
        let mut seen = Seen {
            min_ready: usize::MAX,
            ..Seen::default()
        };
        let mut armed = false;
        let events = serde_json::Deserializer::from_reader(BufReader::new(stdout));
        for event in events.into_iter::<Value>() {
            let Ok(event) = event else { break };
            let name = event["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if event["type"] == "DELETED" {
                pods.remove(&name);
            } else {
                pods.insert(name.clone(), event["object"].clone());
            }
            let live: Vec<&Value> = pods.values().filter(|p| !is_terminating(p)).collect();
            let ready: Vec<&&Value> = live.iter().filter(|p| is_ready(p)).collect();
            if !armed && live.len() == replicas && ready.len() == replicas {
                armed = true;
                let _ = armed_tx.send(());
            }
            if armed {
                seen.events += 1;
                seen.pods.insert(name);
                seen.max_not_terminating = seen.max_not_terminating.max(live.len());
                seen.min_ready = seen.min_ready.min(ready.len());
                for p in ready {
                    if let Some(image) = p["spec"]["containers"][0]["image"].as_str() {
                        seen.ready_images.insert(image.to_owned());
                    }
                }
            }
        }
        seen
    });
    (child, armed_rx, handle)
}

fn jsonpath(s: &Server, object: &str, path: &str) -> String {
    s.kubectl(&["get", object, "-o", &format!("jsonpath={path}")])
}

fn rollout_status(s: &Server, deployment: &str) {
    let out = s.kubectl(&[
        "rollout",
        "status",
        &format!("deployment/{deployment}"),
        "--timeout=120s",
    ]);
    assert!(out.contains("successfully rolled out"), "{out}");
}

/// The Deployment's ReplicaSets: name -> (revision, revision-history, image, spec.replicas).
fn replica_sets(s: &Server) -> BTreeMap<String, (String, String, String, String)> {
    let out = s.kubectl(&[
        "get",
        "rs",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}|{.metadata.annotations.deployment\\.kubernetes\\.io/revision}|{.metadata.annotations.deployment\\.kubernetes\\.io/revision-history}|{.spec.template.spec.containers[0].image}|{.spec.replicas}{\"\\n\"}{end}",
    ]);
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].to_owned(),
                (
                    f[1].to_owned(),
                    f[2].to_owned(),
                    f[3].to_owned(),
                    f[4].to_owned(),
                ),
            )
        })
        .collect()
}

fn rs_with_image(s: &Server, image: &str) -> String {
    replica_sets(s)
        .into_iter()
        .find(|(_, v)| v.2 == image)
        .map(|(k, _)| k)
        .unwrap_or_else(|| panic!("no replica set with {image}: {:?}", replica_sets(s)))
}

/// Images of the pods that are not terminating, with how many are ready.
fn live_pods(s: &Server) -> (Vec<String>, usize) {
    let out = s.kubectl(&["get", "pods", "-l", "app=web", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let live: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !is_terminating(p))
        .collect();
    let mut images: Vec<String> = live
        .iter()
        .map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    images.sort();
    (images, live.iter().filter(|p| is_ready(p)).count())
}

fn deployment_field(s: &Server, path: &str) -> String {
    jsonpath(s, "deployment/web", path)
}

fn revision(s: &Server) -> String {
    deployment_field(
        s,
        "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    )
}

fn progressing_reason(s: &Server, deployment: &str) -> String {
    jsonpath(
        s,
        &format!("deployment/{deployment}"),
        "{.status.conditions[?(@.type==\"Progressing\")].reason}",
    )
}

/// Lines of `rollout history` below the header, as (revision, change cause).
fn history(s: &Server) -> Vec<(String, String)> {
    let out = s.kubectl(&["rollout", "history", "deployment/web"]);
    out.lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (rev, cause) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (rev.to_owned(), cause.trim().to_owned())
        })
        .collect()
}

#[test]
fn a_deployment_rolls_out_back_and_forth_under_kubectl_rollout() {
    let s = Server::start();
    let _nodes = SimNodes::start(&s, "sim", 3, &[]);
    s.kubectl_in(&["apply", "-f", "-"], Some(WEB));
    rollout_status(&s, "web");
    let first = rs_with_image(&s, "nginx:1.25");
    assert_eq!(revision(&s), "1");

    // The rolling update, watched pod by pod: at most 4 + 1 pods, at least 4 - 1 ready.
    let (mut watcher, armed, seen) = watch_pods(&s, 4);
    armed
        .recv_timeout(Duration::from_secs(60))
        .expect("the watch shows the 4 ready pods");
    s.kubectl(&["set", "image", "deployment/web", "web=nginx:1.26"]);
    s.kubectl(&[
        "annotate",
        "deployment/web",
        "kubernetes.io/change-cause=second nginx",
        "--overwrite",
    ]);
    rollout_status(&s, "web");
    assert_eq!(revision(&s), "2");
    let second = rs_with_image(&s, "nginx:1.26");
    assert!(
        eventually(30, || live_pods(&s)
            == (vec!["nginx:1.26".to_owned(); 4], 4)),
        "{:?}",
        live_pods(&s)
    );

    // History lists both revisions with the change cause each ReplicaSet took from the
    // Deployment (the second one got it after it was created).
    assert!(
        eventually(30, || history(&s)
            == vec![
                ("1".to_owned(), "first nginx".to_owned()),
                ("2".to_owned(), "second nginx".to_owned())
            ]),
        "{:?}",
        history(&s)
    );
    let two = s.kubectl(&["rollout", "history", "deployment/web", "--revision=2"]);
    assert!(
        two.contains("nginx:1.26") && two.contains("second nginx"),
        "{two}"
    );
    let one = s.kubectl(&["rollout", "history", "deployment/web", "--revision=1"]);
    assert!(one.contains("nginx:1.25"), "{one}");

    // Undo: back to the first template, as revision 3, on the first ReplicaSet.
    s.kubectl(&["rollout", "undo", "deployment/web"]);
    rollout_status(&s, "web");
    assert_eq!(
        deployment_field(&s, "{.spec.template.spec.containers[0].image}"),
        "nginx:1.25"
    );
    assert!(eventually(30, || revision(&s) == "3"), "{}", revision(&s));
    let sets = replica_sets(&s);
    assert_eq!(sets.len(), 2, "undo made no new replica set: {sets:?}");
    assert_eq!(
        sets[&first],
        (
            "3".to_owned(),
            "1".to_owned(),
            "nginx:1.25".to_owned(),
            "4".to_owned()
        )
    );
    assert_eq!(sets[&second].3, "0");
    // kubectl copied the first ReplicaSet's change cause back onto the Deployment.
    assert_eq!(
        deployment_field(&s, "{.metadata.annotations.kubernetes\\.io/change-cause}"),
        "first nginx"
    );
    assert!(
        eventually(30, || live_pods(&s)
            == (vec!["nginx:1.25".to_owned(); 4], 4)),
        "{:?}",
        live_pods(&s)
    );
    let _ = watcher.kill();
    let _ = watcher.wait();
    let seen = seen.join().unwrap();
    assert!(
        seen.ready_images.contains("nginx:1.26") && seen.pods.len() >= 12,
        "the watch followed both rollouts: {seen:?}"
    );
    assert!(
        seen.max_not_terminating <= 5,
        "more than replicas + maxSurge pods: {seen:?}"
    );
    assert!(
        seen.min_ready >= 3,
        "fewer than replicas - maxUnavailable ready pods: {seen:?}"
    );

    assert_eq!(
        history(&s).into_iter().map(|(r, _)| r).collect::<Vec<_>>(),
        ["2", "3"]
    );
    s.kubectl(&["rollout", "undo", "deployment/web", "--to-revision=2"]);
    rollout_status(&s, "web");
    assert_eq!(
        deployment_field(&s, "{.spec.template.spec.containers[0].image}"),
        "nginx:1.26"
    );
    assert!(eventually(30, || revision(&s) == "4"), "{}", revision(&s));
    let sets = replica_sets(&s);
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert_eq!(
        (sets[&second].0.as_str(), sets[&second].1.as_str()),
        ("4", "2")
    );
    let missing = s.kubectl_fails(
        &["rollout", "undo", "deployment/web", "--to-revision=9"],
        None,
    );
    assert!(
        missing.contains("unable to find specified revision"),
        "{missing}"
    );

    // Scaling up and down.
    s.kubectl(&["scale", "deployment/web", "--replicas=6"]);
    assert!(
        eventually(60, || live_pods(&s)
            == (vec!["nginx:1.26".to_owned(); 6], 6)),
        "{:?}",
        live_pods(&s)
    );
    rollout_status(&s, "web");
    s.kubectl(&["scale", "deployment/web", "--replicas=2"]);
    assert!(
        eventually(60, || live_pods(&s)
            == (vec!["nginx:1.26".to_owned(); 2], 2)),
        "{:?}",
        live_pods(&s)
    );
    rollout_status(&s, "web");

    // Paused: a new template waits, scaling does not.
    s.kubectl(&["rollout", "pause", "deployment/web"]);
    assert!(
        eventually(30, || progressing_reason(&s, "web") == "DeploymentPaused"),
        "{}",
        progressing_reason(&s, "web")
    );
    s.kubectl(&["set", "image", "deployment/web", "web=nginx:1.27"]);
    s.kubectl(&["scale", "deployment/web", "--replicas=3"]);
    assert!(
        eventually(60, || live_pods(&s)
            == (vec!["nginx:1.26".to_owned(); 3], 3)),
        "{:?}",
        live_pods(&s)
    );
    let observed = || {
        deployment_field(&s, "{.metadata.generation} {.status.observedGeneration}")
            .split(' ')
            .collect::<BTreeSet<_>>()
            .len()
            == 1
    };
    assert!(eventually(30, observed), "the controller saw the new spec");
    assert_eq!(replica_sets(&s).len(), 2, "no new replica set while paused");
    assert_eq!(revision(&s), "4");
    let refused = s.kubectl_fails(&["rollout", "undo", "deployment/web"], None);
    assert!(
        refused.contains("cannot rollback a paused deployment"),
        "{refused}"
    );

    s.kubectl(&["rollout", "resume", "deployment/web"]);
    rollout_status(&s, "web");
    assert!(
        eventually(60, || live_pods(&s)
            == (vec!["nginx:1.27".to_owned(); 3], 3)),
        "{:?}",
        live_pods(&s)
    );
    assert_eq!(revision(&s), "5");
    assert_eq!(replica_sets(&s).len(), 3);
    assert_eq!(progressing_reason(&s, "web"), "NewReplicaSetAvailable");

    // Restart: same containers, a new template annotation, so a new revision.
    s.kubectl(&["rollout", "restart", "deployment/web"]);
    rollout_status(&s, "web");
    assert!(eventually(30, || revision(&s) == "6"), "{}", revision(&s));
    let sets = replica_sets(&s);
    assert_eq!(sets.len(), 4, "{sets:?}");
    assert_eq!(
        sets.values()
            .filter(|v| v.2 == "nginx:1.27" && v.3 == "3")
            .count(),
        1,
        "{sets:?}"
    );
    assert!(!deployment_field(
        &s,
        "{.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}"
    )
    .is_empty());
    assert_eq!(
        history(&s).into_iter().map(|(r, _)| r).collect::<Vec<_>>(),
        ["3", "4", "5", "6"]
    );

    // Deleting the Deployment takes its ReplicaSets and their pods with it.
    s.kubectl(&["delete", "deployment", "web"]);
    let gone = |kind: &str| {
        s.kubectl(&["get", kind, "-l", "app=web", "-o", "name"])
            .trim()
            .is_empty()
    };
    assert!(
        eventually(60, || gone("rs") && gone("pods")),
        "dependents remain: {:?} {:?}",
        replica_sets(&s),
        live_pods(&s)
    );
}

#[test]
fn a_rollout_without_progress_exceeds_its_deadline() {
    let s = Server::start();
    let _nodes = SimNodes::start(&s, "sim", 3, &[]);
    // No node has this label: the pod stays Pending, so the rollout cannot progress.
    let stuck = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 1
  progressDeadlineSeconds: 3
  selector:
    matchLabels:
      app: stuck
  template:
    metadata:
      labels:
        app: stuck
    spec:
      nodeSelector:
        disktype: none
      containers:
      - name: web
        image: nginx:1.25
";
    s.kubectl_in(&["apply", "-f", "-"], Some(stuck));
    let out = s.kubectl_raw(
        &["rollout", "status", "deployment/stuck", "--timeout=90s"],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("deployment \"stuck\" exceeded its progress deadline"),
        "{stderr}"
    );
    assert_eq!(progressing_reason(&s, "stuck"), "ProgressDeadlineExceeded");
    let status = jsonpath(
        &s,
        "deployment/stuck",
        "{.status.conditions[?(@.type==\"Progressing\")].status}",
    );
    assert_eq!(status, "False");
}

/// Node name of each ready pod matching `selector`.
fn ready_pod_nodes(s: &Server, selector: &str) -> Vec<String> {
    let out = s.kubectl(&["get", "pods", "-l", selector, "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let mut nodes: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !is_terminating(p) && is_ready(p))
        .map(|p| p["spec"]["nodeName"].as_str().unwrap_or("").to_owned())
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn seed_replica_set_and_replication_controller_spread_over_three_nodes() {
    let s = Server::start();
    let _nodes = SimNodes::start(&s, "sim", 3, &[]);
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    for seed in ["000-replicaset.yaml", "001-replicationcontroller.yaml"] {
        s.kubectl(&["apply", "-f", seeds.join(seed).to_str().unwrap()]);
    }
    let all = ["sim-0", "sim-1", "sim-2"].map(str::to_owned).to_vec();
    for (object, selector) in [
        ("rs/my-nginx-rc", "app=my-nginx-rc-app"),
        ("rc/kubia", "app=kubia"),
    ] {
        assert!(
            eventually(60, || jsonpath(&s, object, "{.status.readyReplicas}")
                == "3"),
            "{object}: {}",
            jsonpath(&s, object, "{.status}")
        );
        assert_eq!(
            ready_pod_nodes(&s, selector),
            all,
            "{object}: one pod per node"
        );
    }
}
