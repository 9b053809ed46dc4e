//! get and list: reads at the current revision (or one given by a continue token), with label
//! and field selectors, paging, and Table output for kubectl.

use base64::Engine;
use control_apimachinery::selector::{FieldSelector, LabelSelector};
use control_apimachinery::table;
use control_store::{Error as StoreError, KeyValue, RangeEnd, RangeRequest, Revision};
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::Ctx;
use crate::apiserver::body::{self, Body};
use crate::apiserver::objects::{self, Meta};
use crate::apiserver::status::{ApiError, ApiResult};

/// Label and field selectors of a list or watch.
pub struct Filter {
    kind: &'static str,
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
}

impl Filter {
    pub fn from_query(ctx: &Ctx<'_>) -> ApiResult<Filter> {
        let kind = ctx.resource().kind;
        let label = match ctx.query.get("labelSelector") {
            Some(s) => {
                Some(LabelSelector::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))?)
            }
            None => None,
        };
        let field = match ctx.query.get("fieldSelector") {
            Some(s) => {
                let fs = FieldSelector::parse(s)
                    .and_then(|fs| fs.for_kind(kind))
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                Some(fs)
            }
            None => None,
        };
        Ok(Filter { kind, label, field })
    }

    pub fn is_empty(&self) -> bool {
        self.label.is_none() && self.field.is_none()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.label {
            if !l.matches(&obj.labels()) {
                return false;
            }
        }
        if let Some(f) = &self.field {
            if !f.matches_object(self.kind, obj) {
                return false;
            }
        }
        true
    }
}

pub fn get(ctx: Ctx<'_>, name: &str) -> ApiResult<Response<Body>> {
    let kv = ctx.get_kv(name)?;
    if ctx.wants_table() {
        let obj = objects::decode(&kv)?;
        let t = table_of(&ctx, &[obj], &kv.mod_revision.to_string(), None);
        return Ok(body::json_response(StatusCode::OK, &t));
    }
    Ok(body::raw_json_response(
        StatusCode::OK,
        objects::with_resource_version(&kv),
    ))
}

/// The continue token: the revision the first page was read at and the next key, like
/// kube-apiserver's (base64 of a small JSON document).
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: Revision,
    start: String,
}

fn encode_continue(rv: Revision, next_key: &str, prefix: &str) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: next_key
            .strip_prefix(prefix)
            .unwrap_or(next_key)
            .to_string(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&t).expect("token serializes"))
}

