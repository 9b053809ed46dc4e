//! `kube-public/cluster-info`: the one object anonymous clients may read. The API server keeps
//! its `kubeconfig` key (server URL and CA, no credentials) current on every start, since only
//! it knows where it listens; the bootstrap signer loop adds the per-token signatures.

use anyhow::Result;
use control_apimachinery::resources;
use control_store::{Compare, Op, Txn};
use serde_json::json;

use super::handlers::now_rfc3339;
use super::objects::{self, Meta};
use super::ApiServer;
use crate::join;

/// Creates cluster-info, or rewrites its `kubeconfig` when the server URL or CA changed
/// (keeping the signatures, which the bootstrap signer then renews). Compare-and-swap guarded.
pub async fn publish(server: &ApiServer, server_url: &str) -> Result<()> {
    let cms = resources::by_plural("", "v1", "configmaps").expect("configmaps served");
    let key = objects::key(
        cms,
        Some(join::CLUSTER_INFO_NAMESPACE),
        join::CLUSTER_INFO_NAME,
    );
    let kubeconfig = join::cluster_info_kubeconfig(server_url, &server.ca.cert_pem);
    for _ in 0..8 {
        let current = server.store.get(&key);
        let (obj, rev) = match &current {
            Some(kv) => {
                let mut obj = objects::decode(kv).map_err(|e| anyhow::anyhow!("{e}"))?;
                if obj["data"][join::KUBECONFIG_KEY] == kubeconfig.as_str() {
                    return Ok(());
                }
                obj["data"][join::KUBECONFIG_KEY] = json!(kubeconfig);
                obj.meta_mut().remove("resourceVersion");
                (obj, kv.mod_revision)
            }
            None => (
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": join::CLUSTER_INFO_NAME,
                                 "namespace": join::CLUSTER_INFO_NAMESPACE,
                                 "uid": uuid::Uuid::new_v4().to_string(),
                                 "creationTimestamp": now_rfc3339()},
                    "data": {join::KUBECONFIG_KEY: kubeconfig},
                }),
                0,
            ),
        };
        let resp = server
            .store
            .txn(Txn {
                compares: vec![Compare::ModRevision {
                    key: key.clone(),
                    equals: rev,
                }],
                success: vec![Op::Put {
                    key: key.clone(),
                    value: objects::encode(&obj).map_err(|e| anyhow::anyhow!("{e}"))?,
                }],
                failure: vec![],
            })
            .await?;
        if resp.succeeded {
            return Ok(());
        }
    }
    anyhow::bail!("cluster-info kept changing while it was being published")
}
