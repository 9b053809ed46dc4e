//! delete and deletecollection: graceful deletion for pods, finalizers, the propagation policy
//! recorded as the garbage collector's finalizers, and namespaces that empty before they go.
//!
//! What a delete does to an object is decided by the pure [`plan`]; the handler only commits it.

use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::read::{range_filtered, Filter};
use super::write::{commit, ClaimDelta, Committed};
use super::Ctx;
use crate::apiserver::body::{self, Body};
use crate::apiserver::objects::{self, Meta};
use crate::apiserver::status::{ApiError, ApiResult};

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// The parts of `DeleteOptions` this server acts on.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn parse(ctx: &Ctx<'_>, raw: &[u8]) -> ApiResult<DeleteOptions> {
        let mut o = DeleteOptions::default();
        if !raw.iter().all(u8::is_ascii_whitespace) {
            let v = body::parse_json(raw)?;
            o.grace_period_seconds = v["gracePeriodSeconds"].as_i64();
            o.propagation_policy = v["propagationPolicy"].as_str().map(str::to_string);
            if v["orphanDependents"].as_bool() == Some(true) && o.propagation_policy.is_none() {
                o.propagation_policy = Some("Orphan".into());
            }
            o.precondition_uid = v["preconditions"]["uid"].as_str().map(str::to_string);
            o.precondition_resource_version = v["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            o.dry_run = v["dryRun"]
                .as_array()
                .map(|a| a.iter().any(|x| x == "All"))
                .unwrap_or(false);
        }
        if let Some(g) = ctx.query.int("gracePeriodSeconds")? {
            o.grace_period_seconds = Some(g);
        }
        if let Some(p) = ctx.query.get("propagationPolicy") {
            o.propagation_policy = Some(p.to_string());
        }
        if ctx.query.flag("orphanDependents") && o.propagation_policy.is_none() {
            o.propagation_policy = Some("Orphan".into());
        }
        o.dry_run |= ctx.dry_run();
        match o.propagation_policy.as_deref() {
            None | Some("Orphan") | Some("Background") | Some("Foreground") => {}
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "DeletionPropagation \"{other}\" is not supported: must be one of Orphan, Background, Foreground"
                )))
            }
        }
        if o.grace_period_seconds.is_some_and(|g| g < 0) {
            return Err(ApiError::BadRequest(
                "gracePeriodSeconds must be non-negative".into(),
            ));
        }
        Ok(o)
    }
}

/// What a delete does to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Remove it from the store now.
    Remove,
    /// Keep it, marked for deletion (finalizers or a grace period still to run).
    Mark(Value),
    /// It is already marked and this delete changes nothing.
    AlreadyPending,
}

