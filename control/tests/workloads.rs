//! The workload controllers inside `control serve`, seen through kubectl: Deployments make
//! ReplicaSets, ReplicaSets and ReplicationControllers keep their pod counts and adopt orphans.

mod support;

use support::{eventually, Server};

fn count(s: &Server, selector: &str) -> usize {
    s.kubectl(&["get", "pods", "-l", selector, "-o", "name"])
        .lines()
        .count()
}

#[test]
fn deployments_and_replica_sets_keep_their_pods() {
    let s = Server::start();
    s.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.25",
        "--replicas=3",
    ]);
    assert!(
        eventually(30, || count(&s, "app=web") == 3),
        "pods: {}",
        count(&s, "app=web")
    );
    let owner = s.kubectl(&["get", "rs", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.ownerReferences[0].kind}/{.items[0].metadata.ownerReferences[0].name}"]);
    assert_eq!(owner, "Deployment/web");
    let rs = s.kubectl(&[
        "get",
        "rs",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let pod_owner = s.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.ownerReferences[0].name}",
    ]);
    assert_eq!(pod_owner, rs);
    let rev = s.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ]);
    assert_eq!(rev, "1");

    s.kubectl(&["scale", "deployment", "web", "--replicas=1"]);
    assert!(
        eventually(30, || count(&s, "app=web") == 1),
        "pods: {}",
        count(&s, "app=web")
    );
    let status = || s.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.status.replicas}"]);
    assert!(
        eventually(30, || status() == "1"),
        "status.replicas {}",
        status()
    );
}

#[test]
fn replication_controllers_and_adoption() {
    let s = Server::start();
    let rc = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seeds/001-replicationcontroller.yaml");
    s.kubectl(&["apply", "-f", rc.to_str().unwrap()]);
    assert!(
        eventually(30, || count(&s, "app=kubia") == 3),
        "pods: {}",
        count(&s, "app=kubia")
    );
    let ready = || s.kubectl(&["get", "rc", "kubia", "-o", "jsonpath={.status.replicas}"]);
    assert!(eventually(30, || ready() == "3"), "{}", ready());

    // An orphan pod that matches a new ReplicaSet is adopted instead of a new one being made.
    let orphan = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: orphan\n  labels:\n    app: orph\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
    s.kubectl_in(&["apply", "-f", "-"], Some(orphan));
    let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: orph\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: orph\n  template:\n    metadata:\n      labels:\n        app: orph\n    spec:\n      containers:\n      - name: c\n        image: busybox\n";
    s.kubectl_in(&["apply", "-f", "-"], Some(rs));
    let owner = || {
        s.kubectl(&[
            "get",
            "pod",
            "orphan",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].name}",
        ])
    };
    assert!(eventually(30, || owner() == "orph"), "owner {:?}", owner());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(count(&s, "app=orph"), 1);
}

#[test]
fn deleting_owners_cascades_as_the_propagation_policy_says() {
    let s = Server::start();
    let gone = |kind: &str, sel: &str| {
        s.kubectl(&["get", kind, "-l", sel, "-o", "name"])
            .trim()
            .is_empty()
    };

    // Background (kubectl's default): the Deployment goes at once, its ReplicaSet and pods after.
    s.kubectl(&[
        "create",
        "deployment",
        "bg",
        "--image=nginx",
        "--replicas=2",
    ]);
    assert!(eventually(30, || count(&s, "app=bg") == 2));
    s.kubectl(&["delete", "deployment", "bg"]);
    assert!(
        eventually(30, || gone("rs", "app=bg") && gone("pods", "app=bg")),
        "bg dependents remain"
    );

    // Foreground: the dependents go first, then the Deployment itself.
    s.kubectl(&[
        "create",
        "deployment",
        "fg",
        "--image=nginx",
        "--replicas=2",
    ]);
    assert!(eventually(30, || count(&s, "app=fg") == 2));
    s.kubectl(&[
        "delete",
        "deployment",
        "fg",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert!(
        gone("rs", "app=fg") && gone("pods", "app=fg"),
        "fg dependents remain"
    );
    assert!(s
        .kubectl_fails(&["get", "deployment", "fg"], None)
        .contains("not found"));

    // Orphan: the ReplicaSet goes, its pods stay and are released.
    let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: orph\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: orph\n  template:\n    metadata:\n      labels:\n        app: orph\n    spec:\n      containers:\n      - name: c\n        image: busybox\n";
    s.kubectl_in(&["apply", "-f", "-"], Some(rs));
    assert!(eventually(30, || count(&s, "app=orph") == 2));
    s.kubectl(&["delete", "rs", "orph", "--cascade=orphan", "--timeout=60s"]);
    assert!(s
        .kubectl_fails(&["get", "rs", "orph"], None)
        .contains("not found"));
    assert_eq!(count(&s, "app=orph"), 2);
    let owners = s.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=orph",
        "-o",
        "jsonpath={.items[*].metadata.ownerReferences}",
    ]);
    assert!(owners.trim().is_empty(), "{owners}");
}
