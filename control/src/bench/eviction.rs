//! Node failure to recovery: the seconds from a node's last heartbeat until its pods run
//! elsewhere, measured with the whole control plane (node lifecycle, taint-based eviction,
//! ReplicaSet controller, scheduler) and three simulated nodes, one of which dies.
//!
//! Two settings are measured:
//! - `default`: `control serve`'s defaults (Kubernetes' own: 50 s grace period, 5 s monitor
//!   period) and pods with the 300 s unreachable/not-ready tolerations admission gives every
//!   pod, so expect about 50 + 300 s plus the eviction rate limiter.
//! - `fast`: a 1 s monitor period, a 10 s grace period (kubelet leases renewed every 2 s, so
//!   healthy nodes do not flap) and pods that tolerate an unreachable node for 5 s.
//!
//! Each simulated node runs on a Tokio runtime of its own; dropping that runtime stops all of
//! its heartbeats at once, as killing a `control sim-nodes` process would.

use std::time::Duration;

use anyhow::{Context, Result};
use http::Method;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use super::report;
use crate::client::{Connection, KubeConfig};
use crate::simnodes::SimConfig;

#[derive(clap::Args, Debug)]
pub struct EvictionBenchArgs {
    /// Only measure the fast settings (the default ones take about six minutes).
    #[arg(long)]
    pub fast_only: bool,
    /// Replicas of the measured Deployment (spread over three nodes).
    #[arg(long, default_value_t = 6)]
    pub replicas: usize,
}

struct Settings {
    name: &'static str,
    monitor_period: SignedDuration,
    grace_period: SignedDuration,
    renew_interval: Duration,
    lease_duration_seconds: i32,
    /// `tolerationSeconds` for unreachable/not-ready in the pod template (None: admission's
    /// default 300 s).
    toleration_seconds: Option<i64>,
}

pub async fn run(args: EvictionBenchArgs) -> Result<()> {
    let mut all = vec![Settings {
        name: "fast",
        monitor_period: SignedDuration::from_secs(1),
        grace_period: SignedDuration::from_secs(10),
        renew_interval: Duration::from_secs(2),
        lease_duration_seconds: 10,
        toleration_seconds: Some(5),
    }];
    if !args.fast_only {
        all.push(Settings {
            name: "default",
            monitor_period: SignedDuration::from_secs(5),
            grace_period: SignedDuration::from_secs(50),
            renew_interval: Duration::from_secs(10),
            lease_duration_seconds: 40,
            toleration_seconds: None,
        });
    }
    for s in &all {
        let secs = scenario(s, args.replicas).await?;
        report(&format!("eviction_recovery_seconds_{}", s.name), secs, "s");
    }
    Ok(())
}

async fn scenario(s: &Settings, replicas: usize) -> Result<f64> {
    let dir = super::temp_dir(&format!("eviction-{}", s.name))?;
    let nl = control_nodelifecycle::Config {
        node_monitor_period: s.monitor_period,
        node_monitor_grace_period: s.grace_period,
        ..control_nodelifecycle::Config::default()
    };
    let cfg = super::start_server(&dir, |c| {
        c.run_scheduler = true;
        c.run_controllers = true;
        c.node_lifecycle = Some(nl);
        c.pod_cidrs = crate::loops::nodeipam::PodCidrs::new("10.244.0.0/16", 24).ok();
    })
    .await?;
    let mut nodes: Vec<SimNode> = (0..3)
        .map(|i| start_node(&cfg, s, &format!("n{i}")))
        .collect::<Result<_>>()?;
    let mut c = Connection::connect(&cfg).await?;
    let mut tolerations = json!([]);
    if let Some(t) = s.toleration_seconds {
        tolerations = json!([
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": t},
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": t},
        ]);
    }
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"tolerations": tolerations,
                    "containers": [{"name": "web", "image": "nginx"}]}}}});
    c.expect_ok(
        Method::POST,
        "/apis/apps/v1/namespaces/default/deployments",
        Some(serde_json::to_vec(&deploy)?),
    )
    .await?;
    wait(&mut c, Duration::from_secs(120), |pods| {
        running_on(pods, None) == replicas && on_node(pods, "n0-0") > 0
    })
    .await
    .context("the deployment never ran with pods on n0")?;

    // Kill n0: every heartbeat stops now.
    drop(nodes.remove(0));
    let lease: Value = serde_json::from_slice(
        &c.expect_ok(
            Method::GET,
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n0-0",
            None,
        )
        .await?,
    )?;
    let last: Timestamp = lease["spec"]["renewTime"]
        .as_str()
        .context("lease without renewTime")?
        .parse()?;
    eprintln!(
        "{}: n0 stopped; waiting for its pods to run elsewhere",
        s.name
    );
    wait(&mut c, Duration::from_secs(900), |pods| {
        running_on(pods, Some("n0-0")) == replicas
    })
    .await
    .context("pods were not replaced")?;
    let took = Timestamp::now().duration_since(last).as_secs_f64();
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(took)
}

/// A simulated node on a runtime of its own; dropping it stops the node at once.
struct SimNode(Option<tokio::runtime::Runtime>);

impl Drop for SimNode {
    fn drop(&mut self) {
        // Not a plain drop: dropping a runtime inside another one's async context panics.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn start_node(cfg: &KubeConfig, s: &Settings, prefix: &str) -> Result<SimNode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let sim = SimConfig {
        count: 1,
        prefix: prefix.into(),
        renew_interval: s.renew_interval,
        lease_duration_seconds: s.lease_duration_seconds,
        connections: 1,
        ..SimConfig::default()
    };
    let cfg = cfg.clone();
    rt.spawn(async move {
        if let Err(e) = crate::simnodes::run(cfg, sim).await {
            eprintln!("simulated node failed: {e:#}");
        }
    });
    Ok(SimNode(Some(rt)))
}

fn node_of(p: &Value) -> &str {
    p["spec"]["nodeName"].as_str().unwrap_or("")
}

fn ready(p: &Value) -> bool {
    p["metadata"]["deletionTimestamp"].is_null()
        && p["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Ready pods not being deleted, not on `except`.
fn running_on(pods: &[Value], except: Option<&str>) -> usize {
    pods.iter()
        .filter(|p| ready(p) && Some(node_of(p)) != except)
        .count()
}

fn on_node(pods: &[Value], node: &str) -> usize {
    pods.iter().filter(|p| node_of(p) == node).count()
}

async fn wait(c: &mut Connection, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Result<()> {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let list: Value = serde_json::from_slice(
            &c.expect_ok(
                Method::GET,
                "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb",
                None,
            )
            .await?,
        )?;
        let pods = list["items"].as_array().cloned().unwrap_or_default();
        if done(&pods) {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < until, "timed out");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
