//! Every manifest from the seed documents (`../shared/seeds/`, kept as fixtures) against the real
//! kubectl: the valid ones are accepted as written, the others are refused with a clear reason.

mod support;

use support::Server;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seeds")
        .join(name);
    path.to_string_lossy().into_owned()
}

#[test]
fn valid_seed_manifests_are_accepted_as_written() {
    let s = Server::start();
    for f in [
        "000-pod.yaml",
        "000-service-nodeport.yaml",
        "000-service-externalname.yaml",
        "000-replicaset.yaml",
        "000-daemonset.yaml",
        "000-job.yaml",
        "000-cronjob-as-batch-v1.yaml",
        "001-namespace.yaml",
        "001-pod.yaml",
        "001-replicationcontroller.yaml",
        "001-service.yaml",
        "001-service-nodeport.yaml",
        "002-service-internal.yaml",
    ] {
        let out = s.kubectl(&["apply", "-f", &fixture(f)]);
        assert!(out.contains("created"), "{f}: {out}");
    }
    // The NodePort seed keeps the node port it asked for; the plain one gets a cluster IP.
    let np = s.kubectl(&[
        "get",
        "svc",
        "my-svc",
        "-o",
        "jsonpath={.spec.ports[0].nodePort} {.spec.type}",
    ]);
    assert_eq!(np, "30008 NodePort");
    let ip = s.kubectl(&["get", "svc", "kubia", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(ip.starts_with("10."), "{ip}");
    let ext = s.kubectl(&[
        "get",
        "svc",
        "my-google-svc",
        "-o",
        "jsonpath={.spec.externalName}",
    ]);
    assert_eq!(ext, "google.com");
    let svc_table = s.kubectl(&["get", "svc", "my-svc"]);
    assert!(svc_table.contains("80:30008/TCP"), "{svc_table}");
    // The Job got the selector and labels the server generates.
    let job = s.kubectl(&[
        "get",
        "job",
        "job-example",
        "-o",
        "jsonpath={.spec.selector.matchLabels}",
    ]);
    assert!(job.contains("batch.kubernetes.io/controller-uid"), "{job}");
    // A second NodePort Service may not take a node port that is in use.
    let clash = std::fs::read_to_string(fixture("000-service-nodeport.yaml"))
        .unwrap()
        .replace("name: my-svc", "name: my-svc-2");
    let err = s.kubectl_fails(&["apply", "-f", "-"], Some(&clash));
    assert!(err.contains("provided port is already allocated"), "{err}");
}

#[test]
fn outdated_or_broken_seed_manifests_are_refused_clearly() {
    let s = Server::start();
    let err = s.kubectl_fails(&["apply", "-f", &fixture("000-cronjob-v1beta1.yaml")], None);
    assert!(err.contains("batch/v1beta1"), "{err}");
    let err = s.kubectl_fails(
        &[
            "apply",
            "-f",
            &fixture("002-service-nodeport-misspelled.yaml"),
        ],
        None,
    );
    assert!(
        err.contains("unknown field") && err.contains("nodeport"),
        "{err}"
    );
    let err = s.kubectl_fails(&["apply", "-f", &fixture("001-pod-flattened.yaml")], None);
    assert!(!err.trim().is_empty());
    // Nothing of the refused manifests was stored.
    assert!(s
        .kubectl(&["get", "svc", "-o", "name"])
        .lines()
        .all(|l| l != "service/node-js-nodeport"));
}
