//! The kubelet's certificate bootstrap: a fresh ECDSA P-256 key, a CertificateSigningRequest
//! for `CN=system:node:<name>, O=system:nodes` to the kubelet client signer, sent with the
//! bootstrap token over a connection verified against the pinned CA, then waiting for the
//! approver and signer to issue the certificate.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::Method;
use serde_json::{json, Value};

use crate::client::{status_message, ApiClient};

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
/// The signer of kubelet client certificates.
pub const SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// How often a pending request is looked at again.
const POLL: Duration = Duration::from_millis(300);

/// A new key and the PEM certificate request for it.
pub struct KeyAndRequest {
    pub key_pem: String,
    pub request_pem: String,
}

/// Generates the node's key (ECDSA P-256) and its certificate request.
pub fn build_request(node_name: &str) -> Result<KeyAndRequest> {
    build_request_with_names(node_name, &[])
}

/// A request for `system:node:<name>` naming `sans` (IP addresses and DNS names), as a
/// kubelet-serving request carries them.
pub fn build_request_with_names(node_name: &str, sans: &[String]) -> Result<KeyAndRequest> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the node key")?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "system:nodes");
    dn.push(
        rcgen::DnType::CommonName,
        format!("system:node:{node_name}"),
    );
    params.distinguished_name = dn;
    for n in sans {
        params
            .subject_alt_names
            .push(match n.parse::<std::net::IpAddr>() {
                Ok(ip) => rcgen::SanType::IpAddress(ip),
                Err(_) => rcgen::SanType::DnsName(
                    n.clone()
                        .try_into()
                        .with_context(|| format!("{n:?} is not a DNS name"))?,
                ),
            });
    }
    let csr = params
        .serialize_request(&key)
        .context("building the certificate request")?;
    Ok(KeyAndRequest {
        key_pem: key.serialize_pem(),
        request_pem: csr.pem().context("encoding the certificate request")?,
    })
}

/// The CertificateSigningRequest object, as the kubelet sends it for an ECDSA key.
pub fn csr_object(request_pem: &str) -> Value {
    csr_object_for(request_pem, SIGNER, &["digital signature", "client auth"])
}

/// The kubelet-serving signer: certificates the kubelet API serves with.
pub const SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// A CSR object for `signer` with `usages`.
pub fn csr_object_for(request_pem: &str, signer: &str, usages: &[&str]) -> Value {
    json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "node-csr-"},
        "spec": {
            "request": STANDARD.encode(request_pem),
            "signerName": signer,
            "usages": usages,
        },
    })
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    /// The issued certificate, PEM.
    Issued(String),
    Denied(String),
    Failed(String),
}

/// Reads a CSR's status.
pub fn outcome(csr: &Value) -> Outcome {
    let conditions = csr["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &conditions {
        if c["status"] == "False" {
            continue;
        }
        let why = format!(
            "{}: {}",
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        );
        match c["type"].as_str() {
            Some("Denied") => return Outcome::Denied(why),
            Some("Failed") => return Outcome::Failed(why),
            _ => {}
        }
    }
    match csr["status"]["certificate"]
        .as_str()
        .filter(|c| !c.is_empty())
        .and_then(|c| STANDARD.decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(pem) => Outcome::Issued(pem),
        None => Outcome::Pending,
    }
}

/// Sends the request and waits up to `timeout` for the certificate. Returns (certificate PEM,
/// key PEM, CSR name).
pub async fn request_certificate(
    client: &ApiClient,
    node_name: &str,
    timeout: Duration,
) -> Result<(String, String, String)> {
    let kr = build_request(node_name)?;
    let object = csr_object(&kr.request_pem);
    request_signed(client, kr, object, timeout).await
}

