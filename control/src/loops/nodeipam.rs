//! Node IPAM: gives every Node a `spec.podCIDR` (and `podCIDRs`) from the cluster CIDR, one
//! block per node, as kube-controller-manager's range allocator does. The routing service of
//! each node builds its pod network from it.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// The cluster CIDR cut into equal per-node blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodCidrs {
    base: u32,
    prefix: u8,
    node_prefix: u8,
}

impl PodCidrs {
    /// `cidr` like `10.244.0.0/16`, `node_prefix` like 24.
    pub fn new(cidr: &str, node_prefix: u8) -> Result<PodCidrs, String> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("cluster CIDR {cidr:?} is not of the form A.B.C.D/N"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("cluster CIDR {cidr:?}: bad address"))?;
        let prefix: u8 = len
            .parse()
            .map_err(|_| format!("cluster CIDR {cidr:?}: bad prefix length"))?;
        if prefix > 30 || node_prefix < prefix || node_prefix > 30 {
            return Err(format!(
                "node CIDR mask /{node_prefix} must be between the cluster CIDR's /{prefix} and /30"
            ));
        }
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Ok(PodCidrs {
            base: u32::from(addr) & mask,
            prefix,
            node_prefix,
        })
    }

    fn blocks(&self) -> u32 {
        1u32 << (self.node_prefix - self.prefix)
    }

    fn block(&self, i: u32) -> String {
        let start = self.base + (i << (32 - self.node_prefix));
        format!("{}/{}", Ipv4Addr::from(start), self.node_prefix)
    }

    /// The first block no node holds, in address order.
    pub fn next_free(&self, used: &HashSet<String>) -> Option<String> {
        (0..self.blocks())
            .map(|i| self.block(i))
            .find(|b| !used.contains(b))
    }
}

/// Runs forever.
pub async fn run(cfg: KubeConfig, cidrs: PodCidrs) {
    let changed = Arc::new(Notify::new());
    let nodes = Informer::start(cfg.clone(), "/api/v1/nodes", changed.clone());
    let mut conn: Option<Connection> = None;
    loop {
        changed.notified().await;
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            changed.notify_one();
            continue;
        };
        if !all_synced(&[&nodes]) {
            continue;
        }
        if let Err(e) = pass(c, &nodes, &cidrs).await {
            tracing::warn!("node IPAM pass failed: {e:#}");
            conn = None;
            tokio::time::sleep(Duration::from_millis(500)).await;
            changed.notify_one();
        }
    }
}

async fn pass(c: &mut Connection, nodes: &Informer, cidrs: &PodCidrs) -> anyhow::Result<()> {
    let all = nodes.objects();
    let mut used: HashSet<String> = all
        .iter()
        .filter_map(|n| n["spec"]["podCIDR"].as_str().map(str::to_string))
        .collect();
    for node in all
        .iter()
        .filter(|n| n["spec"]["podCIDR"].as_str().unwrap_or("").is_empty())
    {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let Some(block) = cidrs.next_free(&used) else {
            tracing::warn!(node = %name, "no pod CIDR left in the cluster CIDR");
            return Ok(());
        };
        let patch: Value = json!({"spec": {"podCIDR": block, "podCIDRs": [block]}});
        let resp = c
            .send(
                Method::PATCH,
                &format!("/api/v1/nodes/{name}"),
                Some(serde_json::to_vec(&patch)?),
                "application/merge-patch+json",
            )
            .await?;
        let ok = resp.status().is_success();
        http_body_util::BodyExt::collect(resp.into_body()).await?;
        if ok {
            tracing::info!(node = %name, pod_cidr = %block, "pod CIDR allocated");
            used.insert(block);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_handed_out_in_order_and_never_twice() {
        let c = PodCidrs::new("10.244.0.0/16", 24).unwrap();
        let mut used = HashSet::new();
        assert_eq!(c.next_free(&used).as_deref(), Some("10.244.0.0/24"));
        used.insert("10.244.0.0/24".to_string());
        used.insert("10.244.2.0/24".to_string());
        assert_eq!(c.next_free(&used).as_deref(), Some("10.244.1.0/24"));
        let small = PodCidrs::new("10.0.0.0/23", 24).unwrap();
        let full: HashSet<String> = ["10.0.0.0/24", "10.0.1.0/24"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(small.next_free(&full), None);
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert!(PodCidrs::new("10.244.0.0", 24).is_err());
        assert!(PodCidrs::new("10.244.0.0/16", 8).is_err());
        assert!(PodCidrs::new("10.244.0.0/16", 31).is_err());
    }
}
