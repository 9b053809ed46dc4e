//! Detached JSON Web Signatures over cluster-info's kubeconfig, as Kubernetes' bootstrap signer
//! writes them: HS256 keyed with a token's secret, header `{"alg":"HS256","kid":"<token id>"}`,
//! and the payload part left out (`header..signature`) because the reader already has the
//! payload. A node that knows the token can thus tell that the kubeconfig it fetched over an
//! unverified connection came from someone who knows the token too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

/// Why a detached signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the signature is not a detached JWS (header..signature)")]
    Malformed,
    #[error("the JWS header is not HS256 with key id {0:?}")]
    WrongHeader(String),
    #[error("the JWS signature does not match (wrong token, or the content was altered)")]
    BadSignature,
}

fn key(secret: &str) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())
}

/// Signs `payload` for token `id`, returning `header..signature`.
pub fn sign_detached(payload: &[u8], id: &str, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"alg": "HS256", "kid": id})
            .to_string()
            .as_bytes(),
    );
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let tag = hmac::sign(&key(secret), signing_input.as_bytes());
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Verifies a detached JWS over `payload` with token `id`'s secret.
pub fn verify_detached(jws: &str, payload: &[u8], id: &str, secret: &str) -> Result<(), JwsError> {
    let mut parts = jws.trim().split('.');
    let (Some(header), Some(""), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let header_json: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(JwsError::Malformed)?;
    if header_json["alg"] != "HS256" || header_json["kid"] != id {
        return Err(JwsError::WrongHeader(id.to_string()));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| JwsError::Malformed)?;
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    hmac::verify(&key(secret), signing_input.as_bytes(), &sig).map_err(|_| JwsError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_right_token_only() {
        let payload = b"apiVersion: v1\nkind: Config\n";
        let jws = sign_detached(payload, "abcdef", "0123456789abcdef");
        assert!(jws.contains(".."));
        // The header is exactly what Kubernetes' signer writes.
        let header = jws.split('.').next().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).unwrap(),
            br#"{"alg":"HS256","kid":"abcdef"}"#
        );
        verify_detached(&jws, payload, "abcdef", "0123456789abcdef").unwrap();
        assert_eq!(
            verify_detached(&jws, payload, "abcdef", "aaaaaaaaaaaaaaaa"),
            Err(JwsError::BadSignature)
        );
        assert_eq!(
            verify_detached(&jws, b"apiVersion: v2\n", "abcdef", "0123456789abcdef"),
            Err(JwsError::BadSignature)
        );
        assert_eq!(
            verify_detached(&jws, payload, "zzzzzz", "0123456789abcdef"),
            Err(JwsError::WrongHeader("zzzzzz".into()))
        );
        assert_eq!(
            verify_detached("abc", payload, "abcdef", "0123456789abcdef"),
            Err(JwsError::Malformed)
        );
    }

    #[test]
    fn a_known_signature_is_reproduced() {
        // HMAC-SHA256 is deterministic: the same token and payload always give the same JWS.
        let a = sign_detached(b"x", "abcdef", "0123456789abcdef");
        let b = sign_detached(b"x", "abcdef", "0123456789abcdef");
        assert_eq!(a, b);
        assert_ne!(a, sign_detached(b"x", "abcdef", "0123456789abcdeg"));
    }
}
