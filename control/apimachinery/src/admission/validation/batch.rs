//! Jobs and CronJobs.

use serde_json::Value;

use super::cron::validate_cron_schedule;
use super::pod::pod_template;
use super::{immutable, label_selector, nonnegative, same, NameRule, Path, Selector, Validator};
use crate::admission::defaults::{
    JOB_CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_JOB_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
};
use crate::admission::field::{go_label_selector, FieldError};
use crate::admission::json::{has, int_of, str_of};
use crate::admission::names::is_dns1123_label;

const MAX_PARALLELISM_FOR_INDEXED_JOB: i64 = 100_000;

pub(super) fn job(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    generated_selector(v.obj, errs);
    job_spec(spec, &Path::new("spec"), errs);
    selector_and_labels(spec, &Path::new("spec"), errs);
    let name = v.obj["metadata"]["name"].as_str().unwrap_or("");
    if str_of(spec, "completionMode") == "Indexed" {
        if let Some(c) = int_of(spec, "completions").filter(|c| *c > 0) {
            // Indexed pods are named `<job>-<index>`, which must stay a DNS label.
            let hostname = format!("{name}-{}", c - 1);
            if !is_dns1123_label(&hostname).is_empty() {
                errs.push(FieldError::invalid(
                    Path::new("metadata").child("name"),
                    name,
                    format!("will not able to create pod with invalid DNS label: {hostname}"),
                ));
            }
        }
    }
    if let Some(old) = v.old_spec() {
        job_update(spec, old, v.old.map(|o| &o["status"]), errs);
    }
}

/// When the server generated the selector, the template must carry the generated labels and
/// the selector must select exactly them.
fn generated_selector(job: &Value, errs: &mut Vec<FieldError>) {
    let spec = &job["spec"];
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) || !has(spec, "selector") {
        return;
    }
    let meta = &job["metadata"];
    let uid = str_of(meta, "uid");
    let name = str_of(meta, "name");
    if uid.is_empty() {
        errs.push(FieldError::required(Path::new("metadata").child("uid"), ""));
    }
    let template_meta = Path::new("spec").child("template").child("metadata");
    let labels = spec["template"]["metadata"].get("labels");
    let mut check = |key: &str, expected: &str| {
        let path = template_meta.child("labels").key(key);
        match labels.and_then(|l| l.get(key)).and_then(Value::as_str) {
            None => errs.push(FieldError::required(path, format!("must be '{expected}'"))),
            Some(actual) if actual != expected => errs.push(FieldError::invalid(
                path,
                labels.cloned().unwrap_or(Value::Null),
                format!("must be '{expected}'"),
            )),
            Some(_) => {}
        }
    };
    check(LEGACY_JOB_CONTROLLER_UID_LABEL, uid);
    check(LEGACY_JOB_NAME_LABEL, name);
    check(JOB_CONTROLLER_UID_LABEL, uid);
    check(JOB_NAME_LABEL, name);
    let expected = serde_json::json!({
        JOB_CONTROLLER_UID_LABEL: uid,
        JOB_NAME_LABEL: name,
        LEGACY_JOB_CONTROLLER_UID_LABEL: uid,
        LEGACY_JOB_NAME_LABEL: name,
    });
    if let Some(selector) = Selector::from(spec.get("selector")) {
        if !selector.matches(Some(&expected)) {
            errs.push(
                FieldError::invalid(
                    Path::new("spec").child("selector"),
                    spec["selector"].clone(),
                    "`selector` not auto-generated",
                )
                .with_repr(go_label_selector(spec.get("selector"))),
            );
        }
    }
}

/// The selector must be present, valid, and select the template's labels.
fn selector_and_labels(spec: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    match spec.get("selector").filter(|s| s.is_object()) {
        None => errs.push(FieldError::required(path.child("selector"), "")),
        Some(sel) => label_selector(sel, &path.child("selector"), errs),
    }
    if let Some(selector) = Selector::from(spec.get("selector")) {
        let labels = spec["template"]["metadata"].get("labels");
        if !selector.matches(labels) {
            let shown = labels.cloned().unwrap_or(Value::Null);
            let err = FieldError::invalid(
                path.child("template").child("metadata").child("labels"),
                shown.clone(),
                "`selector` does not match template `labels`",
            );
            errs.push(if shown.is_object() {
                err
            } else {
                err.with_repr("map[string]string(nil)")
            });
        }
    }
}

