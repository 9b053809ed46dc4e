//! Token discovery, as kubeadm's: read `kube-public/cluster-info` anonymously over a connection
//! whose server certificate is NOT trusted, then trust its content only if (1) the detached JWS
//! made with our token verifies over the kubeconfig it carries — so it came from someone who
//! knows the token — and (2) the CA in it hashes to the `--ca-hash` pin — so it is the cluster
//! the operator meant. Only then is the CA used to verify the server for everything else.

use anyhow::{anyhow, bail, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

use super::token::Token;
use crate::client::{status_message, ApiClient, Credentials, ServerTrust};

const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// What discovery established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The cluster CA, PEM, pinned and verified.
    pub ca_pem: String,
    /// The server URL cluster-info names (informational; the node keeps using `--server`).
    pub server: String,
}

/// kubeadm's CA pin: `sha256:` and the hex SHA-256 of the certificate's DER SubjectPublicKeyInfo.
pub fn ca_hash(cert_der: &[u8]) -> Result<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| anyhow!("the CA certificate does not parse: {e}"))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
    Ok(format!(
        "sha256:{}",
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// Normalizes a `--ca-hash` value: `sha256:` plus 64 lower-case hex digits.
pub fn parse_pin(pin: &str) -> Result<String> {
    let hex = pin
        .strip_prefix("sha256:")
        .ok_or_else(|| anyhow!("--ca-hash must be sha256:<64 hex digits>, not {pin:?}"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--ca-hash must be sha256:<64 hex digits>, not {pin:?}");
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Verifies a detached JWS (`header..signature`, HS256 keyed with the token secret, key id the
/// token id) over `payload`.
pub fn verify_jws(jws: &str, payload: &[u8], token: &Token) -> Result<()> {
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let [header, "", sig] = parts.as_slice() else {
        bail!(
            "the signature for token id {:?} is not a detached JWS",
            token.id
        );
    };
    let h: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| anyhow!("the JWS header for token id {:?} does not parse", token.id))?;
    if h["alg"] != "HS256" || h["kid"] != token.id.as_str() {
        bail!(
            "the JWS for token id {:?} is not HS256 with that key id (header {h})",
            token.id
        );
    }
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| {
        anyhow!(
            "the JWS signature for token id {:?} is not base64url",
            token.id
        )
    })?;
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.secret().as_bytes());
    ring::hmac::verify(&key, input.as_bytes(), &sig).map_err(|_| {
        anyhow!(
            "cluster-info's signature for token id {:?} does not verify with the given token: the token secret is wrong, or cluster-info was altered on the way",
            token.id
        )
    })
}

/// One `key: value` line of the (flat, as the API server writes it) cluster-info kubeconfig.
fn kubeconfig_field<'a>(kubeconfig: &'a str, key: &str) -> Option<&'a str> {
    kubeconfig.lines().find_map(|l| {
        l.trim()
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().trim_matches('"'))
    })
}

/// Decides whether a cluster-info ConfigMap can be trusted with `token` and `pin`.
pub fn validate(cluster_info: &Value, token: &Token, pin: &str) -> Result<ClusterInfo> {
    let data = &cluster_info["data"];
    let kubeconfig = data["kubeconfig"]
        .as_str()
        .ok_or_else(|| anyhow!("cluster-info holds no kubeconfig"))?;
    let jws = data[format!("jws-kubeconfig-{}", token.id)]
        .as_str()
        .ok_or_else(|| anyhow::Error::new(NoSignature(token.id.clone())))?;
    verify_jws(jws, kubeconfig.as_bytes(), token)?;
    let ca_b64 = kubeconfig_field(kubeconfig, "certificate-authority-data")
        .ok_or_else(|| anyhow!("cluster-info's kubeconfig holds no certificate-authority-data"))?;
    let ca_pem = String::from_utf8(
        STANDARD
            .decode(ca_b64)
            .map_err(|_| anyhow!("cluster-info's CA is not base64"))?,
    )
    .map_err(|_| anyhow!("cluster-info's CA is not PEM text"))?;
    let ders: Vec<_> = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow!("cluster-info's CA is not a PEM certificate"))?
    };
    anyhow::ensure!(!ders.is_empty(), "cluster-info's CA holds no certificate");
    let hashes = ders
        .iter()
        .map(|d| ca_hash(d))
        .collect::<Result<Vec<_>>>()?;
    if !hashes.iter().any(|h| h == pin) {
        bail!(
            "the cluster CA's public key hash is {} but --ca-hash pins {pin}; refusing to trust this server",
            hashes.join(", ")
        );
    }
    Ok(ClusterInfo {
        ca_pem,
        server: kubeconfig_field(kubeconfig, "server")
            .unwrap_or_default()
            .to_string(),
    })
}

/// cluster-info has no signature for the token: it may not exist, have expired, not allow
/// signing — or be so new that the bootstrap signer has not signed with it yet, which is why
/// discovery waits a while before giving up on this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSignature(pub String);

impl std::fmt::Display for NoSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cluster-info holds no signature for token id {:?} (jws-kubeconfig-{}): the token does not exist, has expired, or may not sign; refusing to trust this server",
            self.0, self.0
        )
    }
}

