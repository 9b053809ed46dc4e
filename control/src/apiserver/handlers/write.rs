//! create, update and patch: decode strictly, default, validate, allocate, then commit with a
//! compare-and-swap on the object's mod revision so that nothing is half-written or lost.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use bytes::Bytes;
use control_apimachinery::admission;
use control_apimachinery::patch::{self, PatchType};
use control_apimachinery::resources::Resource;
use control_store::{Compare, KeyValue, Op, OpResult, RangeRequest, Txn};
use http::{HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::{ensure_namespace_accepts, now_rfc3339, quota, set_type_meta, Ctx};
use crate::apiserver::allocator::{self, IP_CLAIM_PREFIX, PORT_CLAIM_PREFIX};
use crate::apiserver::body::{self, Body};
use crate::apiserver::objects::{self, Meta};
use crate::apiserver::status::{ApiError, ApiResult, Cause};

/// Kinds whose spec changes bump `metadata.generation`, as their controllers observe it.
const GENERATION_KINDS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

/// How often a write that lost a race (to another writer or for an allocation) is retried.
const MAX_ATTEMPTS: usize = 8;

/// What a request body decodes to, plus warnings for unknown fields when not strict.
pub struct Input {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// Decodes a request body as the resource's kind, honouring `fieldValidation` (Strict, Warn,
/// Ignore): JSON as sent by most clients, or Kubernetes protobuf as kubectl's typed clients send.
pub fn decode_input(ctx: &Ctx<'_>, content_type: &str, raw: &[u8]) -> ApiResult<Input> {
    let r = ctx.resource();
    let mode = admission::FieldValidation::parse(ctx.query.get("fieldValidation"))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let decoded = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        let value = control_apimachinery::protobuf::decode_object(raw)
            .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
        admission::decode(r, &value)
    } else {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest("the request body is empty".into()));
        }
        admission::decode_bytes(r, raw)
    }
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (object, warnings) = decoded
        .apply(r, mode)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Input { object, warnings })
}

fn invalid_from(r: &Resource, name: &str, errs: Vec<admission::FieldError>) -> ApiError {
    let causes = errs
        .into_iter()
        .map(|e| Cause {
            reason: e.kind.reason().to_string(),
            field: e.field.clone(),
            message: e.body(),
        })
        .collect();
    ApiError::invalid(r, name, causes)
}

fn invalid_one(r: &Resource, name: &str, reason: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        r,
        name,
        vec![Cause {
            reason: reason.into(),
            field: field.into(),
            message,
        }],
    )
}

fn respond(code: StatusCode, kv_bytes: Vec<u8>, warnings: &[String]) -> Response<Body> {
    let mut resp = body::raw_json_response(code, kv_bytes);
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "'"));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

fn respond_value(code: StatusCode, obj: &Value, warnings: &[String]) -> Response<Body> {
    respond(code, serde_json::to_vec(obj).unwrap_or_default(), warnings)
}

