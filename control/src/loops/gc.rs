//! The garbage collector: deletes dependents whose owners are gone (background deletion),
//! releases dependents of owners deleted with `orphan`, deletes dependents of owners deleted in
//! the foreground, and then removes those owners' finalizers. Decisions are
//! `control_controllers::gc::plan`'s; this loop watches every kind and writes through the API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use control_apimachinery::resources::{Resource, RESOURCES};
use control_controllers::gc::{plan, Node};
use http::Method;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::Informer;

/// How long an object must look ownerless before it is deleted: a new owner and its first
/// dependents can reach the informers in either order.
const DANGLING_QUARANTINE: Duration = Duration::from_secs(3);

/// The API path of one object.
fn object_path(r: &Resource, obj: &Value) -> String {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) if r.namespaced => format!(
            "{}/namespaces/{ns}/{}/{name}",
            r.group_version_path(),
            r.plural
        ),
        _ => format!("{}/{}/{name}", r.group_version_path(), r.plural),
    }
}

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    // Events churn and are never owners; everything else may own or be owned.
    let watched: Vec<(&'static Resource, Informer)> = RESOURCES
        .iter()
        .filter(|r| r.kind != "Event")
        .map(|r| {
            let path: &'static str =
                Box::leak(format!("{}/{}", r.group_version_path(), r.plural).into_boxed_str());
            (r, Informer::start(cfg.clone(), path, changed.clone()))
        })
        .collect();
    let mut first_dangling: HashMap<String, Instant> = HashMap::new();
    let mut conn: Option<Connection> = None;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(DANGLING_QUARANTINE) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        // A half-listed cache would make live owners look absent and their dependents garbage.
        if !watched.iter().all(|(_, i)| i.has_synced()) {
            continue;
        }
        if let Err(e) = pass(c, &watched, &mut first_dangling).await {
            tracing::warn!("garbage collector pass failed: {e:#}");
            conn = None;
        }
    }
}

async fn pass(
    c: &mut Connection,
    watched: &[(&'static Resource, Informer)],
    first_dangling: &mut HashMap<String, Instant>,
) -> anyhow::Result<()> {
    let mut objects: HashMap<String, Value> = HashMap::new();
    let mut nodes = Vec::new();
    for (r, inf) in watched {
        for obj in inf.objects() {
            let id = object_path(r, &obj);
            let owners = obj["metadata"]["ownerReferences"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|o| o["uid"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let finalizers = obj["metadata"]["finalizers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            nodes.push(Node {
                id: id.clone(),
                uid: obj["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                owners,
                deleting: obj["metadata"]["deletionTimestamp"].is_string(),
                finalizers,
            });
            objects.insert(id, obj);
        }
    }
    let p = plan(&nodes);
    first_dangling.retain(|id, _| p.dangling.contains(id));
    for id in &p.dangling {
        let since = *first_dangling
            .entry(id.clone())
            .or_insert_with(Instant::now);
        if since.elapsed() >= DANGLING_QUARANTINE {
            tracing::info!(object = %id, "deleting: every owner is gone");
            delete(c, id, "Background").await?;
            first_dangling.remove(id);
        }
    }
    for id in &p.delete_for_foreground {
        tracing::info!(object = %id, "deleting: its owner is being deleted in the foreground");
        // Foreground all the way down: the owner waits for the whole tree, as in Kubernetes.
        delete(c, id, "Foreground").await?;
    }
    for (id, keep) in &p.orphan {
        let refs: Vec<Value> = objects[id]["metadata"]["ownerReferences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|o| {
                        o["uid"]
                            .as_str()
                            .is_some_and(|u| keep.iter().any(|k| k == u))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let value = if refs.is_empty() {
            Value::Null
        } else {
            json!(refs)
        };
        patch(c, id, &json!({"metadata": {"ownerReferences": value}})).await?;
    }
    for (id, finalizer) in &p.finalize {
        let obj = &objects[id];
        let rest: Vec<Value> = obj["metadata"]["finalizers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|f| f.as_str() != Some(finalizer))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        // The resourceVersion makes this a compare-and-swap: another writer's change wins.
        let rv = obj["metadata"]["resourceVersion"].clone();
        patch(
            c,
            id,
            &json!({"metadata": {"finalizers": rest, "resourceVersion": rv}}),
        )
        .await?;
    }
    Ok(())
}

async fn delete(c: &mut Connection, path: &str, policy: &str) -> anyhow::Result<()> {
    let body = serde_json::to_vec(
        &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}),
    )?;
    let (code, resp) = c.request(Method::DELETE, path, Some(body)).await?;
    if !code.is_success()
        && code != http::StatusCode::NOT_FOUND
        && code != http::StatusCode::CONFLICT
    {
        tracing::warn!(%path, %code, "delete refused: {}", String::from_utf8_lossy(&resp));
    }
    Ok(())
}

async fn patch(c: &mut Connection, path: &str, body: &Value) -> anyhow::Result<()> {
    let resp = c
        .send(
            Method::PATCH,
            path,
            Some(serde_json::to_vec(body)?),
            "application/merge-patch+json",
        )
        .await?;
    let code = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    if !code.is_success()
        && code != http::StatusCode::NOT_FOUND
        && code != http::StatusCode::CONFLICT
    {
        tracing::warn!(%path, %code, "patch refused: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(())
}
