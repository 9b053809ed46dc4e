//! TLS and authorization for the kubelet API. Every client must present a certificate issued
//! by the cluster CA (the handshake fails without one); of those, only the API server's
//! kubelet client (`CN=kube-apiserver-kubelet-client`) and members of `system:masters` may use
//! the API. This is the whole policy: the kubelet's SubjectAccessReview webhook is not
//! consulted, and nodes, pods' service accounts and anonymous clients are refused.

use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The serving identity and the CA client certificates must chain to.
#[derive(Clone)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
    pub client_ca_pem: String,
}

/// The identity the API server presents to kubelets.
pub const APISERVER_KUBELET_CLIENT: &str = "kube-apiserver-kubelet-client";
/// The group whose members may do anything.
pub const MASTERS_GROUP: &str = "system:masters";

/// Who a verified client certificate names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    pub user: String,
    pub groups: Vec<String>,
}

/// Builds the rustls config: client certificates required and verified against the CA;
/// HTTP/1.1 only, since the streaming endpoints are upgrades.
pub fn server_config(tls: &ServerTls) -> Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.client_ca_pem.as_bytes()) {
        roots
            .add(cert.context("parsing the client CA certificate")?)
            .context("trusting the client CA")?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("building the client certificate verifier")?;
    let chain = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the serving certificate")?;
    let key =
        PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).context("parsing the serving key")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("installing the serving certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Reads user (CN) and groups (O) from the leaf of a verified client chain.
pub fn client_identity(certs: Option<&[CertificateDer<'_>]>) -> Option<ClientIdentity> {
    let leaf = certs?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(ClientIdentity { user, groups })
}

/// Allows or refuses a client; the refusal is the text of the 403 answer, worded as the
/// kubelet's authorizer words it.
pub fn authorize(id: Option<&ClientIdentity>, method: &str, path: &str) -> Result<(), String> {
    let allowed = id.is_some_and(|id| {
        id.user == APISERVER_KUBELET_CLIENT || id.groups.iter().any(|g| g == MASTERS_GROUP)
    });
    if allowed {
        return Ok(());
    }
    let user = id.map_or("system:anonymous", |id| id.user.as_str());
    let verb = match method {
        "POST" => "create",
        _ => "get",
    };
    let subresource = match path.trim_start_matches('/').split('/').next() {
        Some("metrics") => "metrics",
        Some("healthz") => "healthz",
        _ => "proxy",
    };
    Err(format!(
        "Forbidden (user={user}, verb={verb}, resource=nodes, subresource={subresource}): \
         only {APISERVER_KUBELET_CLIENT} and members of {MASTERS_GROUP} may use the kubelet API"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(user: &str, groups: &[&str]) -> ClientIdentity {
        ClientIdentity {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn the_api_server_and_masters_are_allowed() {
        assert!(authorize(
            Some(&id("kube-apiserver-kubelet-client", &[])),
            "GET",
            "/exec/a/b/c"
        )
        .is_ok());
        assert!(authorize(
            Some(&id("admin", &["system:masters"])),
            "POST",
            "/exec/a/b/c"
        )
        .is_ok());
    }

    #[test]
    fn nodes_and_anonymous_clients_are_refused_with_who_they_are() {
        let err = authorize(
            Some(&id("system:node:n1", &["system:nodes"])),
            "POST",
            "/exec/a/b/c",
        )
        .unwrap_err();
        assert!(err.starts_with(
            "Forbidden (user=system:node:n1, verb=create, resource=nodes, subresource=proxy)"
        ));
        let err = authorize(None, "GET", "/metrics").unwrap_err();
        assert!(err.starts_with(
            "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource=metrics)"
        ));
    }
}
