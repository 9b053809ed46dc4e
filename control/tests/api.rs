//! The API over raw HTTPS where exact status codes, Status objects and watch streams matter.

mod support;

use std::time::Duration;

use control::client::{Connection, KubeConfig};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use support::Server;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(s: &Server) -> Connection {
    Connection::connect(&KubeConfig::load(&s.kubeconfig()).unwrap())
        .await
        .unwrap()
}

fn cm(name: &str, v: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": v}})).unwrap()
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

async fn status_of(
    c: &mut Connection,
    m: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (StatusCode, Value) {
    let (code, bytes) = c.request(m, path, body).await.unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[test]
fn bad_requests_get_kubernetes_status_objects() {
    let s = Server::start();
    rt().block_on(async {
        let mut c = connect(&s).await;
        let (code, st) = status_of(&mut c, Method::POST, CMS, Some(b"{not json".to_vec())).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(
            (
                st["kind"].as_str(),
                st["reason"].as_str(),
                st["code"].as_i64()
            ),
            (Some("Status"), Some("BadRequest"), Some(400))
        );

        let big = cm("big", &"x".repeat(4 * 1024 * 1024));
        let (code, st) = status_of(&mut c, Method::POST, CMS, Some(big)).await;
        assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(st["code"], 413);

        let (code, st) = status_of(&mut c, Method::GET, &format!("{CMS}/missing"), None).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert_eq!(st["details"]["name"], "missing");

        let (code, _) = status_of(&mut c, Method::GET, "/apis/batch/v1beta1/cronjobs", None).await;
        assert_eq!(code, StatusCode::NOT_FOUND);

        let bad = serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 70000}, {"port": 80, "protocol": "QUIC"}]}}),
        )
        .unwrap();
        let (code, st) = status_of(
            &mut c,
            Method::POST,
            "/api/v1/namespaces/default/services",
            Some(bad),
        )
        .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{st}");
        let fields: Vec<&str> = st["details"]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"spec.ports[0].port"), "{fields:?}");
        assert!(fields.contains(&"spec.ports[1].protocol"), "{fields:?}");
        // Nothing half-written: the invalid Service is not there.
        let (code, _) = status_of(
            &mut c,
            Method::GET,
            "/api/v1/namespaces/default/services/s",
            None,
        )
        .await;
        assert_eq!(code, StatusCode::NOT_FOUND);

        let (code, st) = status_of(
            &mut c,
            Method::POST,
            "/api/v1/namespaces/nowhere/configmaps",
            Some(cm("a", "b")),
        )
        .await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{st}");
    });
}

