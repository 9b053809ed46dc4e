//! Discovery and the other non-resource endpoints: /version, /api, /apis (aggregated discovery v2
//! and the per-group forms), OpenAPI v2 and v3, and the health checks.
//!
//! All of it is derived from the resource table, so discovery never disagrees with routing.

use bytes::Bytes;
use control_apimachinery::openapi;
use control_apimachinery::resources::{self, Resource};
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::body::{self, Body};
use super::request::Query;
use super::status::{ApiError, ApiResult};
use super::{ApiServer, KUBE_VERSION};

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn version() -> Response<Body> {
    body::json_response(
        StatusCode::OK,
        &json!({
            "major": KUBE_VERSION.0,
            "minor": KUBE_VERSION.1,
            "gitVersion": KUBE_VERSION.2,
            "gitCommit": env!("CARGO_PKG_VERSION"),
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "n/a (rust)",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, goarch()),
        }),
    )
}

fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn health(server: &ApiServer, which: &str, q: &Query) -> Response<Body> {
    // The store answers reads from memory; a revision means it is open and applied.
    let store_ok = server.store.revision() > 0;
    let checks = [("ping", true), ("etcd", store_ok), ("log", true)];
    let ok = checks.iter().all(|(_, c)| *c);
    let text = if q.get("verbose").is_some() || !ok {
        let mut s = String::new();
        for (name, good) in checks {
            s.push_str(&format!(
                "[{}]{} {}\n",
                if good { "+" } else { "-" },
                name,
                if good { "ok" } else { "failed" }
            ));
        }
        s.push_str(&format!(
            "{which} check {}\n",
            if ok { "passed" } else { "failed" }
        ));
        s
    } else {
        "ok".to_string()
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    body::with_content_type(code, "text/plain; charset=utf-8", text)
}

fn wants_aggregated(accept: &str) -> bool {
    accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2")
}

pub fn core_versions(server: &ApiServer, accept: &str) -> ApiResult<Response<Body>> {
    if wants_aggregated(accept) {
        let doc = aggregated(true);
        return Ok(body::with_content_type(
            StatusCode::OK,
            AGGREGATED_V2,
            serde_json::to_vec(&doc).unwrap_or_default(),
        ));
    }
    Ok(body::json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server.config.listen.to_string()}],
        }),
    ))
}

pub fn groups(accept: &str) -> ApiResult<Response<Body>> {
    if wants_aggregated(accept) {
        let doc = aggregated(false);
        return Ok(body::with_content_type(
            StatusCode::OK,
            AGGREGATED_V2,
            serde_json::to_vec(&doc).unwrap_or_default(),
        ));
    }
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    Ok(body::json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    ))
}