impl std::error::Error for NoSignature {}

/// Fetches and validates cluster-info from `server`, retrying for up to `timeout` while the
/// server is unreachable or has not signed with the token yet (as kubeadm's discovery does).
/// A signature that does not verify or a CA that does not match the pin fails at once.
pub async fn discover(
    server: &str,
    token: &Token,
    pin: &str,
    timeout: std::time::Duration,
) -> Result<ClusterInfo> {
    let deadline = std::time::Instant::now() + timeout;
    let insecure = ApiClient::new(
        server,
        ServerTrust::UnverifiedForDiscovery,
        Credentials::Anonymous,
    )?;
    let (info, body) = loop {
        let attempt = async {
            let (code, body) = insecure.get_json(CLUSTER_INFO_PATH).await?;
            if !code.is_success() {
                bail!(
                    "reading cluster-info from {server}: {code}: {}",
                    status_message(&body)
                );
            }
            Ok(body)
        }
        .await;
        let retry = match attempt {
            Ok(body) => match validate(&body, token, pin) {
                Ok(info) => break (info, body),
                Err(e) if e.downcast_ref::<NoSignature>().is_some() => e,
                Err(e) => return Err(e),
            },
            Err(e) => e,
        };
        if std::time::Instant::now() >= deadline {
            return Err(retry);
        }
        tracing::info!("discovery: {retry:#}; retrying");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    // Read it again over a connection verified against the pinned CA, as kubeadm does: the
    // server must hold the CA's key material, not just have relayed a signed document.
    let secure = ApiClient::new(
        server,
        ServerTrust::Ca(info.ca_pem.clone()),
        Credentials::Anonymous,
    )?;
    let (code, again) = secure.get_json(CLUSTER_INFO_PATH).await.map_err(|e| {
        anyhow!("{server} does not present a certificate of the pinned cluster CA: {e:#}")
    })?;
    if !code.is_success() || again["data"]["kubeconfig"] != body["data"]["kubeconfig"] {
        bail!("cluster-info read over the verified connection differs from the signed one");
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign(payload: &[u8], id: &str, secret: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{id}"}}"#));
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&key, input.as_bytes());
        format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn ca() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let hash = ca_hash(cert.der()).unwrap();
        (cert.pem(), hash)
    }

    fn cluster_info(ca_pem: &str, sigs: &[(&str, &str)]) -> (Value, String) {
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: {}\n",
            STANDARD.encode(ca_pem)
        );
        let mut data = json!({"kubeconfig": kc});
        for (id, secret) in sigs {
            data[format!("jws-kubeconfig-{id}")] = json!(sign(kc.as_bytes(), id, secret));
        }
        (json!({"data": data}), kc)
    }

    #[test]
    fn a_signed_and_pinned_cluster_info_is_trusted() {
        let (pem, hash) = ca();
        let token = Token::parse("abcdef.0123456789abcdef").unwrap();
        let (ci, _) = cluster_info(&pem, &[("abcdef", "0123456789abcdef")]);
        let info = validate(&ci, &token, &hash).unwrap();
        assert_eq!(info.ca_pem, pem);
        assert_eq!(info.server, "https://10.0.0.1:6443");
    }

    #[test]
    fn a_wrong_pin_is_refused_naming_both_hashes() {
        let (pem, hash) = ca();
        let (_, other) = ca();
        let token = Token::parse("abcdef.0123456789abcdef").unwrap();
        let (ci, _) = cluster_info(&pem, &[("abcdef", "0123456789abcdef")]);
        let err = validate(&ci, &token, &other).unwrap_err().to_string();
        assert!(err.contains(&hash) && err.contains(&other), "{err}");
    }

    #[test]
    fn missing_or_wrong_signatures_are_refused() {
        let (pem, hash) = ca();
        let token = Token::parse("abcdef.0123456789abcdef").unwrap();
        let (unsigned, _) = cluster_info(&pem, &[("zzzzzz", "0123456789abcdef")]);
        let err = validate(&unsigned, &token, &hash).unwrap_err().to_string();
        assert!(
            err.contains("\"abcdef\"") && err.contains("no signature"),
            "{err}"
        );
        // Signed with another secret under our id: a server that does not know our token.
        let (forged, _) = cluster_info(&pem, &[("abcdef", "aaaaaaaaaaaaaaaa")]);
        let err = validate(&forged, &token, &hash).unwrap_err().to_string();
        assert!(err.contains("does not verify"), "{err}");
        // A valid signature over another kubeconfig does not carry over.
        let (mut swapped, kc) = cluster_info(&pem, &[("abcdef", "0123456789abcdef")]);
        swapped["data"]["kubeconfig"] = json!(kc.replace("10.0.0.1", "10.6.6.6"));
        assert!(validate(&swapped, &token, &hash).is_err());
    }

    #[test]
    fn pins_are_normalized_and_checked() {
        let hex = "AB".repeat(32);
        assert_eq!(
            parse_pin(&format!("sha256:{hex}")).unwrap(),
            format!("sha256:{}", "ab".repeat(32))
        );
        assert!(parse_pin(&hex).is_err());
        assert!(parse_pin("sha256:abc").is_err());
    }
}
