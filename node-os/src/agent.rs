//! `node-os agent`: join the cluster, then run the node's services with the node identity.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use http::Method;

use crate::client::{ApiClient, Credentials, ServerTrust};
use crate::cri::NodeRuntime;
use crate::join::kubeconfig::NodeCredentials;
use crate::join::{self, JoinConfig, Joined};
use crate::kubelet::machine::MachineInfo;
use crate::kubelet::machine::Observations;
use crate::kubelet::node::{send_json, source_address_towards, Heartbeat, HeartbeatConfig};
use crate::kubelet::nodestatus::{allocatable_milli, capacity_milli, NodeConfig};
use crate::kubelet::podworker::{NodeContext, PodWorkers};
use crate::network::ipam::Cidr;
use crate::network::PodNetwork;

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
    /// How the runtime reaches image registries (plain-HTTP hosts, credentials, mirrors).
    pub registries: node_image::RegistryConfig,
    /// The node bridge pods attach to.
    pub pod_bridge: String,
    /// Where the kubelet API listens (on the node's address).
    pub kubelet_port: u16,
    /// Taints and extra labels the Node is registered with (`--register-with-taints`,
    /// `--node-labels`).
    pub register_with_taints: Vec<serde_json::Value>,
    pub node_labels: BTreeMap<String, String>,
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
/// or ctrl-c): registration, Lease renewal and Node status, and the pods bound to the node
/// through the node's runtime ([`crate::cri`]) once the Node has a podCIDR for their
/// addresses.
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
    let node_cfg = NodeConfig {
        node_name: node.node_name.clone(),
        node_ip,
        max_pods: opts.max_pods,
        system_reserved: opts.system_reserved,
        kube_reserved: opts.kube_reserved,
        kubelet_port: opts.kubelet_port,
        register_with_taints: opts.register_with_taints,
        node_labels: opts.node_labels,
    };
    let observed = Observations::read(&opts.data_dir).unwrap_or_default();
    let allocatable = allocatable_milli(
        &capacity_milli(&machine, &observed, node_cfg.max_pods),
        &node_cfg,
    );
    let runtime = Arc::new(NodeRuntime::open(
        &opts.data_dir.join("runtime"),
        opts.registries,
    )?);
    let hb = Heartbeat {
        api: node.api.clone(),
        node: node_cfg,
        machine,
        data_dir: opts.data_dir.clone(),
        timing: opts.heartbeat,
    };
    let pods = PodWorkers::new(NodeContext {
        api: node.api.clone(),
        node_name: node.node_name.clone(),
        host_ip: node_ip.to_string(),
        root: opts.data_dir.join("kubelet"),
        runtime: runtime.clone(),
        allocatable_cpu_milli: allocatable.get("cpu").copied().unwrap_or(0),
        allocatable_memory: allocatable.get("memory").copied().unwrap_or(0) / 1000,
    });
    let api_server = kubelet_api(
        node,
        runtime.clone(),
        node_ip,
        opts.kubelet_port,
        opts.data_dir.join("pki"),
    );
    let network = pod_network(
        node,
        runtime,
        opts.pod_bridge,
        opts.data_dir.join("network"),
    );
    let pods = async {
        if let Err(e) = pods.run().await {
            tracing::error!("pod worker stopped: {e:#}");
        }
    };
    tokio::join!(hb.run(), pods, network, api_server);
    Ok(())
}

/// Serves the kubelet API (logs, exec, attach, port-forward for the API server) once it has
/// a serving certificate; retries the certificate until the control plane issues it (it
/// waits for the Node to report the address the certificate names).
async fn kubelet_api(
    node: &NodeClientConfig,
    runtime: Arc<NodeRuntime>,
    node_ip: IpAddr,
    port: u16,
    pki_dir: PathBuf,
) {
    let sans = vec![node_ip.to_string(), node.node_name.clone()];
    let (cert_pem, key_pem) = loop {
        match crate::kubelet::serving::certificate(
            &node.api,
            &pki_dir,
            &node.node_name,
            &sans,
            std::time::Duration::from_secs(120),
        )
        .await
        {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!("kubelet API: {e:#}; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    };
    let listener = loop {
        match tokio::net::TcpListener::bind((node_ip, port)).await {
            Ok(l) => break l,
            Err(e) => {
                tracing::error!("kubelet API: listening on {node_ip}:{port}: {e}; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    };
    tracing::info!(%node_ip, port, "kubelet API serving");
    let tls = crate::kubelet::server::ServerTls {
        cert_pem,
        key_pem,
        client_ca_pem: node.credentials.ca_pem.clone(),
    };
    let backend = Arc::new(crate::cri::streaming::NodeStreaming { runtime });
    if let Err(e) = crate::kubelet::server::serve(listener, tls, backend).await {
        tracing::error!("kubelet API stopped: {e:#}");
    }
}

/// Waits for the control plane to give the Node a podCIDR, then sets up the bridge and hands
/// the pod network to the runtime. Until then, sandboxes that need an address fail and are
/// retried.
async fn pod_network(
    node: &NodeClientConfig,
    runtime: Arc<NodeRuntime>,
    bridge: String,
    state_dir: PathBuf,
) {
    let path = format!("/api/v1/nodes/{}", node.node_name);
    let mut warned = false;
    loop {
        let cidr = match send_json(&node.api, Method::GET, &path, None, "application/json").await {
            Ok((code, v)) if code.is_success() => v["spec"]["podCIDR"].as_str().map(str::to_string),
            _ => None,
        };
        if let Some(cidr) = cidr {
            let setup = match Cidr::parse(&cidr) {
                Ok(c) => {
                    let (bridge, dir) = (bridge.clone(), state_dir.clone());
                    tokio::task::spawn_blocking(move || PodNetwork::setup(&bridge, c, dir))
                        .await
                        .map_err(anyhow::Error::from)
                        .and_then(|r| r.map_err(anyhow::Error::from))
                        .and_then(|net| runtime.set_network(Arc::new(net)))
                }
                Err(e) => Err(e.into()),
            };
            match setup {
                Ok(()) => {
                    tracing::info!(pod_cidr = %cidr, %bridge, "pod network ready");
                    return;
                }
                Err(e) => tracing::error!(pod_cidr = %cidr, "setting up the pod network: {e:#}"),
            }
        } else if !warned {
            tracing::info!("waiting for the control plane to allocate this node's podCIDR");
            warned = true;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
