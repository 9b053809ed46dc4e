//! ResourceQuota and LimitRange through the installed kubectl: admission refusals worded as
//! Kubernetes words them, LimitRange defaults, the quota controller's `describe` numbers going
//! up and down, and concurrent creates that never overrun a quota.

mod support;

use std::collections::BTreeMap;

use support::{eventually, Server};

fn pod_yaml(name: &str, resources: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
{resources}
"#
    )
}

/// A pod using 500m/256Mi requested and 1/512Mi limited.
fn sized_pod(name: &str) -> String {
    pod_yaml(
        name,
        "    resources:\n      requests: {cpu: 500m, memory: 256Mi}\n      limits: {cpu: \"1\", memory: 512Mi}",
    )
}

/// `kubectl describe quota`'s Used and Hard columns, by resource.
fn described(s: &Server, ns: &str, name: &str) -> BTreeMap<String, (String, String)> {
    let out = s.kubectl(&["describe", "quota", name, "-n", ns]);
    out.lines()
        .skip_while(|l| !l.starts_with("--------"))
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() == 3).then(|| {
                (
                    cols[0].to_string(),
                    (cols[1].to_string(), cols[2].to_string()),
                )
            })
        })
        .collect()
}

fn used(s: &Server, ns: &str, name: &str) -> BTreeMap<String, String> {
    described(s, ns, name)
        .into_iter()
        .map(|(k, (u, _))| (k, u))
        .collect()
}

fn expect_used(s: &Server, ns: &str, name: &str, want: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut last = BTreeMap::new();
    let ok = eventually(20, || {
        last = used(s, ns, name);
        last == want
    });
    assert!(ok, "quota {ns}/{name}: used {last:?}, want {want:?}");
}

