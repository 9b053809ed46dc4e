//! The IO half of the node's heartbeat: registers the Node (or re-uses it after a restart),
//! renews its Lease every quarter of the lease duration, and posts Node status when it changed
//! or when the report frequency is due, as kubelet's `registerWithAPIServer`,
//! `nodeleasecontroller` and `updateNodeStatus` do. What to write is decided in
//! [`super::nodestatus`]; this file only reads the machine, talks to the API server and waits.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use http::{Method, StatusCode};
use jiff::Timestamp;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::machine::{MachineInfo, Observations};
use super::nodestatus::{self, NodeConfig, PressureState, StatusInputs};
use crate::client::{status_message, ApiClient};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

/// How often and for how long, with kubelet's defaults.
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    /// `leaseDurationSeconds` (40); the Lease is renewed every quarter of it.
    pub lease_duration_seconds: i32,
    /// How often status is computed and posted if it changed (`nodeStatusUpdateFrequency`, 10 s).
    pub status_update_frequency: Duration,
    /// How often status is posted even when unchanged (`nodeStatusReportFrequency`, 5 min).
    pub status_report_frequency: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            lease_duration_seconds: 40,
            status_update_frequency: Duration::from_secs(10),
            status_report_frequency: Duration::from_secs(300),
        }
    }
}

/// The address this host uses to reach `server` (`https://HOST:PORT`): the source address the
/// kernel picks for the route there, which is what other nodes and the API server can reach
/// us on when `--node-ip` is not given. Connecting a UDP socket sends nothing.
pub fn source_address_towards(host: &str, port: u16) -> Result<IpAddr> {
    let target: SocketAddr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .ok_or_else(|| anyhow!("{host} resolves to no address"))?;
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let s = UdpSocket::bind(bind)?;
    s.connect(target)
        .with_context(|| format!("finding the route to {target}"))?;
    Ok(s.local_addr()?.ip())
}

/// Sends a JSON body (or none) and parses the JSON answer.
pub async fn send_json(
    api: &ApiClient,
    method: Method,
    path: &str,
    body: Option<&Value>,
    content_type: &str,
) -> Result<(StatusCode, Value)> {
    let bytes = body.map(serde_json::to_vec).transpose()?;
    let (code, resp) = api.request(method, path, bytes, content_type).await?;
    Ok((code, serde_json::from_slice(&resp).unwrap_or(Value::Null)))
}

/// The node's heartbeat: registration, Lease and status.
pub struct Heartbeat {
    pub api: ApiClient,
    pub node: NodeConfig,
    pub machine: MachineInfo,
    pub data_dir: PathBuf,
    pub timing: HeartbeatConfig,
}

impl Heartbeat {
    fn node_path(&self) -> String {
        format!("/api/v1/nodes/{}", self.node.node_name)
    }

