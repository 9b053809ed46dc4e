//! The ResourceQuota controller, as kube-controller-manager runs it: keeps every quota's
//! `status.hard` equal to its spec and `status.used` equal to what the namespace's objects use,
//! recomputed when a quota or a counted object changes and in a full pass every
//! [`RESYNC_PERIOD`] (pods past their deletion grace period stop counting with time alone).
//!
//! Admission charges creates to quotas itself, so this loop is what makes usage fall again after
//! deletions and pods that finished, and what fills the status of a new quota. It never gates a
//! write: the API server's admission recomputes usage from the store, so a stale status written
//! here (from an informer that lags) can only make `kubectl describe quota` briefly wrong, and
//! the next pass, triggered by the very event it lagged behind, corrects it.
//!
//! Collections are watched only while some quota counts them: an informer per (group,
//! resource), started when the first quota needs it and dropped when the last one goes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use control_apimachinery::admission::quota;
use control_apimachinery::resources::RESOURCES;
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::Informer;

/// How often every quota is recomputed even if nothing changed.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);

/// A counted collection: (API group, plural resource name).
type Collection = (String, String);

/// The list URL of a served, namespaced collection.
fn collection_path((group, plural): &Collection) -> Option<String> {
    RESOURCES
        .iter()
        .find(|r| r.namespaced && r.group == group && r.plural == plural)
        .map(|r| format!("{}/{}", r.group_version_path(), r.plural))
}

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let quotas = Informer::start(cfg.clone(), "/api/v1/resourcequotas", changed.clone());
    let mut counted: HashMap<Collection, Informer> = HashMap::new();
    let mut conn: Option<Connection> = None;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(RESYNC_PERIOD) => {}
        }
        // Let a burst of events land before recomputing.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !quotas.has_synced() {
            continue;
        }
        let all = quotas.objects();
        let needed: BTreeSet<Collection> = all
            .iter()
            .flat_map(quota::collections_of)
            .filter(|c| collection_path(c).is_some())
            .collect();
        counted.retain(|c, _| needed.contains(c));
        for c in &needed {
            if !counted.contains_key(c) {
                let path = collection_path(c).expect("filtered to served collections");
                counted.insert(
                    c.clone(),
                    Informer::start(cfg.clone(), path, changed.clone()),
                );
            }
        }
        // Usage from a cache that has not listed yet would read as zero.
        if !counted.values().all(Informer::has_synced) {
            continue;
        }
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        if let Err(e) = pass(c, &all, &counted).await {
            tracing::warn!("resource quota pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

/// Recomputes every quota and writes the statuses that changed.
async fn pass(
    c: &mut Connection,
    quotas: &[Value],
    counted: &HashMap<Collection, Informer>,
) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now();
    // Each counted collection's objects, by namespace.
    let mut by_namespace: HashMap<(&Collection, String), Vec<Value>> = HashMap::new();
    for (col, inf) in counted {
        for o in inf.objects() {
            let ns = o["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            by_namespace.entry((col, ns)).or_default().push(o);
        }
    }
    for q in quotas {
        let meta = &q["metadata"];
        if meta["deletionTimestamp"].is_string() {
            continue;
        }
        let ns = meta["namespace"].as_str().unwrap_or_default();
        let name = meta["name"].as_str().unwrap_or_default();
        let status = quota::recompute_status(
            q,
            |group, plural| {
                let col = (group.to_string(), plural.to_string());
                let (key, _) = counted.get_key_value(&col)?;
                Some(
                    by_namespace
                        .get(&(key, ns.to_string()))
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                )
            },
            now,
        );
        if !quota::status_differs(&q["status"], &status) {
            continue;
        }
        let mut updated = q.clone();
        updated["status"] = status;
        let path = format!("/api/v1/namespaces/{ns}/resourcequotas/{name}/status");
        let (code, body) = c
            .request(Method::PUT, &path, Some(serde_json::to_vec(&updated)?))
            .await?;
        // A conflict means the quota changed (admission charged it, or its spec was edited):
        // its watch event triggers another pass. A missing quota was deleted meanwhile.
        if !code.is_success() && code != StatusCode::CONFLICT && code != StatusCode::NOT_FOUND {
            tracing::warn!(%path, %code, "quota status update refused: {}", String::from_utf8_lossy(&body));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_namespaced_collections_are_watched() {
        let col = |g: &str, p: &str| (g.to_string(), p.to_string());
        assert_eq!(
            collection_path(&col("", "pods")).as_deref(),
            Some("/api/v1/pods")
        );
        assert_eq!(
            collection_path(&col("apps", "deployments")).as_deref(),
            Some("/apis/apps/v1/deployments")
        );
        assert_eq!(collection_path(&col("", "persistentvolumeclaims")), None);
        assert_eq!(collection_path(&col("", "nodes")), None);
    }
}
