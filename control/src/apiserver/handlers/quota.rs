//! The LimitRanger and ResourceQuota admission steps of a write, over the store.
//!
//! LimitRanger: pods being created get the defaults of their namespace's LimitRanges before
//! validation, and are checked against their bounds after it (403, Kubernetes' words).
//!
//! ResourceQuota: a write that uses more of something a quota in its namespace limits must fit
//! every such quota, and is committed in one transaction with a compare-and-swap update of each
//! charged quota's status. The check never trusts `status.used`: usage is computed from the
//! namespace's objects at the revision the quotas were read at, and the transaction requires
//! each charged quota to be unchanged since that revision. Every other write charged to the same
//! quota rewrites it, so if two writes race for the last slot, one of the two transactions
//! fails its compare and is admitted again from a fresh read, where it no longer fits. Writes
//! charged to quotas of one namespace are also serialized inside this process, so that such
//! retries are rare rather than a storm; correctness does not depend on that lock, only on the
//! compare-and-swap. (A quota created while a write is being admitted is not seen by that write,
//! as in Kubernetes, whose admission reads quotas from a cache; its controller counts the write.)

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use control_apimachinery::admission::{self, limitrange, quota};
use control_apimachinery::resources::{self, Resource};
use control_store::{KeyValue, RangeRequest};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::OwnedMutexGuard;

use super::Ctx;
use crate::apiserver::objects;
use crate::apiserver::status::{qualified, ApiError, ApiResult};

/// One charged quota, to be written in the object's transaction if it is still at `mod_revision`.
pub struct QuotaWrite {
    pub key: String,
    pub mod_revision: i64,
    pub value: Bytes,
}

/// The quota writes a write must commit with. Holds the namespace's admission lock until it is
/// dropped, which the caller does once its transaction has been decided.
#[derive(Default)]
pub struct Charged {
    pub writes: Vec<QuotaWrite>,
    _serial: Option<OwnedMutexGuard<()>>,
}

/// Per-namespace admission locks, created on first use. A namespace's entry is a few bytes and
/// only namespaces that had charged writes get one.
static NAMESPACE_LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

fn forbidden(r: &Resource, name: &str, why: &str) -> ApiError {
    ApiError::Forbidden(format!("{} \"{name}\" is forbidden: {why}", qualified(r)))
}

fn core(plural: &str) -> &'static Resource {
    resources::by_plural("", "v1", plural).expect("core resource served")
}

/// The stored objects of `r` in `ns` at `revision` (0: now), in name order, and the revision
/// they were read at.
fn list_at(
    ctx: &Ctx<'_>,
    r: &Resource,
    ns: &str,
    revision: i64,
) -> ApiResult<(Vec<KeyValue>, i64)> {
    let mut req = RangeRequest::prefix(objects::prefix(r, Some(ns)));
    req.revision = revision;
    let resp = ctx.server.store.range(&req).map_err(ApiError::internal)?;
    Ok((resp.kvs, resp.revision))
}

/// The LimitRanges of the request's namespace, in name order.
pub fn limit_ranges(ctx: &Ctx<'_>) -> ApiResult<Vec<Value>> {
    let Some(ns) = ctx.namespace() else {
        return Ok(Vec::new());
    };
    let (kvs, _) = list_at(ctx, core("limitranges"), ns, 0)?;
    kvs.iter().map(objects::decode).collect()
}

/// LimitRanger's mutating half for a pod being created: fills its containers' defaults and
/// recomputes its QoS class, which Kubernetes derives after admission. Returns the LimitRanges
/// for [`check_limit_ranges`].
pub fn default_pod_resources(ctx: &Ctx<'_>, pod: &mut Value) -> ApiResult<Vec<Value>> {
    let ranges = limit_ranges(ctx)?;
    if !ranges.is_empty() {
        limitrange::apply_defaults(pod, &ranges);
        let qos = admission::pod_qos_class(&pod["spec"]);
        pod["status"]["qosClass"] = json!(qos);
    }
    Ok(ranges)
}

/// LimitRanger's validating half.
pub fn check_limit_ranges(
    ctx: &Ctx<'_>,
    ranges: &[Value],
    pod: &Value,
    name: &str,
) -> ApiResult<()> {
    limitrange::validate(pod, ranges).map_err(|why| forbidden(ctx.resource(), name, &why))
}

/// ResourceQuota admission of a create (`old` None) or update of `new`, named `name`: refuses
/// with 403 when a quota would be exceeded or its constraints are not met, else returns the
/// quota writes to commit with the object.
pub async fn charge(
    ctx: &Ctx<'_>,
    name: &str,
    new: &Value,
    old: Option<&Value>,
) -> ApiResult<Charged> {
    let r = ctx.resource();
    let Some(ns) = ctx.namespace().filter(|_| r.namespaced) else {
        return Ok(Charged::default());
    };
    if old.is_some() && !quota::charges_updates(r.group, r.plural) {
        return Ok(Charged::default());
    }
    let quotas_r = core("resourcequotas");
    // Most namespaces have no quota: find out without taking the lock.
    let mut probe = RangeRequest::prefix(objects::prefix(quotas_r, Some(ns)));
    probe.count_only = true;
    if ctx
        .server
        .store
        .range(&probe)
        .map_err(ApiError::internal)?
        .count
        == 0
    {
        return Ok(Charged::default());
    }
    let lock = NAMESPACE_LOCKS
        .lock()
        .entry(ns.to_string())
        .or_default()
        .clone();
    let serial = lock.lock_owned().await;
    let (quota_kvs, revision) = list_at(ctx, quotas_r, ns, 0)?;
    let quotas: Vec<Value> = quota_kvs
        .iter()
        .map(objects::decode)
        .collect::<ApiResult<_>>()?;
    let pertinent = quota::pertinent_quotas(&quotas, r.group, r.plural, new)
        .map_err(|why| forbidden(r, name, &why))?;
    if pertinent.is_empty() {
        return Ok(Charged::default());
    }
    // The namespace's objects of this kind at the quotas' revision: nothing charged to these
    // quotas can have been written since without changing them.
    let (object_kvs, _) = list_at(ctx, r, ns, revision)?;
    let current: Vec<Value> = object_kvs
        .iter()
        .map(objects::decode)
        .collect::<ApiResult<_>>()?;
    let now = jiff::Timestamp::now();
    let statuses = quota::charge(
        &quotas, &pertinent, r.group, r.plural, new, old, &current, now,
    )
    .map_err(|why| forbidden(r, name, &why))?;
    let mut writes = Vec::with_capacity(statuses.len());
    for (i, status) in statuses {
        let mut q = quotas[i].clone();
        q["status"] = status;
        let kv = &quota_kvs[i];
        writes.push(QuotaWrite {
            key: kv.key.clone(),
            mod_revision: kv.mod_revision,
            value: objects::encode(&q)?,
        });
    }
    Ok(Charged {
        writes,
        _serial: Some(serial),
    })
}
