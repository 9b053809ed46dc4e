//! The installed kubectl (1.32, and 1.31/1.33 beside it) against a served control plane, with no
//! client-side workarounds: what a user types is what these tests type.

mod support;

use std::time::Duration;

use support::{eventually, Server};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - name: MODE
          value: one
"#;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: my-pod
  labels:
    app: my-app
    tier: front
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
"#;

#[test]
fn create_get_and_every_output_format() {
    let s = Server::start();
    let out = s.kubectl_in(&["create", "-f", "-"], Some(POD));
    assert!(out.contains("pod/my-pod created"), "{out}");

    let table = s.kubectl(&["get", "pods"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(
        table.contains("my-pod") && table.contains("0/1") && table.contains("Pending"),
        "{table}"
    );

    let wide = s.kubectl(&["get", "pods", "-o", "wide"]);
    let header = wide.lines().next().unwrap();
    assert!(header.contains(" IP ") && header.contains("NODE"), "{wide}");

    let yaml = s.kubectl(&["get", "pod", "my-pod", "-o", "yaml"]);
    for want in [
        "restartPolicy: Always",
        "dnsPolicy: ClusterFirst",
        "terminationGracePeriodSeconds: 30",
        "imagePullPolicy: IfNotPresent",
        "uid:",
        "creationTimestamp:",
        "resourceVersion:",
        "node.kubernetes.io/not-ready",
        "tolerationSeconds: 300",
    ] {
        assert!(yaml.contains(want), "missing {want:?} in:\n{yaml}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&s.kubectl(&["get", "pod", "my-pod", "-o", "json"])).unwrap();
    assert_eq!(json["spec"]["containers"][0]["image"], "busybox:1.36");
    assert_eq!(
        s.kubectl(&["get", "pods", "-o", "name"]).trim(),
        "pod/my-pod"
    );
    assert_eq!(
        s.kubectl(&[
            "get",
            "pod",
            "my-pod",
            "-o",
            "jsonpath={.spec.containers[0].name}"
        ]),
        "app"
    );

    let err = s.kubectl_fails(&["create", "-f", "-"], Some(POD));
    assert!(
        err.contains("AlreadyExists") || err.contains("already exists"),
        "{err}"
    );
    let err = s.kubectl_fails(&["get", "pod", "nope"], None);
    assert!(err.contains("pods \"nope\" not found"), "{err}");
}

#[test]
fn apply_twice_changes_the_object_in_place() {
    let s = Server::start();
    let out = s.kubectl_in(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let again = s.kubectl_in(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(again.contains("deployment.apps/web unchanged"), "{again}");

    let changed = DEPLOYMENT
        .replace("replicas: 2", "replicas: 3")
        .replace("nginx:1.25", "nginx:1.26")
        .replace("value: one", "value: two");
    let out = s.kubectl_in(&["apply", "-f", "-"], Some(&changed));
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let got = s.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value} {.metadata.generation}",
    ]);
    assert_eq!(got, "3 nginx:1.26 two 2");
    // Still one container: the strategic merge patch merged by name instead of appending.
    let n = s.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name}",
    ]);
    assert_eq!(n, "nginx");
}

