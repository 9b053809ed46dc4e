//! Server-side table output: what kube-apiserver returns when a client asks for
//! `application/json;as=Table;v=v1;g=meta.k8s.io`, as `kubectl get` always does.
//!
//! For each served kind this module knows the column definitions and how to compute one row's
//! cells from a stored object, following Kubernetes v1.32's printers so that `kubectl get` (and
//! `-o wide`, which only shows the priority-1 columns) prints what it prints against a real
//! cluster. Like kube-apiserver, rows always carry the wide cells; the client picks columns.
//! Kinds without a printer get `Name` and `Age`; LimitRange, which has no printer in
//! Kubernetes either, gets the generic `Name` / `Created At` pair.
//!
//! Everything here is pure: the caller passes the current time in.

mod columns;
mod rows;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Map, Value};

pub use columns::columns;

/// One column definition of a `meta.k8s.io/v1` Table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Header text as Kubernetes sends it (`Name`, `Nominated Node`); kubectl upper-cases it.
    pub name: &'static str,
    /// OpenAPI type of the cells: `string`, `integer`, `boolean` or `date`.
    pub type_: &'static str,
    /// `name` for the column holding the object name, empty otherwise.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 for the default view, 1 for columns kubectl shows only with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The column as it appears in a Table's `columnDefinitions`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// What each row's `object` carries, from the `includeObject` parameter of the Table request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` with the object's metadata; the default, and what kubectl
    /// needs for `--show-labels`, `-L` and the NAMESPACE column of `-A`.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query value (`None`, `Metadata` or `Object`).
    pub fn parse(value: &str) -> Option<IncludeObject> {
        match value {
            "None" => Some(IncludeObject::None),
            "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// The cells of one object's row, in [`columns`] order, wide columns included.
pub fn row(kind: &str, object: &Value, now: Timestamp) -> Vec<Value> {
    rows::cells(kind, object, now)
}

/// Builds the whole `meta.k8s.io/v1` Table for a list (or a single object, as a one-item
/// slice). `resource_version` and `continue_token` go into the Table's list metadata and are
/// left out when empty.
pub fn table(
    kind: &str,
    objects: &[Value],
    now: Timestamp,
    include_object: IncludeObject,
    resource_version: &str,
    continue_token: &str,
) -> Value {
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".into(), resource_version.into());
    }
    if !continue_token.is_empty() {
        metadata.insert("continue".into(), continue_token.into());
    }
    let column_definitions: Vec<Value> = columns(kind).iter().map(Column::to_json).collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(rows::cells(kind, object, now)));
            if let Some(conditions) = rows::conditions(kind, object) {
                row.insert("conditions".into(), conditions);
            }
            match include_object {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
                    row.insert(
                        "object".into(),
                        json!({
                            "kind": "PartialObjectMetadata",
                            "apiVersion": "meta.k8s.io/v1",
                            "metadata": meta,
                        }),
                    );
                }
                IncludeObject::Object => {
                    row.insert("object".into(), object.clone());
                }
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

/// A duration in the compact form of Kubernetes' `duration.HumanDuration`, about two
/// significant units: `45s`, `119s`, `3m2s`, `10m`, `5h3m`, `9h`, `2d3h`, `30d`, `2y45d`, `9y`.
pub fn human_duration(duration: Duration) -> String {
    human_seconds(duration.as_secs())
}

/// How long ago `timestamp` (RFC 3339 text from an object) was, as `kubectl get` prints ages:
/// `<unknown>` when missing or unreadable, `<invalid>` when more than a second in the future.
pub fn age(timestamp: Option<&str>, now: Timestamp) -> String {
    match parse_time(timestamp) {
        Some(then) => human_signed(now.duration_since(then)),
        None => "<unknown>".to_string(),
    }
}

/// Parses an object timestamp; Go's zero time (`0001-01-01T00:00:00Z`) counts as missing.
fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;
    let time: Timestamp = text?.parse().ok()?;
    (time.as_second() != GO_ZERO_TIME_SECONDS).then_some(time)
}

/// Like [`human_duration`], but tolerating small negative durations from clock skew the way
/// Kubernetes does.
fn human_signed(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    if seconds < -1 {
        "<invalid>".to_string()
    } else if seconds < 0 {
        "0s".to_string()
    } else {
        human_seconds(seconds.unsigned_abs())
    }
}

