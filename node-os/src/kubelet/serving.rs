//! The kubelet API's serving certificate: issued by the cluster CA through a
//! `kubernetes.io/kubelet-serving` CertificateSigningRequest naming the node's addresses (the
//! control plane approves it when those are the Node's own), kept in the data dir and reused
//! while it is valid for another day and names the same addresses.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::client::ApiClient;
use crate::join::csr;

/// Whether a saved certificate can be served again: it parses, stays valid for a day, and
/// names every one of `sans`.
pub fn reusable(cert_pem: &str, sans: &[String], now_unix: i64) -> bool {
    use rustls_pki_types::pem::PemObject;
    let Ok(der) = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return false;
    };
    if cert.validity().not_after.timestamp() < now_unix + 86_400 {
        return false;
    }
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                        4 => Some(
                            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).ok()?).to_string(),
                        ),
                        16 => Some(
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?).to_string(),
                        ),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    sans.iter().all(|s| names.contains(s))
}

/// The serving certificate and key: the saved ones when [`reusable`], else new ones through
/// a CSR (waiting up to `timeout` for approval).
pub async fn certificate(
    api: &ApiClient,
    dir: &Path,
    node_name: &str,
    sans: &[String],
    timeout: Duration,
) -> Result<(String, String)> {
    let (cert_path, key_path) = (
        dir.join("kubelet-server.crt"),
        dir.join("kubelet-server.key"),
    );
    if let (Ok(cert), Ok(key)) = (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        if reusable(&cert, sans, jiff::Timestamp::now().as_second()) {
            return Ok((cert, key));
        }
    }
    let (cert, key, name) = csr::request_serving_certificate(api, node_name, sans, timeout)
        .await
        .context("requesting the kubelet serving certificate")?;
    tracing::info!(csr = %name, "kubelet serving certificate issued");
    std::fs::create_dir_all(dir)?;
    let tmp = key_path.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(key.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &key_path)?;
    std::fs::write(&cert_path, &cert)?;
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(sans: &[&str], days: i64) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        let end = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days);
        let d = end.to_zoned(jiff::tz::TimeZone::UTC).date();
        p.not_after = rcgen::date_time_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8);
        p.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn saved_certificates_are_reused_only_while_valid_and_naming_the_node() {
        let now = jiff::Timestamp::now().as_second();
        let want = vec!["10.0.0.5".to_string(), "n1".to_string()];
        assert!(reusable(&cert(&["10.0.0.5", "n1"], 30), &want, now));
        assert!(!reusable(&cert(&["10.0.0.6", "n1"], 30), &want, now));
        assert!(!reusable(&cert(&["10.0.0.5", "n1"], 0), &want, now));
        assert!(!reusable("not a certificate", &want, now));
    }
}
