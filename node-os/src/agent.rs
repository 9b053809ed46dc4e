//! `node-os agent`: join the cluster, then run the node's services with the node identity.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::client::{ApiClient, Credentials, ServerTrust};
use crate::join::kubeconfig::NodeCredentials;
use crate::join::{self, JoinConfig, Joined};
use crate::kubelet::machine::MachineInfo;
use crate::kubelet::node::{source_address_towards, Heartbeat, HeartbeatConfig};
use crate::kubelet::nodestatus::NodeConfig;

/// What the node's services get once the node has joined: who it is and how to reach the API
/// server as that node.
#[derive(Clone)]
pub struct NodeClientConfig {
    pub node_name: String,
    pub credentials: NodeCredentials,
    /// A client for the API server authenticated as `system:node:<name>`.
    pub api: ApiClient,
}

/// The kubelet's settings from the command line.
#[derive(Debug, Clone)]
pub struct KubeletOptions {
    pub data_dir: PathBuf,
    /// `--node-ip`; None: the source address of the route to the API server.
    pub node_ip: Option<IpAddr>,
    pub max_pods: u32,
    /// `--system-reserved` and `--kube-reserved`, milli-units per resource.
    pub system_reserved: BTreeMap<String, i128>,
    pub kube_reserved: BTreeMap<String, i128>,
    pub heartbeat: HeartbeatConfig,
}

/// Joins (or reuses the saved identity) and hands over to [`after_join`].
pub async fn run(cfg: JoinConfig) -> Result<(NodeClientConfig, Joined)> {
    let (creds, joined) = join::join(&cfg).await?;
    Ok((after_join(&cfg.node_name, creds)?, joined))
}

/// The step after joining: builds the node's API client config from its credentials, which
/// the kubelet ([`run_kubelet`]) and later the node's other services use.
pub fn after_join(node_name: &str, credentials: NodeCredentials) -> Result<NodeClientConfig> {
    let api = ApiClient::new(
        &credentials.server,
        ServerTrust::Ca(credentials.ca_pem.clone()),
        Credentials::Certificate {
            cert_pem: credentials.cert_pem.clone(),
            key_pem: credentials.key_pem.clone(),
        },
    )?;
    Ok(NodeClientConfig {
        node_name: node_name.to_string(),
        credentials,
        api,
    })
}

/// Runs the kubelet as this node until the future is dropped (the caller drops it on SIGTERM
/// or ctrl-c): registration, Lease renewal and Node status. Pods are not run until the
/// container runtime is wired to [`crate::kubelet::podworker`].
pub async fn run_kubelet(node: &NodeClientConfig, opts: KubeletOptions) -> Result<()> {
    let node_ip = match opts.node_ip {
        Some(ip) => ip,
        None => source_address_towards(&node.api.host, node.api.port)
            .context("finding the node's address (give --node-ip)")?,
    };
    let machine = MachineInfo::read(std::process::id() == 1)?;
    tracing::info!(
        node = %node.node_name, %node_ip, cpus = machine.cpus, memory = machine.memory_bytes,
        "starting the kubelet"
    );
    let hb = Heartbeat {
        api: node.api.clone(),
        node: NodeConfig {
            node_name: node.node_name.clone(),
            node_ip,
            max_pods: opts.max_pods,
            system_reserved: opts.system_reserved,
            kube_reserved: opts.kube_reserved,
        },
        machine,
        data_dir: opts.data_dir,
        timing: opts.heartbeat,
    };
    hb.run().await;
    Ok(())
}