fn group_json(g: &str, v: &str) -> Value {
    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn group(g: &str) -> Response<Body> {
    let v = resources::groups()
        .into_iter()
        .find(|(name, _)| *name == g)
        .map(|(_, v)| v)
        .unwrap_or("v1");
    let mut doc = group_json(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    body::json_response(StatusCode::OK, &doc)
}

/// What a subresource answers with and which verbs it takes.
fn subresource_shape(r: &Resource, sub: &str) -> (String, String, String, Vec<&'static str>) {
    let own = (
        r.group.to_string(),
        r.version.to_string(),
        r.kind.to_string(),
    );
    let (g, v, k, verbs) = match sub {
        "scale" => (
            "autoscaling".into(),
            "v1".into(),
            "Scale".into(),
            vec!["get", "patch", "update"],
        ),
        "binding" => (own.0, own.1, "Binding".into(), vec!["create"]),
        "eviction" => (
            "policy".into(),
            "v1".into(),
            "Eviction".into(),
            vec!["create"],
        ),
        "finalize" => (own.0, own.1, own.2, vec!["update"]),
        "log" => (own.0, own.1, own.2, vec!["get"]),
        "exec" => (own.0, own.1, "PodExecOptions".into(), vec!["create", "get"]),
        "attach" => (
            own.0,
            own.1,
            "PodAttachOptions".into(),
            vec!["create", "get"],
        ),
        "portforward" => (
            own.0,
            own.1,
            "PodPortForwardOptions".into(),
            vec!["create", "get"],
        ),
        "proxy" => (
            own.0,
            own.1,
            "NodeProxyOptions".into(),
            vec!["create", "delete", "get", "patch", "update"],
        ),
        "approval" => (own.0, own.1, own.2, vec!["get", "patch", "update"]),
        _ => (own.0, own.1, own.2, vec!["get", "patch", "update"]),
    };
    (g, v, k, verbs)
}

pub fn resource_list(group: &str, version: &str) -> Response<Body> {
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut list = Vec::new();
    for r in resources::RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        for sub in r.subresources {
            let (g, v, k, verbs) = subresource_shape(r, sub);
            let mut e = json!({"name": format!("{}/{}", r.plural, sub), "singularName": "",
                "namespaced": r.namespaced, "kind": k, "verbs": verbs});
            if g != r.group || v != r.version {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            list.push(e);
        }
    }
    body::json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// The aggregated discovery document (apidiscovery.k8s.io/v2) for `/api` or `/apis`.
fn aggregated(core: bool) -> Value {
    let mut items = Vec::new();
    let groups: Vec<(&str, &str)> = if core {
        vec![("", "v1")]
    } else {
        resources::groups()
    };
    for (g, v) in groups {
        let res: Vec<Value> = resources::RESOURCES
            .iter()
            .filter(|r| r.group == g && r.version == v)
            .map(|r| {
                let mut e = json!({
                    "resource": r.plural,
                    "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                    "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": r.singular,
                    "verbs": r.verbs,
                });
                if !r.short_names.is_empty() {
                    e["shortNames"] = json!(r.short_names);
                }
                if !r.categories.is_empty() {
                    e["categories"] = json!(r.categories);
                }
                let subs: Vec<Value> = r
                    .subresources
                    .iter()
                    .map(|s| {
                        let (sg, sv, sk, verbs) = subresource_shape(r, s);
                        json!({"subresource": s, "responseKind": {"group": sg, "version": sv, "kind": sk}, "verbs": verbs})
                    })
                    .collect();
                if !subs.is_empty() {
                    e["subresources"] = json!(subs);
                }
                e
            })
            .collect();
        let mut meta = json!({"creationTimestamp": null});
        if !g.is_empty() {
            meta["name"] = json!(g);
        }
        items.push(json!({"metadata": meta, "versions": [{"version": v, "resources": res, "freshness": "Current"}]}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

pub fn openapi_v2(accept: &str) -> ApiResult<Response<Body>> {
    // kubectl asks for the protobuf form only; other clients ask for JSON.
    let wants_json = accept.is_empty() || accept.contains("json") || accept.contains("*/*");
    if accept.contains("protobuf") && !wants_json {
        let bytes = control_apimachinery::openapi_pb::v2_bytes().map_err(ApiError::internal)?;
        return Ok(body::with_content_type(
            StatusCode::OK,
            control_apimachinery::openapi_pb::V2_PROTOBUF_RESPONSE_CONTENT_TYPE,
            Bytes::from_static(bytes),
        ));
    }
    Ok(body::raw_json_response(
        StatusCode::OK,
        Bytes::from_static(openapi::v2_bytes()),
    ))
}

pub fn openapi_v3_index() -> Response<Body> {
    body::raw_json_response(
        StatusCode::OK,
        Bytes::from_static(openapi::v3_discovery_bytes()),
    )
}

pub fn openapi_v3(gv: &str) -> ApiResult<Response<Body>> {
    let bytes = openapi::v3_group_version_bytes(gv).ok_or(ApiError::NoRoute)?;
    Ok(body::raw_json_response(
        StatusCode::OK,
        Bytes::from_static(bytes),
    ))
}