pub async fn create(ctx: Ctx<'_>, content_type: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let Input {
        object: mut obj,
        warnings,
    } = decode_input(&ctx, content_type, raw)?;
    set_type_meta(&mut obj, r);
    // Scope: the path decides the namespace; a different one in the body is an error.
    if r.namespaced {
        let ns = ctx.namespace().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the namespace of the provided object does not match the namespace sent on the request: {} must be created in a namespace",
                r.plural
            ))
        })?;
        match obj.meta_str("namespace") {
            Some(b) if b != ns => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ))
            }
            _ => {
                obj.meta_mut().insert("namespace".into(), json!(ns));
            }
        }
    } else {
        obj.meta_mut().remove("namespace");
    }
    let generate = obj
        .meta_str("generateName")
        .filter(|_| obj.name().unwrap_or("").is_empty())
        .map(str::to_string);
    if obj.name().unwrap_or("").is_empty() && generate.is_none() {
        return Err(invalid_one(
            r,
            "",
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required".into(),
        ));
    }
    let display_name = obj
        .name()
        .map(str::to_string)
        .or_else(|| generate.clone())
        .unwrap_or_default();
    if r.kind != "Namespace" {
        ensure_namespace_accepts(&ctx, &display_name)?;
    }
    prepare_new(&ctx, &mut obj);
    if r.kind == "CertificateSigningRequest" && r.group == "certificates.k8s.io" {
        set_csr_requestor(&mut obj, ctx.requestor);
    }
    // LimitRanger's defaults are a mutating admission step: before names and validation.
    let limit_ranges = if r.group.is_empty() && r.kind == "Pod" {
        quota::default_pod_resources(&ctx, &mut obj)?
    } else {
        Vec::new()
    };
    if r.group.is_empty() && r.kind == "Pod" {
        mount_service_account_token(&ctx, &mut obj);
    }
    for attempt in 0..MAX_ATTEMPTS {
        if let Some(prefix) = &generate {
            let name = admission::generate_name(prefix, &random_suffix());
            obj.meta_mut().insert("name".into(), json!(name));
        }
        let name = obj.name().unwrap_or_default().to_string();
        crate::apiserver::authz::node_restriction_on_create(
            ctx.requestor,
            r.group,
            r.plural,
            &name,
        )
        .map_err(|why| {
            ApiError::Forbidden(format!(
                "{} \"{name}\" is forbidden: {why}",
                crate::apiserver::status::qualified(r)
            ))
        })?;
        let mut candidate = obj.clone();
        if r.kind == "Job" {
            let uid = candidate.meta_str("uid").unwrap_or_default().to_string();
            admission::generate_job_selector(&mut candidate, &uid);
        }
        let errs = admission::validate(r, &candidate, None);
        if !errs.is_empty() {
            return Err(invalid_from(r, &name, errs));
        }
        quota::check_limit_ranges(&ctx, &limit_ranges, &candidate, &name)?;
        if r.kind == "Service" {
            allocate_service(&ctx, &mut candidate, None, &name)?;
        }
        // Held until this attempt's transaction is decided.
        let charged = quota::charge(&ctx, &name, &candidate, None).await?;
        if ctx.dry_run() {
            return Ok(respond_value(StatusCode::CREATED, &candidate, &warnings));
        }
        let key = ctx.key(&name);
        let claims =
            ClaimDelta::between(r, None, Some(&candidate), &key).with_quota_writes(&charged);
        match commit(&ctx, &key, 0, Some(&candidate), &claims).await? {
            Committed::Done(kv) => {
                return Ok(respond(
                    StatusCode::CREATED,
                    objects::with_resource_version(&kv),
                    &warnings,
                ))
            }
            Committed::ObjectChanged if generate.is_none() => {
                return Err(ApiError::already_exists(r, &name))
            }
            Committed::ObjectChanged | Committed::ClaimTaken => {
                tracing::debug!(attempt, %key, "create lost a race; retrying");
            }
            Committed::Deleted => unreachable!("create never deletes"),
        }
    }
    Err(ApiError::Unavailable(
        "too many concurrent writes for this object; try again".into(),
    ))
}

