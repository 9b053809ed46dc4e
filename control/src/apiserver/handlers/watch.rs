//! watch: a stream of ADDED / MODIFIED / DELETED events (and BOOKMARKs), one JSON document per
//! line, resumable from any retained resourceVersion, with the selectors applied to both the old
//! and new state so objects that start or stop matching appear as ADDED or DELETED.

use std::time::Duration;

use bytes::Bytes;
use control_store::{EventKind, WatchEvent};
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
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
            let page = range_filtered(&ctx, &prefix, prefix.clone(), 0, 0, &filter)?;
            let (items, rev) = (page.items, page.revision);
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
            let rev: i64 = v
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {v:?}")))?;
            rev + 1
        }
    };
    let watcher = ctx.server.store.watch(&prefix, start);
    ctx.server.metrics.watchers_inc();
    let mut tick = tokio::time::interval(BOOKMARK_EVERY);
    tick.reset();
    let state = WatchState {
        server: ctx.server.clone(),
        rr: ctx.rr.clone(),
        query: ctx.query.clone(),
        accept: ctx.accept.to_string(),
        filter,
        as_table,
        first_table: true,
        initial: initial.into(),
        watcher: watcher.map_err(|e| e.to_string()),
        done: false,
        deadline: tokio::time::Instant::now() + timeout,
        tick,
        bookmarks,
        last_rev: start - 1,
    };
    // hyper's connection task polls this stream itself: no task or channel per watch.
    let stream = futures::stream::unfold(state, |mut st| async move {
        let line = st.next_line().await?;
        Some((Ok::<_, std::convert::Infallible>(Frame::data(line)), st))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Everything one watch stream needs between events.
struct WatchState {
    server: std::sync::Arc<crate::apiserver::ApiServer>,
    rr: crate::apiserver::request::ResourceRequest,
    query: crate::apiserver::request::Query,
    accept: String,
    filter: Filter,
    as_table: bool,
    first_table: bool,
    initial: std::collections::VecDeque<Value>,
    /// The store watcher, or why it could not start (sent as an ERROR event).
    watcher: Result<control_store::Watcher, String>,
    done: bool,
    deadline: tokio::time::Instant,
    tick: tokio::time::Interval,
    bookmarks: bool,
    last_rev: i64,
}

impl Drop for WatchState {
    fn drop(&mut self) {
        self.server.metrics.watchers_dec();
    }
}

impl WatchState {
    fn encode(&mut self, kind: &str, obj: &Value) -> Bytes {
        let object = if self.as_table && kind != "BOOKMARK" && kind != "ERROR" {
            let ctx = Ctx {
                server: &self.server,
                rr: &self.rr,
                query: &self.query,
                accept: &self.accept,
                requestor: None,
            };
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let mut t = table_of(&ctx, std::slice::from_ref(obj), &rv, None);
            // Only the first event carries the column definitions, as kube-apiserver does.
            if !self.first_table {
                t["columnDefinitions"] = json!([]);
            }
            self.first_table = false;
            t
        } else {
            obj.clone()
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    /// The next line of the stream, or None when it ends (timeout, error sent, store closed).
    async fn next_line(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if let Some(obj) = self.initial.pop_front() {
            return Some(self.encode("ADDED", &obj));
        }
        loop {
            let watcher = match &mut self.watcher {
                Ok(w) => w,
                Err(e) => {
                    let status = gone_status(&e.clone());
                    self.done = true;
                    return Some(self.encode("ERROR", &status));
                }
            };
            tokio::select! {
                ev = watcher.next() => match ev {
                    Some(Ok(ev)) => {
                        self.last_rev = ev.kv.mod_revision;
                        // Unfiltered JSON watches (the common, high fan-out case) splice the
                        // stored bytes into the event line without parsing the object.
                        if self.filter.is_empty() && !self.as_table {
                            if let Some(line) = raw_event_line(&ev) {
                                return Some(line);
                            }
                            continue;
                        }
                        let ctx = Ctx { server: &self.server, rr: &self.rr, query: &self.query, accept: &self.accept, requestor: None };
                        if let Some((kind, obj)) = transform(&ctx, &self.filter, &ev) {
                            return Some(self.encode(kind, &obj));
                        }
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(self.encode("ERROR", &gone_status(&e.to_string())));
                    }
                    None => return None,
                },
                _ = self.tick.tick(), if self.bookmarks => {
                    let r = self.rr.resource;
                    let bm = json!({"kind": r.kind, "apiVersion": r.api_version(),
                        "metadata": {"resourceVersion": self.last_rev.to_string(),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}});
                    return Some(self.encode("BOOKMARK", &bm));
                }
                _ = tokio::time::sleep_until(self.deadline) => return None,
            }
        }
    }
}

/// The watch event line of an unfiltered JSON watch, built from the stored bytes.
fn raw_event_line(ev: &WatchEvent) -> Option<Bytes> {
    let (kind, object) = match ev.kind {
        EventKind::Put if ev.prev_kv.is_some() => {
            ("MODIFIED", objects::with_resource_version(&ev.kv))
        }
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
