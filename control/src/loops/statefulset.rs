//! The StatefulSet controller loop: applies `control_controllers::statefulset`'s plans through
//! the API.
//!
//! Pod names are fixed, so a lagging cache could make the plan create a pod that exists or
//! delete one twice; each StatefulSet therefore carries expectations (pods created or deleted
//! and not yet seen) and is not planned again until they are met or expire. Pods are created
//! one after another in the plan's order and the first failure ends the pass, which is what
//! keeps `OrderedReady` ordered even in `Parallel`'s burst.

use std::collections::HashMap;
use std::time::Duration;

use control_controllers::controller_reference;
use control_controllers::statefulset::{plan_statefulset, StatefulSetPlan};
use http::{Method, StatusCode};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::common::{
    claim_and_write_history, delete, delete_expected, in_namespace, live_keys, merge_patch,
    patch_status, settled, typed, Driver, Expectation, OwnedHistory,
};
use crate::client::{Connection, KubeConfig};

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let mut driver = Driver::new(cfg);
    let pods = driver.informer("/api/v1/pods");
    let sets = driver.informer("/apis/apps/v1/statefulsets");
    let revisions = driver.informer("/apis/apps/v1/controllerrevisions");
    let mut expectations: HashMap<String, Expectation> = HashMap::new();
    loop {
        // Availability (minReadySeconds) and expired expectations change with time alone.
        let informers = [&pods, &sets, &revisions];
        let Some(c) = driver.next_pass(Duration::from_secs(5), &informers).await else {
            continue;
        };
        let pods: Vec<Pod> = typed(pods.objects());
        let sets: Vec<StatefulSet> = typed(sets.objects());
        let revisions: Vec<ControllerRevision> = typed(revisions.objects());
        let result = pass(c, &pods, &sets, &revisions, &mut expectations).await;
        if let Err(e) = result {
            driver.failed("statefulset controller", &e);
            driver.again();
        }
    }
}

async fn pass(
    c: &mut Connection,
    pods: &[Pod],
    sets: &[StatefulSet],
    revisions: &[ControllerRevision],
    expectations: &mut HashMap<String, Expectation>,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let live_pods = live_keys(pods.iter().map(|p| &p.metadata));
    for set in settled(sets, &live_pods, expectations) {
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let name = set.metadata.name.clone().unwrap_or_default();
        let ns_pods = in_namespace(pods, &ns);
        let ns_revisions = in_namespace(revisions, &ns);
        let plan = match plan_statefulset(set, &ns_pods, &ns_revisions, now) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%ns, %name, "stateful set not planned: {e}");
                continue;
            }
        };
        let exp = apply(c, set, &ns, &name, &uid, &plan).await?;
        if !exp.is_empty() {
            expectations.insert(uid, exp);
        }
    }
    Ok(())
}

async fn apply(
    c: &mut Connection,
    set: &StatefulSet,
    ns: &str,
    name: &str,
    uid: &str,
    plan: &StatefulSetPlan,
) -> anyhow::Result<Expectation> {
    let mut exp = Expectation::new();
    let pods_dir = format!("/api/v1/namespaces/{ns}/pods");
    let revs_dir = format!("/apis/apps/v1/namespaces/{ns}/controllerrevisions");
    let oref = controller_reference("apps/v1", "StatefulSet", name, uid);
    let history = OwnedHistory {
        adopt: &plan.adopt,
        release: &plan.release,
        adopt_revisions: &plan.adopt_revisions,
        release_revisions: &plan.release_revisions,
        create_revision: plan.create_revision.as_ref(),
        renumber_revision: plan.renumber_revision.as_ref(),
    };
    let revision_written = claim_and_write_history(c, ns, &oref, history).await?;

    for (p, labels) in &plan.relabel {
        let patch = json!({"metadata": {"labels": labels}});
        merge_patch(c, &format!("{pods_dir}/{p}"), &patch).await?;
    }
    if revision_written {
        for pod in &plan.create {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let (code, resp) = c
                .request(Method::POST, &pods_dir, Some(serde_json::to_vec(pod)?))
                .await?;
            if code.is_success() || code == StatusCode::CONFLICT {
                // A conflict is the pod we made earlier, still unseen: wait for it as well.
                exp.created.insert(format!("{ns}/{pod_name}"));
                tracing::info!(%ns, statefulset = %name, pod = %pod_name, "stateful pod created");
            } else {
                tracing::warn!(%ns, statefulset = %name, pod = %pod_name, %code, "creating a stateful pod failed: {}", String::from_utf8_lossy(&resp));
                break;
            }
        }
    }
    delete_expected(c, &pods_dir, ns, &plan.delete, None, &mut exp).await?;
    for r in &plan.delete_revisions {
        delete(c, &format!("{revs_dir}/{r}"), None).await?;
    }

    let path = format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}");
    patch_status(c, &path, &set.status, &plan.status).await?;
    Ok(exp)
}
