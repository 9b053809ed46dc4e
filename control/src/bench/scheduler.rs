//! The scheduler loop measured end to end: 10,000 pending pods onto 5,000 nodes (kube-scheduler's
//! `SchedulingBasic` scenario in scheduler_perf), every binding written through the API.
//!
//! Nodes and pods are created first with the scheduler off; then the scheduler loop starts in
//! this process and the clock runs from its start (its informers' initial list included) until
//! a watch has seen every pod bound. kube-scheduler's CI floor for this scenario is 270 pods/s
//! (its published `SchedulingBasic/5000Nodes_10000Pods` threshold); we print that beside ours.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::api::fan_out;
use super::report;
use crate::client::{Connection, KubeConfig};
use crate::simnodes::SimConfig;

/// kube-scheduler's published floor for 5,000 nodes and 10,000 pods (pods/s).
pub const KUBE_SCHEDULER_FLOOR: f64 = 270.0;

#[derive(clap::Args, Debug)]
pub struct SchedulerBenchArgs {
    #[arg(long, default_value_t = 5_000)]
    pub nodes: usize,
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Connections used to create nodes and pods.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
}

pub async fn run(args: SchedulerBenchArgs) -> Result<()> {
    let dir = super::temp_dir("scheduler")?;
    let cfg = super::start_server(&dir, |_| {}).await?;
    let mut conns = Vec::new();
    for _ in 0..args.clients {
        conns.push(Connection::connect(&cfg).await?);
    }
    let sim = SimConfig {
        prefix: "node".into(),
        cpu: "4".into(),
        memory: "32Gi".into(),
        ..SimConfig::default()
    };
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (conns, _, took) = fan_out(conns, args.nodes, move |i| {
        let node = sim.node(i, &now);
        (
            Method::POST,
            "/api/v1/nodes".to_string(),
            Some(serde_json::to_vec(&node).expect("json")),
        )
    })
    .await?;
    eprintln!("{} nodes created in {:.1}s", args.nodes, took.as_secs_f64());
    let mut c0 = Connection::connect(&cfg).await?;
    c0.expect_ok(
        Method::POST,
        "/api/v1/namespaces",
        Some(serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sched"}}),
        )?),
    )
    .await?;
    let (_conns, _, took) = fan_out(conns, args.pods, |i| {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("pod-{i}"), "namespace": "sched", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}});
        (
            Method::POST,
            "/api/v1/namespaces/sched/pods".to_string(),
            Some(serde_json::to_vec(&pod).expect("json")),
        )
    })
    .await?;
    eprintln!("{} pods created in {:.1}s", args.pods, took.as_secs_f64());

    // Watch from now on for bindings.
    let list: Value = serde_json::from_slice(
        &c0.expect_ok(Method::GET, "/api/v1/namespaces/sched/pods?limit=1", None)
            .await?,
    )?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let watcher = tokio::spawn(count_bindings(cfg.clone(), rv, args.pods));
    let start = Instant::now();
    let scheduler = tokio::spawn(crate::loops::scheduler::run(cfg.clone()));
    let (first, last) = tokio::time::timeout(Duration::from_secs(1800), watcher)
        .await
        .context("pods were not all bound within 30 minutes")???;
    scheduler.abort();
    let total = last.duration_since(start).as_secs_f64();
    let steady = last.duration_since(first).as_secs_f64();
    report("scheduler_pods_per_s", args.pods as f64 / total, "pods/s");
    report(
        "scheduler_steady_pods_per_s",
        (args.pods.saturating_sub(1)) as f64 / steady.max(1e-9),
        "pods/s",
    );
    report(
        "scheduler_first_binding_after_start",
        first.duration_since(start).as_secs_f64(),
        "s",
    );
    report("kube_scheduler_ci_floor", KUBE_SCHEDULER_FLOOR, "pods/s");
    // Scheduled events are written off the binding path and dropped when their queue is
    // full (as client-go's broadcaster does); say how many made it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events: Value = serde_json::from_slice(
        &c0.expect_ok(Method::GET, "/api/v1/namespaces/sched/events", None)
            .await?,
    )?;
    report(
        "scheduler_scheduled_events_recorded",
        events["items"].as_array().map_or(0, |a| a.len()) as f64,
        "events",
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Watches pods until `n` distinct ones are bound; returns the times of the first and last.
async fn count_bindings(cfg: KubeConfig, rv: String, n: usize) -> Result<(Instant, Instant)> {
    let mut c = Connection::connect(&cfg).await?;
    let resp = c
        .send(
            Method::GET,
            &format!("/api/v1/namespaces/sched/pods?watch=1&resourceVersion={rv}"),
            None,
            "application/json",
        )
        .await?;
    anyhow::ensure!(resp.status().is_success(), "watch: {}", resp.status());
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut bound = HashSet::new();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let ev: Value = serde_json::from_slice(&line)?;
            let obj = &ev["object"];
            if obj["spec"]["nodeName"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
            {
                let name = obj["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if bound.insert(name) {
                    let now = Instant::now();
                    first.get_or_insert(now);
                    if bound.len() % 1000 == 0 {
                        eprintln!("{} pods bound", bound.len());
                    }
                    if bound.len() == n {
                        return Ok((first.unwrap_or(now), now));
                    }
                }
            }
        }
    }
    anyhow::bail!("watch ended after {} bindings", bound.len())
}