/// Server-owned fields of a new object: identity, timestamps, generation, initial status.
fn prepare_new(ctx: &Ctx<'_>, obj: &mut Value) {
    let r = ctx.resource();
    let meta = obj.meta_mut();
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "generation",
    ] {
        meta.remove(f);
    }
    if GENERATION_KINDS.contains(&r.kind) {
        meta.insert("generation".into(), json!(1));
    }
    admission::apply_defaults(r, obj);
    // Clients do not set status on create for kinds whose status their controllers own.
    match r.kind {
        "Pod" => {
            let qos = admission::pod_qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "Namespace" => obj["status"] = json!({"phase": "Active"}),
        "Service" => obj["status"] = json!({"loadBalancer": {}}),
        "Node" | "Event" | "Lease" | "Endpoints" | "EndpointSlice" | "ConfigMap" | "Secret"
        | "ServiceAccount" | "LimitRange" | "ControllerRevision" => {}
        _ => {
            if r.subresources.contains(&"status") {
                if let Some(m) = obj.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
}

/// The requestor of a CSR is whoever created it, whatever the body claims: approvers trust
/// `spec.username` and `spec.groups`, so a client must not be able to pick them.
fn set_csr_requestor(obj: &mut Value, requestor: Option<&crate::apiserver::tls::Identity>) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for f in ["username", "uid", "groups", "extra"] {
        spec.remove(f);
    }
    if let Some(id) = requestor {
        let mut groups = id.groups.clone();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        spec.insert("username".into(), json!(id.user));
        spec.insert("groups".into(), json!(groups));
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    let alphabet = admission::GENERATE_NAME_ALPHABET.as_bytes();
    let mut rng = rand::rng();
    (0..5)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// The 409 a write gets when the object changed since the version it names.
fn stale(r: &Resource, name: &str) -> ApiError {
    ApiError::conflict(
        r,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    )
}

/// Which part of an object a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object, except its status when the kind has a status subresource.
    Main,
    /// Only `status`.
    Status,
    /// A whole object the server computed itself (pods/binding): no field is reset and the
    /// update rules for clients (immutable pod spec) do not apply.
    Internal,
}

pub async fn update(
    ctx: Ctx<'_>,
    name: &str,
    part: Option<Part>,
    content_type: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let part = part.unwrap_or(Part::Main);
    let Input {
        object: mut new,
        warnings,
    } = decode_input(&ctx, content_type, raw)?;
    set_type_meta(&mut new, r);
    match new.name() {
        Some(n) if n != name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => {
            new.meta_mut().insert("name".into(), json!(name));
        }
    }
    let precondition = new.meta_str("resourceVersion").map(str::to_string);
    let new = new;
    guaranteed_update(
        ctx,
        name,
        precondition.as_deref(),
        &warnings,
        move |_current| Ok(new.clone()),
        part,
    )
    .await
}

pub async fn patch(
    ctx: Ctx<'_>,
    name: &str,
    part: Option<Part>,
    content_type: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let part = part.unwrap_or(Part::Main);
    let patch_type = patch_type(content_type)?;
    let definition = definition_name(r);
    let mode = admission::FieldValidation::parse(ctx.query.get("fieldValidation"))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let raw = raw.to_vec();
    guaranteed_update(
        ctx,
        name,
        None,
        &[],
        move |current| {
            let patched =
                patch::apply_patch(&definition, current, patch_type, &raw).map_err(|e| {
                    if e.status_code() != 422 {
                        ApiError::BadRequest(e.to_string())
                    } else {
                        ApiError::invalid(
                            r,
                            name,
                            vec![Cause {
                                reason: "FieldValueInvalid".into(),
                                field: String::new(),
                                message: e.to_string(),
                            }],
                        )
                    }
                })?;
            // A patch that names a resourceVersion makes it a precondition.
            if let (Some(want), Some(have)) = (
                patched.meta_str("resourceVersion"),
                current.meta_str("resourceVersion"),
            ) {
                if want != have {
                    return Err(stale(r, name));
                }
            }
            let decoded =
                admission::decode(r, &patched).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let (object, _warnings) = decoded
                .apply(r, mode)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Ok(object)
        },
        part,
    )
    .await
}

pub fn patch_type(content_type: &str) -> ApiResult<PatchType> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::StrategicMerge),
        "application/apply-patch+yaml" => Err(ApiError::UnsupportedMediaType(
            "server-side apply (application/apply-patch+yaml) is not supported by this server yet; use client-side kubectl apply".into(),
        )),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"
        ))),
    }
}

/// The OpenAPI definition name of a kind, e.g. `io.k8s.api.apps.v1.Deployment`.
pub fn definition_name(r: &Resource) -> String {
    control_apimachinery::openapi::definition_name(r.group, r.version, r.kind)
        .unwrap_or(r.kind)
        .to_string()
}

