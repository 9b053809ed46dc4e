//! `DIR/kubelet.kubeconfig`: the node's API credentials once joined (server, cluster CA, the
//! node's certificate and key, all embedded), readable by root only. A later start reuses it
//! while the certificate is still good, so a node joins once, not on every boot.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The node's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeCredentials {
    pub server: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The kubeconfig text.
pub fn render(c: &NodeCredentials, node_name: &str) -> String {
    let user = format!("system:node:{node_name}");
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: default-cluster\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: default-context\n  context:\n    cluster: default-cluster\n    user: {user}\ncurrent-context: default-context\npreferences: {{}}\n",
        server = c.server,
        ca = STANDARD.encode(&c.ca_pem),
        cert = STANDARD.encode(&c.cert_pem),
        key = STANDARD.encode(&c.key_pem),
    )
}

/// Reads a kubeconfig written by [`render`] (or any with the same embedded fields).
pub fn parse(text: &str) -> Result<NodeCredentials> {
    let field = |name: &str| -> Result<String> {
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
            .ok_or_else(|| anyhow!("no {name} in the kubeconfig"))
    };
    let b64 = |name: &str| -> Result<String> {
        String::from_utf8(
            STANDARD
                .decode(field(name)?)
                .with_context(|| format!("{name} is not base64"))?,
        )
        .with_context(|| format!("{name} is not text"))
    };
    Ok(NodeCredentials {
        server: field("server")?,
        ca_pem: b64("certificate-authority-data")?,
        cert_pem: b64("client-certificate-data")?,
        key_pem: b64("client-key-data")?,
    })
}

/// Writes the kubeconfig with mode 0600, atomically (temp file, fsync, rename).
pub fn write(path: &Path, c: &NodeCredentials, node_name: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(render(c, node_name).as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// How long before expiry a certificate stops being reused, so a node never starts with one
/// about to lapse.
pub const RENEW_BEFORE_SECS: i64 = 10 * 60;

/// Whether saved credentials can be used instead of joining again: the CA is the pinned one,
/// the certificate was signed by it, names this node (`CN=system:node:<name>`,
/// `O=system:nodes`), matches the saved key, and is valid for a while yet. `Err` says why not.
pub fn reusable(c: &NodeCredentials, node_name: &str, pin: &str, now: i64) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    let ca_der = rustls_pki_types::CertificateDer::from_pem_slice(c.ca_pem.as_bytes())
        .map_err(|_| "the saved CA is not PEM".to_string())?;
    let hash = super::discovery::ca_hash(&ca_der).map_err(|e| e.to_string())?;
    if hash != pin {
        return Err(format!("the saved CA is {hash}, not the pinned {pin}"));
    }
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).map_err(|e| e.to_string())?;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(c.cert_pem.as_bytes())
        .map_err(|_| "the saved certificate is not PEM".to_string())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| e.to_string())?;
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|_| "the saved certificate was not signed by the cluster CA".to_string())?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok());
    let orgs: Vec<&str> = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .collect();
    let want = format!("system:node:{node_name}");
    if cn != Some(want.as_str()) || orgs != ["system:nodes"] {
        return Err(format!(
            "the saved certificate is for {cn:?} {orgs:?}, not {want} in system:nodes"
        ));
    }
    let validity = cert.validity();
    if validity.not_after.timestamp() <= now + RENEW_BEFORE_SECS {
        return Err("the saved certificate has expired or is about to".into());
    }
    if validity.not_before.timestamp() > now {
        return Err("the saved certificate is not valid yet".into());
    }
    let key = rcgen::KeyPair::from_pem(&c.key_pem)
        .map_err(|_| "the saved key does not parse".to_string())?;
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err("the saved certificate does not match the saved key".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};

    struct Ca {
        pem: String,
        key: KeyPair,
    }

    fn ca() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kubernetes");
        p.distinguished_name = dn;
        Ca {
            pem: p.self_signed(&key).unwrap().pem(),
            key,
        }
    }

    fn issue(ca: &Ca, cn: &str, days: i64) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn.push(DnType::OrganizationName, "system:nodes");
        p.distinguished_name = dn;
        let now = jiff::Timestamp::now().as_second();
        let t = |s: i64| {
            x509_parser::time::ASN1Time::from_timestamp(s)
                .unwrap()
                .to_datetime()
        };
        p.not_before = t(now - 60);
        p.not_after = t(now + days * 86400);
        let issuer = Issuer::from_ca_cert_pem(&ca.pem, &ca.key).unwrap();
        (
            p.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }

    fn pin(ca: &Ca) -> String {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap();
        super::super::discovery::ca_hash(&der).unwrap()
    }

    #[test]
    fn kubeconfigs_round_trip_and_are_private() {
        let ca = ca();
        let (cert, key) = issue(&ca, "system:node:n1", 30);
        let c = NodeCredentials {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: ca.pem.clone(),
            cert_pem: cert,
            key_pem: key,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet.kubeconfig");
        write(&path, &c, "n1").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(parse(&text).unwrap(), c);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!format!("{c:?}").contains("PRIVATE"));
    }

    #[test]
    fn only_a_fresh_certificate_of_this_node_from_the_pinned_ca_is_reused() {
        let ca = ca();
        let now = jiff::Timestamp::now().as_second();
        let creds = |cn: &str, days: i64, ca: &Ca| {
            let (cert, key) = issue(ca, cn, days);
            NodeCredentials {
                server: "https://127.0.0.1:6443".into(),
                ca_pem: ca.pem.clone(),
                cert_pem: cert,
                key_pem: key,
            }
        };
        let good = creds("system:node:n1", 30, &ca);
        assert_eq!(reusable(&good, "n1", &pin(&ca), now), Ok(()));
        assert!(reusable(&good, "n2", &pin(&ca), now).is_err());
        let other = self::ca();
        assert!(reusable(&good, "n1", &pin(&other), now).is_err());
        // Expired (or about to): join again.
        assert!(reusable(&good, "n1", &pin(&ca), now + 31 * 86400).is_err());
        // A certificate from another CA, saved beside our CA.
        let mut foreign = creds("system:node:n1", 30, &other);
        foreign.ca_pem = ca.pem.clone();
        assert!(reusable(&foreign, "n1", &pin(&ca), now)
            .unwrap_err()
            .contains("not signed"));
        // Key swapped.
        let mut swapped = good.clone();
        swapped.key_pem = KeyPair::generate().unwrap().serialize_pem();
        assert!(reusable(&swapped, "n1", &pin(&ca), now).is_err());
    }
}
