//! kube-controller-manager's bootstrap loops: the bootstrap signer keeps one detached JWS of
//! cluster-info's `kubeconfig` per usable signing token (`jws-kubeconfig-<id>`), and the token
//! cleaner deletes token Secrets once they expire. The decisions are the pure
//! [`desired_signatures`] and [`expired_tokens`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};
use crate::join::token::{self, BootstrapToken};
use crate::join::{self as joinmod, jws};

const TOKEN_SECRETS: &str =
    "/api/v1/namespaces/kube-system/secrets?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken";
const CLUSTER_INFO: &str =
    "/api/v1/namespaces/kube-public/configmaps?fieldSelector=metadata.name%3Dcluster-info";

/// The signature entries cluster-info should hold: one per non-expired token that allows
/// signing, keyed `jws-kubeconfig-<id>`.
pub fn desired_signatures(
    kubeconfig: &str,
    secrets: &[Value],
    now: jiff::Timestamp,
) -> BTreeMap<String, String> {
    secrets
        .iter()
        .filter(|s| !s["metadata"]["deletionTimestamp"].is_string())
        .filter_map(BootstrapToken::from_secret)
        .filter(|t| t.usage_signing && !t.is_expired(now))
        .map(|t| {
            (
                format!("{}{}", joinmod::JWS_KEY_PREFIX, t.token.id),
                jws::sign_detached(kubeconfig.as_bytes(), &t.token.id, t.token.secret()),
            )
        })
        .collect()
}