/// Reads the current object, computes its replacement, and commits it with a compare-and-swap,
/// retrying from a fresh read when another writer got in first (unless the client named the
/// resourceVersion it expects, which makes a lost race a 409).
pub async fn guaranteed_update<F>(
    ctx: Ctx<'_>,
    name: &str,
    precondition: Option<&str>,
    warnings: &[String],
    mut compute: F,
    part: Part,
) -> ApiResult<Response<Body>>
where
    F: FnMut(&Value) -> ApiResult<Value>,
{
    let r = ctx.resource();
    for _ in 0..MAX_ATTEMPTS {
        let kv = ctx.get_kv(name)?;
        if let Some(pre) = precondition {
            if pre != kv.mod_revision.to_string() {
                return Err(stale(r, name));
            }
        }
        let current = objects::decode(&kv)?;
        let proposed = compute(&current)?;
        let mut next = merge_server_fields(&ctx, &current, proposed, part);
        let errs = if part == Part::Internal {
            Vec::new()
        } else {
            admission::validate(r, &next, Some(&current))
        };
        if !errs.is_empty() {
            return Err(invalid_from(r, name, errs));
        }
        if r.kind == "Service" && part == Part::Main {
            allocate_service(&ctx, &mut next, Some(&current), name)?;
        }
        let finished = is_ready_to_vanish(&next);
        // Updates that use more (a Service becoming a NodePort) are charged like creates.
        let charged = if part == Part::Main && !finished {
            quota::charge(&ctx, name, &next, Some(&current)).await?
        } else {
            quota::Charged::default()
        };
        if ctx.dry_run() {
            return Ok(respond_value(StatusCode::OK, &next, warnings));
        }
        let key = ctx.key(name);
        let claims = if finished {
            ClaimDelta::between(r, Some(&current), None, &key)
        } else {
            ClaimDelta::between(r, Some(&current), Some(&next), &key).with_quota_writes(&charged)
        };
        let target = if finished { None } else { Some(&next) };
        match commit(&ctx, &key, kv.mod_revision, target, &claims).await? {
            Committed::Done(kv) => {
                return Ok(respond(
                    StatusCode::OK,
                    objects::with_resource_version(&kv),
                    warnings,
                ))
            }
            Committed::Deleted => {
                let mut gone = next.clone();
                objects::set_resource_version(&mut gone, kv.mod_revision);
                return Ok(respond_value(StatusCode::OK, &gone, warnings));
            }
            Committed::ObjectChanged if precondition.is_some() => return Err(stale(r, name)),
            Committed::ObjectChanged | Committed::ClaimTaken => continue,
        }
    }
    Err(ApiError::conflict(
        r,
        name,
        "the object is being modified too often; please try again",
    ))
}

/// Keeps what clients may not change through this endpoint: identity and timestamps always,
/// status on the main resource, everything but status on the status subresource.
fn merge_server_fields(ctx: &Ctx<'_>, current: &Value, proposed: Value, part: Part) -> Value {
    let r = ctx.resource();
    let mut next = match part {
        Part::Internal => proposed,
        Part::Main => {
            let mut n = proposed;
            if r.subresources.contains(&"status") {
                match current.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(m) = n.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            n
        }
        Part::Status => {
            let mut n = current.clone();
            match proposed.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            n
        }
    };
    set_type_meta(&mut next, r);
    let cur_meta = current["metadata"].as_object().cloned().unwrap_or_default();
    let meta = next.meta_mut();
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
        "generation",
    ] {
        match cur_meta.get(f) {
            Some(v) => {
                meta.insert(f.into(), v.clone());
            }
            None => {
                meta.remove(f);
            }
        }
    }
    meta.remove("resourceVersion");
    if part == Part::Main {
        admission::apply_defaults(r, &mut next);
        if GENERATION_KINDS.contains(&r.kind) && spec_changed(current, &next) {
            let g = current["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            next.meta_mut().insert("generation".into(), json!(g));
        }
    }
    next
}

fn spec_changed(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m
    };
    strip(a) != strip(b)
}

