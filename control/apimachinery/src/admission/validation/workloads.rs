//! ReplicationControllers and the apps/v1 workloads: Deployments, ReplicaSets, StatefulSets,
//! DaemonSets, ControllerRevisions.

use serde_json::Value;

use super::pod::pod_template;
use super::{immutable, label_selector, nonnegative, same, NameRule, Path, Selector, Validator};
use crate::admission::field::{go_label_selector, go_value, FieldError};
use crate::admission::json::{arr_of, has, int_of, obj_of, str_of};
use crate::admission::names::is_valid_percent;

const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

fn template_labels(spec: &Value) -> Option<&Value> {
    spec["template"]["metadata"].get("labels")
}

/// The template labels as Go prints the map (`map[string]string(nil)` when absent).
fn labels_error(spec: &Value, path: &Path) -> FieldError {
    let labels = template_labels(spec).cloned().unwrap_or(Value::Null);
    let err = FieldError::invalid(
        path.child("template").child("metadata").child("labels"),
        labels.clone(),
        SELECTOR_MISMATCH,
    );
    if labels.is_object() {
        err
    } else {
        err.with_repr("map[string]string(nil)")
    }
}

fn selector_error(sel: Option<&Value>, path: &Path, detail: &str) -> FieldError {
    FieldError::invalid(
        path.child("selector"),
        sel.cloned().unwrap_or(Value::Null),
        detail,
    )
    .with_repr(go_label_selector(sel))
}

/// Selector is required, valid, non-empty, and matches the template labels; then the template
/// must be a valid pod template that restarts always. Shared by ReplicaSets and Deployments.
fn replica_set_like_spec(spec: &Value, path: &Path, kind_word: &str, errs: &mut Vec<FieldError>) {
    let sel = spec.get("selector").filter(|s| s.is_object());
    match sel {
        None => errs.push(FieldError::required(path.child("selector"), "")),
        Some(s) => {
            label_selector(s, &path.child("selector"), errs);
            if obj_of(s, "matchLabels").is_none_or(|m| m.is_empty())
                && arr_of(s, "matchExpressions").is_empty()
            {
                errs.push(selector_error(
                    sel,
                    path,
                    &format!("empty selector is invalid for {kind_word}"),
                ));
            }
        }
    }
    match Selector::from(sel) {
        None => errs.push(selector_error(sel, path, "invalid label selector")),
        Some(selector) => {
            if !selector.is_empty() && !selector.matches(template_labels(spec)) {
                errs.push(labels_error(spec, path));
            }
            always_restarting_template(spec, path, kind_word, errs);
        }
    }
}

/// ValidatePodTemplateSpecForReplicaSet's tail: the template itself, Always restart, and no
/// activeDeadlineSeconds.
fn always_restarting_template(
    spec: &Value,
    path: &Path,
    kind_word: &str,
    errs: &mut Vec<FieldError>,
) {
    let tp = path.child("template");
    let template = &spec["template"];
    pod_template(template, &tp, &[], errs);
    let restart = str_of(&template["spec"], "restartPolicy");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            tp.child("spec").child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if has(&template["spec"], "activeDeadlineSeconds") {
        let what = match kind_word {
            "deployment" => "ReplicaSet",
            other => other,
        };
        errs.push(FieldError::forbidden(
            tp.child("spec").child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {what} is not Supported"),
        ));
    }
}

/// apps/v1 selectors never change after creation.
fn selector_immutable(v: &Validator, errs: &mut Vec<FieldError>) {
    if let Some(old) = v.old_spec() {
        let new_sel = v.spec().get("selector");
        let old_sel = old.get("selector");
        if !same(new_sel, old_sel) {
            errs.push(
                FieldError::invalid(
                    Path::new("spec").child("selector"),
                    new_sel.cloned().unwrap_or(Value::Null),
                    "field is immutable",
                )
                .with_repr(go_label_selector(new_sel)),
            );
        }
    }
}

