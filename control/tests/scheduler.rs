//! The scheduler loop inside `control serve`, seen through kubectl: pending pods are bound to
//! nodes that fit, and a pod that fits nowhere is reported as kube-scheduler reports it.

mod support;

use support::{eventually, Server};

fn node(name: &str, cpu: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\nstatus:\n  capacity: {{cpu: \"{cpu}\", memory: 4Gi, pods: \"110\"}}\n  allocatable: {{cpu: \"{cpu}\", memory: 4Gi, pods: \"110\"}}\n  conditions:\n  - type: Ready\n    status: \"True\"\n    reason: KubeletReady\n    message: ready\n"
    )
}

fn pod(name: &str, cpu: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{extra}  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests:\n        cpu: \"{cpu}\"\n"
    )
}

#[test]
fn pending_pods_are_bound_to_nodes_that_fit() {
    let s = Server::start();
    s.kubectl_in(&["apply", "-f", "-"], Some(&node("n1", "2")));
    s.kubectl_in(&["apply", "-f", "-"], Some(&node("n2", "2")));
    for i in 0..4 {
        s.kubectl_in(
            &["apply", "-f", "-"],
            Some(&pod(&format!("p{i}"), "500m", "")),
        );
    }
    let placed = || {
        s.kubectl(&[
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}",
        ])
    };
    assert!(
        eventually(20, || placed().lines().filter(|l| !l.is_empty()).count()
            == 4),
        "not all pods were bound: {}",
        placed()
    );
    let out = placed();
    let on_n1 = out.lines().filter(|l| *l == "n1").count();
    // Least-allocated scoring spreads equal pods over equal nodes.
    assert_eq!(on_n1, 2, "{out}");
    let events = s.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "reason=Scheduled",
        "-o",
        "name",
    ]);
    assert_eq!(events.lines().count(), 4, "{events}");

    // Too big for any node: reported with kube-scheduler's words, and left pending.
    s.kubectl_in(&["apply", "-f", "-"], Some(&pod("big", "8", "")));
    let describe = || s.kubectl(&["describe", "pod", "big"]);
    assert!(
        eventually(20, || describe().contains("FailedScheduling")),
        "{}",
        describe()
    );
    let d = describe();
    assert!(
        d.contains("0/2 nodes are available: 2 Insufficient cpu."),
        "{d}"
    );
    let cond = s.kubectl(&[
        "get",
        "pod",
        "big",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}",
    ]);
    assert_eq!(cond, "Unschedulable");

    // A node that appears later is used for a pod that waited for it.
    s.kubectl_in(&["apply", "-f", "-"], Some(&node("n3", "16")));
    assert!(
        eventually(20, || s.kubectl(&[
            "get",
            "pod",
            "big",
            "-o",
            "jsonpath={.spec.nodeName}"
        ]) == "n3"),
        "big was not bound to n3"
    );
}

#[test]
fn node_selectors_and_taints_are_honoured() {
    let s = Server::start();
    s.kubectl_in(&["apply", "-f", "-"], Some(&node("plain", "4")));
    s.kubectl_in(&["apply", "-f", "-"], Some(&node("fast", "4")));
    s.kubectl(&["label", "node", "fast", "disk=ssd"]);
    s.kubectl(&["taint", "node", "plain", "dedicated=infra:NoSchedule"]);
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&pod(
            "wants-ssd",
            "100m",
            "  nodeSelector:\n    disk: ssd\n",
        )),
    );
    s.kubectl_in(&["apply", "-f", "-"], Some(&pod("any", "100m", "")));
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&pod(
            "tolerant",
            "100m",
            "  nodeSelector:\n    kubernetes.io/hostname: plain\n  tolerations:\n  - key: dedicated\n    operator: Equal\n    value: infra\n    effect: NoSchedule\n",
        )),
    );
    let node_of = |p: &str| s.kubectl(&["get", "pod", p, "-o", "jsonpath={.spec.nodeName}"]);
    assert!(
        eventually(20, || node_of("wants-ssd") == "fast"),
        "wants-ssd: {:?}",
        node_of("wants-ssd")
    );
    assert!(
        eventually(20, || node_of("any") == "fast"),
        "any: {:?}",
        node_of("any")
    );
    assert!(
        eventually(20, || node_of("tolerant") == "plain"),
        "tolerant: {:?}",
        node_of("tolerant")
    );
}

#[test]
fn every_node_gets_its_own_pod_cidr() {
    let s = Server::start_with(&[
        "--cluster-cidr",
        "10.200.0.0/22",
        "--node-cidr-mask-size",
        "24",
    ]);
    for n in ["a", "b", "c"] {
        s.kubectl_in(&["apply", "-f", "-"], Some(&node(n, "1")));
    }
    let cidrs = || {
        s.kubectl(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.spec.podCIDR}{\"\\n\"}{end}",
        ])
    };
    assert!(
        eventually(20, || cidrs().lines().filter(|l| !l.is_empty()).count()
            == 3),
        "{}",
        cidrs()
    );
    let mut got: Vec<String> = cidrs().lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, ["10.200.0.0/24", "10.200.1.0/24", "10.200.2.0/24"]);
}
