//! Helpers the controller loops share: the wake-up, connection and cache gate of every pass
//! ([`Driver`]), typed views of informer caches, expectations of unseen writes, and the writes
//! every controller makes (merge patch, delete, adopt and release, status, pods in batches).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::Metadata;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// What a controller loop keeps between passes: the notification its informers ring on every
/// change, and the connection its writes go through (dropped after a failed pass, made again
/// before the next one).
pub struct Driver {
    cfg: KubeConfig,
    changed: Arc<Notify>,
    conn: Option<Connection>,
}

impl Driver {
    pub fn new(cfg: KubeConfig) -> Driver {
        Driver {
            cfg,
            changed: Arc::new(Notify::new()),
            conn: None,
        }
    }

    /// Starts an informer on `path` whose changes wake this loop.
    pub fn informer(&self, path: &str) -> Informer {
        Informer::start(self.cfg.clone(), path, self.changed.clone())
    }

    /// Sleeps until an informer changes or `idle` has passed, then a little longer, to let a
    /// burst of watch events land before planning.
    pub async fn wait(&self, idle: Duration) {
        tokio::select! {
            _ = self.changed.notified() => {}
            _ = tokio::time::sleep(idle) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// The connection, made again if the last pass dropped it; `None` while the API server
    /// cannot be reached.
    pub async fn connection(&mut self) -> Option<&mut Connection> {
        if self.conn.is_none() {
            self.conn = Connection::connect(&self.cfg).await.ok();
        }
        self.conn.as_mut()
    }

    /// [`wait`](Self::wait)s, then gives the connection for a pass, or `None` (skip this turn)
    /// while there is none or one of `informers` has not listed yet.
    pub async fn next_pass(
        &mut self,
        idle: Duration,
        informers: &[&Informer],
    ) -> Option<&mut Connection> {
        self.wait(idle).await;
        let c = self.connection().await?;
        if !all_synced(informers) {
            return None;
        }
        Some(c)
    }

    /// Logs a failed pass of `what` and drops the connection, which may be what failed.
    pub fn failed(&mut self, what: &str, e: &anyhow::Error) {
        tracing::warn!("{what} pass failed: {e:#}");
        self.conn = None;
    }

    /// Asks for another pass at once.
    pub fn again(&self) {
        self.changed.notify_one();
    }
}

/// How long unseen creations and deletions hold an owner back before it is planned anyway: a
/// write whose watch event was lost must not stall its owner forever.
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(30);

/// Decodes cached objects, skipping any that do not fit the type (they cannot be acted on).
pub fn typed<T: serde::de::DeserializeOwned>(objs: Vec<Value>) -> Vec<T> {
    objs.into_iter()
        .filter_map(|o| serde_json::from_value(o).ok())
        .collect()
}

/// `namespace/name`, the key expectations and caches use.
pub fn key(ns: &Option<String>, name: &Option<String>) -> String {
    format!(
        "{}/{}",
        ns.as_deref().unwrap_or(""),
        name.as_deref().unwrap_or("")
    )
}

/// The `namespace/name` keys of the objects not marked for deletion: what expectations are
/// checked against (an object marked for deletion counts as gone, its owner asked for that).
pub fn live_keys<'a>(metas: impl IntoIterator<Item = &'a ObjectMeta>) -> HashSet<String> {
    metas
        .into_iter()
        .filter(|m| m.deletion_timestamp.is_none())
        .map(|m| key(&m.namespace, &m.name))
        .collect()
}

/// The objects of namespace `ns`.
pub fn in_namespace<T>(objs: &[T], ns: &str) -> Vec<T>
where
    T: Metadata<Ty = ObjectMeta> + Clone,
{
    objs.iter()
        .filter(|o| o.metadata().namespace.as_deref() == Some(ns))
        .cloned()
        .collect()
}

/// Objects an owner wrote and is waiting to see (by `namespace/name`).
pub struct Expectation {
    pub created: HashSet<String>,
    pub deleted: HashSet<String>,
    pub since: Instant,
}

impl Expectation {
    pub fn new() -> Expectation {
        Expectation {
            created: HashSet::new(),
            deleted: HashSet::new(),
            since: Instant::now(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.deleted.is_empty()
    }
}

impl Default for Expectation {
    fn default() -> Self {
        Expectation::new()
    }
}

/// Whether the owner's earlier writes are all visible in `seen` (or expired). `seen` holds the
/// live objects; one marked for deletion counts as gone.
pub fn satisfied(exp: Option<&Expectation>, seen: &HashSet<String>) -> bool {
    match exp {
        None => true,
        Some(e) if e.since.elapsed() > EXPECTATIONS_TTL => true,
        Some(e) => {
            e.created.iter().all(|k| seen.contains(k))
                && e.deleted.iter().all(|k| !seen.contains(k))
        }
    }
}

/// The owners to plan this pass: those whose earlier writes all show in `seen`, or have
/// expired. Their expectations are met and dropped, as are those of owners that are gone.
pub fn settled<'a, T>(
    owners: &'a [T],
    seen: &HashSet<String>,
    expectations: &mut HashMap<String, Expectation>,
) -> Vec<&'a T>
where
    T: Metadata<Ty = ObjectMeta>,
{
    let uids: HashSet<&str> = owners
        .iter()
        .filter_map(|o| o.metadata().uid.as_deref())
        .collect();
    expectations.retain(|uid, _| uids.contains(uid.as_str()));
    let mut ready = Vec::new();
    for o in owners {
        let uid = o.metadata().uid.clone().unwrap_or_default();
        if satisfied(expectations.get(&uid), seen) {
            expectations.remove(&uid);
            ready.push(o);
        }
    }
    ready
}

/// A JSON merge patch. A missing object (404) or a lost race (409) is left to the next pass,
/// which plans from fresher caches; other refusals are logged.
pub async fn merge_patch(c: &mut Connection, path: &str, patch: &Value) -> anyhow::Result<()> {
    let resp = c
        .send(
            Method::PATCH,
            path,
            Some(serde_json::to_vec(patch)?),
            "application/merge-patch+json",
        )
        .await?;
    let code = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    if !code.is_success() && code != StatusCode::NOT_FOUND && code != StatusCode::CONFLICT {
        tracing::warn!(%path, %code, "patch refused: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// Deletes one object, with `gracePeriodSeconds` when given. Returns whether it is gone or on
/// its way (a 404 counts: someone else was faster).
pub async fn delete(
    c: &mut Connection,
    path: &str,
    grace_period_seconds: Option<i64>,
) -> anyhow::Result<bool> {
    let path = match grace_period_seconds {
        Some(g) => format!("{path}?gracePeriodSeconds={g}"),
        None => path.to_owned(),
    };
    let (code, body) = c.request(Method::DELETE, &path, None).await?;
    if !code.is_success() && code != StatusCode::NOT_FOUND {
        tracing::warn!(%path, %code, "delete refused: {}", String::from_utf8_lossy(&body));
    }
    Ok(code.is_success() || code == StatusCode::NOT_FOUND)
}

/// Adopts the objects named in `adopt` (their `ownerReferences` become `owner`) and releases
/// those in `release` (their `ownerReferences` are removed), in the collection at `dir`.
pub async fn adopt_and_release(
    c: &mut Connection,
    dir: &str,
    adopt: &[String],
    release: &[String],
    owner: &OwnerReference,
) -> anyhow::Result<()> {
    let adopted = json!({"metadata": {"ownerReferences": [owner]}});
    for n in adopt {
        merge_patch(c, &format!("{dir}/{n}"), &adopted).await?;
    }
    let released = json!({"metadata": {"ownerReferences": null}});
    for n in release {
        merge_patch(c, &format!("{dir}/{n}"), &released).await?;
    }
    Ok(())
}

/// [`delete`]s the objects named in `names` from the collection at `dir` (in namespace `ns`)
/// and expects each one that is gone or on its way to leave its informer.
pub async fn delete_expected<'a>(
    c: &mut Connection,
    dir: &str,
    ns: &str,
    names: &'a [String],
    grace_period_seconds: Option<i64>,
    exp: &mut Expectation,
) -> anyhow::Result<Vec<&'a str>> {
    let mut gone = Vec::new();
    for n in names {
        if delete(c, &format!("{dir}/{n}"), grace_period_seconds).await? {
            exp.deleted.insert(format!("{ns}/{n}"));
            gone.push(n.as_str());
        }
    }
    Ok(gone)
}

/// Merge-patches the status of the object at `path` to `new` when it differs from `old`.
pub async fn patch_status(
    c: &mut Connection,
    path: &str,
    old: &impl Serialize,
    new: &impl Serialize,
) -> anyhow::Result<()> {
    let (old, new) = (serde_json::to_value(old)?, serde_json::to_value(new)?);
    if old != new {
        merge_patch(c, &format!("{path}/status"), &json!({"status": new})).await?;
    }
    Ok(())
}

/// The revision history writes that come before a DaemonSet's or StatefulSet's pods (the pods
/// carry the current revision's hash): `create` (a 409 is our own earlier write, which the cache
/// has not shown yet) and `renumber`, `(name, revision)`. Returns the refusal of the create, if
/// any: no pod may be made then.
pub async fn write_revisions(
    c: &mut Connection,
    ns: &str,
    create: Option<&ControllerRevision>,
    renumber: Option<&(String, i64)>,
) -> anyhow::Result<Option<(StatusCode, Bytes)>> {
    let dir = format!("/apis/apps/v1/namespaces/{ns}/controllerrevisions");
    let mut refused = None;
    if let Some(revision) = create {
        let (code, body) = c
            .request(Method::POST, &dir, Some(serde_json::to_vec(revision)?))
            .await?;
        if !code.is_success() && code != StatusCode::CONFLICT {
            refused = Some((code, body));
        }
    }
    if let Some((r, number)) = renumber {
        merge_patch(c, &format!("{dir}/{r}"), &json!({"revision": number})).await?;
    }
    Ok(refused)
}

/// What [`create_pods`] did: the names the server gave the pods it made, and the refusal that
/// stopped it, if one did.
pub struct Created {
    pub names: Vec<String>,
    pub refused: Option<(StatusCode, Bytes)>,
}

/// Creates `pods` in namespace `ns` in the given batch sizes (see
/// `control_controllers::slow_start_batches`), stopping at the first refused create, and
/// expects each pod made to appear in its informer.
pub async fn create_pods<'a>(
    c: &mut Connection,
    ns: &str,
    pods: impl IntoIterator<Item = &'a Pod>,
    batches: Vec<usize>,
    exp: &mut Expectation,
) -> anyhow::Result<Created> {
    let mut pods = pods.into_iter();
    let mut created = Created {
        names: Vec::new(),
        refused: None,
    };
    'batches: for batch in batches {
        for pod in pods.by_ref().take(batch) {
            let (code, resp) = c
                .request(
                    Method::POST,
                    &format!("/api/v1/namespaces/{ns}/pods"),
                    Some(serde_json::to_vec(pod)?),
                )
                .await?;
            if !code.is_success() {
                created.refused = Some((code, resp));
                break 'batches;
            }
            let made: Value = serde_json::from_slice(&resp)?;
            let name = made["metadata"]["name"].as_str().unwrap_or_default();
            exp.created.insert(format!("{ns}/{name}"));
            created.names.push(name.to_owned());
        }
    }
    Ok(created)
}

/// What a DaemonSet or StatefulSet plan says about the objects it owns besides pods.
pub struct OwnedHistory<'a> {
    pub adopt: &'a [String],
    pub release: &'a [String],
    pub adopt_revisions: &'a [String],
    pub release_revisions: &'a [String],
    pub create_revision: Option<&'a ControllerRevision>,
    pub renumber_revision: Option<&'a (String, i64)>,
}

/// The first steps both revision-keeping controllers take: adopt and release pods and
/// ControllerRevisions, then write the current revision before any pod, since the pods made
/// afterwards carry its hash. Returns whether pods may be made this pass: not when the revision
/// could not be written (other than "already there", our own write the cache has not shown).
pub async fn claim_and_write_history(
    c: &mut Connection,
    ns: &str,
    owner: &OwnerReference,
    h: OwnedHistory<'_>,
) -> anyhow::Result<bool> {
    let pods_dir = format!("/api/v1/namespaces/{ns}/pods");
    let revs_dir = format!("/apis/apps/v1/namespaces/{ns}/controllerrevisions");
    adopt_and_release(c, &pods_dir, h.adopt, h.release, owner).await?;
    adopt_and_release(c, &revs_dir, h.adopt_revisions, h.release_revisions, owner).await?;
    let refused = write_revisions(c, ns, h.create_revision, h.renumber_revision).await?;
    if let Some((code, body)) = &refused {
        tracing::warn!(%ns, kind = %owner.kind, name = %owner.name, %code,
            "creating a controller revision failed: {}", String::from_utf8_lossy(body));
    }
    Ok(refused.is_none())
}
