//! Service account tokens, as kube-apiserver issues them through the TokenRequest API
//! (`serviceaccounts/<name>/token`) and authenticates them: JWTs signed with the cluster's
//! service account key (ES256, `DIR/pki/sa.key`), naming the account (and the pod they are
//! bound to) in the `kubernetes.io` claim. Signing and checking are pure functions here; the
//! handler that issues them and the authenticator that looks the account up live with the
//! other handlers and in [`super::authn`].

use std::path::Path;

use anyhow::{Context as _, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

/// The issuer and default audience (`--service-account-issuer` of a kubeadm cluster).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The expiration kube-apiserver extends to one year for the tokens its ServiceAccount
/// admission injects (`--service-account-extend-token-expiration`, on by default), so that
/// pods keep working if their kubelet cannot refresh for a while.
pub const INJECTED_EXPIRATION_SECONDS: i64 = 3607;
pub const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;
/// The shortest expiration a TokenRequest may ask for.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;

/// The key every service account token is signed with.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    /// `kid` header: base64url of the SHA-256 of the public key.
    pub key_id: String,
    rng: SystemRandom,
}

impl SigningKey {
    /// Loads `pki/sa.key` (PKCS#8, PEM), creating it on first start (mode 0600).
    pub fn load_or_create(data_dir: &Path) -> Result<SigningKey> {
        let path = data_dir.join("pki").join("sa.key");
        let rng = SystemRandom::new();
        let pkcs8 = if path.exists() {
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            STANDARD
                .decode(body.trim())
                .with_context(|| format!("{} is not PEM", path.display()))?
        } else {
            let doc =
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| anyhow::anyhow!("generating the service account key"))?;
            let b64 = STANDARD.encode(doc.as_ref());
            let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
            for chunk in b64.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
                pem.push('\n');
            }
            pem.push_str("-----END PRIVATE KEY-----\n");
            crate::pki::write_private(&path, pem.as_bytes())?;
            doc.as_ref().to_vec()
        };
        SigningKey::from_pkcs8(&pkcs8)
            .with_context(|| format!("loading the service account key {}", path.display()))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey> {
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|e| anyhow::anyhow!("not a P-256 PKCS#8 key: {e}"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        Ok(SigningKey {
            key_id: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            pair,
            rng,
        })
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let header = serde_json::json!({"alg": "ES256", "kid": self.key_id});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let sig = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| anyhow::anyhow!("signing a service account token"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }

    /// Checks a token's signature and times, and that it is meant for `audience`. Whether the
    /// account (and pod) it names still exist is the caller's look-up.
    pub fn verify(&self, token: &str, now: i64, audience: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header["alg"] != "ES256" {
            return Err(TokenError::Malformed);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.pair.public_key().as_ref(),
        )
        .verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Malformed);
        }
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        if now < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if !claims.aud.iter().any(|a| a == audience) {
            return Err(TokenError::WrongAudience);
        }
        Ok(claims)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a service account token this cluster issued")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not meant for this API server (audience)")]
    WrongAudience,
}

/// A name and uid, as the `kubernetes.io` claim refers to objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    /// For extended tokens: when the kubelet should have refreshed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

/// The user a service account authenticates as.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Its groups (besides `system:authenticated`).
pub fn groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

/// What a TokenRequest asked for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub audiences: Vec<String>,
    /// The lifetime granted (after the injected-token extension).
    pub expiration_seconds: i64,
    /// The lifetime asked for, kept for `warnafter`.
    pub requested_seconds: i64,
    /// The pod the token is bound to: it stops working when that pod is gone.
    pub bound_pod: Option<String>,
    pub bound_pod_uid: Option<String>,
}