#[test]
fn label_selectors_and_label_columns() {
    let s = Server::start();
    for (name, labels) in [
        ("a", "app=web,tier=front"),
        ("b", "app=web,tier=back"),
        ("c", "app=db"),
        ("d", "env=dev"),
    ] {
        s.kubectl(&["create", "configmap", name, "--from-literal=k=v"]);
        let mut args = vec!["label", "configmap", name];
        let ls: Vec<&str> = labels.split(',').collect();
        args.extend(ls);
        s.kubectl(&args);
    }
    let names = |sel: &str| -> Vec<String> {
        let out = s.kubectl(&["get", "cm", "-l", sel, "-o", "name"]);
        let mut v: Vec<String> = out
            .lines()
            .map(|l| l.trim_start_matches("configmap/").to_string())
            .filter(|n| n != "kube-root-ca.crt")
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("app=web"), ["a", "b"]);
    assert_eq!(names("app!=web"), ["c", "d"]);
    assert_eq!(names("tier in (front,middle)"), ["a"]);
    assert_eq!(names("tier notin (front)"), ["b", "c", "d"]);
    assert_eq!(names("env"), ["d"]);
    assert_eq!(names("!app"), ["d"]);

    let cols = s.kubectl(&["get", "cm", "a", "-L", "app,tier"]);
    assert!(
        cols.lines().next().unwrap().contains("APP") && cols.contains("front"),
        "{cols}"
    );
    let shown = s.kubectl(&["get", "cm", "a", "--show-labels"]);
    assert!(shown.contains("app=web,tier=front"), "{shown}");

    s.kubectl(&["create", "namespace", "other"]);
    s.kubectl(&["-n", "other", "create", "configmap", "z"]);
    let all = s.kubectl(&["get", "cm", "-A"]);
    assert!(
        all.lines().next().unwrap().starts_with("NAMESPACE"),
        "{all}"
    );
    assert!(all.contains("other") && all.contains("default"), "{all}");

    let err = s.kubectl_fails(&["get", "cm", "-l", "a in (b"], None);
    assert!(!err.is_empty());
}

#[test]
fn watch_prints_later_changes() {
    let s = Server::start();
    s.kubectl(&["create", "configmap", "first"]);
    let (mut child, lines) = s.kubectl_stream(&["get", "configmaps", "-w"]);
    let mut seen = Vec::new();
    let mut wait_for = |want: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(l) = lines.recv_timeout(Duration::from_millis(200)) {
                seen.push(l.clone());
                if l.contains(want) {
                    return;
                }
            }
        }
        panic!("watch never printed {want:?}; saw {seen:?}");
    };
    wait_for("first");
    s.kubectl(&["create", "configmap", "second"]);
    wait_for("second");
    s.kubectl(&["label", "configmap", "first", "x=y"]);
    s.kubectl(&["delete", "configmap", "second"]);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn describe_delete_and_namespaces() {
    let s = Server::start();
    s.kubectl_in(&["apply", "-f", "-"], Some(DEPLOYMENT));
    let d = s.kubectl(&["describe", "deployment", "web"]);
    assert!(
        d.contains("Name:") && d.contains("web") && d.contains("nginx:1.25"),
        "{d}"
    );
    s.kubectl_in(&["create", "-f", "-"], Some(POD));
    let d = s.kubectl(&["describe", "pod", "my-pod"]);
    assert!(d.contains("busybox:1.36"), "{d}");

    // delete -f, by name, by label, --all
    let out = s.kubectl_in(&["delete", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    s.kubectl(&["delete", "pod", "my-pod"]);
    for n in ["x1", "x2", "y1"] {
        s.kubectl(&["create", "configmap", n]);
    }
    s.kubectl(&["label", "cm", "x1", "x2", "group=x"]);
    s.kubectl(&["delete", "cm", "-l", "group=x"]);
    let left = s.kubectl(&["get", "cm", "-o", "name"]);
    assert!(left.contains("y1") && !left.contains("x1"), "{left}");
    s.kubectl(&["delete", "cm", "--all"]);
    assert!(!s.kubectl(&["get", "cm", "-o", "name"]).contains("y1"));

    // A namespace empties, then goes; nothing can be created while it terminates.
    s.kubectl(&["create", "namespace", "gone"]);
    s.kubectl(&["-n", "gone", "create", "configmap", "c1"]);
    s.kubectl(&[
        "-n",
        "gone",
        "create",
        "secret",
        "generic",
        "s1",
        "--from-literal=a=b",
    ]);
    s.kubectl(&["delete", "namespace", "gone", "--timeout=30s"]);
    let err = s.kubectl_fails(&["get", "namespace", "gone"], None);
    assert!(err.contains("not found"), "{err}");
    let err = s.kubectl_fails(&["-n", "gone", "create", "configmap", "c2"], None);
    assert!(err.contains("not found"), "{err}");

    let ns = s.kubectl(&["get", "ns", "-o", "name"]);
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(want), "{ns}");
    }

    // Every namespace gets a default ServiceAccount and the cluster CA, as with kubeadm.
    s.kubectl(&["create", "namespace", "fresh"]);
    assert!(eventually(20, || s
        .kubectl_raw(&["-n", "fresh", "get", "sa", "default"], None)
        .status
        .success()));
    let ca = || {
        s.kubectl_raw(
            &[
                "-n",
                "fresh",
                "get",
                "cm",
                "kube-root-ca.crt",
                "-o",
                "jsonpath={.data.ca\\.crt}",
            ],
            None,
        )
    };
    assert!(eventually(20, || String::from_utf8_lossy(&ca().stdout)
        .contains("BEGIN CERTIFICATE")));
}

