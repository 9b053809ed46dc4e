//! Subresources: `status`, `scale`, `pods/binding`, `pods/eviction`,
//! `serviceaccounts/token` (TokenRequest), `certificatesigningrequests/approval` and
//! `namespaces/finalize`.

use http::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::delete::{delete_one, DeleteOptions};
use super::write::{self, guaranteed_update, Part};
use super::Ctx;
use control_apimachinery::resources;

use crate::apiserver::body::{self, Body};
use crate::apiserver::objects::{self, Meta};
use crate::apiserver::status::{success_status, ApiError, ApiResult};

pub async fn handle(
    ctx: Ctx<'_>,
    method: &Method,
    name: &str,
    sub: &str,
    content_type: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    match (sub, method) {
        ("status", &Method::GET) => super::read::get(ctx, name),
        ("status", &Method::PUT) => {
            write::update(ctx, name, Some(Part::Status), content_type, raw).await
        }
        ("status", &Method::PATCH) => {
            write::patch(ctx, name, Some(Part::Status), content_type, raw).await
        }
        ("scale", &Method::GET) => {
            let kv = ctx.get_kv(name)?;
            let obj = objects::decode(&kv)?;
            Ok(body::json_response(StatusCode::OK, &scale_of(&obj)))
        }
        ("scale", &Method::PUT) | ("scale", &Method::PATCH) => {
            scale_write(ctx, name, method, content_type, raw).await
        }
        ("binding", &Method::POST) => bind(ctx, name, raw).await,
        ("eviction", &Method::POST) => evict(ctx, name, raw).await,
        ("token", &Method::POST) if ctx.resource().plural == "serviceaccounts" => {
            token_request(ctx, name, content_type, raw)
        }
        ("approval", &Method::PUT) => {
            // Approval replaces only the conditions, which is how approvers write.
            let input = body::parse_json(raw)?;
            let conditions = input["status"]["conditions"].clone();
            guaranteed_update(
                ctx,
                name,
                input.meta_str("resourceVersion"),
                &[],
                move |cur| {
                    let mut n = cur.clone();
                    n["status"]["conditions"] = conditions.clone();
                    Ok(n)
                },
                Part::Status,
            )
            .await
        }
        ("finalize", &Method::PUT) => {
            let input = body::parse_json(raw)?;
            let finalizers = input["spec"]["finalizers"].clone();
            let resp = guaranteed_update(
                ctx,
                name,
                None,
                &[],
                move |cur| {
                    let mut n = cur.clone();
                    n["spec"]["finalizers"] = finalizers.clone();
                    Ok(n)
                },
                Part::Main,
            )
            .await;
            ctx.server.namespace_wakeup.notify_one();
            resp
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The autoscaling/v1 Scale view of a workload.
pub fn scale_of(obj: &Value) -> Value {
    let selector = selector_string(&obj["spec"]["selector"]);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// A label selector (a metav1.LabelSelector or an RC's plain map) in its string form.
pub fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    let labels = sel.get("matchLabels").unwrap_or(sel);
    if let Some(m) = labels.as_object() {
        for (k, v) in m {
            if let Some(v) = v.as_str() {
                parts.push(format!("{k}={v}"));
            }
        }
    }
    if let Some(exprs) = sel["matchExpressions"].as_array() {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            match e["operator"].as_str().unwrap_or_default() {
                "In" => parts.push(format!("{key} in ({})", values.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

async fn scale_write(
    ctx: Ctx<'_>,
    name: &str,
    method: &Method,
    content_type: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let (precondition, desired_from_put) = if method == Method::PUT {
        let input = body::parse_json(raw)?;
        let replicas = input["spec"]["replicas"].as_i64();
        (
            input.meta_str("resourceVersion").map(str::to_string),
            Some(replicas.unwrap_or(0)),
        )
    } else {
        (None, None)
    };
    let patch_type = if method == Method::PATCH {
        Some(write::patch_type(content_type)?)
    } else {
        None
    };
    let raw = raw.to_vec();
    let resp = guaranteed_update(
        ctx,
        name,
        precondition.as_deref(),
        &[],
        move |cur| {
            let replicas = match (desired_from_put, patch_type) {
                (Some(n), _) => n,
                (None, Some(pt)) => {
                    let scale = scale_of(cur);
                    let patched = control_apimachinery::patch::apply_patch(
                        "io.k8s.api.autoscaling.v1.Scale",
                        &scale,
                        pt,
                        &raw,
                    )
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                    patched["spec"]["replicas"].as_i64().unwrap_or(0)
                }
                (None, None) => unreachable!("scale writes are PUT or PATCH"),
            };
            if replicas < 0 {
                return Err(ApiError::invalid(
                    r,
                    name,
                    vec![crate::apiserver::status::Cause {
                        reason: "FieldValueInvalid".into(),
                        field: "spec.replicas".into(),
                        message: format!(
                            "Invalid value: {replicas}: must be greater than or equal to 0"
                        ),
                    }],
                ));
            }
            let mut n = cur.clone();
            n["spec"]["replicas"] = json!(replicas);
            Ok(n)
        },
        Part::Main,
    )
    .await?;
    // Answer with the Scale view of the updated object.
    let kv = ctx.get_kv(name)?;
    let obj = objects::decode(&kv)?;
    let _ = resp;
    Ok(body::json_response(StatusCode::OK, &scale_of(&obj)))
}

async fn bind(ctx: Ctx<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let input = body::parse_json(raw)?;
    let target = input["target"]["name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                r,
                name,
                vec![crate::apiserver::status::Cause {
                    reason: "FieldValueRequired".into(),
                    field: "target.name".into(),
                    message: "Required value".into(),
                }],
            )
        })?
        .to_string();
    let name_owned = name.to_string();
    guaranteed_update(
        ctx,
        name,
        None,
        &[],
        move |cur| {
            if cur.meta_str("deletionTimestamp").is_some() {
                return Err(ApiError::conflict(
                    r,
                    &name_owned,
                    "pod is being deleted, cannot be assigned to a host",
                ));
            }
            if let Some(node) = cur["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                return Err(ApiError::conflict(
                    r,
                    &name_owned,
                    &format!("pod {name_owned} is already assigned to node \"{node}\""),
                ));
            }
            let mut n = cur.clone();
            n["spec"]["nodeName"] = json!(target.clone());
            let mut conditions: Vec<Value> = n["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            conditions.retain(|c| c["type"] != "PodScheduled");
            conditions.push(json!({"type": "PodScheduled", "status": "True",
                "lastProbeTime": null, "lastTransitionTime": super::now_rfc3339()}));
            n["status"]["conditions"] = json!(conditions);
            Ok(n)
        },
        Part::Internal,
    )
    .await?;
    let uid = ctx
        .get_kv(name)
        .ok()
        .and_then(|kv| objects::decode(&kv).ok())
        .and_then(|o| o.meta_str("uid").map(str::to_string))
        .unwrap_or_default();
    Ok(body::json_response(
        StatusCode::CREATED,
        &success_status(r, name, &uid),
    ))
}

async fn evict(ctx: Ctx<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let input = if raw.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body::parse_json(raw)?
    };
    let opts_raw = serde_json::to_vec(&input["deleteOptions"]).unwrap_or_default();
    let opts = if input["deleteOptions"].is_object() {
        DeleteOptions::parse(&ctx, &opts_raw)?
    } else {
        DeleteOptions::parse(&ctx, b"")?
    };
    // No PodDisruptionBudgets are served, so every eviction is allowed.
    let obj = delete_one(&ctx, name, &opts).await?;
    Ok(body::json_response(
        StatusCode::CREATED,
        &success_status(r, name, obj.meta_str("uid").unwrap_or_default()),
    ))
}

/// TokenRequest: a service account token, bound to a pod when asked. A node may only ask for
/// tokens bound to pods it runs, for those pods' own service account (NodeRestriction).
fn token_request(
    ctx: Ctx<'_>,
    name: &str,
    content_type: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    use crate::apiserver::satoken;
    let ns = ctx.namespace().unwrap_or_default().to_string();
    let sa = objects::decode(&ctx.get_kv(name)?)?;
    // kubectl's typed client sends TokenRequests as protobuf.
    let input = if content_type.starts_with(control_apimachinery::protobuf::CONTENT_TYPE) {
        control_apimachinery::protobuf::decode_object(raw)
            .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?
    } else {
        body::parse_json(raw)?
    };
    let invalid = |field: String, message: String| ApiError::Invalid {
        group: "authentication.k8s.io".into(),
        kind: "TokenRequest".into(),
        name: name.to_string(),
        message: format!(
            "TokenRequest.authentication.k8s.io \"{name}\" is invalid: {field}: {message}"
        ),
        causes: vec![crate::apiserver::status::Cause {
            reason: "FieldValueInvalid".into(),
            field,
            message,
        }],
    };
    let req = satoken::parse_request(&input).map_err(|(f, m)| invalid(f, m))?;
    let pods = resources::by_plural("", "v1", "pods").expect("pods served");
    let pod = match &req.bound_pod {
        Some(p) => {
            let kv = ctx
                .server
                .store
                .get(&objects::key(pods, Some(&ns), p))
                .ok_or_else(|| ApiError::not_found(pods, p))?;
            let pod = objects::decode(&kv)?;
            let uid = pod.meta_str("uid").unwrap_or_default().to_string();
            if req.bound_pod_uid.as_deref().is_some_and(|u| u != uid) {
                return Err(ApiError::Conflict {
                    group: String::new(),
                    kind_plural: "pods".into(),
                    name: p.clone(),
                    message: format!("the UID in the bound object reference ({}) does not match the UID in record ({uid}). The object might have been deleted and then recreated", req.bound_pod_uid.as_deref().unwrap_or_default()),
                });
            }
            if pod["spec"]["serviceAccountName"]
                .as_str()
                .unwrap_or("default")
                != name
            {
                return Err(invalid(
                    "spec.boundObjectRef".into(),
                    format!("pod {p} does not run as service account {name}"),
                ));
            }
            Some((
                p.clone(),
                uid,
                pod["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ))
        }
        None => None,
    };
    if let Some(node) = ctx.requestor.and_then(crate::apiserver::authz::node_name) {
        match &pod {
            Some((_, _, on)) if on == node => {}
            _ => {
                return Err(ApiError::Forbidden(format!(
                    "serviceaccounts \"{name}\" is forbidden: User \"system:node:{node}\" cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace \"{ns}\": a node may only request tokens bound to pods it runs"
                )))
            }
        }
    }
    let now = jiff::Timestamp::now().as_second();
    let node_uid = pod.as_ref().and_then(|(_, _, n)| {
        let nodes = resources::by_plural("", "v1", "nodes").expect("nodes served");
        let kv = ctx.server.store.get(&objects::key(nodes, None, n))?;
        let node = objects::decode(&kv).ok()?;
        Some(satoken::ObjectRef {
            name: n.clone(),
            uid: node.meta_str("uid").unwrap_or_default().to_string(),
        })
    });
    let claims = satoken::Claims {
        iss: satoken::ISSUER.into(),
        sub: satoken::username(&ns, name),
        aud: req.audiences.clone(),
        exp: now + req.expiration_seconds,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        kubernetes: satoken::KubernetesClaims {
            namespace: ns.clone(),
            serviceaccount: satoken::ObjectRef {
                name: name.to_string(),
                uid: sa.meta_str("uid").unwrap_or_default().to_string(),
            },
            pod: pod.as_ref().map(|(p, uid, _)| satoken::ObjectRef {
                name: p.clone(),
                uid: uid.clone(),
            }),
            node: node_uid,
            warnafter: (req.expiration_seconds != req.requested_seconds)
                .then_some(now + req.requested_seconds),
        },
    };
    let token = ctx
        .server
        .sa_key
        .sign(&claims)
        .map_err(ApiError::internal)?;
    let expires = jiff::Timestamp::from_second(claims.exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let mut out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {"audiences": req.audiences, "expirationSeconds": req.expiration_seconds},
        "status": {"token": token, "expirationTimestamp": expires},
    });
    if let Some((p, uid, _)) = &pod {
        out["spec"]["boundObjectRef"] =
            json!({"kind": "Pod", "apiVersion": "v1", "name": p, "uid": uid});
    }
    Ok(body::json_response(StatusCode::CREATED, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_shows_replicas_and_the_selector_string() {
        let d = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}},
            "status": {"replicas": 2}});
        let s = scale_of(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web,tier in (a,b)");
        let rc = json!({"spec": {"replicas": 1, "selector": {"app": "kubia"}}});
        assert_eq!(scale_of(&rc)["status"]["selector"], "app=kubia");
    }
}