pub(super) fn replication_controller(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    nonnegative(
        spec,
        "minReadySeconds",
        &path.child("minReadySeconds"),
        errs,
    );
    let selector = spec.get("selector").and_then(Value::as_object);
    if selector.is_none_or(|m| m.is_empty()) {
        errs.push(FieldError::required(path.child("selector"), ""));
    }
    nonnegative(spec, "replicas", &path.child("replicas"), errs);
    let tp = path.child("template");
    let Some(template) = spec.get("template").filter(|t| t.is_object()) else {
        errs.push(FieldError::required(tp, ""));
        return;
    };
    if let Some(sel) = selector.filter(|m| !m.is_empty()) {
        let labels = template["metadata"].get("labels");
        let matches = sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !matches {
            errs.push(labels_error(spec, &path));
        }
    }
    pod_template(template, &tp, &[], errs);
    let restart = str_of(&template["spec"], "restartPolicy");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            tp.child("spec").child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if has(&template["spec"], "activeDeadlineSeconds") {
        errs.push(FieldError::forbidden(
            tp.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
}

pub(super) fn replica_set(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    nonnegative(spec, "replicas", &path.child("replicas"), errs);
    nonnegative(
        spec,
        "minReadySeconds",
        &path.child("minReadySeconds"),
        errs,
    );
    replica_set_like_spec(spec, &path, "deployment", errs);
    selector_immutable(v, errs);
}

/// An IntOrString that must be a non-negative integer or a percentage.
fn positive_int_or_percent(holder: &Value, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    let p = path.child(key);
    match holder.get(key) {
        Some(Value::String(s)) => {
            for msg in is_valid_percent(s) {
                errs.push(FieldError::invalid(p.clone(), s.as_str(), msg).with_repr(s.clone()));
            }
        }
        Some(Value::Number(_)) => nonnegative(holder, key, &p, errs),
        None | Some(Value::Null) => {}
        Some(other) => errs.push(FieldError::invalid(
            p,
            other.clone(),
            "must be an integer or percentage (e.g '5%')",
        )),
    }
}

/// The value of an IntOrString for "is it zero" and "over 100%" checks.
fn int_or_percent(v: Option<&Value>) -> (i64, bool) {
    match v {
        Some(Value::String(s)) => (s.trim_end_matches('%').parse().unwrap_or(0), true),
        Some(Value::Number(n)) => (n.as_i64().unwrap_or(0), false),
        _ => (0, false),
    }
}

fn not_more_than_100_percent(holder: &Value, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    let (value, percent) = int_or_percent(holder.get(key));
    if percent && value > 100 {
        let shown = str_of(holder, key).to_string();
        errs.push(
            FieldError::invalid(
                path.child(key),
                shown.clone(),
                "must not be greater than 100%",
            )
            .with_repr(shown),
        );
    }
}

pub(super) fn deployment(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    nonnegative(spec, "replicas", &path.child("replicas"), errs);
    replica_set_like_spec(spec, &path, "deployment", errs);
    let strategy = &spec["strategy"];
    let sp = path.child("strategy");
    match str_of(strategy, "type") {
        "Recreate" => {
            if has(strategy, "rollingUpdate") {
                errs.push(FieldError::forbidden(
                    sp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match strategy.get("rollingUpdate").filter(|r| r.is_object()) {
            None => errs.push(FieldError::required(
                sp.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = sp.child("rollingUpdate");
                positive_int_or_percent(ru, "maxUnavailable", &rp, errs);
                positive_int_or_percent(ru, "maxSurge", &rp, errs);
                if int_or_percent(ru.get("maxUnavailable")).0 == 0
                    && int_or_percent(ru.get("maxSurge")).0 == 0
                {
                    errs.push(
                        FieldError::invalid(
                            rp.child("maxUnavailable"),
                            ru["maxUnavailable"].clone(),
                            "may not be 0 when `maxSurge` is 0",
                        )
                        .with_repr(
                            go_value(&ru["maxUnavailable"])
                                .trim_matches('"')
                                .to_string(),
                        ),
                    );
                }
                not_more_than_100_percent(ru, "maxUnavailable", &rp, errs);
            }
        },
        _ => errs.push(FieldError::not_supported(
            sp,
            strategy.clone(),
            &["Recreate", "RollingUpdate"],
        )),
    }
    nonnegative(
        spec,
        "minReadySeconds",
        &path.child("minReadySeconds"),
        errs,
    );
    nonnegative(
        spec,
        "revisionHistoryLimit",
        &path.child("revisionHistoryLimit"),
        errs,
    );
    if let Some(pds) = int_of(spec, "progressDeadlineSeconds") {
        nonnegative(
            spec,
            "progressDeadlineSeconds",
            &path.child("progressDeadlineSeconds"),
            errs,
        );
        if pds <= int_of(spec, "minReadySeconds").unwrap_or(0) {
            errs.push(FieldError::invalid(
                path.child("progressDeadlineSeconds"),
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    selector_immutable(v, errs);
}

pub(super) fn stateful_set(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    match str_of(spec, "podManagementPolicy") {
        "" => errs.push(FieldError::required(path.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            path.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = &spec["updateStrategy"];
    let sp = path.child("updateStrategy");
    match str_of(strategy, "type") {
        "" => errs.push(FieldError::required(sp, "")),
        "OnDelete" => {
            if has(strategy, "rollingUpdate") {
                errs.push(FieldError::invalid(
                    sp.child("rollingUpdate"),
                    strategy["rollingUpdate"].clone(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = strategy.get("rollingUpdate").filter(|r| r.is_object()) {
                nonnegative(
                    ru,
                    "partition",
                    &sp.child("rollingUpdate").child("partition"),
                    errs,
                );
            }
        }
        _ => errs.push(FieldError::invalid(
            sp,
            strategy.clone(),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = spec
        .get("persistentVolumeClaimRetentionPolicy")
        .filter(|p| p.is_object())
    {
        let pp = path.child("persistentVolumeClaimRetentionPolicy");
        for key in ["whenDeleted", "whenScaled"] {
            let value = str_of(policy, key);
            if value != "Retain" && value != "Delete" {
                errs.push(FieldError::not_supported(
                    pp.child(key),
                    value,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    nonnegative(spec, "replicas", &path.child("replicas"), errs);
    nonnegative(
        spec,
        "minReadySeconds",
        &path.child("minReadySeconds"),
        errs,
    );
    if let Some(ordinals) = spec.get("ordinals").filter(|o| o.is_object()) {
        nonnegative(
            ordinals,
            "start",
            &path.child("ordinals").child("start"),
            errs,
        );
    }
    let sel = spec.get("selector").filter(|s| s.is_object());
    match sel {
        None => errs.push(FieldError::required(path.child("selector"), "")),
        Some(s) => {
            label_selector(s, &path.child("selector"), errs);
            if obj_of(s, "matchLabels").is_none_or(|m| m.is_empty())
                && arr_of(s, "matchExpressions").is_empty()
            {
                errs.push(selector_error(
                    sel,
                    &path,
                    "empty selector is invalid for statefulset",
                ));
            }
        }
    }
    match Selector::from(sel) {
        None => errs.push(selector_error(sel, &path, "")),
        Some(selector) => {
            if !selector.is_empty() && !selector.matches(template_labels(spec)) {
                errs.push(labels_error(spec, &path));
            }
            // Containers may mount the claim templates as well as the pod's volumes.
            let claims: Vec<String> = arr_of(spec, "volumeClaimTemplates")
                .iter()
                .map(|c| c["metadata"]["name"].as_str().unwrap_or("").to_string())
                .collect();
            pod_template(&spec["template"], &path.child("template"), &claims, errs);
        }
    }
    let tspec = &spec["template"]["spec"];
    let restart = str_of(tspec, "restartPolicy");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            path.child("template").child("spec").child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if let Some(ads) = int_of(tspec, "activeDeadlineSeconds") {
        errs.push(FieldError::invalid(
            path.child("template")
                .child("spec")
                .child("activeDeadlineSeconds"),
            ads,
            "must not be specified",
        ));
    }
    if let Some(old) = v.old_spec() {
        let mutable = [
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ];
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                for k in mutable {
                    m.remove(k);
                }
            }
            s
        };
        if !same(Some(&strip(spec)), Some(&strip(old))) {
            errs.push(FieldError::forbidden(
                path,
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

pub(super) fn daemon_set(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    let sel = spec.get("selector").filter(|s| s.is_object());
    if let Some(s) = sel {
        label_selector(s, &path.child("selector"), errs);
    }
    if let Some(selector) = Selector::from(sel) {
        // An absent selector matches nothing, so this is how a missing one is reported.
        if !selector.matches(template_labels(spec)) {
            errs.push(labels_error(spec, &path));
        }
    }
    if let Some(s) = sel {
        if obj_of(s, "matchLabels").is_none_or(|m| m.is_empty())
            && arr_of(s, "matchExpressions").is_empty()
        {
            errs.push(selector_error(
                sel,
                &path,
                "empty selector is invalid for daemonset",
            ));
        }
    }
    let tp = path.child("template");
    pod_template(&spec["template"], &tp, &[], errs);
    let tspec = &spec["template"]["spec"];
    let restart = str_of(tspec, "restartPolicy");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            tp.child("spec").child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if let Some(ads) = int_of(tspec, "activeDeadlineSeconds") {
        errs.push(FieldError::invalid(
            tp.child("spec").child("activeDeadlineSeconds"),
            ads,
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    nonnegative(
        spec,
        "minReadySeconds",
        &path.child("minReadySeconds"),
        errs,
    );
    nonnegative(
        spec,
        "templateGeneration",
        &path.child("templateGeneration"),
        errs,
    );
    let strategy = &spec["updateStrategy"];
    let sp = path.child("updateStrategy");
    match str_of(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match strategy.get("rollingUpdate").filter(|r| r.is_object()) {
            None => errs.push(FieldError::required(sp.child("rollingUpdate"), "")),
            Some(ru) => {
                let rp = sp.child("rollingUpdate");
                positive_int_or_percent(ru, "maxUnavailable", &rp, errs);
                positive_int_or_percent(ru, "maxSurge", &rp, errs);
                not_more_than_100_percent(ru, "maxUnavailable", &rp, errs);
                not_more_than_100_percent(ru, "maxSurge", &rp, errs);
                let unavailable = int_or_percent(ru.get("maxUnavailable")).0 != 0;
                let surge = int_or_percent(ru.get("maxSurge")).0 != 0;
                if unavailable && surge {
                    errs.push(FieldError::invalid(
                        rp.child("maxSurge"),
                        ru["maxSurge"].clone(),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !unavailable && !surge {
                    errs.push(FieldError::required(
                        rp.child("maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        _ => errs.push(FieldError::not_supported(
            sp,
            strategy.clone(),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonnegative(
        spec,
        "revisionHistoryLimit",
        &path.child("revisionHistoryLimit"),
        errs,
    );
    selector_immutable(v, errs);
}

pub(super) fn controller_revision(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    if !has(v.obj, "data") {
        errs.push(FieldError::required("data", "data is mandatory"));
    }
    nonnegative(v.obj, "revision", &Path::new("revision"), errs);
    if let Some(old) = v.old {
        immutable(v.obj.get("data"), old.get("data"), &Path::new("data"), errs);
    }
}
