//! The DaemonSet controller loop: applies `control_controllers::daemonset`'s plans through the
//! API. New daemon pods are pinned to their node by affinity and bound by the scheduler.
//!
//! Each DaemonSet carries expectations (pods it created or deleted and has not yet seen in
//! the pod informer): it is not planned again until they are met or expire, so a lagging
//! cache never doubles a node's pod. Nothing is planned before every informer has listed
//! once: an empty node cache would otherwise read as "every node is gone".

use std::collections::HashMap;
use std::time::Duration;

use control_controllers::daemonset::{plan_daemonset, DaemonSetPlan};
use control_controllers::{controller_reference, slow_start_batches};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};

use super::common::{
    claim_and_write_history, create_pods, delete, delete_expected, in_namespace, live_keys,
    patch_status, settled, typed, Driver, Expectation, OwnedHistory,
};
use crate::client::{Connection, KubeConfig};

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let mut driver = Driver::new(cfg);
    let pods = driver.informer("/api/v1/pods");
    let nodes = driver.informer("/api/v1/nodes");
    let daemonsets = driver.informer("/apis/apps/v1/daemonsets");
    let revisions = driver.informer("/apis/apps/v1/controllerrevisions");
    let mut expectations: HashMap<String, Expectation> = HashMap::new();
    loop {
        // Availability (minReadySeconds) and expired expectations change with time alone.
        let informers = [&pods, &nodes, &daemonsets, &revisions];
        let Some(c) = driver.next_pass(Duration::from_secs(5), &informers).await else {
            continue;
        };
        let snapshot = Snapshot {
            pods: typed(pods.objects()),
            nodes: typed(nodes.objects()),
            daemonsets: typed(daemonsets.objects()),
            revisions: typed(revisions.objects()),
        };
        let result = pass(c, &snapshot, &mut expectations).await;
        if let Err(e) = result {
            driver.failed("daemonset controller", &e);
            driver.again();
        }
    }
}

struct Snapshot {
    pods: Vec<Pod>,
    nodes: Vec<Node>,
    daemonsets: Vec<DaemonSet>,
    revisions: Vec<ControllerRevision>,
}

async fn pass(
    c: &mut Connection,
    s: &Snapshot,
    expectations: &mut HashMap<String, Expectation>,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let live_pods = live_keys(s.pods.iter().map(|p| &p.metadata));
    for ds in settled(&s.daemonsets, &live_pods, expectations) {
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let name = ds.metadata.name.clone().unwrap_or_default();
        let pods = in_namespace(&s.pods, &ns);
        let revisions = in_namespace(&s.revisions, &ns);
        let plan = match plan_daemonset(ds, &s.nodes, &pods, &revisions, now) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%ns, %name, "daemon set not planned: {e}");
                continue;
            }
        };
        let exp = apply(c, ds, &ns, &name, &uid, &plan).await?;
        if !exp.is_empty() {
            expectations.insert(uid, exp);
        }
    }
    Ok(())
}

async fn apply(
    c: &mut Connection,
    ds: &DaemonSet,
    ns: &str,
    name: &str,
    uid: &str,
    plan: &DaemonSetPlan,
) -> anyhow::Result<Expectation> {
    let mut exp = Expectation::new();
    let pods_dir = format!("/api/v1/namespaces/{ns}/pods");
    let revs_dir = format!("/apis/apps/v1/namespaces/{ns}/controllerrevisions");
    let oref = controller_reference("apps/v1", "DaemonSet", name, uid);
    let history = OwnedHistory {
        adopt: &plan.adopt,
        release: &plan.release,
        adopt_revisions: &plan.adopt_revisions,
        release_revisions: &plan.release_revisions,
        create_revision: plan.create_revision.as_ref(),
        renumber_revision: plan.renumber_revision.as_ref(),
    };
    let revision_written = claim_and_write_history(c, ns, &oref, history).await?;

    if revision_written && !plan.create.is_empty() {
        let batches = slow_start_batches(plan.create.len(), 1);
        let created = create_pods(c, ns, &plan.create, batches, &mut exp).await?;
        if let Some((code, resp)) = &created.refused {
            tracing::warn!(%ns, daemonset = %name, %code, "creating a daemon pod failed: {}", String::from_utf8_lossy(resp));
        }
        tracing::info!(%ns, daemonset = %name, created = exp.created.len(), "daemon pods created");
    }
    delete_expected(c, &pods_dir, ns, &plan.delete, None, &mut exp).await?;
    // No kubelet is left to confirm the end of a pod whose node is gone.
    delete_expected(c, &pods_dir, ns, &plan.force_delete, Some(0), &mut exp).await?;
    for r in &plan.delete_revisions {
        delete(c, &format!("{revs_dir}/{r}"), None).await?;
    }

    if let Some(status) = &plan.status {
        let path = format!("/apis/apps/v1/namespaces/{ns}/daemonsets/{name}");
        patch_status(c, &path, &ds.status, status).await?;
    }
    Ok(exp)
}
