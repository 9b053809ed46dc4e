//! The endpoints controllers: every Service with a selector gets an Endpoints object and
//! EndpointSlices listing the IPs of the pods it selects (ready or not), from
//! `control_controllers::endpoints`. Slices carry the Service as controller owner, so the garbage
//! collector removes them with it; Endpoints this loop wrote are removed when their Service goes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use control_controllers::endpoints::{
    endpoints_subsets, slice_contents, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL,
};
use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let services = Informer::start(cfg.clone(), "/api/v1/services", changed.clone());
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let endpoints = Informer::start(cfg.clone(), "/api/v1/endpoints", changed.clone());
    let slices = Informer::start(
        cfg.clone(),
        "/apis/discovery.k8s.io/v1/endpointslices",
        changed.clone(),
    );
    let mut written: HashSet<String> = HashSet::new();
    let mut conn: Option<Connection> = None;
    loop {
        changed.notified().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        if !all_synced(&[&services, &pods, &endpoints, &slices]) {
            continue;
        }
        if let Err(e) = pass(c, &services, &pods, &endpoints, &slices, &mut written).await {
            tracing::warn!("endpoints pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

fn ns_name(v: &Value) -> (String, String) {
    (
        v["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn pass(
    c: &mut Connection,
    services: &Informer,
    pods: &Informer,
    endpoints: &Informer,
    slices: &Informer,
    written: &mut HashSet<String>,
) -> anyhow::Result<()> {
    let svc_values = services.objects();
    let pods: Vec<Pod> = pods
        .objects()
        .into_iter()
        .filter_map(|p| serde_json::from_value(p).ok())
        .collect();
    let endpoints = endpoints.objects();
    let slices = slices.objects();
    let mut live = HashSet::new();
    for sv in &svc_values {
        let Ok(svc) = serde_json::from_value::<Service>(sv.clone()) else {
            continue;
        };
        if sv["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let (ns, name) = ns_name(sv);
        live.insert(format!("{ns}/{name}"));
        let Some(subsets) = endpoints_subsets(&svc, &pods) else {
            continue;
        };
        let desired = if subsets.is_empty() {
            Value::Null
        } else {
            json!(subsets)
        };
        let current = endpoints
            .iter()
            .find(|e| ns_name(e) == (ns.clone(), name.clone()));
        let ep_path = format!("/api/v1/namespaces/{ns}/endpoints");
        match current {
            None => {
                let mut ep = json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": ns, "labels": sv["metadata"]["labels"]}});
                if !desired.is_null() {
                    ep["subsets"] = desired.clone();
                }
                send(c, Method::POST, &ep_path, &ep, "application/json").await?;
                written.insert(format!("{ns}/{name}"));
            }
            Some(cur) => {
                let have = cur.get("subsets").cloned().unwrap_or(Value::Null);
                let have = if have.as_array().is_some_and(|a| a.is_empty()) {
                    Value::Null
                } else {
                    have
                };
                if have != desired {
                    let rv = cur["metadata"]["resourceVersion"].clone();
                    let patch = json!({"metadata": {"resourceVersion": rv}, "subsets": desired});
                    send(
                        c,
                        Method::PATCH,
                        &format!("{ep_path}/{name}"),
                        &patch,
                        "application/merge-patch+json",
                    )
                    .await?;
                }
                written.insert(format!("{ns}/{name}"));
            }
        }

        // EndpointSlices: reuse ours in name order, create what is missing, drop the rest.
        let Some(wanted) = slice_contents(&svc, &pods) else {
            continue;
        };
        let mut ours: Vec<&Value> = slices
            .iter()
            .filter(|s| {
                s["metadata"]["namespace"] == ns.as_str()
                    && s["metadata"]["labels"][SERVICE_NAME_LABEL] == name.as_str()
                    && s["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY
            })
            .collect();
        ours.sort_by_key(|s| {
            s["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        let slice_path = format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices");
        for (i, (eps, ports)) in wanted.iter().enumerate() {
            match ours.get(i) {
                Some(cur) => {
                    if cur["endpoints"] != *eps
                        && !(cur["endpoints"].is_null()
                            && eps.as_array().is_some_and(|a| a.is_empty()))
                        || cur["ports"] != *ports
                            && !(cur["ports"].is_null()
                                && ports.as_array().is_some_and(|a| a.is_empty()))
                    {
                        let slice_name = cur["metadata"]["name"].as_str().unwrap_or_default();
                        let patch = json!({"endpoints": eps, "ports": ports});
                        send(
                            c,
                            Method::PATCH,
                            &format!("{slice_path}/{slice_name}"),
                            &patch,
                            "application/merge-patch+json",
                        )
                        .await?;
                    }
                }
                None => {
                    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"generateName": format!("{name}-"), "namespace": ns,
                            "labels": {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY},
                            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                "uid": sv["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
                        "addressType": "IPv4", "endpoints": eps, "ports": ports});
                    send(c, Method::POST, &slice_path, &slice, "application/json").await?;
                }
            }
        }
        for extra in ours.iter().skip(wanted.len()) {
            let slice_name = extra["metadata"]["name"].as_str().unwrap_or_default();
            send(
                c,
                Method::DELETE,
                &format!("{slice_path}/{slice_name}"),
                &Value::Null,
                "application/json",
            )
            .await?;
        }
    }
    // Endpoints this loop wrote whose Service is gone.
    for ep in &endpoints {
        let (ns, name) = ns_name(ep);
        let key = format!("{ns}/{name}");
        if written.contains(&key) && !live.contains(&key) {
            send(
                c,
                Method::DELETE,
                &format!("/api/v1/namespaces/{ns}/endpoints/{name}"),
                &Value::Null,
                "application/json",
            )
            .await?;
            written.remove(&key);
        }
    }
    Ok(())
}

async fn send(
    c: &mut Connection,
    method: Method,
    path: &str,
    body: &Value,
    content_type: &str,
) -> anyhow::Result<()> {
    let bytes = if body.is_null() {
        None
    } else {
        Some(serde_json::to_vec(body)?)
    };
    let resp = c.send(method.clone(), path, bytes, content_type).await?;
    let code = resp.status();
    let out = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    // Conflicts and vanished objects are retried from fresh informer state on the next pass.
    if !code.is_success()
        && !matches!(
            code,
            StatusCode::CONFLICT | StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
        )
    {
        tracing::warn!(%method, %path, %code, "endpoints write refused: {}", String::from_utf8_lossy(&out));
    }
    Ok(())
}
