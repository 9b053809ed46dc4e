//! Builders the unit tests of the controllers share.

use jiff::Timestamp;
use serde_json::Value;

/// The fixed "now" of the tests: 2024-05-01 12:00:00 UTC.
pub(crate) fn now() -> Timestamp {
    ts("2024-05-01T12:00:00Z")
}

/// A timestamp from its RFC 3339 text.
pub(crate) fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Merges `patch` into `base` as a JSON merge patch does: objects merge key by key, a `null`
/// removes the key, anything else replaces.
pub(crate) fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p,
    }
}
