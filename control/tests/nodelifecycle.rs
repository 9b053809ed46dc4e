//! The node lifecycle loop inside `control serve`, seen through kubectl: a node whose Lease stops
//! being renewed becomes Unknown and tainted unreachable, pods whose tolerations run out are
//! evicted, and a node that keeps renewing stays Ready.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{eventually, Server, SimNodes};

fn micro_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

fn node_and_lease(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\nstatus:\n  allocatable: {{cpu: \"4\", memory: 4Gi, pods: \"110\"}}\n  conditions:\n  - type: Ready\n    status: \"True\"\n    reason: KubeletReady\n    lastHeartbeatTime: \"{now}\"\n---\napiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {name}\n  namespace: kube-node-lease\nspec:\n  holderIdentity: {name}\n  leaseDurationSeconds: 40\n  renewTime: \"{micro}\"\n",
        now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        micro = micro_now(),
    )
}

fn pod_on(name: &str, node: &str, tolerations: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {node}\n{tolerations}  containers:\n  - name: c\n    image: busybox\n")
}

#[test]
fn silent_nodes_become_unknown_tainted_and_their_pods_evicted() {
    let s = Arc::new(Server::start_with(&[
        "--node-monitor-period",
        "300ms",
        "--node-monitor-grace-period",
        "3s",
        "--node-startup-grace-period",
        "3s",
        "--node-eviction-rate",
        "10",
    ]));
    s.kubectl_in(&["apply", "-f", "-"], Some(&node_and_lease("silent")));
    s.kubectl_in(&["apply", "-f", "-"], Some(&node_and_lease("alive")));
    let short = "  tolerations:\n  - key: node.kubernetes.io/unreachable\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 2\n";
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&pod_on("short", "silent", short)),
    );
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&pod_on("patient", "silent", "")),
    );
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&pod_on("elsewhere", "alive", "")),
    );

    // Keep renewing one node's Lease, as its kubelet would.
    let stop = Arc::new(AtomicBool::new(false));
    let renewer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let patch = format!("{{\"spec\":{{\"renewTime\":\"{}\"}}}}", micro_now());
                s.kubectl(&[
                    "-n",
                    "kube-node-lease",
                    "patch",
                    "lease",
                    "alive",
                    "--type=merge",
                    "-p",
                    &patch,
                ]);
                std::thread::sleep(Duration::from_millis(700));
            }
        })
    };

    let ready = |n: &str| {
        s.kubectl(&[
            "get",
            "node",
            n,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
    };
    assert!(
        eventually(30, || ready("silent") == "Unknown"),
        "silent stayed {}",
        ready("silent")
    );
    let taints = s.kubectl(&[
        "get",
        "node",
        "silent",
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(
        taints.contains("node.kubernetes.io/unreachable"),
        "{taints}"
    );
    let reason = s.kubectl(&[
        "get",
        "node",
        "silent",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
    ]);
    assert_eq!(reason, "NodeStatusUnknown");

    // The pod that tolerates unreachability for 2 s is evicted; the one with the default 300 s
    // tolerations stays (for now).
    let deleting = |p: &str| {
        let out = s.kubectl_raw(
            &[
                "get",
                "pod",
                p,
                "-o",
                "jsonpath={.metadata.deletionTimestamp}",
            ],
            None,
        );
        !out.status.success() || !String::from_utf8_lossy(&out.stdout).is_empty()
    };
    assert!(
        eventually(30, || deleting("short")),
        "short was not evicted"
    );
    assert!(
        !deleting("patient"),
        "patient was evicted before its tolerationSeconds"
    );

    assert_eq!(ready("alive"), "True");
    let alive_taints = s.kubectl(&["get", "node", "alive", "-o", "jsonpath={.spec.taints}"]);
    assert!(alive_taints.is_empty(), "{alive_taints}");
    assert!(!deleting("elsewhere"));

    // Renewing again brings the silent node back and lifts its NoExecute taint.
    stop.store(true, Ordering::Relaxed);
    renewer.join().unwrap();
    let patch = format!("{{\"spec\":{{\"renewTime\":\"{}\"}}}}", micro_now());
    s.kubectl(&[
        "-n",
        "kube-node-lease",
        "patch",
        "lease",
        "silent",
        "--type=merge",
        "-p",
        &patch,
    ]);
    let status = format!(
        "{{\"status\":{{\"conditions\":[{{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",\"lastHeartbeatTime\":\"{}\"}}]}}}}",
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
    );
    s.kubectl(&[
        "patch",
        "node",
        "silent",
        "--subresource=status",
        "-p",
        &status,
    ]);
    assert!(
        eventually(30, || !s
            .kubectl(&[
                "get",
                "node",
                "silent",
                "-o",
                "jsonpath={.spec.taints[*].key}"
            ])
            .contains("unreachable")),
        "unreachable taint stayed"
    );
}

/// The scenario end to end: three simulated nodes (one process each), a Deployment
/// spread over them, the process of one killed. Its node goes Unknown with the unreachable
/// NoExecute taint, and once the pods' toleration (3 s here) runs out they are replaced on
/// the two nodes that are left.
#[test]
fn killing_a_simulated_node_moves_its_pods_to_the_others() {
    let s = Server::start_with(&[
        "--node-monitor-period",
        "1s",
        "--node-monitor-grace-period",
        "8s",
    ]);
    let fast = ["--renew-interval", "1s", "--lease-duration-seconds", "8"];
    let mut doomed = SimNodes::start(&s, "doomed", 1, &fast);
    let _b = SimNodes::start(&s, "steady", 2, &fast);
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      tolerations:\n      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 3}\n      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 3}\n      containers:\n      - {name: web, image: nginx}\n";
    s.kubectl_in(&["apply", "-f", "-"], Some(deploy));
    // node -> ready pods not being deleted
    let placement = || -> Vec<(String, String)> {
        s.kubectl(&["get", "pods", "-l", "app=web", "-o",
            "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}"])
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // "<node> True" when not terminating; three fields when terminating.
                (f.len() == 2 && f[1] == "True").then(|| (f[0].to_string(), l.to_string()))
            })
            .collect()
    };
    assert!(
        eventually(60, || {
            let p = placement();
            p.len() == 3 && p.iter().any(|(n, _)| n == "doomed-0")
        }),
        "pods never ran on all three nodes: {:?}",
        placement()
    );

    doomed.kill();
    let ready = || {
        s.kubectl(&[
            "get",
            "node",
            "doomed-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        ])
    };
    assert!(
        eventually(60, || ready() == "Unknown"),
        "Ready: {}",
        ready()
    );
    let taints = || s.kubectl(&["get", "node", "doomed-0", "-o", "jsonpath={.spec.taints}"]);
    assert!(
        eventually(30, || taints().contains("node.kubernetes.io/unreachable")
            && taints().contains("NoExecute")),
        "taints: {}",
        taints()
    );
    assert!(
        eventually(90, || {
            let p = placement();
            p.len() == 3 && p.iter().all(|(n, _)| n != "doomed-0")
        }),
        "pods were not replaced on the remaining nodes: {:?}",
        placement()
    );
}
