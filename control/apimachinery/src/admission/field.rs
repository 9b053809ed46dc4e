//! Field-level validation errors, shaped and worded like Kubernetes' `field.Error`.
//!
//! kubectl shows these verbatim (`spec.containers[0].image: Required value`) and tools match on
//! the Status `details.causes[]` they become, so the rendering rules follow the Go
//! implementation: which kinds print their value, how a value is quoted, how a list of errors is
//! aggregated into one message.

use std::fmt;

use serde_json::{json, Value};

/// The kind of a field error; one to one with a Status cause `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// A value that must be given was not (`Required value`).
    Required,
    /// A malformed or out-of-range value (`Invalid value`).
    Invalid,
    /// A value outside an enumeration (`Unsupported value`).
    NotSupported,
    /// A value that must be unique appeared twice (`Duplicate value`).
    Duplicate,
    /// A well-formed value not allowed here (`Forbidden`).
    Forbidden,
    /// A value longer than allowed; the value itself is never printed (`Too long`).
    TooLong,
    /// A list with more items than allowed (`Too many`).
    TooMany,
    /// A reference to something that does not exist (`Not found`).
    NotFound,
    /// A failure that is not the user's fault (`Internal error`).
    Internal,
}

impl FieldErrorKind {
    /// The Status cause `reason` (`FieldValueRequired`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::NotFound => "FieldValueNotFound",
            FieldErrorKind::Internal => "InternalError",
        }
    }

    /// The human wording that starts the message body (`Required value`, ...).
    pub fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::Internal => "Internal error",
        }
    }
}

/// One validation failure at one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// Dotted path with indexes and keys: `spec.containers[0].name`, `data[.bad]`.
    pub field: String,
    /// The offending value; `None` when the message must not show one.
    pub value: Option<Value>,
    /// The explanation after the value, possibly empty.
    pub detail: String,
    /// How Kubernetes renders the value when it is a Go struct (`v1.LabelSelector{...}`); when
    /// set it is printed instead of `value`.
    pub value_repr: Option<String>,
}

impl FieldError {
    fn new(
        kind: FieldErrorKind,
        field: impl Into<String>,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
            value_repr: None,
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, None, detail)
    }

    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(FieldErrorKind::Invalid, field, Some(value.into()), detail)
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            FieldErrorKind::NotSupported,
            field,
            Some(value.into()),
            detail,
        )
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorKind::Duplicate, field, Some(value.into()), "")
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, None, detail)
    }

    /// `Too long: may not be more than N bytes`.
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        let unit = if max_bytes == 1 { "byte" } else { "bytes" };
        Self::new(
            FieldErrorKind::TooLong,
            field,
            None,
            format!("may not be more than {max_bytes} {unit}"),
        )
    }

    /// `Too many: 3: must have at most 2 items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self::new(
            FieldErrorKind::TooMany,
            field,
            Some(Value::from(actual)),
            format!("must have at most {max} items"),
        )
    }

    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorKind::NotFound, field, Some(value.into()), "")
    }

    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Internal, field, None, detail)
    }

    /// Replaces how the value is printed (for values Kubernetes renders as Go structs).
    pub fn with_repr(mut self, repr: impl Into<String>) -> Self {
        self.value_repr = Some(repr.into());
        self
    }

    /// Replaces the detail text.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The message without the field path: what goes into a Status cause's `message`.
    pub fn body(&self) -> String {
        let mut s = match self.kind {
            // These kinds never print the value, whatever it is.
            FieldErrorKind::Required
            | FieldErrorKind::Forbidden
            | FieldErrorKind::TooLong
            | FieldErrorKind::Internal => self.kind.label().to_string(),
            _ => match (&self.value_repr, &self.value) {
                (Some(repr), _) => format!("{}: {}", self.kind.label(), repr),
                (None, Some(v)) => format!("{}: {}", self.kind.label(), go_value(v)),
                (None, None) => self.kind.label().to_string(),
            },
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The Status `details.causes[]` entry for this error.
    pub fn to_cause(&self) -> Value {
        json!({
            "reason": self.kind.reason(),
            "message": self.body(),
            "field": self.field,
        })
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// The Status `message` of a 422 Invalid response: `Deployment.apps "web" is invalid: ...`.
///
/// `group` is the resource's API group (empty for core). Identical messages are printed once and
/// several are bracketed, as Kubernetes' error aggregate does.
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut messages: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    match messages.len() {
        0 => format!("{qualified} {} is invalid", go_quote(name)),
        1 => format!("{qualified} {} is invalid: {}", go_quote(name), messages[0]),
        _ => format!(
            "{qualified} {} is invalid: [{}]",
            go_quote(name),
            messages.join(", ")
        ),
    }
}

/// The `details.causes[]` list of a 422 Invalid Status.
pub fn status_causes(errors: &[FieldError]) -> Vec<Value> {
    errors.iter().map(FieldError::to_cause).collect()
}

/// Go's `strconv.Quote`: double quotes, backslash escapes for quotes, backslashes and control
/// characters; printable Unicode is kept as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders a value the way Kubernetes' error printer does for the Go value it validated:
/// strings quoted, numbers and booleans bare, string maps and lists as Go literals.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            if items.is_empty() {
                "[]string(nil)".to_string()
            } else {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| go_quote(i.as_str().unwrap_or_default()))
                    .collect();
                format!("[]string{{{}}}", parts.join(", "))
            }
        }
        Value::Object(map) if map.values().all(Value::is_string) => go_string_map(map),
        other => other.to_string(),
    }
}

