//! The API measured end to end over HTTPS: creates of 1 KiB ConfigMaps from 64 clients, gets, a
//! list of 10,000 Pods, and watch delivery latency to 1,000 watchers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http::Method;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::json;

use super::{percentile, report};
use crate::client::{Connection, KubeConfig};

#[derive(clap::Args, Debug)]
pub struct ApiBenchArgs {
    /// Concurrent clients (one HTTPS connection each).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// ConfigMaps created in the create phase.
    #[arg(long, default_value_t = 20_000)]
    pub creates: usize,
    /// Pods in the list phase.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Watchers in the watch phase.
    #[arg(long, default_value_t = 1_000)]
    pub watchers: usize,
    /// Changes observed by every watcher.
    #[arg(long, default_value_t = 50)]
    pub watch_events: usize,
    /// Pause between two watched changes, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub watch_interval_ms: u64,
    /// Data directory (a temporary one when not given).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub async fn run(args: ApiBenchArgs) -> Result<()> {
    let dir = match args.data_dir.clone() {
        Some(d) => d,
        None => super::temp_dir("api")?,
    };
    // The API alone is measured: no scheduler or controllers reacting to the benchmark's pods.
    let cfg = super::start_server(&dir, |_| {}).await?;
    let mut conns = Vec::new();
    for _ in 0..args.clients {
        conns.push(Connection::connect(&cfg).await?);
    }

    // Creates of 1 KiB ConfigMaps.
    let payload = "x".repeat(1024);
    let (conns, lat, took) = fan_out(conns, args.creates, {
        let payload = payload.clone();
        move |i| {
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")}, "data": {"v": payload}});
            (Method::POST, "/api/v1/namespaces/default/configmaps".to_string(), Some(serde_json::to_vec(&body).expect("json")))
        }
    })
    .await?;
    summarize(
        "api_create_configmap_1k_64_clients",
        args.creates,
        lat,
        took,
    );

    // Gets of those ConfigMaps.
    let gets = args.creates;
    let (conns, lat, took) = fan_out(conns, gets, move |i| {
        (
            Method::GET,
            format!(
                "/api/v1/namespaces/default/configmaps/cm-{}",
                i % args.creates.max(1)
            ),
            None,
        )
    })
    .await?;
    summarize("api_get_configmap_64_clients", gets, lat, took);

    // 10,000 pods, then list them all.
    let mut c0 = Connection::connect(&cfg).await?;
    c0.expect_ok(
        Method::POST,
        "/api/v1/namespaces",
        Some(serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        )?),
    )
    .await?;
    let (conns, _, took) = fan_out(conns, args.pods, move |i| {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("pod-{i}"), "labels": {"app": "bench", "n": (i % 10).to_string()}},
            "spec": {"containers": [{"name": "c", "image": "registry.local/app:1.0", "ports": [{"containerPort": 8080}]}]}});
        (Method::POST, "/api/v1/namespaces/bench/pods".to_string(), Some(serde_json::to_vec(&body).expect("json")))
    })
    .await?;
    report(
        "api_create_pod_rate",
        args.pods as f64 / took.as_secs_f64(),
        "ops/s",
    );
    let mut list_ms = Vec::new();
    let mut items = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let body = c0
            .expect_ok(Method::GET, "/api/v1/namespaces/bench/pods", None)
            .await?;
        list_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        items = v["items"].as_array().map(|a| a.len()).unwrap_or(0);
    }
    anyhow::ensure!(
        items == args.pods,
        "list returned {items} pods, expected {}",
        args.pods
    );
    report(
        "api_list_10k_pods_p50",
        percentile(&mut list_ms, 50.0),
        "ms",
    );
    report(
        "api_list_10k_pods_p99",
        percentile(&mut list_ms, 99.0),
        "ms",
    );

    watch_phase(&cfg, &args).await?;
    drop(conns);
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

pub(crate) type Request = (Method, String, Option<Vec<u8>>);

/// Runs `n` requests spread over the connections; returns them, the latencies and the wall time.
pub(crate) async fn fan_out(
    conns: Vec<Connection>,
    n: usize,
    make: impl Fn(usize) -> Request + Send + Sync + 'static,
) -> Result<(Vec<Connection>, Vec<f64>, Duration)> {
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let make = make.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let (m, path, body) = make(i);
                let t = Instant::now();
                conn.expect_ok(m, &path, body).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok((conn, lat))
        }));
    }
    let mut all = Vec::new();
    let mut back = Vec::new();
    for t in tasks {
        let (c, l) = t.await.context("client task")??;
        back.push(c);
        all.extend(l);
    }
    Ok((back, all, start.elapsed()))
}