/// Asks for a kubelet serving certificate naming `sans`; returns (cert, key, CSR name).
pub async fn request_serving_certificate(
    client: &ApiClient,
    node_name: &str,
    sans: &[String],
    timeout: Duration,
) -> Result<(String, String, String)> {
    let kr = build_request_with_names(node_name, sans)?;
    let object = csr_object_for(
        &kr.request_pem,
        SERVING_SIGNER,
        &["digital signature", "server auth"],
    );
    request_signed(client, kr, object, timeout).await
}

async fn request_signed(
    client: &ApiClient,
    kr: KeyAndRequest,
    object: Value,
    timeout: Duration,
) -> Result<(String, String, String)> {
    let (code, body) = client
        .request(
            Method::POST,
            CSRS,
            Some(serde_json::to_vec(&object)?),
            "application/json",
        )
        .await
        .context("sending the certificate signing request")?;
    let created: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !code.is_success() {
        bail!(
            "the API server refused the certificate signing request: {code}: {}",
            status_message(&created)
        );
    }
    let name = created["metadata"]["name"]
        .as_str()
        .ok_or_else(|| anyhow!("the created CSR has no name"))?
        .to_string();
    let deadline = Instant::now() + timeout;
    loop {
        let (code, csr) = client.get_json(&format!("{CSRS}/{name}")).await?;
        if !code.is_success() {
            bail!("reading CSR {name}: {code}: {}", status_message(&csr));
        }
        match outcome(&csr) {
            Outcome::Issued(cert) => {
                check_certificate_matches_key(&cert, &kr.key_pem)?;
                return Ok((cert, kr.key_pem, name));
            }
            Outcome::Denied(why) => bail!("certificate signing request {name} was denied ({why})"),
            Outcome::Failed(why) => bail!("certificate signing request {name} failed ({why})"),
            Outcome::Pending if Instant::now() >= deadline => bail!(
                "certificate signing request {name} was not approved and issued within {}s; an administrator can approve it with `kubectl certificate approve {name}`",
                timeout.as_secs()
            ),
            Outcome::Pending => tokio::time::sleep(POLL).await,
        }
    }
}

/// The issued certificate must carry our public key, or it is useless (and suspicious).
fn check_certificate_matches_key(cert_pem: &str, key_pem: &str) -> Result<()> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .context("the issued certificate is not PEM")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("the issued certificate does not parse: {e}"))?;
    let key = rcgen::KeyPair::from_pem(key_pem)?;
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        bail!("the issued certificate is not for the key this node generated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    #[test]
    fn the_request_names_the_node_and_nothing_else() {
        let kr = build_request("worker-1").unwrap();
        assert!(kr.key_pem.contains("PRIVATE KEY"));
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(
            kr.request_pem.as_bytes(),
        )
        .unwrap();
        let (_, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(der.as_ref())
                .unwrap();
        let subject = csr.certification_request_info.subject.to_string();
        assert!(subject.contains("CN=system:node:worker-1"), "{subject}");
        assert!(subject.contains("O=system:nodes"), "{subject}");
        assert!(csr
            .requested_extensions()
            .is_none_or(|mut e| e.next().is_none()));
        let obj = csr_object(&kr.request_pem);
        assert_eq!(obj["spec"]["signerName"], SIGNER);
        assert!(obj["spec"].get("username").is_none());
    }

    #[test]
    fn outcomes_are_read_from_conditions_and_certificate() {
        assert_eq!(outcome(&json!({"status": {}})), Outcome::Pending);
        let approved = json!({"status": {"conditions": [{"type": "Approved", "status": "True"}]}});
        assert_eq!(outcome(&approved), Outcome::Pending);
        let issued = json!({"status": {"conditions": [{"type": "Approved", "status": "True"}],
            "certificate": STANDARD.encode("PEM")}});
        assert_eq!(outcome(&issued), Outcome::Issued("PEM".into()));
        let denied = json!({"status": {"conditions": [{"type": "Denied", "status": "True",
            "reason": "Nope", "message": "not this node"}]}});
        assert_eq!(
            outcome(&denied),
            Outcome::Denied("Nope: not this node".into())
        );
    }
}