#[test]
fn compute_quota_refuses_admits_and_tracks_usage() {
    let s = Server::start();
    s.kubectl(&["create", "namespace", "team"]);
    let out = s.kubectl(&[
        "create",
        "quota",
        "compute",
        "-n",
        "team",
        "--hard=pods=2,requests.cpu=1,requests.memory=1Gi,limits.cpu=2,limits.memory=2Gi",
    ]);
    assert!(out.contains("resourcequota/compute created"), "{out}");
    // The controller fills the status of a new quota.
    expect_used(
        &s,
        "team",
        "compute",
        &[
            ("limits.cpu", "0"),
            ("limits.memory", "0"),
            ("pods", "0"),
            ("requests.cpu", "0"),
            ("requests.memory", "0"),
        ],
    );
    let hard: Vec<(String, String)> = described(&s, "team", "compute")
        .into_iter()
        .map(|(k, (_, h))| (k, h))
        .collect();
    assert_eq!(
        hard,
        [
            ("limits.cpu", "2"),
            ("limits.memory", "2Gi"),
            ("pods", "2"),
            ("requests.cpu", "1"),
            ("requests.memory", "1Gi")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    for name in ["a", "b"] {
        let out = s.kubectl_in(&["create", "-n", "team", "-f", "-"], Some(&sized_pod(name)));
        assert!(out.contains(&format!("pod/{name} created")), "{out}");
    }
    let err = s.kubectl_fails(&["create", "-n", "team", "-f", "-"], Some(&sized_pod("c")));
    assert!(
        err.contains("Error from server (Forbidden)")
            && err.contains(r#"pods "c" is forbidden: exceeded quota: compute, requested: limits.cpu=1,pods=1,requests.cpu=500m, used: limits.cpu=2,pods=2,requests.cpu=1, limited: limits.cpu=2,pods=2,requests.cpu=1"#),
        "{err}"
    );
    let missing = s.kubectl_fails(&["get", "pod", "c", "-n", "team"], None);
    assert!(missing.contains(r#"pods "c" not found"#), "{missing}");
    expect_used(
        &s,
        "team",
        "compute",
        &[
            ("limits.cpu", "2"),
            ("limits.memory", "1Gi"),
            ("pods", "2"),
            ("requests.cpu", "1"),
            ("requests.memory", "512Mi"),
        ],
    );

    // Without a LimitRange a pod that declares nothing cannot be charged for cpu and memory.
    let bare = pod_yaml("bare", "");
    let err = s.kubectl_fails(&["create", "-n", "team", "-f", "-"], Some(&bare));
    assert!(
        err.contains(r#"pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: app; limits.memory for: app; requests.cpu for: app; requests.memory for: app"#),
        "{err}"
    );

    // Deleting a pod gives its share back.
    s.kubectl(&["delete", "pod", "a", "-n", "team", "--wait=false"]);
    expect_used(
        &s,
        "team",
        "compute",
        &[
            ("limits.cpu", "1"),
            ("limits.memory", "512Mi"),
            ("pods", "1"),
            ("requests.cpu", "500m"),
            ("requests.memory", "256Mi"),
        ],
    );

    // With defaults from a LimitRange the same pod is admitted, its resources filled in.
    let limits = r#"
apiVersion: v1
kind: LimitRange
metadata:
  name: defaults
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 250m, memory: 128Mi}
"#;
    s.kubectl_in(&["apply", "-n", "team", "-f", "-"], Some(limits));
    let out = s.kubectl_in(&["create", "-n", "team", "-f", "-"], Some(&bare));
    assert!(out.contains("pod/bare created"), "{out}");
    let field = |path: &str| {
        s.kubectl(&[
            "get",
            "pod",
            "bare",
            "-n",
            "team",
            "-o",
            &format!("jsonpath={path}"),
        ])
    };
    assert_eq!(
        field("{.spec.containers[0].resources.requests.cpu}"),
        "250m"
    );
    assert_eq!(
        field("{.spec.containers[0].resources.requests.memory}"),
        "128Mi"
    );
    assert_eq!(field("{.spec.containers[0].resources.limits.cpu}"), "500m");
    assert_eq!(
        field("{.spec.containers[0].resources.limits.memory}"),
        "256Mi"
    );
    assert_eq!(
        field(r"{.metadata.annotations.kubernetes\.io/limit-ranger}"),
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
    );
    assert_eq!(field("{.status.qosClass}"), "Burstable");
    expect_used(
        &s,
        "team",
        "compute",
        &[
            ("limits.cpu", "1500m"),
            ("limits.memory", "768Mi"),
            ("pods", "2"),
            ("requests.cpu", "750m"),
            ("requests.memory", "384Mi"),
        ],
    );
}

#[test]
fn concurrent_creates_never_exceed_the_quota() {
    let s = Server::start();
    s.kubectl(&["create", "namespace", "race"]);
    s.kubectl(&["create", "quota", "race", "-n", "race", "--hard=pods=3"]);
    let results: Vec<(bool, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    let out = s.kubectl_raw(
                        &["create", "-n", "race", "-f", "-"],
                        Some(&pod_yaml(&format!("p{i}"), "")),
                    );
                    (
                        out.status.success(),
                        String::from_utf8_lossy(&out.stderr).into_owned(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let admitted = results.iter().filter(|(ok, _)| *ok).count();
    assert_eq!(admitted, 3, "{results:?}");
    for (_, err) in results.iter().filter(|(ok, _)| !*ok) {
        assert!(
            err.contains("exceeded quota: race, requested: pods=1, used: pods=3, limited: pods=3"),
            "{err}"
        );
    }
    let pods = s.kubectl(&["get", "pods", "-n", "race", "-o", "name"]);
    assert_eq!(pods.lines().count(), 3, "{pods}");
    expect_used(&s, "race", "race", &[("pods", "3")]);
}

#[test]
fn limit_range_bounds_and_service_quotas() {
    let s = Server::start();
    s.kubectl(&["create", "namespace", "lr"]);
    let bounds = r#"
apiVersion: v1
kind: LimitRange
metadata:
  name: bounds
spec:
  limits:
  - type: Container
    min: {cpu: 100m}
    max: {memory: 1Gi}
"#;
    s.kubectl_in(&["apply", "-n", "lr", "-f", "-"], Some(bounds));
    let small = pod_yaml("small", "    resources:\n      requests: {cpu: 50m}");
    let err = s.kubectl_fails(&["create", "-n", "lr", "-f", "-"], Some(&small));
    assert!(
        err.contains(r#"pods "small" is forbidden: minimum cpu usage per Container is 100m, but request is 50m"#),
        "{err}"
    );
    let big = pod_yaml("big", "    resources:\n      limits: {memory: 2Gi}");
    let err = s.kubectl_fails(&["create", "-n", "lr", "-f", "-"], Some(&big));
    assert!(
        err.contains(r#"pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi"#),
        "{err}"
    );
    // The LimitRange's own defaults (max as default limit, min as default request) fill a bare
    // pod so that it fits.
    let out = s.kubectl_in(
        &["create", "-n", "lr", "-f", "-"],
        Some(&pod_yaml("fits", "")),
    );
    assert!(out.contains("pod/fits created"), "{out}");
    let resources = s.kubectl(&[
        "get",
        "pod",
        "fits",
        "-n",
        "lr",
        "-o",
        "jsonpath={.spec.containers[0].resources}",
    ]);
    let resources: serde_json::Value = serde_json::from_str(&resources).unwrap();
    assert_eq!(
        resources,
        serde_json::json!({"limits": {"memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "1Gi"}})
    );

    // Services: node ports are charged on create and when an update changes the type.
    s.kubectl(&["create", "namespace", "svc"]);
    s.kubectl(&[
        "create",
        "quota",
        "svc",
        "-n",
        "svc",
        "--hard=services=2,services.nodeports=1",
    ]);
    s.kubectl(&[
        "create",
        "service",
        "nodeport",
        "np",
        "-n",
        "svc",
        "--tcp=80:80",
    ]);
    s.kubectl(&[
        "create",
        "service",
        "clusterip",
        "cip",
        "-n",
        "svc",
        "--tcp=80:80",
    ]);
    let err = s.kubectl_fails(
        &[
            "patch",
            "service",
            "cip",
            "-n",
            "svc",
            "-p",
            r#"{"spec":{"type":"NodePort"}}"#,
        ],
        None,
    );
    assert!(
        err.contains(r#"services "cip" is forbidden: exceeded quota: svc, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"#),
        "{err}"
    );
    let kind = s.kubectl(&[
        "get",
        "service",
        "cip",
        "-n",
        "svc",
        "-o",
        "jsonpath={.spec.type}",
    ]);
    assert_eq!(kind, "ClusterIP");
    let err = s.kubectl_fails(
        &[
            "create",
            "service",
            "clusterip",
            "third",
            "-n",
            "svc",
            "--tcp=80:80",
        ],
        None,
    );
    assert!(
        err.contains(r#"services "third" is forbidden: exceeded quota: svc, requested: services=1, used: services=2, limited: services=2"#),
        "{err}"
    );
    expect_used(
        &s,
        "svc",
        "svc",
        &[("services", "2"), ("services.nodeports", "1")],
    );
    s.kubectl(&["delete", "service", "np", "-n", "svc"]);
    expect_used(
        &s,
        "svc",
        "svc",
        &[("services", "1"), ("services.nodeports", "0")],
    );
    s.kubectl(&[
        "patch",
        "service",
        "cip",
        "-n",
        "svc",
        "-p",
        r#"{"spec":{"type":"NodePort"}}"#,
    ]);
    expect_used(
        &s,
        "svc",
        "svc",
        &[("services", "1"), ("services.nodeports", "1")],
    );
}
