//! Joining nodes, as kubeadm does it: bootstrap tokens ([`token`]), the `kube-public/cluster-info`
//! ConfigMap with its detached JWS signatures ([`jws`]) that let a node trust the cluster CA it
//! downloads, the checks behind kubelet client certificate approval and signing ([`csr`]), and
//! the `control token` commands ([`cli`]).

pub mod cli;
pub mod csr;
pub mod jws;
pub mod token;

use anyhow::{Context, Result};
use base64::Engine;

/// Namespace of the public cluster information.
pub const CLUSTER_INFO_NAMESPACE: &str = "kube-public";
/// The ConfigMap anonymous clients may read to discover the cluster.
pub const CLUSTER_INFO_NAME: &str = "cluster-info";
/// Its key holding a kubeconfig with the server URL and CA, and no credentials.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// Prefix of the keys holding the detached signature of `kubeconfig` made with each token.
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

/// kubeadm's CA pin: `sha256:` and the hex SHA-256 of the first certificate's DER
/// SubjectPublicKeyInfo. Pinning the key rather than the certificate survives re-issuing the CA
/// certificate with the same key.
pub fn ca_public_key_hash(ca_pem: &str) -> Result<String> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .context("the CA is not a PEM certificate")?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).context("the CA certificate does not parse")?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
    Ok(format!("sha256:{}", hex(digest.as_ref())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The kubeconfig published in cluster-info: where the API server is and which CA it uses.
pub fn cluster_info_kubeconfig(server_url: &str, ca_pem: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {}\ncontexts: []\ncurrent-context: \"\"\npreferences: {{}}\nusers: []\n",
        base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_hash_is_the_sha256_of_the_subject_public_key_info() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::pki::ClusterCa::load_or_create(dir.path()).unwrap();
        let hash = ca_public_key_hash(&ca.cert_pem).unwrap();
        assert!(hash.starts_with("sha256:"));
        assert_eq!(hash.len(), 7 + 64);
        // Same key, same pin, across reloads; a different CA gets a different pin.
        let again = crate::pki::ClusterCa::load_or_create(dir.path()).unwrap();
        assert_eq!(ca_public_key_hash(&again.cert_pem).unwrap(), hash);
        let other_dir = tempfile::tempdir().unwrap();
        let other = crate::pki::ClusterCa::load_or_create(other_dir.path()).unwrap();
        assert_ne!(ca_public_key_hash(&other.cert_pem).unwrap(), hash);
        // The digest covers the SPKI (algorithm + key), not just the key bits.
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let spki = cert.tbs_certificate.subject_pki.raw;
        assert_eq!(spki[0], 0x30, "SPKI is a DER SEQUENCE");
        assert_eq!(
            hash,
            format!(
                "sha256:{}",
                hex(ring::digest::digest(&ring::digest::SHA256, spki).as_ref())
            )
        );
        assert!(ca_public_key_hash("not pem").is_err());
    }
}