fn decode_continue(token: &str, prefix: &str) -> ApiResult<(Revision, String)> {
    let bad = || ApiError::BadRequest("continue key is not valid: invalid continue token".into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    // The start key is relative to the list's prefix, so a token can never reach other keys.
    if t.v != "meta.k8s.io/v1" || t.rv <= 0 || t.start.contains("..") {
        return Err(bad());
    }
    Ok((t.rv, format!("{prefix}{}", t.start)))
}

/// One page of a filtered range read.
pub struct Page {
    /// Matching key-values, with the decoded object when the filter had to decode it.
    pub items: Vec<(KeyValue, Option<Value>)>,
    /// The revision the page was read at.
    pub revision: Revision,
    /// Where the next page starts, when there is one.
    pub next_key: Option<String>,
    /// Keys after this page (before filtering), as `remainingItemCount` reports.
    pub remaining: usize,
}

/// Reads up to `limit` matching objects starting at `start`, at revision `rev` (0 = current).
pub fn range_filtered(
    ctx: &Ctx<'_>,
    prefix: &str,
    start: String,
    rev: Revision,
    limit: usize,
    filter: &Filter,
) -> ApiResult<Page> {
    let mut out = Vec::new();
    let mut start = start;
    let mut rev = rev;
    let end = prefix_end(prefix);
    loop {
        let want = if limit == 0 { 0 } else { limit - out.len() };
        // With a selector, fetch in chunks: how many will match is not known in advance.
        let chunk = if filter.is_empty() {
            want
        } else {
            want.max(500)
        };
        let resp = ctx
            .server
            .store
            .range(&RangeRequest {
                start: start.clone(),
                end: RangeEnd::Until(end.clone()),
                limit: chunk,
                revision: rev,
                count_only: false,
            })
            .map_err(store_read_error)?;
        rev = resp.revision;
        let total = resp.count;
        let n = resp.kvs.len();
        for (i, kv) in resp.kvs.into_iter().enumerate() {
            if filter.is_empty() {
                out.push((kv, None));
            } else {
                let obj = objects::decode(&kv)?;
                if filter.matches(&obj) {
                    out.push((kv, Some(obj)));
                }
            }
            if limit > 0 && out.len() == limit {
                let more = i + 1 < n || resp.more;
                if more {
                    let last = &out.last().expect("non-empty").0.key;
                    let next = format!("{last}\0");
                    return Ok(Page {
                        items: out,
                        revision: rev,
                        next_key: Some(next),
                        remaining: total.saturating_sub(i + 1),
                    });
                }
                return Ok(Page {
                    items: out,
                    revision: rev,
                    next_key: None,
                    remaining: 0,
                });
            }
        }
        match resp.next_key {
            Some(next) if resp.more => start = next,
            _ => {
                return Ok(Page {
                    items: out,
                    revision: rev,
                    next_key: None,
                    remaining: 0,
                })
            }
        }
    }
}

pub fn list(ctx: Ctx<'_>) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let filter = Filter::from_query(&ctx)?;
    let prefix = objects::prefix(r, ctx.namespace());
    let limit = ctx.query.int("limit")?.unwrap_or(0).max(0) as usize;
    let (start, rev) = match ctx.query.get("continue") {
        Some(token) => {
            let (rev, start) = decode_continue(token, &prefix)?;
            (start, rev)
        }
        None => {
            let rev = match (
                ctx.query.get("resourceVersionMatch"),
                ctx.query.int("resourceVersion"),
            ) {
                (Some("Exact"), Ok(Some(rv))) => rv,
                _ => 0,
            };
            (prefix.clone(), rev)
        }
    };
    let Page {
        items,
        revision: rev,
        next_key: next,
        remaining,
    } = range_filtered(&ctx, &prefix, start, rev, limit, &filter)?;
    let cont = next.map(|k| encode_continue(rev, &k, &prefix));
    if ctx.wants_table() {
        let objs = items
            .iter()
            .map(|(kv, obj)| match obj {
                Some(o) => {
                    let mut o = o.clone();
                    objects::set_resource_version(&mut o, kv.mod_revision);
                    Ok(o)
                }
                None => objects::decode(kv),
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let t = table_of(&ctx, &objs, &rev.to_string(), cont.as_deref());
        return Ok(body::json_response(StatusCode::OK, &t));
    }
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if let Some(c) = &cont {
        meta["continue"] = json!(c);
        meta["remainingItemCount"] = json!(remaining);
    }
    // Items are spliced as stored (plus resourceVersion) rather than re-serialized.
    let mut out = Vec::with_capacity(
        items
            .iter()
            .map(|(kv, _)| kv.value.len() + 32)
            .sum::<usize>()
            + 128,
    );
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
            r.list_kind(),
            r.api_version(),
            meta
        )
        .as_bytes(),
    );
    for (i, (kv, _)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&objects::with_resource_version(kv));
    }
    out.extend_from_slice(b"]}");
    Ok(body::raw_json_response(StatusCode::OK, out))
}

/// Builds a meta.k8s.io/v1 Table for the objects, as `kubectl get` asks for.
pub fn table_of(ctx: &Ctx<'_>, objs: &[Value], rv: &str, cont: Option<&str>) -> Value {
    let include = match ctx.query.get("includeObject") {
        Some("None") => table::IncludeObject::None,
        Some("Object") => table::IncludeObject::Object,
        _ => table::IncludeObject::Metadata,
    };
    table::table(
        ctx.resource().kind,
        objs,
        jiff::Timestamp::now(),
        include,
        rv,
        cont.unwrap_or(""),
    )
}

/// The first key after every key with this prefix.
pub fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    String::new()
}

pub fn store_read_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Compacted { .. } => ApiError::Gone(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
        ),
        other => ApiError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_stay_under_their_prefix() {
        let p = "/registry/core/pods/default/";
        let t = encode_continue(42, "/registry/core/pods/default/web-2", p);
        assert_eq!(decode_continue(&t, p).unwrap(), (42, format!("{p}web-2")));
        assert!(decode_continue("not-a-token", p).is_err());
        let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"v":"meta.k8s.io/v1","rv":3,"start":"../../secrets/x"}"#);
        assert!(decode_continue(&evil, p).is_err());
    }

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end("/registry/core/pods/"), "/registry/core/pods0");
    }
}
