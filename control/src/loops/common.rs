//! Helpers the controller loops share: typed views of informer caches, expectations of
//! unseen writes, and the two writes every controller makes (merge patch, delete).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::Value;

use crate::client::Connection;

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
