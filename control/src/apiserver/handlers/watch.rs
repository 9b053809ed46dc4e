//! watch: a stream of ADDED / MODIFIED / DELETED events (and BOOKMARKs), one JSON document per
//! line, resumable from any retained resourceVersion, with the selectors applied to both the old
//! and new state so objects that start or stop matching appear as ADDED or DELETED.

use std::time::Duration;

use bytes::Bytes;
use control_store::{EventKind, WatchEvent};
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Channel};
use serde_json::{json, Value};

use super::read::{range_filtered, table_of, Filter};
use super::Ctx;
use crate::apiserver::body::Body;
use crate::apiserver::objects;
use crate::apiserver::status::{ApiError, ApiResult};

/// How often a watch that asked for bookmarks gets one when nothing else happens.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// Default lifetime of a watch without `timeoutSeconds` (kube-apiserver picks 30-60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub async fn watch(ctx: Ctx<'_>) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let filter = Filter::from_query(&ctx)?;
    let prefix = objects::prefix(r, ctx.namespace());
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let timeout = ctx
        .query
        .int("timeoutSeconds")?
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64))
        .unwrap_or(DEFAULT_TIMEOUT);
    let as_table = ctx.wants_table();
    let rv = ctx.query.get("resourceVersion");
    let mut initial: Vec<Value> = Vec::new();
    let start = match rv {
        // Unset or "0": the current state first, as ADDED events, then changes.
        None | Some("0") => {
            let (items, rev, _, _) = range_filtered(&ctx, &prefix, prefix.clone(), 0, 0, &filter)?;
            for (kv, obj) in items {
                let mut o = match obj {
                    Some(o) => o,
                    None => objects::decode(&kv)?,
                };
                objects::set_resource_version(&mut o, kv.mod_revision);
                initial.push(o);
            }
            rev + 1
        }
        Some(v) => {
            let rev: i64 = v.parse().map_err(|_| {
                ApiError::BadRequest(format!("invalid resource version: {v:?}"))
            })?;
            rev + 1
        }
    };
    let (mut tx, chan) = Channel::<Bytes, std::convert::Infallible>::new(64);
    let mut resp = Response::new(chan.boxed());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );

    let watcher = ctx.server.store.watch(&prefix, start);
    let server = ctx.server.clone();
    let table_ctx_rr = ctx.rr.clone();
    let query = ctx.query.clone();
    let accept = ctx.accept.to_string();
    server.metrics.watchers_inc();
    tokio::spawn(async move {
        let ctx = Ctx {
            server: &server,
            rr: &table_ctx_rr,
            query: &query,
            accept: &accept,
        };
        let mut first_table = true;
        let mut encode = |kind: &str, obj: &Value| -> Bytes {
            let object = if as_table && kind != "BOOKMARK" && kind != "ERROR" {
                let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
                let mut t = table_of(&ctx, std::slice::from_ref(obj), &rv, None);
                // Only the first event carries the column definitions, as kube-apiserver does.
                if !first_table {
                    t["columnDefinitions"] = json!([]);
                }
                first_table = false;
                t
            } else {
                obj.clone()
            };
            let mut line = serde_json::to_vec(&json!({"type": kind, "object": object}))
                .unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        };
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                let status = gone_status(&e.to_string());
                let _ = tx.send_data(encode("ERROR", &status)).await;
                server.metrics.watchers_dec();
                return;
            }
        };
        for obj in &initial {
            if tx.send_data(encode("ADDED", obj)).await.is_err() {
                server.metrics.watchers_dec();
                return;
            }
        }
        drop(initial);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_rev = start - 1;
        let mut tick = tokio::time::interval(BOOKMARK_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                ev = watcher.next() => {
                    match ev {
                        Some(Ok(ev)) => {
                            last_rev = ev.kv.mod_revision;
                            // Unfiltered JSON watches (the common, high fan-out case) splice the
                            // stored bytes into the event line without parsing the object.
                            if filter.is_empty() && !as_table {
                                if let Some(line) = raw_event_line(&ev) {
                                    if tx.send_data(line).await.is_err() {
                                        break;
                                    }
                                }
                                continue;
                            }
                            if let Some((kind, obj)) = transform(&ctx, &filter, &ev) {
                                if tx.send_data(encode(kind, &obj)).await.is_err() {
                                    break;
                                }
                            }
                        }
                        Some(Err(e)) => {
                            let _ = tx.send_data(encode("ERROR", &gone_status(&e.to_string()))).await;
                            break;
                        }
                        None => break,
                    }
                }
                _ = tick.tick(), if bookmarks => {
                    let bm = json!({"kind": ctx.resource().kind, "apiVersion": ctx.resource().api_version(),
                        "metadata": {"resourceVersion": last_rev.to_string(),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}});
                    if tx.send_data(encode("BOOKMARK", &bm)).await.is_err() {
                        break;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        server.metrics.watchers_dec();
    });
    Ok(resp)
}

/// The watch event line of an unfiltered JSON watch, built from the stored bytes.
fn raw_event_line(ev: &WatchEvent) -> Option<Bytes> {
    let (kind, object) = match ev.kind {
        EventKind::Put if ev.prev_kv.is_some() => ("MODIFIED", objects::with_resource_version(&ev.kv)),
        EventKind::Put => ("ADDED", objects::with_resource_version(&ev.kv)),
        EventKind::Delete => {
            // The deleted object as it was, at the revision of its deletion.
            let mut prev = ev.prev_kv.clone()?;
            prev.mod_revision = ev.kv.mod_revision;
            ("DELETED", objects::with_resource_version(&prev))
        }
    };
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(&object);
    line.extend_from_slice(b"}\n");
    Some(Bytes::from(line))
}

/// Maps a store event to a watch event for this watcher, or nothing if neither the old nor the
/// new state matches its selectors.
fn transform(ctx: &Ctx<'_>, filter: &Filter, ev: &WatchEvent) -> Option<(&'static str, Value)> {
    let prev = ev.prev_kv.as_ref().and_then(|p| objects::decode(p).ok());
    match ev.kind {
        EventKind::Put => {
            let obj = objects::decode(&ev.kv).ok()?;
            let now_matches = filter.matches(&obj);
            let was = prev.as_ref().map(|p| filter.matches(p));
            match (was, now_matches) {
                (None, true) => Some(("ADDED", obj)),
                (Some(true), true) => Some(("MODIFIED", obj)),
                (Some(false), true) => Some(("ADDED", obj)),
                (Some(true), false) => Some(("DELETED", obj)),
                _ => None,
            }
        }
        EventKind::Delete => {
            let mut obj = prev?;
            if !filter.matches(&obj) {
                return None;
            }
            // A deleted object carries the revision of its deletion, as in Kubernetes.
            objects::set_resource_version(&mut obj, ev.kv.mod_revision);
            let _ = ctx;
            Some(("DELETED", obj))
        }
    }
}

fn gone_status(detail: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {detail}"), "reason": "Expired", "code": 410})
}