/// Reads a TokenRequest body (`authentication.k8s.io/v1`), applying kube-apiserver's defaults
/// (audience: the issuer; 3600 s) and limits. Errors name the field.
pub fn parse_request(body: &serde_json::Value) -> Result<Request, (String, String)> {
    let spec = &body["spec"];
    let audiences: Vec<String> = match spec["audiences"].as_array() {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or(("spec.audiences".to_string(), "must be strings".to_string()))?,
        _ => vec![ISSUER.to_string()],
    };
    let requested = match &spec["expirationSeconds"] {
        serde_json::Value::Null => 3600,
        v => v.as_i64().ok_or((
            "spec.expirationSeconds".to_string(),
            "must be an integer".to_string(),
        ))?,
    };
    if requested < MIN_EXPIRATION_SECONDS {
        return Err((
            "spec.expirationSeconds".into(),
            format!("may not specify a duration less than {MIN_EXPIRATION_SECONDS} seconds"),
        ));
    }
    if requested > (1 << 32) {
        return Err((
            "spec.expirationSeconds".into(),
            "may not specify a duration larger than 2^32 seconds".into(),
        ));
    }
    let bound = &spec["boundObjectRef"];
    let (bound_pod, bound_pod_uid) = match bound["kind"].as_str() {
        None => (None, None),
        Some("Pod") => {
            let name = bound["name"].as_str().filter(|n| !n.is_empty()).ok_or((
                "spec.boundObjectRef.name".to_string(),
                "Required value".to_string(),
            ))?;
            (
                Some(name.to_string()),
                bound["uid"]
                    .as_str()
                    .filter(|u| !u.is_empty())
                    .map(String::from),
            )
        }
        Some(other) => {
            return Err((
                "spec.boundObjectRef.kind".into(),
                format!("Unsupported value: {other:?}: supported values: \"Pod\""),
            ))
        }
    };
    let expiration_seconds = if requested == INJECTED_EXPIRATION_SECONDS && bound_pod.is_some() {
        EXTENDED_EXPIRATION_SECONDS
    } else {
        requested
    };
    Ok(Request {
        audiences,
        expiration_seconds,
        requested_seconds: requested,
        bound_pod,
        bound_pod_uid,
    })
}

/// Encodes a PKCS#8 document for tests and tools that need a fixed key.
pub fn generate_pkcs8() -> Result<Vec<u8>> {
    let rng = SystemRandom::new();
    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| anyhow::anyhow!("generating a P-256 key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: username("ns", "sa"),
            aud: vec![ISSUER.into()],
            exp,
            iat: 100,
            nbf: 100,
            jti: "j".into(),
            kubernetes: KubernetesClaims {
                namespace: "ns".into(),
                serviceaccount: ObjectRef {
                    name: "sa".into(),
                    uid: "u1".into(),
                },
                pod: None,
                node: None,
                warnafter: None,
            },
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires_and_only_for_its_audience() {
        let key = SigningKey::from_pkcs8(&generate_pkcs8().unwrap()).unwrap();
        let token = key.sign(&claims(1000)).unwrap();
        assert_eq!(key.verify(&token, 500, ISSUER).unwrap(), claims(1000));
        assert_eq!(key.verify(&token, 1000, ISSUER), Err(TokenError::Expired));
        assert_eq!(key.verify(&token, 50, ISSUER), Err(TokenError::NotYetValid));
        assert_eq!(
            key.verify(&token, 500, "vault"),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn another_key_or_a_changed_payload_does_not_verify() {
        let key = SigningKey::from_pkcs8(&generate_pkcs8().unwrap()).unwrap();
        let other = SigningKey::from_pkcs8(&generate_pkcs8().unwrap()).unwrap();
        let token = key.sign(&claims(1000)).unwrap();
        assert_eq!(
            other.verify(&token, 500, ISSUER),
            Err(TokenError::BadSignature)
        );
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut forged = claims(1000);
        forged.kubernetes.serviceaccount.name = "admin".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            key.verify(&parts.join("."), 500, ISSUER),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            key.verify("abcdef.0123456789abcdef", 500, ISSUER),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn token_requests_get_kube_apiservers_defaults_and_limits() {
        let r = parse_request(&json!({"spec": {}})).unwrap();
        assert_eq!(r.audiences, [ISSUER]);
        assert_eq!(r.expiration_seconds, 3600);
        let r = parse_request(&json!({"spec": {"expirationSeconds": 3607,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"}}}))
        .unwrap();
        assert_eq!(r.expiration_seconds, EXTENDED_EXPIRATION_SECONDS);
        assert_eq!(r.bound_pod.as_deref(), Some("p"));
        let e = parse_request(&json!({"spec": {"expirationSeconds": 60}})).unwrap_err();
        assert_eq!(e.0, "spec.expirationSeconds");
        let e =
            parse_request(&json!({"spec": {"boundObjectRef": {"kind": "Secret", "name": "s"}}}))
                .unwrap_err();
        assert_eq!(e.0, "spec.boundObjectRef.kind");
    }
}