/// validateJobSpec: counts, completion mode, policies, and a pod template that does not
/// restart always.
fn job_spec(spec: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    for key in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        nonnegative(spec, key, &path.child(key), errs);
    }
    let mode = spec.get("completionMode").and_then(Value::as_str);
    if has(spec, "backoffLimitPerIndex") {
        nonnegative(
            spec,
            "backoffLimitPerIndex",
            &path.child("backoffLimitPerIndex"),
            errs,
        );
        if mode != Some("Indexed") {
            errs.push(FieldError::forbidden(
                path.child("backoffLimitPerIndex"),
                "requires indexed completion mode",
            ));
        }
    }
    if has(spec, "maxFailedIndexes") && !has(spec, "backoffLimitPerIndex") {
        errs.push(FieldError::required(
            path.child("backoffLimitPerIndex"),
            "when maxFailedIndexes is specified",
        ));
    }
    if let Some(mode) = mode {
        if mode != "NonIndexed" && mode != "Indexed" {
            errs.push(FieldError::not_supported(
                path.child("completionMode"),
                mode,
                &["NonIndexed", "Indexed"],
            ));
        }
        if mode == "Indexed" {
            if !has(spec, "completions") {
                errs.push(FieldError::required(
                    path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) =
                int_of(spec, "parallelism").filter(|p| *p > MAX_PARALLELISM_FOR_INDEXED_JOB)
            {
                errs.push(FieldError::invalid(
                    path.child("parallelism"),
                    p,
                    format!("must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed"),
                ));
            }
        }
    }
    let has_failure_policy = has(spec, "podFailurePolicy");
    if let Some(policy) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        let p = path.child("podReplacementPolicy");
        if has_failure_policy {
            if policy != "Failed" {
                errs.push(FieldError::not_supported(p, policy, &["Failed"]));
            }
        } else if policy != "Failed" && policy != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(
                p,
                policy,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let tp = path.child("template");
    pod_template(&spec["template"], &tp, &[], errs);
    let restart_path = tp.child("spec").child("restartPolicy");
    match str_of(&spec["template"]["spec"], "restartPolicy") {
        "Always" | "" => errs.push(FieldError::required(
            restart_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" if has_failure_policy => errs.push(FieldError::invalid(
            restart_path,
            "OnFailure",
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(
            restart_path,
            other,
            &["OnFailure", "Never"],
        )),
    }
}

fn job_update(spec: &Value, old: &Value, old_status: Option<&Value>, errs: &mut Vec<FieldError>) {
    let path = Path::new("spec");
    let indexed = str_of(spec, "completionMode") == "Indexed";
    let completions_path = path.child("completions");
    if !indexed {
        immutable(
            spec.get("completions"),
            old.get("completions"),
            &completions_path,
            errs,
        );
    } else if !same(spec.get("completions"), old.get("completions")) {
        // Elastic indexed jobs scale completions and parallelism together.
        if let Some(c) = int_of(spec, "completions") {
            if Some(c) != int_of(spec, "parallelism") {
                errs.push(FieldError::invalid(
                    completions_path,
                    c,
                    "can only be modified in tandem with spec.parallelism",
                ));
            }
        }
    }
    let new_sel = spec.get("selector");
    if !same(new_sel, old.get("selector")) {
        errs.push(
            FieldError::invalid(
                path.child("selector"),
                new_sel.cloned().unwrap_or(Value::Null),
                "field is immutable",
            )
            .with_repr(go_label_selector(new_sel)),
        );
    }
    // A suspended Job that never started may still have its scheduling directives changed.
    let never_started = old_status.is_none_or(|s| !has(s, "startTime"));
    let mutable_scheduling =
        spec.get("suspend").and_then(Value::as_bool) == Some(true) && never_started;
    let mut template = spec["template"].clone();
    if mutable_scheduling {
        let old_template = &old["template"];
        for (section, keys) in [
            ("metadata", &["labels", "annotations"][..]),
            (
                "spec",
                &["nodeSelector", "tolerations", "affinity", "schedulingGates"][..],
            ),
        ] {
            if let Some(m) = template.get_mut(section).and_then(Value::as_object_mut) {
                for key in keys {
                    match old_template[section].get(*key) {
                        Some(v) => m.insert((*key).to_string(), v.clone()),
                        None => m.remove(*key),
                    };
                }
            }
        }
    }
    if !same(Some(&template), old.get("template")) {
        errs.push(FieldError::invalid(
            path.child("template"),
            spec["template"].clone(),
            "field is immutable",
        ));
    }
    for key in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        immutable(spec.get(key), old.get(key), &path.child(key), errs);
    }
}

pub(super) fn cron_job(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    let schedule = str_of(spec, "schedule");
    let sp = path.child("schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required(sp, ""));
    } else {
        let allow_tz = v
            .old_spec()
            .is_some_and(|o| str_of(o, "schedule").contains("TZ"));
        if let Err(e) = validate_cron_schedule(schedule) {
            errs.push(FieldError::invalid(sp.clone(), schedule, e));
        }
        if allow_tz && schedule.contains("TZ") && has(spec, "timeZone") {
            errs.push(FieldError::invalid(
                sp,
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                sp,
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    nonnegative(
        spec,
        "startingDeadlineSeconds",
        &path.child("startingDeadlineSeconds"),
        errs,
    );
    let tz_changed = v
        .old_spec()
        .is_none_or(|o| !same(o.get("timeZone"), spec.get("timeZone")));
    if tz_changed {
        time_zone(spec.get("timeZone"), &path.child("timeZone"), errs);
    }
    let policy = str_of(spec, "concurrencyPolicy");
    match policy {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(path.child("concurrencyPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("concurrencyPolicy"),
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jtp = path.child("jobTemplate");
    let job_template_spec = &spec["jobTemplate"]["spec"];
    job_spec(job_template_spec, &jtp.child("spec"), errs);
    if let Some(sel) = job_template_spec.get("selector").filter(|s| !s.is_null()) {
        errs.push(
            FieldError::invalid(
                jtp.child("spec").child("selector"),
                sel.clone(),
                "`selector` will be auto-generated",
            )
            .with_repr(go_label_selector(Some(sel))),
        );
    }
    if job_template_spec
        .get("manualSelector")
        .and_then(Value::as_bool)
        == Some(true)
    {
        errs.push(FieldError::not_supported(
            jtp.child("spec").child("manualSelector"),
            true,
            &["nil", "false"],
        ));
    }
    nonnegative(
        spec,
        "successfulJobsHistoryLimit",
        &path.child("successfulJobsHistoryLimit"),
        errs,
    );
    nonnegative(
        spec,
        "failedJobsHistoryLimit",
        &path.child("failedJobsHistoryLimit"),
        errs,
    );
    if v.old.is_none() {
        let name = v.obj["metadata"]["name"].as_str().unwrap_or("");
        // Jobs are named `<cronjob>-<11 digits of schedule time>` and must fit in 63 characters.
        if name.len() > 52 {
            errs.push(FieldError::invalid(
                Path::new("metadata").child("name"),
                name,
                "must be no more than 52 characters",
            ));
        }
    }
}

fn time_zone(tz: Option<&Value>, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(tz) = tz.filter(|t| !t.is_null()) else {
        return;
    };
    let tz_str = tz.as_str().unwrap_or("");
    if tz_str.is_empty() {
        errs.push(FieldError::invalid(
            path.clone(),
            tz.clone(),
            "timeZone must be nil or non-empty string",
        ));
        return;
    }
    let part_ok = |part: &str| {
        (1..=14).contains(&part.len())
            && part != "."
            && part != ".."
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
    };
    if !tz_str.split('/').all(part_ok) {
        errs.push(FieldError::invalid(
            path.clone(),
            tz_str,
            format!("unknown time zone {tz_str}"),
        ));
        return;
    }
    if tz_str.eq_ignore_ascii_case("Local") {
        errs.push(FieldError::invalid(
            path.clone(),
            tz_str,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
}
