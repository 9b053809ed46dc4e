//! Validation of objects on create and update, after defaulting, with Kubernetes' rules and
//! messages (`pkg/apis/*/validation`). One submodule per group of kinds; this file holds the
//! dispatch and what every kind shares: object metadata, labels, annotations, label selectors
//! and immutability.
//!
//! Rules are checked in Kubernetes' order so that error lists read the same. Where Kubernetes
//! relies on state this server does not keep (priority classes, admission webhooks, feature
//! gates in alpha) the rule is left out rather than guessed.

mod batch;
mod cluster;
mod config;
mod cron;
mod pod;
mod service;
mod workloads;

use std::fmt;

use serde_json::Value;

use super::field::FieldError;
use super::json::{arr_of, int_of, obj_of, str_of};
use super::names;
use crate::resources::Resource;

pub use cron::validate_cron_schedule;

/// Validates an object of `resource`'s kind; with `old`, as an update of that stored object.
/// An empty list means the object is valid.
///
/// On update the server is expected to have done what Kubernetes does before validating:
/// copied `uid` (when the request left it out), `creationTimestamp`, `deletionTimestamp` and
/// `generation` from the stored object, and checked `resourceVersion` itself.
pub fn validate(resource: &Resource, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        object_meta_update(&obj["metadata"], &old["metadata"], &mut errs);
    }
    let v = Validator { resource, obj, old };
    match (resource.group, resource.kind) {
        ("", "Namespace") => cluster::namespace(&v, &mut errs),
        ("", "Pod") => pod::pod(&v, &mut errs),
        ("", "Service") => service::service(&v, &mut errs),
        ("", "Endpoints") => service::endpoints(&v, &mut errs),
        ("", "ConfigMap") => config::config_map(&v, &mut errs),
        ("", "Secret") => config::secret(&v, &mut errs),
        ("", "ServiceAccount") => config::service_account(&v, &mut errs),
        ("", "Node") => cluster::node(&v, &mut errs),
        ("", "Event") => cluster::event(&v, &mut errs),
        ("", "ReplicationController") => workloads::replication_controller(&v, &mut errs),
        ("", "ResourceQuota") => cluster::resource_quota(&v, &mut errs),
        ("", "LimitRange") => cluster::limit_range(&v, &mut errs),
        ("apps", "Deployment") => workloads::deployment(&v, &mut errs),
        ("apps", "ReplicaSet") => workloads::replica_set(&v, &mut errs),
        ("apps", "StatefulSet") => workloads::stateful_set(&v, &mut errs),
        ("apps", "DaemonSet") => workloads::daemon_set(&v, &mut errs),
        ("apps", "ControllerRevision") => workloads::controller_revision(&v, &mut errs),
        ("batch", "Job") => batch::job(&v, &mut errs),
        ("batch", "CronJob") => batch::cron_job(&v, &mut errs),
        ("coordination.k8s.io", "Lease") => cluster::lease(&v, &mut errs),
        ("discovery.k8s.io", "EndpointSlice") => service::endpoint_slice(&v, &mut errs),
        ("certificates.k8s.io", "CertificateSigningRequest") => cluster::csr(&v, &mut errs),
        _ => v.meta(NameRule::PathSegment, &mut errs),
    }
    errs
}

/// What a kind's validator gets: the resource, the new object, and the stored one on update.
pub(crate) struct Validator<'a> {
    pub resource: &'a Resource,
    pub obj: &'a Value,
    pub old: Option<&'a Value>,
}

impl Validator<'_> {
    /// Validates `metadata` on create and update alike.
    pub fn meta(&self, rule: NameRule, errs: &mut Vec<FieldError>) {
        object_meta(
            &self.obj["metadata"],
            self.resource.namespaced,
            rule,
            &Path::new("metadata"),
            errs,
        );
    }

    pub fn spec(&self) -> &Value {
        &self.obj["spec"]
    }

    pub fn old_spec(&self) -> Option<&Value> {
        self.old.map(|o| &o["spec"])
    }
}

/// A field path under construction, printed as Kubernetes prints `field.Path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub fn new(root: &str) -> Path {
        Path(root.to_string())
    }

    /// Kubernetes' `field.NewPath("")`, which prints as `[]`.
    pub fn empty_root() -> Path {
        Path("[]".to_string())
    }

    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }

    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }

    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> String {
        p.0.clone()
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.0
    }
}

/// The name format a kind requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain: most kinds.
    Subdomain,
    /// RFC 1123 label: Namespaces.
    Label,
    /// RFC 1035 label: Services.
    Dns1035,
    /// Only the URL path-segment rule: Events, CertificateSigningRequests.
    PathSegment,
}

impl NameRule {
    fn check(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::Subdomain => names::name_is_dns_subdomain(name, prefix),
            NameRule::Label => names::name_is_dns_label(name, prefix),
            NameRule::Dns1035 => names::name_is_dns1035_label(name, prefix),
            NameRule::PathSegment => names::is_valid_path_segment_name(name, prefix),
        }
    }
}

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
const FIELD_IMMUTABLE: &str = "field is immutable";
const IS_NEGATIVE: &str = "must be greater than or equal to 0";