#[test]
fn stale_updates_conflict_and_fresh_ones_win() {
    let s = Server::start();
    rt().block_on(async {
        let mut c = connect(&s).await;
        let created: Value = serde_json::from_slice(
            &c.expect_ok(Method::POST, CMS, Some(cm("x", "1")))
                .await
                .unwrap(),
        )
        .unwrap();
        let rv = created["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let mut first = created.clone();
        first["data"]["v"] = json!("2");
        c.expect_ok(
            Method::PUT,
            &format!("{CMS}/x"),
            Some(serde_json::to_vec(&first).unwrap()),
        )
        .await
        .unwrap();
        // Same resourceVersion again: someone else changed it in between.
        let mut stale = created.clone();
        stale["data"]["v"] = json!("3");
        let (code, st) = status_of(
            &mut c,
            Method::PUT,
            &format!("{CMS}/x"),
            Some(serde_json::to_vec(&stale).unwrap()),
        )
        .await;
        assert_eq!(code, StatusCode::CONFLICT, "{st}");
        assert_eq!(st["reason"], "Conflict");
        let now: Value = serde_json::from_slice(
            &c.expect_ok(Method::GET, &format!("{CMS}/x"), None)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(now["data"]["v"], "2");
        assert_ne!(now["metadata"]["resourceVersion"].as_str().unwrap(), rv);
        let (code, st) = status_of(&mut c, Method::POST, CMS, Some(cm("x", "again"))).await;
        assert_eq!(code, StatusCode::CONFLICT);
        assert_eq!(st["reason"], "AlreadyExists");
    });
}

#[test]
fn lists_page_with_continue_tokens() {
    let s = Server::start();
    rt().block_on(async {
        let mut c = connect(&s).await;
        for i in 0..25 {
            c.expect_ok(Method::POST, CMS, Some(cm(&format!("p{i:02}"), "v")))
                .await
                .unwrap();
        }
        let mut names = Vec::new();
        let mut path = format!("{CMS}?limit=10");
        let mut pages = 0;
        loop {
            let page: Value =
                serde_json::from_slice(&c.expect_ok(Method::GET, &path, None).await.unwrap())
                    .unwrap();
            pages += 1;
            for i in page["items"].as_array().unwrap() {
                names.push(i["metadata"]["name"].as_str().unwrap().to_string());
            }
            // The namespace's kube-root-ca.crt (published by a controller) pages along too.
            names.retain(|n| n != "kube-root-ca.crt");
            match page["metadata"]["continue"].as_str() {
                Some(t) => path = format!("{CMS}?limit=10&continue={t}"),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let want: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
        assert_eq!(names, want);
        let (code, _) = status_of(
            &mut c,
            Method::GET,
            &format!("{CMS}?limit=10&continue=garbage"),
            None,
        )
        .await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
    });
}

/// Reads watch events until `n` arrived or the time is up.
async fn read_events(resp: http::Response<hyper::body::Incoming>, n: usize) -> Vec<Value> {
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while out.len() < n {
            let Some(Ok(frame)) = body.frame().await else {
                break;
            };
            if let Some(d) = frame.data_ref() {
                buf.extend_from_slice(d);
            }
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                out.push(serde_json::from_slice(&line).unwrap());
            }
        }
    })
    .await;
    out
}

#[test]
fn watches_resume_from_a_resource_version_in_order() {
    let s = Server::start();
    rt().block_on(async {
        let mut c = connect(&s).await;
        let first: Value = serde_json::from_slice(
            &c.expect_ok(Method::POST, CMS, Some(cm("w", "0")))
                .await
                .unwrap(),
        )
        .unwrap();
        let rv = first["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        for i in 1..=3 {
            let patch = serde_json::to_vec(&json!({"data": {"v": i.to_string()}})).unwrap();
            let resp = c
                .send(
                    Method::PATCH,
                    &format!("{CMS}/w"),
                    Some(patch),
                    "application/merge-patch+json",
                )
                .await
                .unwrap();
            assert!(resp.status().is_success());
            resp.into_body().collect().await.unwrap();
        }
        c.expect_ok(Method::DELETE, &format!("{CMS}/w"), None)
            .await
            .unwrap();
        let mut w = connect(&s).await;
        let resp = w
            .send(
                Method::GET,
                &format!("{CMS}?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dw"),
                None,
                "application/json",
            )
            .await
            .unwrap();
        let events = read_events(resp, 4).await;
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]);
        let values: Vec<&str> = events[..3]
            .iter()
            .map(|e| e["object"]["data"]["v"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["1", "2", "3"]);
        let rvs: Vec<i64> = events
            .iter()
            .map(|e| {
                e["object"]["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(rvs.windows(2).all(|p| p[0] < p[1]), "{rvs:?}");
    });
}

#[test]
fn watches_from_a_compacted_revision_get_410() {
    let s = Server::start_with(&["--compaction-interval-seconds", "1"]);
    rt().block_on(async {
        let mut c = connect(&s).await;
        for i in 0..5 {
            c.expect_ok(Method::POST, CMS, Some(cm(&format!("c{i}"), "v")))
                .await
                .unwrap();
        }
        // Two compaction intervals: the first records a revision, the second compacts to it.
        tokio::time::sleep(Duration::from_millis(3500)).await;
        c.expect_ok(Method::POST, CMS, Some(cm("after", "v")))
            .await
            .unwrap();
        let mut w = connect(&s).await;
        let resp = w
            .send(
                Method::GET,
                &format!("{CMS}?watch=1&resourceVersion=2"),
                None,
                "application/json",
            )
            .await
            .unwrap();
        let events = read_events(resp, 1).await;
        assert_eq!(events[0]["type"], "ERROR", "{events:?}");
        assert_eq!(events[0]["object"]["code"], 410);
    });
}

#[test]
fn health_is_public_and_metrics_count_requests() {
    let s = Server::start();
    rt().block_on(async {
        let mut c = connect(&s).await;
        // The loops beside the API server list too, so count what this request adds.
        const LIST_CMS: &str =
            "apiserver_request_total{verb=\"LIST\",resource=\"configmaps\",code=\"200\"} ";
        let lists = |text: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(LIST_CMS))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0)
        };
        let before = c.expect_ok(Method::GET, "/metrics", None).await.unwrap();
        c.expect_ok(Method::GET, CMS, None).await.unwrap();
        let metrics = c.expect_ok(Method::GET, "/metrics", None).await.unwrap();
        let text = String::from_utf8_lossy(&metrics);
        assert!(
            lists(&text) > lists(&String::from_utf8_lossy(&before)),
            "{text}"
        );
        assert!(text.contains("store_revision"));
        let ok = c.expect_ok(Method::GET, "/readyz", None).await.unwrap();
        assert_eq!(&ok[..], b"ok");
    });
}

