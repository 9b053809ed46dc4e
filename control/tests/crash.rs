//! kill -9 during a write storm: every write the API acknowledged is there after a restart.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::client::{Connection, KubeConfig};
use http::{Method, StatusCode};
use support::Server;

#[test]
fn acknowledged_writes_survive_kill_9_during_a_write_storm() {
    let mut s = Server::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    for round in 0..3 {
        let cfg = KubeConfig::load(&s.kubeconfig()).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..32 {
            let cfg = cfg.clone();
            let acked = acked.clone();
            let stop = stop.clone();
            tasks.push(rt.spawn(async move {
                let Ok(mut conn) = Connection::connect(&cfg).await else {
                    return;
                };
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let name = format!("r{round}-w{w}-{i}");
                    let value = format!("value-of-{name}");
                    let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name}, "data": {"v": value}});
                    match conn
                        .request(
                            Method::POST,
                            "/api/v1/namespaces/default/configmaps",
                            Some(serde_json::to_vec(&body).unwrap()),
                        )
                        .await
                    {
                        Ok((StatusCode::CREATED, _)) => acked.lock().unwrap().push((name, value)),
                        Ok((code, b)) => {
                            panic!("unexpected {code}: {}", String::from_utf8_lossy(&b))
                        }
                        // The server died under us: this write was never acknowledged.
                        Err(_) => return,
                    }
                }
            }));
        }
        // Let the storm run, then kill the server in the middle of it.
        std::thread::sleep(Duration::from_millis(1500 + 400 * round));
        s.kill();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            let _ = rt.block_on(t);
        }
        s.spawn();
        let cfg = KubeConfig::load(&s.kubeconfig()).unwrap();
        let listed = rt.block_on(async {
            let mut conn = Connection::connect(&cfg).await.unwrap();
            conn.expect_ok(Method::GET, "/api/v1/namespaces/default/configmaps", None)
                .await
                .unwrap()
        });
        let list: serde_json::Value = serde_json::from_slice(&listed).unwrap();
        let stored: std::collections::HashMap<String, String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["metadata"]["name"].as_str().unwrap().to_string(),
                    i["data"]["v"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let acked = acked.lock().unwrap();
        assert!(
            acked.len() > 50,
            "round {round}: only {} writes acknowledged",
            acked.len()
        );
        for (name, value) in acked.iter() {
            assert_eq!(
                stored.get(name),
                Some(value),
                "acknowledged write {name} lost after kill -9"
            );
        }
        eprintln!(
            "round {round}: {} acknowledged writes all present",
            acked.len()
        );
    }
}