#[test]
fn label_annotate_scale_patch_and_edit() {
    let s = Server::start();
    s.kubectl_in(&["apply", "-f", "-"], Some(DEPLOYMENT));
    s.kubectl(&["label", "deploy", "web", "team=a"]);
    let err = s.kubectl_fails(&["label", "deploy", "web", "team=b"], None);
    assert!(err.contains("already has a value"), "{err}");
    s.kubectl(&["label", "deploy", "web", "team=b", "--overwrite"]);
    s.kubectl(&["annotate", "deploy", "web", "note=hello"]);
    let got = s.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.labels.team} {.metadata.annotations.note}",
    ]);
    assert_eq!(got, "b hello");

    s.kubectl(&["scale", "deployment", "web", "--replicas=5"]);
    assert_eq!(
        s.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );

    s.kubectl(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:strategic"}]}}}}"#]);
    s.kubectl(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"merged":"yes"}}}"#,
    ]);
    s.kubectl(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":1}]"#,
    ]);
    let got = s.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.labels.merged} {.spec.replicas}"]);
    assert_eq!(got, "nginx:strategic yes 1");
    let err = s.kubectl_fails(
        &[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
        ],
        None,
    );
    assert!(!err.is_empty());

    s.kubectl(&["create", "configmap", "conf", "--from-literal=color=blue"]);
    let out = s.kubectl_as(
        "kubectl",
        &["edit", "configmap", "conf"],
        None,
        &[("EDITOR", "sed -i s/blue/green/")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s.kubectl(&["get", "cm", "conf", "-o", "jsonpath={.data.color}"]),
        "green"
    );
}

