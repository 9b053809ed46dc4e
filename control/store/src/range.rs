//! Range requests: read a single key, a prefix or a half-open key interval,
//! at the current or a past revision, with paging.

use crate::kv::{KeyValue, Revision};

/// Which keys a range covers, starting at `RangeRequest::start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeEnd {
    /// Exactly the key `start`.
    Single,
    /// Every key that starts with `start` (every key if `start` is empty).
    Prefix,
    /// Keys in `[start, end)`; empty if `end <= start`.
    Until(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRequest {
    pub start: String,
    pub end: RangeEnd,
    /// Maximum number of key-values returned; 0 means no limit.
    pub limit: usize,
    /// Revision to read at; 0 means the current revision.
    pub revision: Revision,
    /// Only count matching keys, return no key-values.
    pub count_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// Matching key-values in key order, at most `limit`.
    pub kvs: Vec<KeyValue>,
    /// Whether more keys matched than were returned.
    pub more: bool,
    /// Total number of matching keys, ignoring `limit`.
    pub count: usize,
    /// The revision the range was served at.
    pub revision: Revision,
    /// When `more`, the first key not returned: continue from here (inclusive).
    pub next_key: Option<String>,
}

impl RangeRequest {
    /// All keys under `prefix` at the current revision, unlimited.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        RangeRequest {
            start: prefix.into(),
            end: RangeEnd::Prefix,
            limit: 0,
            revision: 0,
            count_only: false,
        }
    }

    /// Exactly `key` at the current revision.
    pub fn single(key: impl Into<String>) -> Self {
        RangeRequest {
            start: key.into(),
            end: RangeEnd::Single,
            limit: 0,
            revision: 0,
            count_only: false,
        }
    }
}
