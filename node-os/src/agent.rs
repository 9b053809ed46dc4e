//! `node-os agent`: join the cluster, then run the node's services with the node identity.

use anyhow::Result;

use crate::client::{ApiClient, Credentials, ServerTrust};
use crate::join::kubeconfig::NodeCredentials;
use crate::join::{self, JoinConfig, Joined};

/// What the node's services get once the node has joined: who it is and how to reach the API
/// server as that node.
#[derive(Clone)]
pub struct NodeClientConfig {
    pub node_name: String,
    pub credentials: NodeCredentials,
    /// A client for the API server authenticated as `system:node:<name>`.
    pub api: ApiClient,
}

/// Joins (or reuses the saved identity) and hands over to [`after_join`].
pub async fn run(cfg: JoinConfig) -> Result<(NodeClientConfig, Joined)> {
    let (creds, joined) = join::join(&cfg).await?;
    Ok((after_join(&cfg.node_name, creds)?, joined))
}

/// The step after joining: builds the node's API client config from its credentials. The
/// kubelet (registration, lease renewal, pod lifecycle) will start from here.
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
