//! The DaemonSet controller inside `control serve`, seen through kubectl, on simulated nodes
//! (`control sim-nodes`): one daemon pod per eligible node, following nodes as they come and
//! go, and a rolling update that `kubectl rollout status` waits out.

mod support;

use std::collections::BTreeMap;

use support::{eventually, Server, SimNodes};

const SELECTOR: &str = "app=my-nginx-pod";

/// Node name -> (pod names, images) of the DaemonSet's pods that are not terminating.
fn pods_by_node(s: &Server) -> BTreeMap<String, Vec<String>> {
    let out = s.kubectl(&[
        "get",
        "pods",
        "-l",
        SELECTOR,
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} {.status.phase} {.spec.containers[0].image} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 4 || !fields.get(4).is_none_or(|d| d.is_empty()) {
            continue;
        }
        by_node
            .entry(fields[0].to_owned())
            .or_default()
            .push(format!("{} {} {}", fields[1], fields[2], fields[3]));
    }
    by_node
}

fn one_running_pod_on(s: &Server, nodes: &[&str]) -> bool {
    let by_node = pods_by_node(s);
    by_node.keys().map(String::as_str).eq(nodes.iter().copied())
        && by_node
            .values()
            .all(|pods| pods.len() == 1 && pods[0].contains(" Running "))
}

fn status(s: &Server, field: &str) -> String {
    s.kubectl(&[
        "get",
        "ds",
        "my-nginx-ds",
        "-o",
        &format!("jsonpath={{.status.{field}}}"),
    ])
}

#[test]
fn daemon_pods_follow_eligible_nodes_and_roll_out() {
    let s = Server::start();
    let _plain = SimNodes::start(&s, "plain", 2, &[]);
    let _tainted = SimNodes::start(
        &s,
        "tainted",
        1,
        &["--taints", "dedicated=infra:NoSchedule"],
    );
    // Not tolerated by the seed (it tolerates only NoSchedule): no daemon pod may land here.
    let _excluded = SimNodes::start(&s, "excluded", 1, &["--taints", "gpu=true:NoExecute"]);
    let nodes = || s.kubectl(&["get", "nodes", "-o", "name"]).lines().count();
    assert!(eventually(30, || nodes() == 4), "nodes: {}", nodes());

    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seeds/000-daemonset.yaml");
    s.kubectl(&["apply", "-f", seed.to_str().unwrap()]);
    let eligible = ["plain-0", "plain-1", "tainted-0"];
    assert!(
        eventually(60, || one_running_pod_on(&s, &eligible)),
        "pods by node: {:?}",
        pods_by_node(&s)
    );
    assert!(
        eventually(30, || status(&s, "numberReady") == "3"),
        "numberReady {}",
        status(&s, "numberReady")
    );
    assert_eq!(status(&s, "desiredNumberScheduled"), "3");
    assert_eq!(status(&s, "currentNumberScheduled"), "3");
    assert_eq!(status(&s, "numberMisscheduled"), "0");
    // The pods were bound by the scheduler through the node affinity the controller set.
    let pinned = s.kubectl(&[
        "get",
        "pods",
        "-l",
        SELECTOR,
        "-o",
        "jsonpath={range .items[*]}{.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]}={.spec.nodeName} {end}",
    ]);
    for pair in pinned.split_whitespace() {
        let (want, got) = pair.split_once('=').unwrap();
        assert_eq!(want, got, "{pinned}");
    }
    s.kubectl(&[
        "rollout",
        "status",
        "daemonset/my-nginx-ds",
        "--timeout=60s",
    ]);

    // A node that joins later gets its pod.
    let _late = SimNodes::start(&s, "late", 1, &[]);
    let with_late = ["late-0", "plain-0", "plain-1", "tainted-0"];
    assert!(
        eventually(60, || one_running_pod_on(&s, &with_late)),
        "pods by node: {:?}",
        pods_by_node(&s)
    );
    assert!(
        eventually(30, || status(&s, "desiredNumberScheduled") == "4"),
        "desired {}",
        status(&s, "desiredNumberScheduled")
    );

    // A deleted node's pod goes with it (its simulator does not re-register a deleted node).
    s.kubectl(&["delete", "node", "late-0"]);
    assert!(
        eventually(60, || one_running_pod_on(&s, &eligible)),
        "pods by node: {:?}",
        pods_by_node(&s)
    );
    let all_pods = || {
        s.kubectl(&["get", "pods", "-l", SELECTOR, "-o", "name"])
            .lines()
            .count()
    };
    assert!(eventually(30, || all_pods() == 3), "pods: {}", all_pods());
    assert!(
        eventually(30, || status(&s, "desiredNumberScheduled") == "3"),
        "desired {}",
        status(&s, "desiredNumberScheduled")
    );

    // An image change rolls out node by node, and rollout status waits for it.
    s.kubectl(&[
        "set",
        "image",
        "daemonset/my-nginx-ds",
        "nginx-container=nginx:1.27",
    ]);
    let out = s.kubectl(&[
        "rollout",
        "status",
        "daemonset/my-nginx-ds",
        "--timeout=120s",
    ]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let by_node = pods_by_node(&s);
    assert_eq!(
        by_node.keys().map(String::as_str).collect::<Vec<_>>(),
        eligible
    );
    for pods in by_node.values() {
        assert_eq!(pods.len(), 1, "{by_node:?}");
        assert!(pods[0].ends_with(" nginx:1.27"), "{by_node:?}");
    }
    assert_eq!(status(&s, "updatedNumberScheduled"), "3");
    assert_eq!(status(&s, "numberAvailable"), "3");

    // The history kubectl reads: two ControllerRevisions, the second one current.
    let history = s.kubectl(&["rollout", "history", "daemonset/my-nginx-ds"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(revisions, vec!["1", "2"], "{history}");
    let second = s.kubectl(&[
        "rollout",
        "history",
        "daemonset/my-nginx-ds",
        "--revision=2",
    ]);
    assert!(second.contains("nginx:1.27"), "{second}");
    let hash = s.kubectl(&[
        "get",
        "controllerrevisions",
        "-l",
        SELECTOR,
        "--sort-by=.revision",
        "-o",
        "jsonpath={.items[1].metadata.labels.controller-revision-hash}",
    ]);
    let pod_hashes = s.kubectl(&[
        "get",
        "pods",
        "-l",
        SELECTOR,
        "-o",
        "jsonpath={.items[*].metadata.labels.controller-revision-hash}",
    ]);
    assert!(!hash.is_empty());
    assert!(
        pod_hashes.split_whitespace().all(|h| h == hash),
        "{pod_hashes} vs {hash}"
    );
}
