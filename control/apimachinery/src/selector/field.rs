//! Field selectors (`?fieldSelector=spec.nodeName=n1,status.phase!=Running`) and the per-kind
//! table of fields that can be selected on, with how each is read from a stored object.

use std::fmt;

use serde_json::Value;

use super::SelectorError;

/// How a field selector term compares the field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value`
    Equals,
    /// `field==value`, the same test as `Equals`.
    DoubleEquals,
    /// `field!=value`
    NotEquals,
}

/// One `field<op>value` term, with the value already unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

impl FieldRequirement {
    fn holds(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// A conjunction of field terms; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Matches every object.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Parses the Kubernetes syntax: terms separated by unescaped commas, each split at its
    /// first `!=`, `==` or `=`. In values, `\,`, `\=` and `\\` stand for the characters
    /// themselves; any other backslash, or a bare `,` or `=`, is an error. Field names are not
    /// checked here: see [`FieldSelector::for_kind`].
    pub fn parse(selector: &str) -> Result<FieldSelector, SelectorError> {
        let mut terms = split_terms(selector);
        // Sorted, like Kubernetes, so the printed form does not depend on the input order.
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, operator, raw)) = split_term(term) else {
                return Err(SelectorError::FieldTerm {
                    selector: selector.to_string(),
                    term: term.to_string(),
                });
            };
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value: unescape_value(raw)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Checks every field against what `kind` supports and rewrites legacy aliases to their
    /// current names (`spec.host` on pods becomes `spec.nodeName`). An unknown field yields
    /// `field label not supported: <field>`, which the server answers with 400.
    pub fn for_kind(&self, kind: &str) -> Result<FieldSelector, SelectorError> {
        let requirements = self
            .requirements
            .iter()
            .map(|r| match canonical_field(kind, &r.field) {
                Some(field) => Ok(FieldRequirement {
                    field: field.to_string(),
                    ..r.clone()
                }),
                None => Err(SelectorError::UnsupportedField(r.field.clone())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FieldSelector { requirements })
    }

    /// The terms, sorted.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector has no terms and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every term holds, reading fields through `lookup`. A field that `lookup` does
    /// not know reads as the empty string, as in Kubernetes.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.holds(&lookup(&r.field).unwrap_or_default()))
    }

    /// Whether a stored object of `kind` satisfies every term, reading fields with
    /// [`field_value`].
    pub fn matches_object(&self, kind: &str, object: &Value) -> bool {
        self.matches(|field| field_value(kind, object, field))
    }

    /// The value the selector demands for `field` through `=` or `==`, if any (for example
    /// `metadata.name`, which lets a list become a single lookup).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator != FieldOperator::NotEquals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// The canonical form: terms joined by `,`, `==` shown as `=`, values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

/// Splits at commas that are not escaped; the escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at the first operator; field names have no escapes, so this is where the
/// name ends.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [
        ("!=", FieldOperator::NotEquals),
        // `==` before `=`, or `a==b` would leave `=b` as the value.
        ("==", FieldOperator::DoubleEquals),
        ("=", FieldOperator::Equals),
    ];
    for (i, _) in term.char_indices() {
        for (text, operator) in OPERATORS {
            if term[i..].starts_with(text) {
                return Some((&term[..i], operator, &term[i + text.len()..]));
            }
        }
    }
    None
}

fn unescape_value(raw: &str) -> Result<String, SelectorError> {
    if !raw.contains(['\\', ',', '=']) {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(SelectorError::InvalidEscape(format!("\\{c}"))),
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(SelectorError::UnescapedRune(c)),
            _ => out.push(c),
        }
    }
    if escaped {
        return Err(SelectorError::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---- the selectable fields of each kind ---------------------------------------------------

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "status.phase"];
const SECRET_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];
const SERVICE_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.clusterIP",
    "spec.type",
];
const REPLICAS_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const JOB_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR_FIELDS: &[&str] = &["metadata.name", "spec.signerName"];
const DEFAULT_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// The field labels Kubernetes v1.32 accepts in a field selector for `kind`. Kinds without a
/// list of their own accept `metadata.name` and `metadata.namespace`; the cluster-scoped
/// Namespace, Node and CertificateSigningRequest do not accept `metadata.namespace`.
pub fn supported_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => POD_FIELDS,
        "Event" => EVENT_FIELDS,
        "Node" => NODE_FIELDS,
        "Namespace" => NAMESPACE_FIELDS,
        "Secret" => SECRET_FIELDS,
        "Service" => SERVICE_FIELDS,
        "ReplicationController" | "ReplicaSet" => REPLICAS_FIELDS,
        "Job" => JOB_FIELDS,
        "CertificateSigningRequest" => CSR_FIELDS,
        _ => DEFAULT_FIELDS,
    }
}

/// The current name of a selectable field of `kind`, or `None` when Kubernetes rejects it.
/// Old clients' `spec.host` on pods is accepted as `spec.nodeName`.
pub fn canonical_field(kind: &str, field: &str) -> Option<&'static str> {
    if kind == "Pod" && field == "spec.host" {
        return Some("spec.nodeName");
    }
    supported_fields(kind).iter().copied().find(|f| *f == field)
}