    fn status_inputs<'a>(
        &'a self,
        o: &'a Observations,
        p: &'a PressureState,
        errors: &'a [String],
    ) -> StatusInputs<'a> {
        StatusInputs {
            cfg: &self.node,
            machine: &self.machine,
            observations: o,
            pressure: p,
            readiness_errors: errors,
        }
    }

    /// Creates the Node, or takes over the existing one of this name (a restart, or a
    /// re-installed machine keeping its name): default labels reconciled, status posted at
    /// once so that a node marked Unknown while we were down turns Ready now. Returns the
    /// Node's uid.
    pub async fn register_once(&self, pressure: &PressureState) -> Result<String> {
        let initial = nodestatus::initial_node(&self.node, &self.machine);
        let (code, body) = send_json(
            &self.api,
            Method::POST,
            "/api/v1/nodes",
            Some(&initial),
            "application/json",
        )
        .await?;
        let existing = match code {
            c if c.is_success() => body,
            StatusCode::CONFLICT => {
                let (code, node) = send_json(
                    &self.api,
                    Method::GET,
                    &self.node_path(),
                    None,
                    "application/json",
                )
                .await?;
                if !code.is_success() {
                    bail!(
                        "reading node {}: {code}: {}",
                        self.node.node_name,
                        status_message(&node)
                    );
                }
                if let Some(p) = nodestatus::labels_patch(&node, &self.node, &self.machine) {
                    let (code, b) = send_json(
                        &self.api,
                        Method::PATCH,
                        &self.node_path(),
                        Some(&p),
                        "application/merge-patch+json",
                    )
                    .await?;
                    if !code.is_success() {
                        bail!(
                            "updating the labels of node {}: {code}: {}",
                            self.node.node_name,
                            status_message(&b)
                        );
                    }
                }
                tracing::info!(node = %self.node.node_name, "node already registered; taking it over");
                node
            }
            _ => bail!(
                "registering node {}: {code}: {}",
                self.node.node_name,
                status_message(&body)
            ),
        };
        let uid = existing["metadata"]["uid"]
            .as_str()
            .ok_or_else(|| anyhow!("node {} has no uid", self.node.node_name))?
            .to_string();
        let o = Observations::read(&self.data_dir)?;
        let status = nodestatus::node_status(
            &existing["status"],
            &self.status_inputs(&o, pressure, &[]),
            Timestamp::now(),
        );
        self.patch_status(&status).await?;
        Ok(uid)
    }

    async fn patch_status(&self, status: &Value) -> Result<Value> {
        let (code, b) = send_json(
            &self.api,
            Method::PATCH,
            &format!("{}/status", self.node_path()),
            Some(&json!({"status": status})),
            "application/merge-patch+json",
        )
        .await?;
        if !code.is_success() {
            bail!(
                "posting the status of node {}: {code}: {}",
                self.node.node_name,
                status_message(&b)
            );
        }
        Ok(b)
    }

    /// Registers, retrying with kubelet's backoff (100 ms doubling to 7 s) until it works.
    pub async fn register(&self, pressure: &PressureState) -> String {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.register_once(pressure).await {
                Ok(uid) => {
                    tracing::info!(node = %self.node.node_name, "node registered");
                    return uid;
                }
                Err(e) => tracing::warn!("registering the node: {e:#}; retrying in {delay:?}"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(7));
        }
    }

    /// Renews the Lease once, creating it when missing. `cached` is the last Lease read or
    /// written; an update is a compare-and-swap on its resourceVersion, and a lost race or
    /// any error drops the cache so the next renewal starts from a fresh read.
    async fn renew(&self, uid: &str, cached: &mut Option<Value>) -> Result<()> {
        let name = &self.node.node_name;
        let path = format!("{LEASES}/{name}");
        let d = self.timing.lease_duration_seconds;
        if cached.is_none() {
            let (code, body) =
                send_json(&self.api, Method::GET, &path, None, "application/json").await?;
            match code {
                c if c.is_success() => *cached = Some(body),
                StatusCode::NOT_FOUND => {
                    let l = nodestatus::lease(name, uid, d, Timestamp::now());
                    let (code, body) = send_json(
                        &self.api,
                        Method::POST,
                        LEASES,
                        Some(&l),
                        "application/json",
                    )
                    .await?;
                    if !code.is_success() {
                        bail!("creating lease {name}: {code}: {}", status_message(&body));
                    }
                    *cached = Some(body);
                    return Ok(());
                }
                _ => bail!("reading lease {name}: {code}: {}", status_message(&body)),
            }
        }
        let current = cached.take().expect("read above");
        let next = nodestatus::renewed_lease(&current, name, uid, d, Timestamp::now());
        let (code, body) = send_json(
            &self.api,
            Method::PUT,
            &path,
            Some(&next),
            "application/json",
        )
        .await?;
        if !code.is_success() {
            bail!("renewing lease {name}: {code}: {}", status_message(&body));
        }
        *cached = Some(body);
        Ok(())
    }

    /// Renews the Lease every quarter of its duration, forever. Failed renewals are retried
    /// sooner (kubelet retries at 200 ms doubling up to 7 s), never faster than that.
    pub async fn lease_loop(&self, uid: String) {
        let interval =
            Duration::from_millis(self.timing.lease_duration_seconds.max(1) as u64 * 250);
        let mut cached = None;
        let mut retry = Duration::from_millis(200);
        loop {
            match self.renew(&uid, &mut cached).await {
                Ok(()) => {
                    retry = Duration::from_millis(200);
                    tokio::time::sleep(interval).await;
                }
                Err(e) => {
                    tracing::warn!("{e:#}; retrying in {retry:?}");
                    tokio::time::sleep(retry.min(interval)).await;
                    retry = (retry * 2).min(Duration::from_secs(7));
                }
            }
        }
    }

    /// Every status update tick: read the machine, compute the status against the Node as the
    /// API server has it, and post it if it changed or the report frequency has passed.
    pub async fn status_loop(
        &self,
        mut pressure: PressureState,
        readiness: impl Fn() -> Vec<String>,
    ) {
        let mut last_report = Instant::now();
        loop {
            tokio::time::sleep(self.timing.status_update_frequency).await;
            let r: Result<()> = async {
                let now = Timestamp::now();
                let o = Observations::read(&self.data_dir)?;
                pressure.observe(&o, now);
                let (code, node) = send_json(
                    &self.api,
                    Method::GET,
                    &self.node_path(),
                    None,
                    "application/json",
                )
                .await?;
                if !code.is_success() {
                    bail!(
                        "reading node {}: {code}: {}",
                        self.node.node_name,
                        status_message(&node)
                    );
                }
                let errors = readiness();
                let status = nodestatus::node_status(
                    &node["status"],
                    &self.status_inputs(&o, &pressure, &errors),
                    now,
                );
                let due = last_report.elapsed() >= self.timing.status_report_frequency;
                if due || nodestatus::status_changed(&node["status"], &status) {
                    self.patch_status(&status).await?;
                    last_report = Instant::now();
                    tracing::debug!(node = %self.node.node_name, due, "node status posted");
                }
                Ok(())
            }
            .await;
            if let Err(e) = r {
                tracing::warn!("updating node status: {e:#}");
            }
        }
    }

    /// Registers, then renews the Lease and updates status until the future is dropped.
    pub async fn run(&self) {
        let mut pressure = PressureState::default();
        if let Ok(o) = Observations::read(&self.data_dir) {
            pressure.observe(&o, Timestamp::now());
        }
        let uid = self.register(&pressure).await;
        tokio::join!(self.lease_loop(uid), self.status_loop(pressure, Vec::new));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_to_loopback_starts_at_loopback() {
        assert_eq!(
            source_address_towards("127.0.0.1", 6443).unwrap(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert!(source_address_towards("no-such-host.invalid", 6443).is_err());
    }
}
