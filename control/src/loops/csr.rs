//! kube-controller-manager's certificate loops for kubelet client and serving certificates: the
//! approver (under leader election with the other controllers) approves what
//! `join::csr::approval` accepts, reading the requesting Node for serving requests, and the
//! signer (in the process holding the CA key) issues what is approved.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};
use crate::join::csr::{self, Approval, Signing};
use crate::pki::ClusterCa;

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

fn now() -> String {
    crate::apiserver::handlers::now_rfc3339()
}

/// Runs the approver forever.
pub async fn run_approver(cfg: KubeConfig) {
    run(cfg, None).await
}

/// Starts the signer beside the API server.
pub fn start_signer(cfg: KubeConfig, ca: ClusterCa) {
    tokio::spawn(run(cfg, Some(Arc::new(ca))));
}

/// Watches CSRs and, after every change, approves (no CA) or signs (with the CA) each one.
async fn run(cfg: KubeConfig, signer: Option<Arc<ClusterCa>>) {
    let changed = Arc::new(Notify::new());
    let csrs = Informer::start(cfg.clone(), CSRS, changed.clone());
    let mut conn: Option<Connection> = None;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            // A write that lost a race is retried from a fresher cache.
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        if !all_synced(&[&csrs]) {
            continue;
        }
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        for obj in csrs.objects() {
            let done = match &signer {
                Some(ca) => sign(c, ca, obj).await,
                None => approve(c, obj).await,
            };
            if let Err(e) = done {
                tracing::warn!("certificate loop: {e:#}");
                conn = None;
                break;
            }
        }
    }
}

async fn approve(c: &mut Connection, obj: Value) -> anyhow::Result<()> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let node = match csr::serving_node(&obj) {
        Some(node) => get_node(c, node).await?,
        None => None,
    };
    match csr::approval(&obj, node.as_ref()) {
        Approval::Leave(why) => {
            let ours = obj["spec"]["signerName"] == csr::KUBELET_CLIENT_SIGNER
                || obj["spec"]["signerName"] == csr::KUBELET_SERVING_SIGNER;
            if csr::decided(&obj).is_none() && ours {
                tracing::debug!(csr = %name, "left pending: {why}");
            }
            Ok(())
        }
        Approval::Approve { message } => {
            let mut next = obj.clone();
            push_condition(&mut next, "Approved", "AutoApproved", &message);
            put(c, &format!("{CSRS}/{name}/approval"), &next).await?;
            tracing::info!(csr = %name, requestor = %obj["spec"]["username"], "approved");
            Ok(())
        }
    }
}

async fn sign(c: &mut Connection, ca: &ClusterCa, obj: Value) -> anyhow::Result<()> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut next = obj.clone();
    match csr::signing(&obj) {
        Signing::Skip => return Ok(()),
        Signing::Fail(why) => {
            push_condition(&mut next, "Failed", "SignerValidationFailure", &why);
            tracing::info!(csr = %name, "signing refused: {why}");
        }
        Signing::Sign(req) => {
            let (not_before, not_after) = csr::validity(
                jiff::Timestamp::now().as_second(),
                obj["spec"]["expirationSeconds"].as_i64(),
                ca.not_after()?,
            );
            let cn = format!("{}{}", csr::NODE_USER_PREFIX, req.node_name);
            let pem = ca.sign_request(
                &req.der,
                &cn,
                &[csr::NODES_GROUP],
                &req.usages,
                &req.names,
                not_before,
                not_after,
            )?;
            // status.certificate is bytes, so base64 in JSON.
            next["status"]["certificate"] = json!(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                pem
            ));
            tracing::info!(csr = %name, %cn, "issued");
        }
    }
    put(c, &format!("{CSRS}/{name}/status"), &next).await
}

/// The Node a serving request names, or None when it does not exist.
async fn get_node(c: &mut Connection, name: &str) -> anyhow::Result<Option<Value>> {
    let (code, body) = c
        .request(Method::GET, &format!("/api/v1/nodes/{name}"), None)
        .await?;
    match code {
        http::StatusCode::OK => Ok(Some(serde_json::from_slice(&body)?)),
        http::StatusCode::NOT_FOUND => Ok(None),
        other => anyhow::bail!("reading node {name}: {other}"),
    }
}

fn push_condition(obj: &mut Value, kind: &str, reason: &str, message: &str) {
    let mut conditions = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let t = now();
    conditions.push(json!({"type": kind, "status": "True", "reason": reason,
        "message": message, "lastUpdateTime": t, "lastTransitionTime": t}));
    obj["status"]["conditions"] = json!(conditions);
}

/// A PUT with the object's resourceVersion as precondition: a 409 means another writer (or a
/// second signer) got there first, which the next pass sees.
async fn put(c: &mut Connection, path: &str, obj: &Value) -> anyhow::Result<()> {
    let (code, body) = c
        .request(Method::PUT, path, Some(serde_json::to_vec(obj)?))
        .await?;
    if !code.is_success()
        && code != http::StatusCode::CONFLICT
        && code != http::StatusCode::NOT_FOUND
    {
        tracing::warn!(%path, %code, "write refused: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}