/// cluster-info's data with its signature entries replaced by `sigs`; `None` when unchanged.
pub fn resigned_data(
    data: &Map<String, Value>,
    sigs: &BTreeMap<String, String>,
) -> Option<Map<String, Value>> {
    let current: BTreeMap<&str, &Value> = data
        .iter()
        .filter(|(k, _)| k.starts_with(joinmod::JWS_KEY_PREFIX))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let same = current.len() == sigs.len()
        && sigs
            .iter()
            .all(|(k, v)| current.get(k.as_str()).is_some_and(|c| *c == v));
    if same {
        return None;
    }
    let mut next: Map<String, Value> = data
        .iter()
        .filter(|(k, _)| !k.starts_with(joinmod::JWS_KEY_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in sigs {
        next.insert(k.clone(), json!(v));
    }
    Some(next)
}

/// Names of token Secrets whose `expiration` has passed. Only the expiration is read, so a
/// Secret that is otherwise malformed is cleaned up too, as Kubernetes' token cleaner does.
pub fn expired_tokens(secrets: &[Value], now: jiff::Timestamp) -> Vec<String> {
    secrets
        .iter()
        .filter(|s| {
            s["type"] == token::SECRET_TYPE && !s["metadata"]["deletionTimestamp"].is_string()
        })
        .filter(|s| expiration(s).is_some_and(|e| e <= now))
        .filter_map(|s| s["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

fn expiration(secret: &Value) -> Option<jiff::Timestamp> {
    let raw = secret["data"]["expiration"].as_str()?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, raw).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// How long until the next token expires (capped, so clock jumps are noticed too).
fn next_wakeup(secrets: &[Value], now: jiff::Timestamp) -> Duration {
    let cap = Duration::from_secs(30);
    secrets
        .iter()
        .filter_map(expiration)
        .filter(|e| *e > now)
        .map(|e| {
            Duration::try_from(e.duration_since(now)).unwrap_or(cap) + Duration::from_millis(50)
        })
        .min()
        .unwrap_or(cap)
        .min(cap)
}

/// Runs both loops forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let secrets = Informer::start(cfg.clone(), TOKEN_SECRETS, changed.clone());
    let info = Informer::start(cfg.clone(), CLUSTER_INFO, changed.clone());
    let mut conn: Option<Connection> = None;
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        if !all_synced(&[&secrets, &info]) {
            continue;
        }
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        let now = jiff::Timestamp::now();
        let tokens = secrets.objects();
        wait = next_wakeup(&tokens, now);
        if let Err(e) = pass(c, &tokens, &info.objects(), now).await {
            tracing::warn!("bootstrap token loop: {e:#}");
            conn = None;
        }
    }
}

async fn pass(
    c: &mut Connection,
    tokens: &[Value],
    info: &[Value],
    now: jiff::Timestamp,
) -> anyhow::Result<()> {
    for name in expired_tokens(tokens, now) {
        let path = format!("/api/v1/namespaces/{}/secrets/{name}", token::NAMESPACE);
        let (code, _) = c.request(Method::DELETE, &path, None).await?;
        if code.is_success() {
            tracing::info!(secret = %name, "deleted expired bootstrap token");
        }
    }
    let Some(cm) = info.first() else {
        return Ok(());
    };
    let Some(kubeconfig) = cm["data"][joinmod::KUBECONFIG_KEY].as_str() else {
        return Ok(());
    };
    let sigs = desired_signatures(kubeconfig, tokens, now);
    let data = cm["data"].as_object().cloned().unwrap_or_default();
    let Some(next_data) = resigned_data(&data, &sigs) else {
        return Ok(());
    };
    let mut next = cm.clone();
    next["data"] = Value::Object(next_data);
    let path = format!(
        "/api/v1/namespaces/{}/configmaps/{}",
        joinmod::CLUSTER_INFO_NAMESPACE,
        joinmod::CLUSTER_INFO_NAME
    );
    let (code, body) = c
        .request(Method::PUT, &path, Some(serde_json::to_vec(&next)?))
        .await?;
    if code.is_success() {
        tracing::info!(signatures = sigs.len(), "cluster-info signatures updated");
    } else if code != StatusCode::CONFLICT {
        tracing::warn!(%code, "updating cluster-info refused: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::token::Token;

    fn secret(tok: &str, exp: Option<&str>, signing: bool) -> Value {
        let mut bt = BootstrapToken::for_joining(
            Token::parse(tok).unwrap(),
            exp.map(|e| e.parse().unwrap()),
            None,
        );
        bt.usage_signing = signing;
        bt.to_secret()
    }

    #[test]
    fn every_usable_signing_token_signs_and_nothing_else() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let secrets = vec![
            secret("aaaaaa.0123456789abcdef", None, true),
            secret(
                "bbbbbb.0123456789abcdef",
                Some("2024-12-31T00:00:00Z"),
                true,
            ),
            secret("cccccc.0123456789abcdef", None, false),
            secret(
                "dddddd.0123456789abcdef",
                Some("2025-01-02T00:00:00Z"),
                true,
            ),
        ];
        let sigs = desired_signatures("KC", &secrets, now);
        assert_eq!(
            sigs.keys().collect::<Vec<_>>(),
            vec!["jws-kubeconfig-aaaaaa", "jws-kubeconfig-dddddd"]
        );
        jws::verify_detached(
            &sigs["jws-kubeconfig-aaaaaa"],
            b"KC",
            "aaaaaa",
            "0123456789abcdef",
        )
        .unwrap();
        // Stale signatures go, other keys stay, and an up-to-date map is left alone.
        let mut data = Map::new();
        data.insert("kubeconfig".into(), json!("KC"));
        data.insert("jws-kubeconfig-bbbbbb".into(), json!("old"));
        let next = resigned_data(&data, &sigs).unwrap();
        assert_eq!(next["kubeconfig"], "KC");
        assert!(next.get("jws-kubeconfig-bbbbbb").is_none());
        assert!(resigned_data(&next, &sigs).is_none());
    }

    #[test]
    fn only_expired_tokens_are_cleaned() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let secrets = vec![
            secret("aaaaaa.0123456789abcdef", None, true),
            secret(
                "bbbbbb.0123456789abcdef",
                Some("2024-12-31T00:00:00Z"),
                true,
            ),
            secret(
                "dddddd.0123456789abcdef",
                Some("2025-01-01T00:00:10Z"),
                true,
            ),
        ];
        assert_eq!(
            expired_tokens(&secrets, now),
            vec!["bootstrap-token-bbbbbb"]
        );
        let wake = next_wakeup(&secrets, now);
        assert!(
            wake > Duration::from_secs(9) && wake < Duration::from_secs(11),
            "{wake:?}"
        );
    }
}