#[test]
fn service_ips_and_node_ports_are_never_shared() {
    let s = Server::start_with(&[
        "--service-cluster-ip-range",
        "10.0.0.0/28",
        "--service-node-port-range",
        "30000-30004",
    ]);
    rt().block_on(async {
        let mut c = connect(&s).await;
        let mut ips = std::collections::HashSet::new();
        let mut ports = std::collections::HashSet::new();
        for i in 0..5 {
            let svc = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("s{i}")},
                "spec": {"type": "NodePort", "ports": [{"port": 80}], "selector": {"app": "x"}}})).unwrap();
            let created: Value = serde_json::from_slice(&c.expect_ok(Method::POST, "/api/v1/namespaces/default/services", Some(svc)).await.unwrap()).unwrap();
            assert!(ips.insert(created["spec"]["clusterIP"].as_str().unwrap().to_string()));
            assert!(ports.insert(created["spec"]["ports"][0]["nodePort"].as_i64().unwrap()));
        }
        // The node port range is full now.
        let svc = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "full"},
            "spec": {"type": "NodePort", "ports": [{"port": 80}]}})).unwrap();
        let (code, _) = status_of(&mut c, Method::POST, "/api/v1/namespaces/default/services", Some(svc.clone())).await;
        assert!(!code.is_success());
        // Deleting one frees its address and port for the next.
        c.expect_ok(Method::DELETE, "/api/v1/namespaces/default/services/s0", None).await.unwrap();
        c.expect_ok(Method::POST, "/api/v1/namespaces/default/services", Some(svc)).await.unwrap();
    });
}

#[test]
fn bound_pods_are_deleted_gracefully_and_evictions_delete() {
    let s = Server::start();
    rt().block_on(async {
        let mut c = connect(&s).await;
        let pods = "/api/v1/namespaces/default/pods";
        for name in ["a", "b"] {
            let pod = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"terminationGracePeriodSeconds": 20, "containers": [{"name": "c", "image": "busybox"}]}})).unwrap();
            c.expect_ok(Method::POST, pods, Some(pod)).await.unwrap();
            let binding = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}})).unwrap();
            let (code, _) = status_of(&mut c, Method::POST, &format!("{pods}/{name}/binding"), Some(binding.clone())).await;
            assert_eq!(code, StatusCode::CREATED);
            // A second binding is refused: a pod is bound once.
            let (code, st) = status_of(&mut c, Method::POST, &format!("{pods}/{name}/binding"), Some(binding)).await;
            assert_eq!(code, StatusCode::CONFLICT, "{st}");
        }
        let bound: Value = serde_json::from_slice(&c.expect_ok(Method::GET, &format!("{pods}/a"), None).await.unwrap()).unwrap();
        assert_eq!(bound["spec"]["nodeName"], "node-1");
        assert_eq!(bound["status"]["conditions"][0]["type"], "PodScheduled");

        // A bound pod is marked, not removed: its kubelet has the grace period to stop it.
        let marked: Value = serde_json::from_slice(&c.expect_ok(Method::DELETE, &format!("{pods}/a"), None).await.unwrap()).unwrap();
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 20);
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        c.expect_ok(Method::GET, &format!("{pods}/a"), None).await.unwrap();
        // Grace period zero (what the kubelet sends when the containers are gone) removes it.
        c.expect_ok(Method::DELETE, &format!("{pods}/a?gracePeriodSeconds=0"), None).await.unwrap();
        let (code, _) = status_of(&mut c, Method::GET, &format!("{pods}/a"), None).await;
        assert_eq!(code, StatusCode::NOT_FOUND);

        let eviction = serde_json::to_vec(&json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "b"},
            "deleteOptions": {"gracePeriodSeconds": 0}})).unwrap();
        let (code, st) = status_of(&mut c, Method::POST, &format!("{pods}/b/eviction"), Some(eviction)).await;
        assert_eq!(code, StatusCode::CREATED, "{st}");
        let (code, _) = status_of(&mut c, Method::GET, &format!("{pods}/b"), None).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
    });
}

#[test]
fn finalizers_hold_an_object_until_removed() {
    let s = Server::start();
    rt().block_on(async {
        let mut c = connect(&s).await;
        let body = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]}})).unwrap();
        c.expect_ok(Method::POST, CMS, Some(body)).await.unwrap();
        let marked: Value = serde_json::from_slice(&c.expect_ok(Method::DELETE, &format!("{CMS}/held"), None).await.unwrap()).unwrap();
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        c.expect_ok(Method::GET, &format!("{CMS}/held"), None).await.unwrap();
        let patch = serde_json::to_vec(&json!({"metadata": {"finalizers": null}})).unwrap();
        let resp = c.send(Method::PATCH, &format!("{CMS}/held"), Some(patch), "application/merge-patch+json").await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.into_body().collect().await.unwrap();
        let (code, _) = status_of(&mut c, Method::GET, &format!("{CMS}/held"), None).await;
        assert_eq!(code, StatusCode::NOT_FOUND);

        // Foreground deletion is recorded for the garbage collector.
        c.expect_ok(Method::POST, CMS, Some(cm("fg", "v"))).await.unwrap();
        let opts = serde_json::to_vec(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})).unwrap();
        let marked: Value = serde_json::from_slice(&c.expect_ok(Method::DELETE, &format!("{CMS}/fg"), Some(opts)).await.unwrap()).unwrap();
        assert_eq!(marked["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    });
}
