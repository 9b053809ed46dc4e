//! Joining the cluster, as `kubeadm join` with token discovery and the kubelet's certificate
//! bootstrap do it: discover and pin the cluster CA ([`discovery`]), obtain a node client
//! certificate through a CertificateSigningRequest ([`csr`]), and keep it in
//! `DIR/kubelet.kubeconfig` ([`kubeconfig`]) so later starts skip all of this.

pub mod csr;
pub mod discovery;
pub mod kubeconfig;
pub mod token;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::client::{ApiClient, Credentials, ServerTrust};
use kubeconfig::NodeCredentials;
use token::Token;

/// What a join needs.
#[derive(Debug, Clone)]
pub struct JoinConfig {
    pub data_dir: PathBuf,
    /// `https://HOST:PORT` of the API server.
    pub server: String,
    /// `<id>.<secret>`.
    pub token: String,
    /// `sha256:<hex>` of the cluster CA's public key.
    pub ca_hash: String,
    pub node_name: String,
    /// How long discovery waits for the server and for a signature made with the token.
    pub discovery_timeout: Duration,
    /// How long to wait for the certificate to be approved and issued.
    pub approval_timeout: Duration,
}

/// How the node came by its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// Reused a still-valid `kubelet.kubeconfig`.
    Reused,
    /// Went through discovery and a new certificate (the CSR's name).
    New,
}

/// The kubeconfig path inside the data directory.
pub fn kubeconfig_path(cfg: &JoinConfig) -> PathBuf {
    cfg.data_dir.join("kubelet.kubeconfig")
}

/// Joins (or finds that this node already has), returning the node's credentials.
pub async fn join(cfg: &JoinConfig) -> Result<(NodeCredentials, Joined)> {
    let pin = discovery::parse_pin(&cfg.ca_hash)?;
    let path = kubeconfig_path(cfg);
    if let Ok(text) = std::fs::read_to_string(&path) {
        match kubeconfig::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                kubeconfig::reusable(&c, &cfg.node_name, &pin, jiff::Timestamp::now().as_second())
                    .map(|()| c)
            }) {
            Ok(c) => return Ok((c, Joined::Reused)),
            Err(why) => tracing::info!("not reusing {}: {why}; joining again", path.display()),
        }
    }
    // Validated before any network use, so a malformed token never reaches the wire.
    let token = Token::parse(&cfg.token)?;
    let info = discovery::discover(&cfg.server, &token, &pin, cfg.discovery_timeout).await?;
    tracing::info!(token_id = %token.id, "cluster CA verified against the pin and the token's signature");
    let client = ApiClient::new(
        &cfg.server,
        ServerTrust::Ca(info.ca_pem.clone()),
        Credentials::Bearer(token.expose()),
    )?;
    let (cert_pem, key_pem, csr_name) =
        csr::request_certificate(&client, &cfg.node_name, cfg.approval_timeout).await?;
    tracing::info!(csr = %csr_name, "node certificate issued");
    let creds = NodeCredentials {
        server: cfg.server.clone(),
        ca_pem: info.ca_pem,
        cert_pem,
        key_pem,
    };
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    kubeconfig::write(&path, &creds, &cfg.node_name)?;
    Ok((creds, Joined::New))
}