/// An object marked for deletion whose finalizers are all gone is removed by the write that
/// removed the last one (unless a grace period still runs, as for pods on nodes).
fn is_ready_to_vanish(obj: &Value) -> bool {
    obj.meta_str("deletionTimestamp").is_some()
        && obj["metadata"]["finalizers"]
            .as_array()
            .map(|f| f.is_empty())
            .unwrap_or(true)
        && obj["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0)
            == 0
}

/// Allocation keys a write adds and releases, and the quotas it charges.
#[derive(Debug, Default)]
pub struct ClaimDelta {
    add: Vec<String>,
    remove: Vec<String>,
    owner: String,
    /// Quota objects rewritten with the charge, each only if unchanged since admission read it.
    quota: Vec<(String, i64, Bytes)>,
}

impl ClaimDelta {
    pub fn between(
        r: &Resource,
        old: Option<&Value>,
        new: Option<&Value>,
        owner: &str,
    ) -> ClaimDelta {
        if r.kind != "Service" {
            return ClaimDelta::default();
        }
        let old_c: Vec<String> = old.map(allocator::claims_of).unwrap_or_default();
        let new_c: Vec<String> = new.map(allocator::claims_of).unwrap_or_default();
        ClaimDelta {
            add: new_c
                .iter()
                .filter(|c| !old_c.contains(c))
                .cloned()
                .collect(),
            remove: old_c
                .iter()
                .filter(|c| !new_c.contains(c))
                .cloned()
                .collect(),
            owner: owner.to_string(),
            quota: Vec::new(),
        }
    }

    /// Adds the quota writes of [`quota::charge`] to the transaction.
    pub fn with_quota_writes(mut self, charged: &quota::Charged) -> ClaimDelta {
        self.quota = charged
            .writes
            .iter()
            .map(|w| (w.key.clone(), w.mod_revision, w.value.clone()))
            .collect();
        self
    }
}

/// How a commit ended.
pub enum Committed {
    Done(KeyValue),
    Deleted,
    /// The object's mod revision was not the expected one (or it exists, for a create).
    ObjectChanged,
    /// An allocation key was taken by someone else in the meantime, or a charged quota
    /// changed since admission read it.
    ClaimTaken,
}

/// Writes (or deletes, when `obj` is None) an object in one transaction with its claims.
pub async fn commit(
    ctx: &Ctx<'_>,
    key: &str,
    expected: i64,
    obj: Option<&Value>,
    claims: &ClaimDelta,
) -> ApiResult<Committed> {
    let mut compares = vec![Compare::ModRevision {
        key: key.to_string(),
        equals: expected,
    }];
    let mut success = Vec::new();
    if let Some(o) = obj {
        if objects::depth(o) > objects::MAX_DEPTH {
            return Err(ApiError::BadRequest(format!(
                "the object is nested more than {} levels deep",
                objects::MAX_DEPTH
            )));
        }
    }
    match obj {
        Some(o) => success.push(Op::Put {
            key: key.to_string(),
            value: objects::encode(o)?,
        }),
        None => success.push(Op::Delete {
            key: key.to_string(),
        }),
    }
    for c in &claims.add {
        compares.push(Compare::ModRevision {
            key: c.clone(),
            equals: 0,
        });
        success.push(Op::Put {
            key: c.clone(),
            value: Bytes::from(claims.owner.clone()),
        });
    }
    for c in &claims.remove {
        success.push(Op::Delete { key: c.clone() });
    }
    for (k, rev, value) in &claims.quota {
        compares.push(Compare::ModRevision {
            key: k.clone(),
            equals: *rev,
        });
        success.push(Op::Put {
            key: k.clone(),
            value: value.clone(),
        });
    }
    let resp = ctx
        .server
        .store
        .txn(Txn {
            compares,
            success,
            failure: vec![],
        })
        .await
        .map_err(ApiError::internal)?;
    if resp.succeeded {
        return Ok(match resp.results.into_iter().next() {
            Some(OpResult::Put { kv, .. }) => Committed::Done(kv),
            _ => Committed::Deleted,
        });
    }
    let current = ctx
        .server
        .store
        .get(key)
        .map(|kv| kv.mod_revision)
        .unwrap_or(0);
    if current != expected {
        Ok(Committed::ObjectChanged)
    } else {
        Ok(Committed::ClaimTaken)
    }
}

fn used_claims(ctx: &Ctx<'_>, prefix: &str) -> ApiResult<Vec<(String, String)>> {
    let resp = ctx
        .server
        .store
        .range(&RangeRequest::prefix(prefix))
        .map_err(ApiError::internal)?;
    Ok(resp
        .kvs
        .into_iter()
        .map(|kv| {
            (
                kv.key[prefix.len()..].to_string(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect())
}

/// Fills a Service's cluster IP and node ports, keeping those it already holds.
/// ServiceAccount admission: the pod's account token, CA and namespace as a projected volume,
/// unless the pod or its account opts out.
fn mount_service_account_token(ctx: &Ctx<'_>, pod: &mut Value) {
    let sa_name = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let sas = control_apimachinery::resources::by_plural("", "v1", "serviceaccounts")
        .expect("serviceaccounts served");
    let account_automount = ctx
        .server
        .store
        .get(&objects::key(sas, ctx.namespace(), &sa_name))
        .and_then(|kv| objects::decode(&kv).ok())
        .and_then(|sa| sa["automountServiceAccountToken"].as_bool());
    control_apimachinery::admission::serviceaccount::mount_api_access(
        &mut pod["spec"],
        account_automount,
        &random_suffix(),
    );
}

fn allocate_service(
    ctx: &Ctx<'_>,
    svc: &mut Value,
    old: Option<&Value>,
    name: &str,
) -> ApiResult<()> {
    let r = ctx.resource();
    let net = &ctx.server.network;
    let key = ctx.key(name);
    let spec_type = svc["spec"]["type"]
        .as_str()
        .unwrap_or("ClusterIP")
        .to_string();
    let spec = svc["spec"]
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("spec is required".into()))?;
    if spec_type == "ExternalName" {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        spec.remove("ipFamilies");
        spec.remove("ipFamilyPolicy");
        return Ok(());
    }
    // Updates may leave allocated values out; they keep what they hold (as kube-apiserver does).
    if let Some(o) = old {
        let empty = spec
            .get("clusterIP")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .is_empty();
        if empty {
            for f in ["clusterIP", "clusterIPs"] {
                if let Some(v) = o["spec"].get(f) {
                    spec.insert(f.into(), v.clone());
                }
            }
        }
    }
    let taken_by_other = |claims: &[(String, String)], k: &str| {
        claims.iter().any(|(c, owner)| c == k && *owner != key)
    };
    let mut ip = spec
        .get("clusterIP")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    if ip.is_empty() {
        if let Some(first) = spec
            .get("clusterIPs")
            .and_then(|v| v.as_array())
            .and_then(|a| a.first())
            .and_then(|v| v.as_str())
        {
            ip = first.to_string();
        }
    }
    if ip != "None" {
        let claims = used_claims(ctx, IP_CLAIM_PREFIX)?;
        if ip.is_empty() {
            let used: HashSet<Ipv4Addr> =
                claims.iter().filter_map(|(c, _)| c.parse().ok()).collect();
            let picked = net.pick_ip(&used, &mut rand::rng()).ok_or_else(|| {
                ApiError::internal("failed to allocate a service IP: range is full")
            })?;
            ip = picked.to_string();
        } else {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                invalid_one(r, name, "FieldValueInvalid", "spec.clusterIPs",
                    format!("Invalid value: [\"{ip}\"]: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
            })?;
            if !net.contains(parsed) {
                return Err(invalid_one(r, name, "FieldValueInvalid", "spec.clusterIPs",
                    format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}", net.cidr())));
            }
            if taken_by_other(&claims, &ip) {
                return Err(invalid_one(r, name, "FieldValueInvalid", "spec.clusterIPs",
                    format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated")));
            }
        }
    }
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));

    let wants_node_ports = spec_type == "NodePort" || spec_type == "LoadBalancer";
    let port_claims = used_claims(ctx, PORT_CLAIM_PREFIX)?;
    let mut used: HashSet<u16> = port_claims
        .iter()
        .filter(|(_, owner)| *owner != key)
        .filter_map(|(c, _)| c.parse().ok())
        .collect();
    let old_ports: Vec<Value> = old
        .and_then(|o| o["spec"]["ports"].as_array().cloned())
        .unwrap_or_default();
    let Some(ports) = spec.get_mut("ports").and_then(|p| p.as_array_mut()) else {
        return Ok(());
    };
    // Ports named explicitly in this request are claimed first so that random picks avoid them.
    for p in ports.iter() {
        if let Some(np) = p["nodePort"].as_i64() {
            if let Ok(np) = u16::try_from(np) {
                used.remove(&np);
            }
        }
    }
    let mut seen = HashSet::new();
    for (i, p) in ports.iter_mut().enumerate() {
        let field = format!("spec.ports[{i}].nodePort");
        if !wants_node_ports {
            if let Some(np) = p.get("nodePort") {
                if !np.is_null() && np.as_i64() != Some(0) {
                    return Err(invalid_one(
                        r,
                        name,
                        "FieldValueForbidden",
                        &field,
                        format!("Forbidden: may not be used when `type` is '{spec_type}'"),
                    ));
                }
            }
            if let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
            continue;
        }
        let mut np = p["nodePort"].as_i64().unwrap_or(0);
        if np == 0 {
            if let Some(prev) = old_ports.iter().find(|op| {
                op["port"] == p["port"]
                    && op["protocol"] == p["protocol"]
                    && op["nodePort"].as_i64().is_some()
            }) {
                np = prev["nodePort"].as_i64().unwrap_or(0);
            }
        }
        if np == 0 {
            let picked = net.pick_port(&used, &mut rand::rng()).ok_or_else(|| {
                ApiError::internal("failed to allocate a node port: range is full")
            })?;
            np = i64::from(picked);
        } else {
            let (lo, hi) = net.node_ports;
            if np < i64::from(lo) || np > i64::from(hi) {
                return Err(invalid_one(r, name, "FieldValueInvalid", &field,
                    format!("Invalid value: {np}: provided port is not in the valid range. The range of valid ports is {lo}-{hi}")));
            }
            let claim = np.to_string();
            if taken_by_other(&port_claims, &claim) {
                return Err(invalid_one(
                    r,
                    name,
                    "FieldValueInvalid",
                    &field,
                    format!("Invalid value: {np}: provided port is already allocated"),
                ));
            }
        }
        // Two ports of one Service may share a node port only if their protocols differ.
        let proto = p["protocol"].as_str().unwrap_or("TCP").to_string();
        if !seen.insert((np, proto)) {
            return Err(invalid_one(
                r,
                name,
                "FieldValueDuplicate",
                &field,
                format!("Duplicate value: {np}"),
            ));
        }
        used.insert(np as u16);
        p["nodePort"] = json!(np);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_names_follow_kubernetes_packages() {
        let d = control_apimachinery::resources::by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(definition_name(d), "io.k8s.api.apps.v1.Deployment");
        let l =
            control_apimachinery::resources::by_kind("coordination.k8s.io/v1", "Lease").unwrap();
        assert_eq!(definition_name(l), "io.k8s.api.coordination.v1.Lease");
        let p = control_apimachinery::resources::by_kind("v1", "Pod").unwrap();
        assert_eq!(definition_name(p), "io.k8s.api.core.v1.Pod");
    }

    #[test]
    fn unknown_patch_media_types_are_refused() {
        assert!(matches!(
            patch_type("application/merge-patch+json; charset=utf-8"),
            Ok(PatchType::Merge)
        ));
        assert!(matches!(
            patch_type("text/plain"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn finished_deletions_vanish_but_graceful_pods_wait() {
        assert!(is_ready_to_vanish(
            &json!({"metadata": {"deletionTimestamp": "x", "finalizers": []}})
        ));
        assert!(!is_ready_to_vanish(
            &json!({"metadata": {"deletionTimestamp": "x", "finalizers": ["a"]}})
        ));
        assert!(!is_ready_to_vanish(
            &json!({"metadata": {"deletionTimestamp": "x", "deletionGracePeriodSeconds": 30}})
        ));
        assert!(!is_ready_to_vanish(&json!({"metadata": {}})));
    }
}
