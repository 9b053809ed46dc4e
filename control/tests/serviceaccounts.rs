//! Service account tokens end to end with the installed kubectl: `kubectl create token` goes
//! through the TokenRequest API, the token authenticates as the account (and stops working
//! when the account goes), and pods get the kube-api-access volume unless they opt out.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::{kubectl_path, Server};

/// kubectl with only a bearer token (no client certificate) against the server.
fn kubectl_with_token(s: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(kubectl_path("kubectl"))
        .arg("--server")
        .arg(format!("https://127.0.0.1:{}", s.port))
        .arg("--certificate-authority")
        .arg(s.data_dir().join("pki/ca.crt"))
        .arg("--token")
        .arg(token)
        .args(args)
        .env("HOME", s.data_dir())
        .env("KUBECONFIG", "/dev/null")
        .output()
        .unwrap()
}

#[test]
fn kubectl_create_token_issues_a_token_that_authenticates_as_the_account() {
    let s = Server::start();
    s.kubectl(&["create", "serviceaccount", "builder"]);
    let token = s.kubectl(&["create", "token", "builder", "--duration", "20m"]);
    let token = token.trim();
    assert!(token.starts_with("eyJ"), "{token}");
    // Authenticated: discovery works; resources are forbidden by name (no RBAC Roles yet).
    let out = kubectl_with_token(&s, token, &["get", "--raw", "/api"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kubectl_with_token(&s, token, &["get", "pods"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "User \"system:serviceaccount:default:builder\" cannot list resource \"pods\""
        ),
        "{err}"
    );
    // Too short a lifetime is refused with the field named.
    let out = s.kubectl_raw(&["create", "token", "builder", "--duration", "1m"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("spec.expirationSeconds"),
        "{err}"
    );
    // A token for a deleted account no longer authenticates.
    s.kubectl(&["delete", "serviceaccount", "builder"]);
    let out = kubectl_with_token(&s, token, &["get", "--raw", "/api"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a deleted account's token still works"
    );
    assert!(err.contains("Unauthorized") || err.contains("401"), "{err}");
    // A forged token (another key) is refused.
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[2] = "AAAA";
    let out = kubectl_with_token(&s, &parts.join("."), &["get", "--raw", "/api"]);
    assert!(!out.status.success());
}

#[test]
fn pods_get_the_api_access_volume_unless_they_opt_out() {
    let s = Server::start_with(&["--disable-scheduler"]);
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: app, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: optout}
spec:
  automountServiceAccountToken: false
  containers: [{name: app, image: busybox}]
",
        ),
    );
    let pod: Value =
        serde_json::from_str(&s.kubectl(&["get", "pod", "plain", "-o", "json"])).unwrap();
    let vols = pod["spec"]["volumes"].as_array().unwrap();
    let v = vols
        .iter()
        .find(|v| v["name"].as_str().unwrap().starts_with("kube-api-access-"))
        .expect("the api access volume");
    let sources = &v["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    let m = &pod["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(
        m["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(m["readOnly"], true);
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    let pod: Value =
        serde_json::from_str(&s.kubectl(&["get", "pod", "optout", "-o", "json"])).unwrap();
    assert!(pod["spec"]["volumes"].is_null(), "{}", pod["spec"]);
}