/// Kubernetes' ValidateObjectMeta for create (and the shared part of update).
pub(crate) fn object_meta(
    meta: &Value,
    namespaced: bool,
    rule: NameRule,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let generate_name = str_of(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                path.child("generateName"),
                generate_name,
                msg,
            ));
        }
    }
    let name = str_of(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for msg in rule.check(name, false) {
            errs.push(FieldError::invalid(path.child("name"), name, msg));
        }
    }
    let namespace = str_of(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(path.child("namespace"), ""));
        } else {
            for msg in names::name_is_dns_label(namespace, false) {
                errs.push(FieldError::invalid(path.child("namespace"), namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            path.child("namespace"),
            "not allowed on this type",
        ));
    }
    nonnegative(meta, "generation", &path.child("generation"), errs);
    labels(meta.get("labels"), &path.child("labels"), errs);
    annotations(meta.get("annotations"), &path.child("annotations"), errs);
    owner_references(
        arr_of(meta, "ownerReferences"),
        &path.child("ownerReferences"),
        errs,
    );
    finalizers(arr_of(meta, "finalizers"), &path.child("finalizers"), errs);
}

fn owner_references(refs: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    let mut first_controller: Option<String> = None;
    let mut reported_controllers = false;
    for r in refs {
        let api_version = str_of(r, "apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                path.child("apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        for key in ["kind", "name", "uid"] {
            if str_of(r, key).is_empty() {
                errs.push(FieldError::invalid(
                    path.child(key),
                    "",
                    "must not be empty",
                ));
            }
        }
        if api_version == "v1" && str_of(r, "kind") == "Event" {
            errs.push(FieldError::invalid(
                path.clone(),
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", str_of(r, "kind"), str_of(r, "name"));
            match &first_controller {
                // One error however many extra controllers there are (each carrying a copy of the
                // whole list made a 3 MiB body cost gigabytes).
                Some(first) if !reported_controllers => {
                    reported_controllers = true;
                    errs.push(FieldError::invalid(
                        path.clone(),
                        Value::Array(refs.to_vec()),
                        format!(
                            "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                        ),
                    ))
                }
                Some(_) => {}
                None => first_controller = Some(current),
            }
        }
    }
}

fn finalizers(list: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    let mut orphan = false;
    let mut foreground = false;
    for f in list {
        let f = f.as_str().unwrap_or("");
        for msg in names::is_qualified_name(f) {
            errs.push(FieldError::invalid(path.clone(), f, msg));
        }
        orphan |= f == "orphan";
        foreground |= f == "foregroundDeletion";
    }
    if orphan && foreground {
        errs.push(FieldError::invalid(
            path.clone(),
            Value::Array(list.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    // Core kinds also insist that unqualified finalizers be the standard ones.
    for (i, f) in list.iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        if !f.contains('/') && !matches!(f, "kubernetes" | "orphan" | "foregroundDeletion") {
            errs.push(FieldError::invalid(
                path.index(i),
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

/// Kubernetes' ValidateObjectMetaUpdate: identity fields may not change.
fn object_meta_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let path = Path::new("metadata");
    if int_of(new, "generation").unwrap_or(0) < int_of(old, "generation").unwrap_or(0) {
        errs.push(FieldError::invalid(
            path.child("generation"),
            int_of(new, "generation").unwrap_or(0),
            "must not be decremented",
        ));
    }
    for key in ["name", "namespace"] {
        if str_of(new, key) != str_of(old, key) {
            errs.push(FieldError::invalid(
                path.child(key),
                str_of(new, key),
                FIELD_IMMUTABLE,
            ));
        }
    }
    // Left empty, these are the server's to copy from the stored object.
    for key in ["uid", "creationTimestamp", "deletionTimestamp"] {
        let n = str_of(new, key);
        if !n.is_empty() && n != str_of(old, key) {
            errs.push(FieldError::invalid(path.child(key), n, FIELD_IMMUTABLE));
        }
    }
    if let Some(n) = int_of(new, "deletionGracePeriodSeconds") {
        if Some(n) != int_of(old, "deletionGracePeriodSeconds") {
            errs.push(FieldError::invalid(
                path.child("deletionGracePeriodSeconds"),
                n,
                FIELD_IMMUTABLE,
            ));
        }
    }
    if !str_of(old, "deletionTimestamp").is_empty() {
        let old_f: Vec<&str> = arr_of(old, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let extra: Vec<&str> = arr_of(new, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        if !extra.is_empty() {
            let quoted: Vec<String> = extra.iter().map(|f| super::field::go_quote(f)).collect();
            errs.push(FieldError::forbidden(
                path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted.join(", ")
                ),
            ));
        }
    }
}

/// Label keys must be qualified names and values valid label values; errors are reported at
/// the map's path, as Kubernetes does.
pub(crate) fn labels(map: Option<&Value>, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(map) = map.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in map {
        for msg in names::is_qualified_name(k) {
            errs.push(FieldError::invalid(path.clone(), k.as_str(), msg));
        }
        let v = v.as_str().unwrap_or("");
        for msg in names::is_valid_label_value(v) {
            errs.push(FieldError::invalid(path.clone(), v, msg));
        }
    }
}

/// Annotation keys are qualified names (case does not matter) and all annotations together may
/// hold at most 256 KiB.
pub(crate) fn annotations(map: Option<&Value>, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(map) = map.and_then(Value::as_object) else {
        return;
    };
    let mut total = 0;
    for (k, v) in map {
        for msg in names::is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path.clone(), k.as_str(), msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            path.clone(),
            TOTAL_ANNOTATION_SIZE_LIMIT,
        ));
    }
}

/// `field >= 0` for an optional integer field.
pub(crate) fn nonnegative(holder: &Value, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(n) = int_of(holder, key) {
        if n < 0 {
            errs.push(FieldError::invalid(path.clone(), n, IS_NEGATIVE));
        }
    }
}

/// Validates a metav1.LabelSelector's syntax.
pub(crate) fn label_selector(sel: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    labels(sel.get("matchLabels"), &path.child("matchLabels"), errs);
    for (i, expr) in arr_of(sel, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = arr_of(expr, "values");
        match str_of(expr, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                p.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        let key = str_of(expr, "key");
        for msg in names::is_qualified_name(key) {
            errs.push(FieldError::invalid(p.child("key"), key, msg));
        }
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for msg in names::is_valid_label_value(v) {
                errs.push(FieldError::invalid(p.child("values").index(j), v, msg));
            }
        }
    }
}

/// A label selector turned into something that can match: `None` when it cannot be converted
/// (Kubernetes' LabelSelectorAsSelector error), `Some(Nothing)` for an absent selector.
#[derive(Debug)]
pub(crate) enum Selector<'a> {
    /// An absent selector matches nothing.
    Nothing,
    Match(&'a Value),
}

impl<'a> Selector<'a> {
    pub fn from(sel: Option<&'a Value>) -> Option<Selector<'a>> {
        let Some(sel) = sel.filter(|s| s.is_object()) else {
            return Some(Selector::Nothing);
        };
        for expr in arr_of(sel, "matchExpressions") {
            let values = arr_of(expr, "values");
            let ok = match str_of(expr, "operator") {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            if !ok {
                return None;
            }
        }
        Some(Selector::Match(sel))
    }

    /// An empty selector matches everything and so checks nothing.
    pub fn is_empty(&self) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Match(sel) => {
                obj_of(sel, "matchLabels").is_none_or(|m| m.is_empty())
                    && arr_of(sel, "matchExpressions").is_empty()
            }
        }
    }

    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let Selector::Match(sel) = self else {
            return false;
        };
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        for (k, v) in obj_of(sel, "matchLabels").into_iter().flatten() {
            if get(k) != v.as_str() {
                return false;
            }
        }
        for expr in arr_of(sel, "matchExpressions") {
            let key = str_of(expr, "key");
            let in_values = |x: &str| arr_of(expr, "values").iter().any(|v| v.as_str() == Some(x));
            let ok = match (str_of(expr, "operator"), get(key)) {
                ("In", Some(x)) => in_values(x),
                ("In", None) => false,
                ("NotIn", Some(x)) => !in_values(x),
                ("NotIn", None) => true,
                ("Exists", found) => found.is_some(),
                ("DoesNotExist", found) => found.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// Equality for immutability checks: absent, null, and empty lists, maps and strings are all
/// Go's zero value and compare equal.
pub(crate) fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn is_zero(v: Option<&Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        }
    }
    match (a, b) {
        _ if is_zero(a) && is_zero(b) => true,
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            // Each key once: visiting shared keys from both sides made nesting exponential.
            x.iter().all(|(k, v)| same(Some(v), y.get(k)))
                && y.iter()
                    .filter(|(k, _)| !x.contains_key(*k))
                    .all(|(_, v)| is_zero(Some(v)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(Some(p), Some(q)))
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// `field is immutable` when `new` differs from `old`.
pub(crate) fn immutable(
    new: Option<&Value>,
    old: Option<&Value>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if !same(new, old) {
        errs.push(FieldError::invalid(
            path.clone(),
            new.cloned().unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }
}

/// A short, go-cmp-like listing of where two values differ, for "may not change" messages.
pub(crate) fn diff(type_name: &str, old: &Value, new: &Value) -> String {
    fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
        if same(a, b) {
            return;
        }
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().collect();
                keys.extend(y.keys().filter(|k| !x.contains_key(*k)));
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, x.get(k), y.get(k), out);
                }
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(&format!("{path}[{i}]"), Some(p), Some(q), out);
                }
            }
            _ => {
                if let Some(a) = a {
                    out.push(format!("- \t{path}: {a}"));
                }
                if let Some(b) = b {
                    out.push(format!("+ \t{path}: {b}"));
                }
            }
        }
    }
    let mut lines = Vec::new();
    walk("", Some(old), Some(new), &mut lines);
    format!("  {type_name}{{\n{}\n  }}\n", lines.join("\n"))
}

#[cfg(test)]
mod tests;