#[test]
fn create_helpers_explain_and_api_resources() {
    let s = Server::start();
    assert!(s
        .kubectl(&["create", "namespace", "team"])
        .contains("namespace/team created"));
    s.kubectl(&[
        "-n",
        "team",
        "create",
        "configmap",
        "app",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    s.kubectl(&[
        "-n",
        "team",
        "create",
        "secret",
        "generic",
        "pw",
        "--from-literal=password=s3cret",
    ]);
    let secret = s.kubectl(&[
        "-n",
        "team",
        "get",
        "secret",
        "pw",
        "-o",
        "jsonpath={.data.password} {.type}",
    ]);
    assert_eq!(secret, "czNjcmV0 Opaque");

    let explain = s.kubectl(&["explain", "pod.spec.containers"]);
    assert!(
        explain.contains("KIND:") && explain.contains("Pod"),
        "{explain}"
    );
    assert!(
        explain.contains("image") && explain.contains("FIELD"),
        "{explain}"
    );

    let namespaced = s.kubectl(&["api-resources", "--namespaced=true"]);
    for want in [
        "pods",
        "deployments",
        "configmaps",
        "leases",
        "endpointslices",
        "cronjobs",
    ] {
        assert!(namespaced.contains(want), "{want} missing: {namespaced}");
    }
    assert!(!namespaced.contains("nodes"));
    let cluster = s.kubectl(&["api-resources", "--namespaced=false"]);
    for want in ["nodes", "namespaces", "certificatesigningrequests"] {
        assert!(cluster.contains(want), "{want} missing: {cluster}");
    }
    assert!(!cluster.contains(" pods "));
}

#[test]
fn strict_validation_and_clear_errors() {
    let s = Server::start();
    let bad_field = POD.replace(
        "image: busybox:1.36",
        "image: busybox:1.36\n    imagee: typo",
    );
    let err = s.kubectl_fails(&["create", "-f", "-"], Some(&bad_field));
    assert!(
        err.contains("unknown field") && err.contains("imagee"),
        "{err}"
    );

    let bad_name = POD.replace("name: my-pod", "name: My_Pod");
    let err = s.kubectl_fails(&["create", "-f", "-"], Some(&bad_name));
    assert!(
        err.contains("Invalid value") && err.contains("metadata.name"),
        "{err}"
    );

    let no_image = POD.replace("    image: busybox:1.36\n", "");
    let err = s.kubectl_fails(&["create", "-f", "-"], Some(&no_image));
    assert!(
        err.contains("spec.containers[0].image") && err.contains("Required value"),
        "{err}"
    );

    let old_cronjob = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: old\nspec:\n  schedule: '*/1 * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: c\n            image: busybox\n";
    let err = s.kubectl_fails(&["apply", "-f", "-"], Some(old_cronjob));
    assert!(
        err.contains("batch/v1beta1") || err.contains("no matches for kind"),
        "{err}"
    );
}

#[test]
fn unauthenticated_requests_get_401() {
    let s = Server::start();
    let kc = std::fs::read_to_string(s.kubeconfig()).unwrap();
    let anonymous: String = kc
        .lines()
        .filter(|l| !l.contains("client-certificate-data") && !l.contains("client-key-data"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace("  user:\n", "  user:\n    token: not-a-valid-token\n");
    let path = s.data_dir().join("anonymous.kubeconfig");
    std::fs::write(&path, anonymous).unwrap();
    let out = std::process::Command::new(support::kubectl_path("kubectl"))
        .arg("--kubeconfig")
        .arg(&path)
        .args(["get", "pods"])
        .env("HOME", s.data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("You must be logged in to the server"), "{err}");
}

#[test]
fn other_kubectl_minors_work_too() {
    let s = Server::start();
    for bin in ["kubectl.1.31", "kubectl.1.33"] {
        let out = s.kubectl_as(bin, &["apply", "-f", "-"], Some(DEPLOYMENT), &[]);
        assert!(
            out.status.success(),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = s.kubectl_as(
            bin,
            &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
            None,
            &[],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "2",
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = s.kubectl_as(bin, &["delete", "deploy", "web"], None, &[]);
        assert!(
            out.status.success(),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_restart_keeps_every_object_and_the_ca() {
    let mut s = Server::start();
    s.kubectl_in(&["apply", "-f", "-"], Some(DEPLOYMENT));
    s.kubectl(&["create", "configmap", "keep", "--from-literal=a=b"]);
    let ca_before = std::fs::read(s.data_dir().join("pki/ca.crt")).unwrap();
    let rv_before = s.kubectl(&[
        "get",
        "cm",
        "keep",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    s.kill();
    s.spawn();
    assert_eq!(
        std::fs::read(s.data_dir().join("pki/ca.crt")).unwrap(),
        ca_before
    );
    assert_eq!(
        s.kubectl(&["get", "cm", "keep", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    assert_eq!(
        s.kubectl(&[
            "get",
            "cm",
            "keep",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        rv_before
    );
    assert_eq!(
        s.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );
    assert!(eventually(5, || s
        .kubectl(&["get", "ns", "-o", "name"])
        .contains("kube-system")));
}
