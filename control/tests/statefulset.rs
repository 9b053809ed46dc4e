//! The StatefulSet controller inside `control serve`, seen through kubectl, on simulated nodes
//! (`control sim-nodes`): ordinal pods created one after another once their predecessor is
//! ready, a rolling update that `kubectl rollout status` waits out, and scale-down from the
//! highest ordinal.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use support::{eventually, Server};

/// A `control sim-nodes` process, killed when dropped.
struct SimNodes(Child);

impl SimNodes {
    fn start(s: &Server, count: usize) -> SimNodes {
        let log = std::fs::File::create(s.data_dir().join("sim.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_control"))
            .arg("sim-nodes")
            .arg("--kubeconfig")
            .arg(s.kubeconfig())
            .args(["--count", &count.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start control sim-nodes");
        SimNodes(child)
    }
}

impl Drop for SimNodes {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const WEB: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.26
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
";

/// Collects watch lines until `done` holds for the lines so far, or the time is up.
fn collect_until(
    rx: &Receiver<String>,
    secs: u64,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut lines = Vec::new();
    while Instant::now() < deadline && !done(&lines) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
    }
    lines
}

/// Index of the first line satisfying `f`.
fn first(lines: &[String], f: impl Fn(&str) -> bool) -> Option<usize> {
    lines.iter().position(|l| f(l))
}

fn jsonpath(s: &Server, args: &[&str], path: &str) -> String {
    let mut all: Vec<&str> = vec!["get"];
    all.extend_from_slice(args);
    let template = format!("jsonpath={path}");
    all.extend_from_slice(&["-o", &template]);
    s.kubectl(&all)
}

#[test]
fn ordered_pods_rolling_update_and_scale_down() {
    let s = Server::start();
    let _nodes = SimNodes::start(&s, 2);
    let nodes = || s.kubectl(&["get", "nodes", "-o", "name"]).lines().count();
    assert!(eventually(30, || nodes() == 2), "nodes: {}", nodes());

    // Every change to the pods, in the order the API serves them: name and Ready status.
    let (mut watch, rx) = s.kubectl_stream(&[
        "get",
        "pods",
        "-l",
        "app=nginx",
        "--watch",
        "-o",
        "jsonpath={.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    s.kubectl_in(&["apply", "-f", "-"], Some(WEB));
    let lines = collect_until(&rx, 90, |l| l.iter().any(|x| x == "web-2 True"));
    let _ = watch.kill();
    let _ = watch.wait();
    let ready = |name: &str| first(&lines, |l| l == format!("{name} True"));
    let seen = |name: &str| first(&lines, |l| l.starts_with(&format!("{name} ")));
    let (Some(ready0), Some(seen1), Some(ready1), Some(seen2)) =
        (ready("web-0"), seen("web-1"), ready("web-1"), seen("web-2"))
    else {
        panic!("incomplete: {lines:#?}\n{}", s.log());
    };
    assert!(
        ready0 < seen1,
        "web-1 appeared before web-0 was ready: {lines:#?}"
    );
    assert!(
        ready1 < seen2,
        "web-2 appeared before web-1 was ready: {lines:#?}"
    );
    // Creation timestamps agree with the order.
    let created = jsonpath(
        &s,
        &[
            "pods",
            "-l",
            "app=nginx",
            "--sort-by=.metadata.creationTimestamp",
        ],
        "{.items[*].metadata.name}",
    );
    assert_eq!(created, "web-0 web-1 web-2");

    // Stable identity: hostname, subdomain, labels, and the claim volume.
    let identity = jsonpath(
        &s,
        &["pod", "web-1"],
        "{.spec.hostname} {.spec.subdomain} {.metadata.labels.statefulset\\.kubernetes\\.io/pod-name} {.metadata.labels.apps\\.kubernetes\\.io/pod-index} {.spec.volumes[?(@.name==\"www\")].persistentVolumeClaim.claimName}",
    );
    assert_eq!(identity, "web-1 nginx web-1 1 www-web-1");
    let ready_replicas = || jsonpath(&s, &["sts", "web"], "{.status.readyReplicas}");
    assert!(
        eventually(30, || ready_replicas() == "3"),
        "readyReplicas {}",
        ready_replicas()
    );
    s.kubectl(&["rollout", "status", "statefulset/web", "--timeout=60s"]);

    // An image change replaces the pods from the highest ordinal down; rollout status waits.
    let before = jsonpath(&s, &["sts", "web"], "{.status.currentRevision}");
    s.kubectl(&["set", "image", "statefulset/web", "nginx=nginx:1.27"]);
    let out = s.kubectl(&["rollout", "status", "statefulset/web", "--timeout=120s"]);
    assert!(out.contains("3 new pods have been updated"), "{out}");
    let images = jsonpath(
        &s,
        &["pods", "-l", "app=nginx"],
        "{.items[*].spec.containers[0].image}",
    );
    assert_eq!(images, "nginx:1.27 nginx:1.27 nginx:1.27");
    let revisions = || {
        jsonpath(
            &s,
            &["sts", "web"],
            "{.status.currentRevision} {.status.updateRevision} {.status.updatedReplicas}",
        )
    };
    assert!(
        eventually(30, || {
            let r = revisions();
            let parts: Vec<&str> = r.split(' ').collect();
            parts.len() == 3 && parts[0] == parts[1] && parts[0] != before && parts[2] == "3"
        }),
        "revisions: {} (before: {before})",
        revisions()
    );
    let history = s.kubectl(&["rollout", "history", "statefulset/web"]);
    assert!(history.lines().any(|l| l.starts_with('2')), "{history}");

    // Scale-down removes web-2 first and web-1 only after web-2 is gone.
    let (mut watch, rx) = s.kubectl_stream(&[
        "get",
        "pods",
        "-l",
        "app=nginx",
        "--watch-only",
        "--output-watch-events",
        "-o",
        "jsonpath={.type} {.object.metadata.name} {.object.metadata.deletionTimestamp}{\"\\n\"}",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    s.kubectl(&["scale", "statefulset/web", "--replicas=1"]);
    let lines = collect_until(&rx, 60, |l| {
        l.iter().any(|x| x.starts_with("DELETED web-1 "))
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let marked = |name: &str| {
        first(&lines, |l| {
            l.starts_with(&format!("MODIFIED {name} ")) && !l.ends_with(' ')
        })
        .or_else(|| first(&lines, |l| l.starts_with(&format!("DELETED {name} "))))
    };
    let gone = |name: &str| first(&lines, |l| l.starts_with(&format!("DELETED {name} ")));
    let (Some(gone2), Some(marked1)) = (gone("web-2"), marked("web-1")) else {
        panic!("incomplete: {lines:#?}");
    };
    assert!(
        gone2 < marked1,
        "web-1 was deleted before web-2 was gone: {lines:#?}"
    );
    assert!(
        !lines.iter().any(
            |l| l.starts_with("DELETED web-0 ") || (l.contains(" web-0 ") && !l.ends_with(' '))
        ),
        "web-0 must stay: {lines:#?}"
    );
    let left = || s.kubectl(&["get", "pods", "-l", "app=nginx", "-o", "name"]);
    assert!(
        eventually(30, || left().trim() == "pod/web-0"),
        "{}",
        left()
    );
    let replicas = || jsonpath(&s, &["sts", "web"], "{.status.replicas}");
    assert!(eventually(30, || replicas() == "1"), "{}", replicas());
}