fn human_seconds(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const YEAR: u64 = 365 * DAY;
    if seconds < 2 * MINUTE {
        return format!("{seconds}s");
    }
    let minutes = seconds / MINUTE;
    if minutes < 10 {
        return match seconds % MINUTE {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / HOUR;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = seconds / DAY;
    if hours < 8 * 24 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if days < 2 * 365 {
        return format!("{days}d");
    }
    let years = seconds / YEAR;
    if years < 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{years}y")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn human_duration_follows_the_kubernetes_steps() {
        let cases = [
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (182, "3m2s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 3 * 60, "5h3m"),
            (8 * 3600 + 59 * 60, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (2 * 86400 + 3 * 3600, "2d3h"),
            (7 * 86400 + 23 * 3600, "7d23h"),
            (8 * 86400 + 5 * 3600, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (775 * 86400, "2y45d"),
            (8 * 365 * 86400, "8y"),
            (20 * 365 * 86400 + 100 * 86400, "20y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(
                human_duration(Duration::from_secs(seconds)),
                expected,
                "{seconds}s"
            );
        }
        assert_eq!(human_duration(Duration::from_millis(1999)), "1s");
    }

    #[test]
    fn ages_are_measured_from_now_and_tolerate_small_skew() {
        assert_eq!(age(Some("2024-05-01T11:55:00Z"), now()), "5m");
        assert_eq!(age(Some("2024-05-01T12:00:01Z"), now()), "0s");
        assert_eq!(age(Some("2024-05-01T12:00:05Z"), now()), "<invalid>");
        assert_eq!(age(None, now()), "<unknown>");
        assert_eq!(age(Some("garbage"), now()), "<unknown>");
        assert_eq!(age(Some("0001-01-01T00:00:00Z"), now()), "<unknown>");
        assert_eq!(age(Some("2024-05-01T11:59:58.500000Z"), now()), "1s");
    }

    #[test]
    fn include_object_reads_the_query_values() {
        assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
        assert_eq!(
            IncludeObject::parse("Metadata"),
            Some(IncludeObject::Metadata)
        );
        assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
        assert_eq!(IncludeObject::parse("metadata"), None);
        assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
    }

    #[test]
    fn a_table_carries_list_metadata_columns_rows_and_partial_metadata() {
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": "2024-05-01T11:00:00Z"},
            "data": {"a": "1", "b": "2"}
        });
        let t = table(
            "ConfigMap",
            std::slice::from_ref(&cm),
            now(),
            IncludeObject::Metadata,
            "42",
            "",
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name", "description": t["columnDefinitions"][0]["description"], "priority": 0})
        );
        assert_eq!(t["rows"][0]["cells"], json!(["cfg", 2, "60m"]));
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": cm["metadata"]})
        );

        let full = table(
            "ConfigMap",
            std::slice::from_ref(&cm),
            now(),
            IncludeObject::Object,
            "",
            "tok",
        );
        assert_eq!(full["metadata"], json!({"continue": "tok"}));
        assert_eq!(full["rows"][0]["object"], cm);

        let bare = table("ConfigMap", &[cm], now(), IncludeObject::None, "", "");
        assert!(bare["rows"][0].get("object").is_none());

        let empty = table("ConfigMap", &[], now(), IncludeObject::Metadata, "7", "");
        assert_eq!(empty["rows"], json!([]));
    }

    #[test]
    fn every_row_has_one_cell_per_column() {
        let object =
            json!({"metadata": {"name": "x", "creationTimestamp": "2024-05-01T11:00:00Z"}});
        for resource in crate::resources::RESOURCES {
            let cells = row(resource.kind, &object, now());
            assert_eq!(
                cells.len(),
                columns(resource.kind).len(),
                "{}",
                resource.kind
            );
            let names = columns(resource.kind);
            assert!(
                names.iter().any(|c| c.format == "name"),
                "{} has a name column",
                resource.kind
            );
        }
        assert_eq!(
            row("Widget", &object, now()),
            vec![json!("x"), json!("60m")]
        );
    }
}
