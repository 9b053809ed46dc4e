//! Per-namespace defaults, as kube-controller-manager's ServiceAccount and root-CA publisher
//! controllers keep them: a `default` ServiceAccount and a `kube-root-ca.crt` ConfigMap holding
//! the cluster CA in every active namespace, recreated if deleted.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// The ConfigMap name pods read the cluster CA from.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let namespaces = Informer::start(cfg.clone(), "/api/v1/namespaces", changed.clone());
    let accounts = Informer::start(cfg.clone(), "/api/v1/serviceaccounts", changed.clone());
    let configmaps = Informer::start(cfg.clone(), "/api/v1/configmaps", changed.clone());
    let mut conn: Option<Connection> = None;
    loop {
        changed.notified().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        if !all_synced(&[&namespaces, &accounts, &configmaps]) {
            continue;
        }
        if let Err(e) = pass(c, &cfg.ca_pem, &namespaces, &accounts, &configmaps).await {
            tracing::warn!("namespace defaults pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

fn has(objs: &[Value], ns: &str, name: &str) -> bool {
    objs.iter()
        .any(|o| o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
}

async fn pass(
    c: &mut Connection,
    ca_pem: &str,
    namespaces: &Informer,
    accounts: &Informer,
    configmaps: &Informer,
) -> anyhow::Result<()> {
    let accounts = accounts.objects();
    let configmaps = configmaps.objects();
    for ns in namespaces.objects() {
        if ns["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let name = ns["metadata"]["name"].as_str().unwrap_or_default();
        if !has(&accounts, name, "default") {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
            create(
                c,
                &format!("/api/v1/namespaces/{name}/serviceaccounts"),
                &sa,
            )
            .await?;
        }
        if !has(&configmaps, name, ROOT_CA_CONFIGMAP) {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA_CONFIGMAP, "annotations": {"kubernetes.io/description":
                    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": ca_pem}});
            create(c, &format!("/api/v1/namespaces/{name}/configmaps"), &cm).await?;
        }
    }
    Ok(())
}

async fn create(c: &mut Connection, path: &str, obj: &Value) -> anyhow::Result<()> {
    let (code, body) = c
        .request(Method::POST, path, Some(serde_json::to_vec(obj)?))
        .await?;
    // AlreadyExists means the informer lagged; Forbidden/NotFound means the namespace is going.
    if !code.is_success()
        && !matches!(
            code,
            StatusCode::CONFLICT | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        )
    {
        tracing::warn!(%path, %code, "create refused: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}