/// Whether a field selector on `kind` may name `field`.
pub fn supported_field(kind: &str, field: &str) -> bool {
    canonical_field(kind, field).is_some()
}

/// Reads a selectable field of a stored object as the string Kubernetes compares: absent
/// strings read as `""`, booleans as `true`/`false`, counts as decimal integers defaulting to 0.
/// Returns `None` only for a field `kind` does not support.
pub fn field_value(kind: &str, object: &Value, field: &str) -> Option<String> {
    let field = canonical_field(kind, field)?;
    let text = |path: &[&str]| string_at(object, path).to_string();
    let value = match (kind, field) {
        (_, "metadata.name") => text(&["metadata", "name"]),
        (_, "metadata.namespace") => text(&["metadata", "namespace"]),
        ("Pod", "spec.hostNetwork") => bool_at(object, &["spec", "hostNetwork"]).to_string(),
        ("Pod", "status.podIP") => {
            // The first entry of podIPs is authoritative; podIP is its older single form.
            let first = object
                .pointer("/status/podIPs/0/ip")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if first.is_empty() {
                text(&["status", "podIP"])
            } else {
                first.to_string()
            }
        }
        // Accepted by Kubernetes but never filled in its field set, so it always reads empty.
        ("Pod", "status.podIPs") => String::new(),
        ("Node", "spec.unschedulable") => bool_at(object, &["spec", "unschedulable"]).to_string(),
        (_, "status.replicas") => int_at(object, &["status", "replicas"]).to_string(),
        ("Job", "status.successful") => int_at(object, &["status", "succeeded"]).to_string(),
        ("Event", "reportingComponent") => text(&["reportingComponent"]),
        ("Event", "source") => {
            let component = string_at(object, &["source", "component"]);
            if component.is_empty() {
                text(&["reportingComponent"])
            } else {
                component.to_string()
            }
        }
        // Every other supported field is a plain string at the same dotted path.
        (_, dotted) => {
            let path: Vec<&str> = dotted.split('.').collect();
            text(&path)
        }
    };
    Some(value)
}

fn value_at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| v.get(key))
}