fn summarize(name: &str, n: usize, mut lat: Vec<f64>, took: Duration) {
    report(
        &format!("{name}_rate"),
        n as f64 / took.as_secs_f64(),
        "ops/s",
    );
    report(&format!("{name}_p50"), percentile(&mut lat, 50.0), "ms");
    report(&format!("{name}_p99"), percentile(&mut lat, 99.0), "ms");
}

async fn watch_phase(cfg: &KubeConfig, args: &ApiBenchArgs) -> Result<()> {
    let mut writer = Connection::connect(cfg).await?;
    writer
        .expect_ok(
            Method::POST,
            "/api/v1/namespaces",
            Some(serde_json::to_vec(
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "watched"}}),
            )?),
        )
        .await?;
    let rv_body = writer
        .expect_ok(Method::GET, "/api/v1/namespaces/watched/configmaps", None)
        .await?;
    let rv: serde_json::Value = serde_json::from_slice(&rv_body)?;
    let rv = rv["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    // When each change was sent, by name; watchers look their events up here.
    let sent: Arc<Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    // When each watcher saw each change, by name.
    let samples: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut acked = std::collections::HashMap::new();
    let mut handles = Vec::new();
    for _ in 0..args.watchers {
        let mut conn = Connection::connect(cfg).await?;
        let path = format!("/api/v1/namespaces/watched/configmaps?watch=1&resourceVersion={rv}");
        let resp = conn
            .send(Method::GET, &path, None, "application/json")
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "watch failed: {}",
            resp.status()
        );
        let samples = samples.clone();
        let expect = args.watch_events;
        handles.push(tokio::spawn(async move {
            let _conn = conn;
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            let mut got = 0;
            while got < expect {
                let Some(frame) = body.frame().await else {
                    break;
                };
                let Ok(frame) = frame else { break };
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                let now = Instant::now();
                buf.extend_from_slice(data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    // Only the object's name is needed; a full parse per event on this same
                    // 2-core machine would measure the client more than the server.
                    if let Some(name) = event_name(&line) {
                        samples.lock().push((name.to_string(), now));
                        got += 1;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..args.watch_events {
        let name = format!("w-{i}");
        sent.lock().insert(name.clone(), Instant::now());
        writer
            .expect_ok(Method::POST, "/api/v1/namespaces/watched/configmaps", Some(serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name.clone()}, "data": {"k": "v"}}))?))
            .await?;
        acked.insert(name, Instant::now());
        // Spread the changes out so each measures delivery, not a queue of earlier ones.
        tokio::time::sleep(Duration::from_millis(args.watch_interval_ms)).await;
    }
    let wait =
        tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(handles)).await;
    anyhow::ensure!(
        wait.is_ok(),
        "watchers did not receive every event within 60 s"
    );
    let sent = sent.lock();
    let seen = samples.lock();
    // From the moment the write was sent (includes the write's own path and fsync), and from
    // the moment its acknowledgement arrived (0 when the event beat the acknowledgement).
    let mut from_put: Vec<f64> = seen
        .iter()
        .filter_map(|(n, t)| sent.get(n).map(|s| (*t - *s).as_secs_f64() * 1e3))
        .collect();
    let mut after_ack: Vec<f64> = seen
        .iter()
        .filter_map(|(n, t)| {
            acked
                .get(n)
                .map(|a| t.saturating_duration_since(*a).as_secs_f64() * 1e3)
        })
        .collect();
    report("api_watch_watchers", args.watchers as f64, "watchers");
    report(
        "api_watch_delivery_samples",
        from_put.len() as f64,
        "events",
    );
    report(
        "api_watch_delivery_from_put_p50",
        percentile(&mut from_put, 50.0),
        "ms",
    );
    report(
        "api_watch_delivery_from_put_p99",
        percentile(&mut from_put, 99.0),
        "ms",
    );
    report(
        "api_watch_delivery_after_ack_p50",
        percentile(&mut after_ack, 50.0),
        "ms",
    );
    report(
        "api_watch_delivery_after_ack_p99",
        percentile(&mut after_ack, 99.0),
        "ms",
    );
    Ok(())
}

/// The `metadata.name` of a watch event line written by this server (metadata comes first).
fn event_name(line: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(line).ok()?;
    let meta = text.find("\"metadata\":{")?;
    let rest = &text[meta..];
    let at = rest.find("\"name\":\"")? + "\"name\":\"".len();
    let end = rest[at..].find('"')?;
    Some(&rest[at..at + end])
}
