//! TLS for the API: rustls with the cluster CA as the only trust root for client certificates.
//!
//! Client certificates are optional at the TLS layer so that an unauthenticated request gets a
//! proper 401 `Status` instead of a failed handshake; the request layer enforces authentication.

use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::pki::CertKey;

/// Who made a request, as read from a verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

/// Builds the server config: our serving certificate, client certificates checked against the CA.
pub fn server_config(ca_pem: &str, serving: &CertKey) -> Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.context("parsing CA certificate")?)
            .context("adding CA to trust roots")?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("building client certificate verifier")?;
    let chain = CertificateDer::pem_slice_iter(serving.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing serving certificate")?;
    let key =
        PrivateKeyDer::from_pem_slice(serving.key_pem.as_bytes()).context("parsing serving key")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("installing serving certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Reads user (CN) and groups (O) from the leaf of a verified client chain.
pub fn identity(certs: Option<&[CertificateDer<'_>]>) -> Option<Identity> {
    let leaf = certs?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(Identity { user, groups })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::ClusterCa;

    #[test]
    fn identity_comes_from_common_name_and_organizations() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(dir.path()).unwrap();
        let admin = ca.admin().unwrap();
        let der: Vec<CertificateDer> = CertificateDer::pem_slice_iter(admin.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let id = identity(Some(&der)).unwrap();
        assert_eq!(id.user, "kubernetes-admin");
        assert_eq!(id.groups, vec!["system:masters".to_string()]);
        let serving = ca
            .issue_serving(&["localhost".into()], &["127.0.0.1".parse().unwrap()])
            .unwrap();
        server_config(&ca.cert_pem, &serving).unwrap();
    }
}