fn string_at<'a>(object: &'a Value, path: &[&str]) -> &'a str {
    value_at(object, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn bool_at(object: &Value, path: &[&str]) -> bool {
    value_at(object, path)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn int_at(object: &Value, path: &[&str]) -> i64 {
    value_at(object, path).and_then(Value::as_i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn fields<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |f| {
            pairs
                .iter()
                .find(|(k, _)| *k == f)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_empty_selector_matches_everything() {
        let selector = parse("");
        assert!(selector.is_empty());
        assert!(selector.matches(fields(&[])));
        assert_eq!(parse(",,").requirements().len(), 0);
    }

    #[test]
    fn all_three_operators_compare_strings() {
        let pairs = [("status.phase", "Running")];
        assert!(parse("status.phase=Running").matches(fields(&pairs)));
        assert!(parse("status.phase==Running").matches(fields(&pairs)));
        assert!(!parse("status.phase!=Running").matches(fields(&pairs)));
        assert!(parse("status.phase!=Pending").matches(fields(&pairs)));
        assert_eq!(
            parse("a==b").requirements()[0],
            FieldRequirement {
                field: "a".into(),
                operator: FieldOperator::DoubleEquals,
                value: "b".into()
            }
        );
    }

    #[test]
    fn unknown_fields_read_as_empty() {
        assert!(parse("spec.nodeName=").matches(fields(&[])));
        assert!(parse("spec.nodeName!=n1").matches(fields(&[])));
        assert!(!parse("spec.nodeName=n1").matches(fields(&[])));
    }

    #[test]
    fn terms_are_anded_and_printed_sorted() {
        let selector = parse("metadata.name=a,metadata.namespace!=b");
        assert!(selector.matches(fields(&[
            ("metadata.name", "a"),
            ("metadata.namespace", "c")
        ])));
        assert!(!selector.matches(fields(&[
            ("metadata.name", "a"),
            ("metadata.namespace", "b")
        ])));
        assert_eq!(parse("z=1,a==2,m!=3").to_string(), "a=2,m!=3,z=1");
    }

    #[test]
    fn escaped_commas_equals_and_backslashes_belong_to_the_value() {
        let selector = parse(r"metadata.name=a\,b\=c\\d,type=x");
        assert_eq!(selector.requirements()[0].value, r"a,b=c\d");
        assert_eq!(selector.requirements()[1].value, "x");
        assert_eq!(selector.to_string(), r"metadata.name=a\,b\=c\\d,type=x");
    }

    #[test]
    fn bad_escapes_and_bare_specials_are_errors() {
        assert_eq!(
            FieldSelector::parse(r"a=b\x").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            FieldSelector::parse(r"a=b\").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescapedRune character in value: 61"
        );
    }

    #[test]
    fn a_term_without_operator_is_not_understood() {
        assert_eq!(
            FieldSelector::parse("a=b,oops").unwrap_err().to_string(),
            "invalid selector: 'a=b,oops'; can't understand 'oops'"
        );
    }

    #[test]
    fn kinds_accept_only_their_field_labels() {
        let selector = parse("spec.nodeName=n1");
        assert!(selector.for_kind("Pod").is_ok());
        assert_eq!(
            selector.for_kind("Deployment").unwrap_err().to_string(),
            "field label not supported: spec.nodeName"
        );
        assert!(parse("metadata.namespace=a").for_kind("Deployment").is_ok());
        assert!(parse("metadata.namespace=a").for_kind("Node").is_err());
        assert!(parse("spec.unschedulable=true").for_kind("Node").is_ok());
        assert!(parse("type=Opaque").for_kind("Secret").is_ok());
        assert!(parse("status.replicas=0").for_kind("ReplicaSet").is_ok());
        assert!(parse("status.successful=1").for_kind("Job").is_ok());
        assert!(parse("spec.signerName=x")
            .for_kind("CertificateSigningRequest")
            .is_ok());
        assert!(parse("involvedObject.uid=x,reason=y,source=z")
            .for_kind("Event")
            .is_ok());
        assert!(parse("status.phase=Active").for_kind("Namespace").is_ok());
        assert!(supported_field("Pod", "status.nominatedNodeName"));
        assert!(!supported_field("ConfigMap", "data"));
    }

    #[test]
    fn the_legacy_pod_host_field_means_node_name() {
        let selector = parse("spec.host=n1").for_kind("Pod").unwrap();
        assert_eq!(selector.requirements()[0].field, "spec.nodeName");
        let pod = json!({"spec": {"nodeName": "n1"}});
        assert!(selector.matches_object("Pod", &pod));
    }

    #[test]
    fn pod_fields_are_read_with_kubernetes_defaults() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler", "serviceAccountName": "default"},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
        });
        assert_eq!(field_value("Pod", &pod, "metadata.name").unwrap(), "p");
        assert_eq!(
            field_value("Pod", &pod, "spec.hostNetwork").unwrap(),
            "false"
        );
        assert_eq!(
            field_value("Pod", &pod, "status.podIP").unwrap(),
            "10.0.0.1"
        );
        assert_eq!(field_value("Pod", &pod, "status.podIPs").unwrap(), "");
        assert_eq!(
            field_value("Pod", &pod, "status.nominatedNodeName").unwrap(),
            ""
        );
        assert_eq!(
            field_value("Pod", &pod, "spec.restartPolicy").unwrap(),
            "Always"
        );
        assert_eq!(field_value("Pod", &pod, "spec.containers"), None);
        let host = json!({"spec": {"hostNetwork": true}});
        assert_eq!(
            field_value("Pod", &host, "spec.hostNetwork").unwrap(),
            "true"
        );
        assert!(parse("status.phase=Running,spec.nodeName=n1").matches_object("Pod", &pod));
        assert!(!parse("status.phase!=Running").matches_object("Pod", &pod));
    }

    #[test]
    fn other_kinds_fields_are_read_from_their_objects() {
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value("Node", &node, "spec.unschedulable").unwrap(),
            "true"
        );
        let rs = json!({"status": {"replicas": 3}});
        assert_eq!(
            field_value("ReplicaSet", &rs, "status.replicas").unwrap(),
            "3"
        );
        assert_eq!(
            field_value("ReplicationController", &json!({}), "status.replicas").unwrap(),
            "0"
        );
        let job = json!({"status": {"succeeded": 2}});
        assert_eq!(field_value("Job", &job, "status.successful").unwrap(), "2");
        let secret = json!({"type": "kubernetes.io/tls"});
        assert_eq!(
            field_value("Secret", &secret, "type").unwrap(),
            "kubernetes.io/tls"
        );
        let ns = json!({"status": {"phase": "Terminating"}});
        assert_eq!(
            field_value("Namespace", &ns, "status.phase").unwrap(),
            "Terminating"
        );
        let svc = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.5"}});
        assert_eq!(
            field_value("Service", &svc, "spec.type").unwrap(),
            "NodePort"
        );
        let csr = json!({"spec": {"signerName": "kubernetes.io/kube-apiserver-client"}});
        assert_eq!(
            field_value("CertificateSigningRequest", &csr, "spec.signerName").unwrap(),
            "kubernetes.io/kube-apiserver-client"
        );
    }

    #[test]
    fn event_source_falls_back_to_the_reporting_controller() {
        let event = json!({
            "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "default", "uid": "u1"},
            "reason": "Scheduled",
            "type": "Normal",
            "reportingComponent": "default-scheduler",
            "source": {}
        });
        assert_eq!(
            field_value("Event", &event, "source").unwrap(),
            "default-scheduler"
        );
        assert_eq!(
            field_value("Event", &event, "involvedObject.kind").unwrap(),
            "Pod"
        );
        assert_eq!(
            field_value("Event", &event, "involvedObject.fieldPath").unwrap(),
            ""
        );
        let with_source = json!({"source": {"component": "kubelet"}, "reportingComponent": "x"});
        assert_eq!(
            field_value("Event", &with_source, "source").unwrap(),
            "kubelet"
        );
        assert!(parse("involvedObject.name=web-0,type=Normal").matches_object("Event", &event));
    }
}
