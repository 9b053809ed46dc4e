//! Cluster-level and bookkeeping kinds: Namespaces, Nodes, Events, Leases, ResourceQuotas,
//! LimitRanges and CertificateSigningRequests.

use std::collections::HashSet;

use serde_json::Value;

use super::pod::{container_resource_name, quantity_value, resource_name};
use super::{immutable, NameRule, Path, Validator, IS_NEGATIVE};
use crate::admission::field::FieldError;
use crate::admission::json::{arr_of, base64_decode, int_of, obj_of, str_of};
use crate::admission::names::{
    is_cidr, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
    DNS1123_SUBDOMAIN_MAX_LENGTH,
};
use crate::admission::quantity::{self, Quantity};

pub(super) fn namespace(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Label, errs);
    if v.old.is_some() {
        // Finalizers of a namespace change only through the finalize subresource.
        return;
    }
    let path = Path::new("spec").child("finalizers");
    for f in arr_of(v.spec(), "finalizers") {
        let f = f.as_str().unwrap_or("");
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path.clone(), f, msg));
        }
        if !f.contains('/') && f != "kubernetes" {
            errs.push(FieldError::invalid(
                path.clone(),
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

pub(super) fn node(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    // Kubernetes reports taint errors under metadata.taints; kept for recognisability.
    let taint_path = Path::new("metadata").child("taints");
    let mut unique: HashSet<(&str, &str)> = HashSet::new();
    for (i, taint) in arr_of(spec, "taints").iter().enumerate() {
        let p = taint_path.index(i);
        let key = str_of(taint, "key");
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(p.child("key"), key, msg));
        }
        let value = str_of(taint, "value");
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(p.child("value"), value, msgs.join(";")));
        }
        let effect = str_of(taint, "effect");
        match effect {
            "" => errs.push(FieldError::required(p.child("effect"), "")),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(FieldError::not_supported(
                p.child("effect"),
                other,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        if !unique.insert((effect, key)) {
            errs.push(
                FieldError::duplicate(p, taint.clone())
                    .with_detail("taints must be unique by key and effect pair"),
            );
        }
    }
    for section in ["capacity", "allocatable"] {
        for (name, q) in obj_of(&v.obj["status"], section).into_iter().flatten() {
            let p = Path::new("status").child(section).child(name);
            quantity_value(name, q, &p, errs);
        }
    }
    let cidrs = arr_of(spec, "podCIDRs");
    let cidr_path = Path::new("spec").child("podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        let c = c.as_str().unwrap_or("");
        if !is_cidr(c) {
            errs.push(FieldError::invalid(
                cidr_path.index(i),
                c,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    if cidrs.len() > 1 {
        let v6 = cidrs
            .iter()
            .filter(|c| c.as_str().unwrap_or("").contains(':'))
            .count();
        if cidrs.len() > 2 || v6 != 1 {
            errs.push(FieldError::invalid(
                cidr_path.clone(),
                Value::Array(cidrs.to_vec()),
                "may specify no more than one CIDR for each IP family",
            ));
        }
    }
    if let Some(old) = v.old_spec() {
        let old_cidrs = arr_of(old, "podCIDRs");
        if !old_cidrs.is_empty() && old_cidrs != cidrs {
            errs.push(FieldError::forbidden(
                cidr_path,
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let old_provider = str_of(old, "providerID");
        if !old_provider.is_empty() && old_provider != str_of(spec, "providerID") {
            errs.push(FieldError::forbidden(
                Path::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        if str_of(old, "externalID") != str_of(spec, "externalID") {
            errs.push(FieldError::forbidden(
                Path::new("spec").child("externalID"),
                "may not be updated",
            ));
        }
    }
}

/// core/v1 Events: the legacy rules Kubernetes keeps for this API version.
pub(super) fn event(v: &Validator, errs: &mut Vec<FieldError>) {
    let obj = v.obj;
    let ns = v.obj["metadata"]["namespace"].as_str().unwrap_or("");
    let involved_ns = str_of(&obj["involvedObject"], "namespace");
    let involved_path = Path::new("involvedObject").child("namespace");
    let mismatch = || {
        FieldError::invalid(
            involved_path.clone(),
            involved_ns,
            "does not match event.namespace",
        )
    };
    if str_of(obj, "eventTime").is_empty() {
        if involved_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(mismatch());
            }
        } else if ns != involved_ns {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(mismatch());
        }
        let component = str_of(obj, "reportingComponent");
        if component.is_empty() {
            errs.push(FieldError::required("reportingComponent", ""));
        }
        for msg in is_qualified_name(component) {
            errs.push(FieldError::invalid("reportingComponent", component, msg));
        }
        for (key, limit) in [("reportingInstance", 128), ("action", 128), ("reason", 128)] {
            let value = str_of(obj, key);
            if value.is_empty() {
                errs.push(FieldError::required(key, ""));
            }
            if value.len() > limit {
                errs.push(FieldError::invalid(
                    key,
                    "",
                    format!("can have at most {limit} characters"),
                ));
            }
        }
        if str_of(obj, "message").len() > 1024 {
            errs.push(FieldError::invalid(
                "message",
                "",
                "can have at most 1024 characters",
            ));
        }
    }
    for msg in is_dns1123_subdomain(ns) {
        errs.push(FieldError::invalid("namespace", ns, msg));
    }
    v.meta(NameRule::PathSegment, errs);
}

pub(super) fn lease(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    if let Some(d) = int_of(spec, "leaseDurationSeconds") {
        if d <= 0 {
            errs.push(FieldError::invalid(
                path.child("leaseDurationSeconds"),
                d,
                "must be greater than 0",
            ));
        }
    }
    if let Some(t) = int_of(spec, "leaseTransitions") {
        if t < 0 {
            errs.push(FieldError::invalid(
                path.child("leaseTransitions"),
                t,
                IS_NEGATIVE,
            ));
        }
    }
}

const QUOTA_SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

fn is_standard_quota_resource(name: &str) -> bool {
    const STANDARD: &[&str] = &[
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
    ];
    STANDARD.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

fn scope_valid_for(scope: &str, resource: &str) -> bool {
    const POD_COMPUTE: &[&str] = &[
        "cpu",
        "limits.cpu",
        "limits.memory",
        "memory",
        "requests.cpu",
        "requests.memory",
    ];
    match scope {
        "Terminating"
        | "NotTerminating"
        | "NotBestEffort"
        | "PriorityClass"
        | "CrossNamespacePodAffinity" => resource == "pods" || POD_COMPUTE.contains(&resource),
        "BestEffort" => resource == "pods",
        _ => true,
    }
}

fn quota_resources(
    map: Option<&serde_json::Map<String, Value>>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    for (name, q) in map.into_iter().flatten() {
        let p = path.key(name);
        resource_name(name, &p, errs);
        if !name.contains('/') && !is_standard_quota_resource(name) {
            errs.push(FieldError::invalid(
                p.clone(),
                name.as_str(),
                "must be a standard resource for quota",
            ));
        }
        quantity_value(name, q, &p, errs);
    }
}

pub(super) fn resource_quota(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    quota_resources(obj_of(spec, "hard"), &path.child("hard"), errs);
    let scopes = arr_of(spec, "scopes");
    let scope_path = path.child("scopes");
    let hard: Vec<&String> = obj_of(spec, "hard")
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let mut seen = HashSet::new();
    for scope in scopes {
        let scope = scope.as_str().unwrap_or("");
        if !QUOTA_SCOPES.contains(&scope) {
            errs.push(FieldError::invalid(
                scope_path.clone(),
                Value::Array(scopes.to_vec()),
                "unsupported scope",
            ));
        }
        for resource in &hard {
            if is_standard_quota_resource(resource) && !scope_valid_for(scope, resource) {
                errs.push(FieldError::invalid(
                    scope_path.clone(),
                    Value::Array(scopes.to_vec()),
                    "unsupported scope applied to resource",
                ));
            }
        }
        seen.insert(scope);
    }
    for (a, b) in [
        ("BestEffort", "NotBestEffort"),
        ("Terminating", "NotTerminating"),
    ] {
        if seen.contains(a) && seen.contains(b) {
            errs.push(FieldError::invalid(
                scope_path.clone(),
                Value::Array(scopes.to_vec()),
                "conflicting scopes",
            ));
        }
    }
    if let Some(selector) = spec.get("scopeSelector").filter(|s| s.is_object()) {
        let mp = path.child("scopeSelector").child("matchExpressions");
        for req in arr_of(selector, "matchExpressions") {
            let scope = str_of(req, "scopeName");
            if !QUOTA_SCOPES.contains(&scope) {
                errs.push(FieldError::invalid(
                    mp.child("scopeName"),
                    scope,
                    "unsupported scope",
                ));
            }
            let op = str_of(req, "operator");
            if scope != "PriorityClass" && QUOTA_SCOPES.contains(&scope) && op != "Exists" {
                errs.push(FieldError::invalid(
                    mp.child("operator"),
                    op,
                    "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
                ));
            }
            let values = arr_of(req, "values");
            match op {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        errs.push(FieldError::required(
                            mp.child("values"),
                            "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                        ));
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        errs.push(FieldError::invalid(
                            mp.child("values"),
                            Value::Array(values.to_vec()),
                            "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                        ));
                    }
                }
                other => errs.push(FieldError::invalid(
                    mp.child("operator"),
                    other,
                    "not a valid selector operator",
                )),
            }
        }
    }
    let status = &v.obj["status"];
    quota_resources(
        obj_of(status, "hard"),
        &Path::new("status").child("hard"),
        errs,
    );
    quota_resources(
        obj_of(status, "used"),
        &Path::new("status").child("used"),
        errs,
    );
    if let Some(old) = v.old_spec() {
        let old_scopes: HashSet<&str> = arr_of(old, "scopes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let new_scopes: HashSet<&str> = scopes.iter().filter_map(Value::as_str).collect();
        if old_scopes != new_scopes {
            errs.push(FieldError::invalid(
                scope_path,
                Value::Array(scopes.to_vec()),
                "field is immutable",
            ));
        }
    }
}

fn q(v: &Value) -> Option<Quantity> {
    quantity::parse_value(v).ok()
}

/// A quantity error whose value Kubernetes prints unquoted (a Quantity is a Stringer).
fn quantity_error(path: Path, value: &Value, detail: String) -> FieldError {
    let shown = quantity::display(value);
    FieldError::invalid(path, shown.clone(), detail).with_repr(shown)
}

pub(super) fn limit_range(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let path = Path::new("spec").child("limits");
    let mut types = HashSet::new();
    for (i, limit) in arr_of(v.spec(), "limits").iter().enumerate() {
        let p = path.index(i);
        let ty = str_of(limit, "type");
        let type_errors = is_qualified_name(ty);
        if !type_errors.is_empty() {
            for msg in type_errors {
                errs.push(FieldError::invalid(p.child("type"), ty, msg));
            }
        } else if !ty.contains('/') && !matches!(ty, "Pod" | "Container" | "PersistentVolumeClaim")
        {
            errs.push(FieldError::invalid(
                p.child("type"),
                ty,
                "must be a standard limit type or fully qualified",
            ));
        }
        if !types.insert(ty) {
            errs.push(FieldError::duplicate(p.child("type"), ty));
        }
        let check_name = |name: &str, section: &str, errs: &mut Vec<FieldError>| {
            let np = p.child(section).key(name);
            if ty == "Pod" || ty == "Container" {
                container_resource_name(name, &np, errs);
            } else {
                resource_name(name, &np, errs);
            }
        };
        let section = |key: &str| obj_of(limit, key).cloned().unwrap_or_default();
        let (max, min) = (section("max"), section("min"));
        let (default, default_request) = (section("default"), section("defaultRequest"));
        let ratio = section("maxLimitRequestRatio");
        let mut keys: Vec<String> = Vec::new();
        for (sec, map) in [("max", &max), ("min", &min)] {
            for k in map.keys() {
                check_name(k, sec, errs);
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        if ty == "Pod" {
            if !default.is_empty() {
                errs.push(FieldError::forbidden(
                    p.child("default"),
                    "may not be specified when `type` is 'Pod'",
                ));
            }
            if !default_request.is_empty() {
                errs.push(FieldError::forbidden(
                    p.child("defaultRequest"),
                    "may not be specified when `type` is 'Pod'",
                ));
            }
        } else {
            for (sec, map) in [("default", &default), ("defaultRequest", &default_request)] {
                for k in map.keys() {
                    check_name(k, sec, errs);
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        if ty == "PersistentVolumeClaim"
            && !min.contains_key("storage")
            && !max.contains_key("storage")
        {
            errs.push(FieldError::required(
                p.child("limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        for k in ratio.keys() {
            check_name(k, "maxLimitRequestRatio", errs);
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        for k in &keys {
            let get = |m: &serde_json::Map<String, Value>| {
                m.get(k).and_then(|v| q(v).map(|q| (v.clone(), q)))
            };
            let (mn, mx) = (get(&min), get(&max));
            let (df, dr) = (
                get(&default),
                if ty == "Pod" {
                    None
                } else {
                    get(&default_request)
                },
            );
            let rt = get(&ratio);
            let s = |v: &Value| quantity::display(v);
            if let (Some((mnv, mnq)), Some((mxv, mxq))) = (&mn, &mx) {
                if mnq > mxq {
                    errs.push(quantity_error(
                        p.child("min").key(k),
                        mnv,
                        format!("min value {} is greater than max value {}", s(mnv), s(mxv)),
                    ));
                }
            }
            if let (Some((drv, drq)), Some((mnv, mnq))) = (&dr, &mn) {
                if mnq > drq {
                    errs.push(quantity_error(
                        p.child("defaultRequest").key(k),
                        drv,
                        format!(
                            "min value {} is greater than default request value {}",
                            s(mnv),
                            s(drv)
                        ),
                    ));
                }
            }
            if let (Some((drv, drq)), Some((mxv, mxq))) = (&dr, &mx) {
                if drq > mxq {
                    errs.push(quantity_error(
                        p.child("defaultRequest").key(k),
                        drv,
                        format!(
                            "default request value {} is greater than max value {}",
                            s(drv),
                            s(mxv)
                        ),
                    ));
                }
            }
            if let (Some((drv, drq)), Some((dfv, dfq))) = (&dr, &df) {
                if drq > dfq {
                    errs.push(quantity_error(
                        p.child("defaultRequest").key(k),
                        drv,
                        format!(
                            "default request value {} is greater than default limit value {}",
                            s(drv),
                            s(dfv)
                        ),
                    ));
                }
            }
            if let (Some((dfv, dfq)), Some((mnv, mnq))) = (&df, &mn) {
                if mnq > dfq {
                    errs.push(quantity_error(
                        p.child("default").key(k),
                        mnv,
                        format!(
                            "min value {} is greater than default value {}",
                            s(mnv),
                            s(dfv)
                        ),
                    ));
                }
            }
            if let (Some((dfv, dfq)), Some((mxv, mxq))) = (&df, &mx) {
                if dfq > mxq {
                    errs.push(quantity_error(
                        p.child("default").key(k),
                        mxv,
                        format!(
                            "default value {} is greater than max value {}",
                            s(dfv),
                            s(mxv)
                        ),
                    ));
                }
            }
            if let Some((rv, rq)) = &rt {
                if rq.nanos < 1_000_000_000 {
                    errs.push(quantity_error(
                        p.child("maxLimitRequestRatio").key(k),
                        rv,
                        format!("ratio {} is less than 1", s(rv)),
                    ));
                }
                if let (Some((_, mnq)), Some((_, mxq))) = (&mn, &mx) {
                    if mnq.nanos > 0 {
                        let limit = mxq.nanos as f64 / mnq.nanos as f64;
                        let r = rq.nanos as f64 / 1e9;
                        if r > limit {
                            errs.push(quantity_error(
                                p.child("maxLimitRequestRatio").key(k),
                                rv,
                                format!("ratio {} is greater than max/min = {limit:.6}", s(rv)),
                            ));
                        }
                    }
                }
            }
            // Resources that cannot be overcommitted need equal default and default request.
            let overcommit = super::pod::is_native_resource(k) && !k.starts_with("hugepages-");
            if let (false, Some((dfv, dfq)), Some((drv, drq))) = (overcommit, &df, &dr) {
                if dfq != drq {
                    errs.push(quantity_error(
                        p.child("defaultRequest").key(k),
                        drv,
                        format!(
                            "default value {} must equal to defaultRequest value {} in {k}",
                            s(dfv),
                            s(drv)
                        ),
                    ));
                }
            }
        }
    }
}

const CSR_USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

pub(super) fn csr(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::PathSegment, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    let request = str_of(spec, "request");
    let pem = base64_decode(request).unwrap_or_default();
    let text = String::from_utf8_lossy(&pem);
    // The first PEM block must be a certificate request.
    let first_block = text
        .find("-----BEGIN ")
        .and_then(|i| text[i + 11..].split_once("-----"))
        .map(|(ty, _)| ty.to_string());
    if first_block.as_deref() != Some("CERTIFICATE REQUEST") {
        errs.push(
            FieldError::invalid(
                path.child("request"),
                request,
                "PEM block type must be CERTIFICATE REQUEST",
            )
            .with_repr("[]byte{...}"),
        );
    }
    let usages = arr_of(spec, "usages");
    if usages.is_empty() {
        errs.push(FieldError::required(path.child("usages"), ""));
    }
    let mut seen = HashSet::new();
    for (i, u) in usages.iter().enumerate() {
        let u = u.as_str().unwrap_or("");
        if !CSR_USAGES.contains(&u) {
            errs.push(FieldError::not_supported(
                path.child("usages").index(i),
                u,
                CSR_USAGES,
            ));
        }
    }
    for (i, u) in usages.iter().enumerate() {
        let u = u.as_str().unwrap_or("");
        if !seen.insert(u) {
            errs.push(FieldError::duplicate(path.child("usages").index(i), u));
        }
    }
    let signer = str_of(spec, "signerName");
    if signer == "kubernetes.io/legacy-unknown" {
        errs.push(FieldError::invalid(
            path.child("signerName"),
            signer,
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        signer_name(signer, &path.child("signerName"), errs);
    }
    if let Some(secs) = int_of(spec, "expirationSeconds") {
        if secs < 600 {
            errs.push(FieldError::invalid(
                path.child("expirationSeconds"),
                secs,
                "may not specify a duration less than 600 seconds (10 minutes)",
            ));
        }
    }
    if let Some(old) = v.old_spec() {
        // The request is what gets signed; it never changes.
        immutable(
            spec.get("request"),
            old.get("request"),
            &path.child("request"),
            errs,
        );
    }
}

/// A signer name: `<fully qualified domain>/<path>`.
fn signer_name(name: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(path.clone(), ""));
        return;
    }
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() != 2 {
        errs.push(FieldError::invalid(
            path.clone(),
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return;
    }
    let (domain, rest) = (segments[0], segments[1]);
    if domain.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(FieldError::too_long(
            path.clone(),
            DNS1123_SUBDOMAIN_MAX_LENGTH,
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for label in &labels {
        let msgs = is_dns1123_label(label);
        if !msgs.is_empty() {
            for msg in msgs {
                errs.push(FieldError::invalid(
                    path.clone(),
                    domain,
                    format!("validating label {label:?}: {msg}"),
                ));
            }
            break;
        }
    }
    if labels.len() < 2 {
        errs.push(FieldError::invalid(
            path.clone(),
            domain,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    for component in rest.split('.') {
        let msgs = is_dns1123_subdomain(component);
        if !msgs.is_empty() {
            for msg in msgs {
                errs.push(FieldError::invalid(
                    path.clone(),
                    rest,
                    format!("validating component {component:?}: {msg}"),
                ));
            }
            break;
        }
    }
    let max = DNS1123_SUBDOMAIN_MAX_LENGTH * 2 + 1;
    if name.len() > max {
        errs.push(FieldError::too_long(path.clone(), max));
    }
}