/// `map[string]string{"a":"b", "c":"d"}` with keys sorted, as Go's `%#v` prints maps.
pub fn go_string_map(map: &serde_json::Map<String, Value>) -> String {
    if map.is_empty() {
        return "map[string]string(nil)".to_string();
    }
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{}:{}",
                go_quote(k),
                go_quote(map[k.as_str()].as_str().unwrap_or_default())
            )
        })
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// A label selector as Kubernetes prints it in immutability errors:
/// `v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`.
pub fn go_label_selector(selector: Option<&Value>) -> String {
    let Some(sel) = selector.filter(|s| s.is_object()) else {
        return "null".to_string();
    };
    let labels = match sel.get("matchLabels").and_then(Value::as_object) {
        Some(m) => go_string_map(m),
        None => "map[string]string(nil)".to_string(),
    };
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    let values = match e.get("values").and_then(Value::as_array) {
                        Some(v) if !v.is_empty() => go_value(&Value::Array(v.clone())),
                        _ => "[]string(nil)".to_string(),
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(e.get("key").and_then(Value::as_str).unwrap_or_default()),
                        go_quote(
                            e.get("operator")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                        ),
                        values
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".to_string(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_errors_never_print_a_value() {
        let e = FieldError::required("spec.containers[0].image", "");
        assert_eq!(e.to_string(), "spec.containers[0].image: Required value");
        let e = FieldError::required("metadata.name", "name or generateName is required");
        assert_eq!(
            e.to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn invalid_errors_quote_strings_and_print_numbers_bare() {
        let e = FieldError::invalid("spec.replicas", -1, "must be greater than or equal to 0");
        assert_eq!(
            e.to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let e = FieldError::invalid("metadata.name", "a\"b", "bad");
        assert_eq!(e.body(), "Invalid value: \"a\\\"b\": bad");
    }

    #[test]
    fn not_supported_lists_the_quoted_choices() {
        let e = FieldError::not_supported(
            "spec.restartPolicy",
            "Sometimes",
            &["Always", "OnFailure", "Never"],
        );
        assert_eq!(
            e.to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        assert_eq!(e.to_cause()["reason"], "FieldValueNotSupported");
    }

    #[test]
    fn too_long_and_too_many_read_like_kubernetes() {
        assert_eq!(
            FieldError::too_long("metadata.annotations", 262144).to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
        assert_eq!(
            FieldError::too_many("endpoints", 1001, 1000).to_string(),
            "endpoints: Too many: 1001: must have at most 1000 items"
        );
    }

    #[test]
    fn string_maps_print_as_go_map_literals() {
        let e = FieldError::invalid(
            "spec.template.metadata.labels",
            json!({"tier": "web", "app": "x"}),
            "`selector` does not match template `labels`",
        );
        assert_eq!(
            e.body(),
            "Invalid value: map[string]string{\"app\":\"x\", \"tier\":\"web\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn selectors_print_as_go_structs() {
        let sel = json!({"matchLabels": {"app": "nginx2"}});
        assert_eq!(
            go_label_selector(Some(&sel)),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"nginx2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
    }

    #[test]
    fn invalid_message_aggregates_and_deduplicates() {
        let errs = vec![
            FieldError::required("spec.selector", ""),
            FieldError::required("spec.selector", ""),
            FieldError::required("spec.template.spec.containers", ""),
        ];
        assert_eq!(
            invalid_message("Deployment", "apps", "web", &errs),
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.spec.containers: Required value]"
        );
        assert_eq!(
            invalid_message("Pod", "", "p", &errs[..1]),
            "Pod \"p\" is invalid: spec.selector: Required value"
        );
    }

    #[test]
    fn go_quote_escapes_control_characters() {
        assert_eq!(go_quote("a\nb\u{1}"), "\"a\\nb\\x01\"");
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }
}