/// Decides what deleting `obj` does, given the options and the current time.
pub fn plan(kind: &str, obj: &Value, opts: &DeleteOptions, now: jiff::Timestamp) -> Plan {
    let mut next = obj.clone();
    let mut finalizers: Vec<String> = obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // The propagation policy is recorded as a finalizer the garbage collector acts on.
    match opts.propagation_policy.as_deref() {
        Some("Orphan") => {
            finalizers.retain(|f| f != FOREGROUND);
            if !finalizers.iter().any(|f| f == ORPHAN) {
                finalizers.push(ORPHAN.into());
            }
        }
        Some("Foreground") => {
            finalizers.retain(|f| f != ORPHAN);
            if !finalizers.iter().any(|f| f == FOREGROUND) {
                finalizers.push(FOREGROUND.into());
            }
        }
        Some("Background") => finalizers.retain(|f| f != ORPHAN && f != FOREGROUND),
        _ => {}
    }
    let already = obj.meta_str("deletionTimestamp").is_some();
    let finalizers_changed = Some(&finalizers)
        != obj["metadata"]["finalizers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .as_ref()
        && !(finalizers.is_empty() && obj["metadata"]["finalizers"].is_null());
    let stamp = |secs: i64| {
        let t = now + jiff::SignedDuration::from_secs(secs);
        t.round(jiff::Unit::Second)
            .unwrap_or(t)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let set_finalizers = |next: &mut Value, f: &Vec<String>| {
        if f.is_empty() {
            next.meta_mut().remove("finalizers");
        } else {
            next.meta_mut().insert("finalizers".into(), json!(f));
        }
    };

    if kind == "Namespace" {
        if already && !finalizers_changed {
            return Plan::AlreadyPending;
        }
        set_finalizers(&mut next, &finalizers);
        if !already {
            next.meta_mut()
                .insert("deletionTimestamp".into(), json!(stamp(0)));
            next.meta_mut()
                .insert("deletionGracePeriodSeconds".into(), json!(0));
        }
        next["status"]["phase"] = json!("Terminating");
        return Plan::Mark(next);
    }

    let grace = if kind == "Pod" {
        let bound = obj["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        let finished = matches!(
            obj["status"]["phase"].as_str(),
            Some("Succeeded") | Some("Failed")
        );
        if !bound || finished {
            0
        } else {
            opts.grace_period_seconds
                .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30)
        }
    } else {
        0
    };

    if finalizers.is_empty() && grace == 0 {
        return Plan::Remove;
    }
    if already {
        let current_grace = obj["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0);
        // A later delete may only shorten a running grace period, never extend it.
        if grace < current_grace {
            next.meta_mut()
                .insert("deletionTimestamp".into(), json!(stamp(grace)));
            next.meta_mut()
                .insert("deletionGracePeriodSeconds".into(), json!(grace));
            set_finalizers(&mut next, &finalizers);
            if finalizers.is_empty() && grace == 0 {
                return Plan::Remove;
            }
            return Plan::Mark(next);
        }
        if finalizers_changed {
            set_finalizers(&mut next, &finalizers);
            return Plan::Mark(next);
        }
        return Plan::AlreadyPending;
    }
    set_finalizers(&mut next, &finalizers);
    next.meta_mut()
        .insert("deletionTimestamp".into(), json!(stamp(grace)));
    next.meta_mut()
        .insert("deletionGracePeriodSeconds".into(), json!(grace));
    Plan::Mark(next)
}

pub async fn delete(ctx: Ctx<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let opts = DeleteOptions::parse(&ctx, raw)?;
    let obj = delete_one(&ctx, name, &opts).await?;
    Ok(body::json_response(StatusCode::OK, &obj))
}

/// Deletes one object as `opts` say; returns it as it is after the delete (marked or gone).
pub async fn delete_one(ctx: &Ctx<'_>, name: &str, opts: &DeleteOptions) -> ApiResult<Value> {
    let r = ctx.resource();
    for _ in 0..8 {
        let kv = ctx.get_kv(name)?;
        let obj = objects::decode(&kv)?;
        if let Some(uid) = &opts.precondition_uid {
            let have = obj.meta_str("uid").unwrap_or("");
            if uid != have {
                return Err(ApiError::conflict(
                    r,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                ));
            }
        }
        if let Some(rv) = &opts.precondition_resource_version {
            if *rv != kv.mod_revision.to_string() {
                return Err(ApiError::conflict(
                    r,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        kv.mod_revision
                    ),
                ));
            }
        }
        let key = ctx.key(name);
        let decision = plan(r.kind, &obj, opts, jiff::Timestamp::now());
        if opts.dry_run {
            return Ok(match decision {
                Plan::Mark(n) => n,
                _ => obj,
            });
        }
        let outcome = match &decision {
            Plan::AlreadyPending => return Ok(obj),
            Plan::Remove => {
                let claims = ClaimDelta::between(r, Some(&obj), None, &key);
                commit(ctx, &key, kv.mod_revision, None, &claims).await?
            }
            Plan::Mark(next) => {
                commit(
                    ctx,
                    &key,
                    kv.mod_revision,
                    Some(next),
                    &ClaimDelta::default(),
                )
                .await?
            }
        };
        match outcome {
            Committed::Done(kv) => {
                if r.kind == "Namespace" {
                    ctx.server.namespace_wakeup.notify_one();
                }
                return objects::decode(&kv);
            }
            Committed::Deleted => return Ok(obj),
            Committed::ObjectChanged | Committed::ClaimTaken => continue,
        }
    }
    Err(ApiError::conflict(
        r,
        name,
        "the object is being modified too often; please try again",
    ))
}

pub async fn delete_collection(ctx: Ctx<'_>, raw: &[u8]) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let opts = DeleteOptions::parse(&ctx, raw)?;
    let filter = Filter::from_query(&ctx)?;
    let prefix = objects::prefix(r, ctx.namespace());
    let page = range_filtered(&ctx, &prefix, prefix.clone(), 0, 0, &filter)?;
    let (items, rev) = (page.items, page.revision);
    let mut deleted = Vec::new();
    for (kv, _) in items {
        let obj = objects::decode(&kv)?;
        let name = obj.name().unwrap_or_default().to_string();
        // An all-namespaces deletecollection acts on each object in its own namespace.
        let ns = obj.meta_str("namespace").map(str::to_string);
        let rr = crate::apiserver::request::ResourceRequest {
            resource: r,
            namespace: ns,
            name: Some(name.clone()),
            subresource: None,
        };
        let one = Ctx { rr: &rr, ..ctx };
        match delete_one(&one, &name, &opts).await {
            Ok(o) => deleted.push(o),
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(body::json_response(
        StatusCode::OK,
        &json!({"kind": r.list_kind(), "apiVersion": r.api_version(),
                "metadata": {"resourceVersion": rev.to_string()}, "items": deleted}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn unbound_pods_and_plain_objects_go_at_once() {
        let o = DeleteOptions::default();
        assert_eq!(
            plan("Pod", &json!({"metadata": {}, "spec": {}}), &o, now()),
            Plan::Remove
        );
        assert_eq!(
            plan("ConfigMap", &json!({"metadata": {}}), &o, now()),
            Plan::Remove
        );
    }

    #[test]
    fn bound_pods_get_their_grace_period() {
        let pod = json!({"metadata": {}, "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 45}, "status": {"phase": "Running"}});
        let Plan::Mark(m) = plan("Pod", &pod, &DeleteOptions::default(), now()) else {
            panic!("expected a graceful mark");
        };
        assert_eq!(m["metadata"]["deletionGracePeriodSeconds"], 45);
        assert_eq!(m["metadata"]["deletionTimestamp"], "2026-01-01T00:00:45Z");
        // Deleting again with a longer grace changes nothing; with zero it removes.
        let longer = DeleteOptions {
            grace_period_seconds: Some(100),
            ..Default::default()
        };
        assert_eq!(plan("Pod", &m, &longer, now()), Plan::AlreadyPending);
        let force = DeleteOptions {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        assert_eq!(plan("Pod", &m, &force, now()), Plan::Remove);
    }

    #[test]
    fn finalizers_keep_an_object_until_they_are_removed() {
        let obj = json!({"metadata": {"finalizers": ["example.com/x"]}});
        let Plan::Mark(m) = plan("ConfigMap", &obj, &DeleteOptions::default(), now()) else {
            panic!("expected a mark");
        };
        assert!(m["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(
            plan("ConfigMap", &m, &DeleteOptions::default(), now()),
            Plan::AlreadyPending
        );
    }

    #[test]
    fn propagation_policy_is_recorded_as_a_finalizer() {
        let obj = json!({"metadata": {}});
        let fg = DeleteOptions {
            propagation_policy: Some("Foreground".into()),
            ..Default::default()
        };
        let Plan::Mark(m) = plan("Deployment", &obj, &fg, now()) else {
            panic!()
        };
        assert_eq!(m["metadata"]["finalizers"], json!(["foregroundDeletion"]));
        let orphan = DeleteOptions {
            propagation_policy: Some("Orphan".into()),
            ..Default::default()
        };
        let Plan::Mark(m) = plan("ReplicaSet", &obj, &orphan, now()) else {
            panic!()
        };
        assert_eq!(m["metadata"]["finalizers"], json!(["orphan"]));
    }

    #[test]
    fn namespaces_are_marked_terminating() {
        let ns = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        let Plan::Mark(m) = plan("Namespace", &ns, &DeleteOptions::default(), now()) else {
            panic!()
        };
        assert_eq!(m["status"]["phase"], "Terminating");
        assert_eq!(
            plan("Namespace", &m, &DeleteOptions::default(), now()),
            Plan::AlreadyPending
        );
    }
}
