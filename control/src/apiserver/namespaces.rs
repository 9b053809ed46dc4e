//! Namespace lifecycle: the four namespaces that exist from the start (and the `kubernetes`
//! Service), and the controller that empties a terminating namespace and then removes it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use control_apimachinery::resources::{self, RESOURCES};
use control_store::{Compare, Op, RangeRequest, Txn};
use serde_json::{json, Value};

use super::allocator;
use super::handlers::delete::{delete_one, DeleteOptions};
use super::handlers::{now_rfc3339, Ctx};
use super::objects::{self, Meta};
use super::request::{Query, ResourceRequest};
use super::ApiServer;

pub const INITIAL: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates what a fresh cluster starts with, skipping whatever already exists.
pub async fn bootstrap(server: &ApiServer) -> Result<()> {
    let ns_res = resources::by_plural("", "v1", "namespaces").expect("namespaces served");
    for name in INITIAL {
        let obj = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": uuid::Uuid::new_v4().to_string(),
                         "creationTimestamp": now_rfc3339(),
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        create_if_absent(server, &objects::key(ns_res, None, name), &obj, &[]).await?;
    }
    // The `kubernetes` Service names the API server inside the cluster, on the first service IP.
    let svc_res = resources::by_plural("", "v1", "services").expect("services served");
    let ip = server.network.kubernetes_service_ip().to_string();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now_rfc3339(),
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                 "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": server.config.listen.port()}]},
        "status": {"loadBalancer": {}},
    });
    let key = objects::key(svc_res, Some("default"), "kubernetes");
    create_if_absent(server, &key, &svc, &[allocator::ip_claim(&ip)]).await?;
    Ok(())
}

/// Creates the Secret of each given bootstrap token when none with its id exists. An existing
/// one is left as it is; one an admin deleted comes back at the next start for as long as the
/// machine config still names it.
pub async fn seed_bootstrap_tokens(
    server: &ApiServer,
    tokens: &[crate::join::token::Token],
) -> Result<()> {
    let secrets = resources::by_plural("", "v1", "secrets").expect("secrets served");
    for t in tokens {
        let mut obj = crate::join::token::BootstrapToken::for_joining(
            t.clone(),
            None,
            Some("from the machine config".into()),
        )
        .to_secret();
        let name = t.secret_name();
        obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        obj["metadata"]["creationTimestamp"] = json!(now_rfc3339());
        let key = objects::key(secrets, Some(crate::join::token::NAMESPACE), &name);
        create_if_absent(server, &key, &obj, &[]).await?;
    }
    Ok(())
}

async fn create_if_absent(
    server: &ApiServer,
    key: &str,
    obj: &Value,
    claims: &[String],
) -> Result<()> {
    let mut compares = vec![Compare::ModRevision {
        key: key.to_string(),
        equals: 0,
    }];
    let mut success = vec![Op::Put {
        key: key.to_string(),
        value: objects::encode(obj).map_err(|e| anyhow::anyhow!("{e}"))?,
    }];
    for c in claims {
        compares.push(Compare::ModRevision {
            key: c.clone(),
            equals: 0,
        });
        success.push(Op::Put {
            key: c.clone(),
            value: Bytes::from(key.to_string()),
        });
    }
    server
        .store
        .txn(Txn {
            compares,
            success,
            failure: vec![],
        })
        .await?;
    Ok(())
}

/// Runs forever: finalizes namespaces marked for deletion.
pub async fn run_controller(server: Arc<ApiServer>) {
    loop {
        if let Err(e) = sweep(&server).await {
            tracing::warn!("namespace controller: {e}");
        }
        tokio::select! {
            _ = server.namespace_wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn sweep(server: &Arc<ApiServer>) -> Result<()> {
    let ns_res = resources::by_plural("", "v1", "namespaces").expect("namespaces served");
    let list = server
        .store
        .range(&RangeRequest::prefix(ns_res.key_prefix()))?;
    for kv in list.kvs {
        let ns = objects::decode(&kv).map_err(|e| anyhow::anyhow!("{e}"))?;
        if ns.meta_str("deletionTimestamp").is_none() {
            continue;
        }
        let name = ns.name().unwrap_or_default().to_string();
        let remaining = empty_namespace(server, &name).await?;
        if remaining > 0 {
            continue;
        }
        // Empty: drop the "kubernetes" finalizer; without other finalizers the namespace goes.
        let mut next = ns.clone();
        next["spec"]["finalizers"] = json!([]);
        let meta_finalizers = next["metadata"]["finalizers"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0);
        let op = if meta_finalizers == 0 {
            Op::Delete {
                key: kv.key.clone(),
            }
        } else {
            Op::Put {
                key: kv.key.clone(),
                value: objects::encode(&next).map_err(|e| anyhow::anyhow!("{e}"))?,
            }
        };
        server
            .store
            .txn(Txn {
                compares: vec![Compare::ModRevision {
                    key: kv.key.clone(),
                    equals: kv.mod_revision,
                }],
                success: vec![op],
                failure: vec![],
            })
            .await?;
        tracing::info!(namespace = %name, "namespace finalized");
    }
    Ok(())
}

/// Deletes everything in a namespace through the normal delete path (so grace periods and
/// finalizers are honoured); returns how many objects are still there.
async fn empty_namespace(server: &Arc<ApiServer>, ns: &str) -> Result<usize> {
    let mut remaining = 0;
    let query = Query::default();
    for r in RESOURCES.iter().filter(|r| r.namespaced) {
        let prefix = objects::prefix(r, Some(ns));
        let list = server.store.range(&RangeRequest::prefix(prefix))?;
        for kv in list.kvs {
            let obj = objects::decode(&kv).map_err(|e| anyhow::anyhow!("{e}"))?;
            let name = obj.name().unwrap_or_default().to_string();
            let rr = ResourceRequest {
                resource: r,
                namespace: Some(ns.to_string()),
                name: Some(name.clone()),
                subresource: None,
            };
            let ctx = Ctx {
                server,
                rr: &rr,
                query: &query,
                accept: "",
                requestor: None,
            };
            match delete_one(&ctx, &name, &DeleteOptions::default()).await {
                Ok(_) => {}
                Err(super::status::ApiError::NotFound { .. }) => {}
                Err(e) => tracing::warn!(namespace = ns, %name, "deleting: {e}"),
            }
            if server.store.get(&kv.key).is_some() {
                remaining += 1;
            }
        }
    }
    Ok(remaining)
}
