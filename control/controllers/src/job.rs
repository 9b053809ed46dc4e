//! The Job controller: run pods until `spec.completions` of them succeed, at most
//! `spec.parallelism` at a time, and give up after `spec.backoffLimit` failures or
//! `spec.activeDeadlineSeconds`. [`plan_job`] makes one sync's decisions, with Kubernetes
//! v1.32 semantics (`pkg/controller/job`):
//!
//! - Pods are created with `generateName: <job>-` (Indexed: `<job>-<index>-`, with the
//!   `batch.kubernetes.io/job-completion-index` annotation and label, the hostname
//!   `<job>-<index>` and a `JOB_COMPLETION_INDEX` variable in every container), carry the
//!   template's labels (which include the generated selector's) and the Job as controller.
//! - Terminal conditions go through an interim one, as in v1.32 where `JobPodReplacementPolicy`
//!   and `JobSuccessPolicy` are on by default: `SuccessCriteriaMet` then `Complete`
//!   (reason `CompletionsReached`), `FailureTarget` then `Failed` (reasons
//!   `BackoffLimitExceeded`, `DeadlineExceeded`). The terminal condition waits until no pod of
//!   the Job is still terminating, so a `Failed` Job has no pod left running.
//! - After a failure, new pods wait out the pod failure backoff: 10 s after the last failure,
//!   doubling per consecutive failure since the last success, at most 6 minutes.
//!
//! **Counting.** Kubernetes tracks finished pods with the `batch.kubernetes.io/job-tracking`
//! finalizer and `status.uncountedTerminatedPods`, so a pod deleted after it finished is still
//! counted. This controller does not use the finalizer: it counts the finished pods that still
//! exist, and never lets `status.succeeded` / `status.failed` go down. A finished pod deleted
//! before it was seen is therefore not counted, and one deleted after another was counted in
//! its place may be undercounted; nothing is ever counted twice. Deleted-but-not-finished pods
//! count as failed (as Kubernetes counts them) unless `podReplacementPolicy: Failed` or a
//! `podFailurePolicy` is set.
//!
//! Not implemented: `podFailurePolicy` rules, `successPolicy`, `backoffLimitPerIndex` /
//! `maxFailedIndexes`, and `managedBy` (these Jobs are still managed here).

use std::collections::{BTreeMap, BTreeSet};

use control_apimachinery::selector::LabelSelector;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::ownership::{claim, controller_reference, name_and_uid, Claim};
use crate::podutil::{deletion_order, is_pod_active, is_pod_ready};
use crate::ControllerError;

/// The annotation (and label) carrying an Indexed Job pod's completion index.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The environment variable Indexed Job containers read their index from.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The most pods one sync creates or deletes; the next sync continues.
pub const MAX_PODS_PER_SYNC: usize = 500;
/// The delay before replacing the first failed pod.
pub const POD_FAILURE_BACKOFF: SignedDuration = SignedDuration::from_secs(10);
/// The longest delay before replacing a failed pod.
pub const MAX_POD_FAILURE_BACKOFF: SignedDuration = SignedDuration::from_secs(360);

/// A core/v1 Event the controller should record about the Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: String,
    pub message: String,
}

/// One sync's decisions for a Job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobPlan {
    /// Pods to create (each complete, with `generateName`); send them in
    /// [`crate::slow_start_batches`] and stop at the first failing batch.
    pub create: Vec<Pod>,
    /// Names of pods to delete.
    pub delete: Vec<String>,
    /// Orphan pods to adopt (add the controller ownerReference).
    pub adopt: Vec<String>,
    /// Owned pods to release (remove the ownerReference).
    pub release: Vec<String>,
    /// The status to write (compare with the current one; write only on change).
    pub status: JobStatus,
    pub events: Vec<JobEvent>,
    /// When the Job needs another sync even if nothing changes: its active deadline, or the
    /// end of a pod failure backoff.
    pub requeue_at: Option<Timestamp>,
}

fn condition_true<'a>(conditions: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// The Job's terminal condition (`Complete` or `Failed`, status `True`), if it has finished.
pub fn finished_condition(job: &Job) -> Option<&JobCondition> {
    let conditions = job.status.as_ref()?.conditions.as_deref()?;
    condition_true(conditions, "Complete").or_else(|| condition_true(conditions, "Failed"))
}

/// Whether the Job has finished, and how: `Some("Complete")` or `Some("Failed")`.
pub fn finished(job: &Job) -> Option<&'static str> {
    match finished_condition(job)?.type_.as_str() {
        "Complete" => Some("Complete"),
        _ => Some("Failed"),
    }
}

fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        message: (!message.is_empty()).then(|| message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets a condition to `status` (with a fresh transition time) when its status, reason or
/// message differ; a condition that does not exist is only added when it is not `False`
/// (going from nothing to `False` says nothing). Returns whether the list changed.
fn ensure_condition(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = list.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status
            || c.reason.as_deref().unwrap_or("") != reason
            || c.message.as_deref().unwrap_or("") != message
        {
            *c = new_condition(type_, status, reason, message, now);
            return true;
        }
        return false;
    }
    if status != "False" {
        list.push(new_condition(type_, status, reason, message, now));
        return true;
    }
    false
}

/// What the controller needs from a Job's spec, with the API defaults applied.
struct Spec<'a> {
    name: String,
    namespace: Option<String>,
    uid: String,
    deleting: bool,
    selector: LabelSelector,
    template: &'a PodTemplateSpec,
    parallelism: i32,
    completions: Option<i32>,
    indexed: bool,
    backoff_limit: i32,
    active_deadline: Option<i64>,
    suspended: bool,
    on_failure: bool,
    only_replace_failed: bool,
}

fn spec_of(job: &Job) -> Result<Spec<'_>, ControllerError> {
    let missing = |field| ControllerError::MissingMetadata { kind: "Job", field };
    let (name, uid) = name_and_uid(&job.metadata, "Job")?;
    let spec = job.spec.as_ref().ok_or(missing("spec"))?;
    let selector = LabelSelector::from_api(spec.selector.as_ref())?;
    if selector.is_empty() || selector.matches_nothing() {
        return Err(ControllerError::EmptySelector { kind: "Job", name });
    }
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref());
    Ok(Spec {
        name,
        namespace: job.metadata.namespace.clone(),
        uid,
        deleting: job.metadata.deletion_timestamp.is_some(),
        selector,
        template: &spec.template,
        parallelism: spec.parallelism.unwrap_or(1).max(0),
        completions: spec.completions.map(|c| c.max(0)),
        indexed: spec.completion_mode.as_deref() == Some("Indexed") && spec.completions.is_some(),
        backoff_limit: spec.backoff_limit.unwrap_or(6).max(0),
        active_deadline: spec.active_deadline_seconds,
        suspended: spec.suspend == Some(true),
        on_failure: restart == Some("OnFailure"),
        only_replace_failed: spec.pod_replacement_policy.as_deref() == Some("Failed")
            || spec.pod_failure_policy.is_some(),
    })
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// A pod the Job counts as failed: it failed, or it was deleted before it could succeed
/// (unless only failed pods are to be replaced, when deletion alone does not count).
fn is_failed(pod: &Pod, only_replace_failed: bool) -> bool {
    match phase(pod) {
        Some("Failed") => true,
        Some("Succeeded") => false,
        _ => !only_replace_failed && pod.metadata.deletion_timestamp.is_some(),
    }
}

/// Deleted but not finished: its containers may still be running.
fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && !matches!(phase(pod), Some("Succeeded") | Some("Failed"))
}

/// When a finished pod finished: the latest container termination, else when it stopped
/// being ready, else when it was deleted, else when it was created.
fn finish_time(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref();
    let from_containers = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    from_containers
        .or_else(|| {
            status?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")?
                .last_transition_time
                .as_ref()
                .map(|t| t.0)
        })
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The completion index of an Indexed Job's pod, if it has a valid one.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let text = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX_ANNOTATION))
        .or_else(|| meta.labels.as_ref()?.get(COMPLETION_INDEX_ANNOTATION))?;
    text.parse::<i32>().ok().filter(|i| *i >= 0)
}

/// Parses `status.completedIndexes` ("1,3-5,7"), keeping the indexes below `completions`.
/// Malformed parts are skipped: the pods themselves are the evidence.
pub fn parse_indexes(text: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        let (Ok(lo), Ok(hi)) = (lo, hi) else { continue };
        let hi = hi.min(completions - 1);
        if lo < 0 || lo > hi {
            continue;
        }
        out.extend(lo..=hi);
    }
    out
}

/// Formats indexes as Kubernetes writes `completedIndexes`: ascending, runs of consecutive
/// indexes as `a-b`.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &i in indexes {
        run = match run {
            Some((a, b)) if i == b + 1 => Some((a, i)),
            Some((a, b)) => {
                parts.push(if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                });
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some((a, b)) = run {
        parts.push(if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        });
    }
    parts.join(",")
}

/// How long pod creation must still wait after failures: the backoff doubles with each
/// failure since the last success, from [`POD_FAILURE_BACKOFF`] up to
/// [`MAX_POD_FAILURE_BACKOFF`], and runs from the last failure. Returns when it ends.
fn backoff_until(finished: &[(&Pod, bool)]) -> Option<Timestamp> {
    let last_success = finished
        .iter()
        .filter(|(_, failed)| !failed)
        .filter_map(|(p, _)| finish_time(p))
        .max();
    let failures: Vec<Timestamp> = finished
        .iter()
        .filter(|(_, failed)| *failed)
        .filter_map(|(p, _)| finish_time(p))
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let last_failure = failures.iter().max()?;
    let mut delay = POD_FAILURE_BACKOFF;
    for _ in 1..failures.len() {
        delay = delay.checked_mul(2).unwrap_or(MAX_POD_FAILURE_BACKOFF);
        if delay >= MAX_POD_FAILURE_BACKOFF {
            delay = MAX_POD_FAILURE_BACKOFF;
            break;
        }
    }
    last_failure.checked_add(delay).ok()
}

/// With `restartPolicy: OnFailure` failures show up as container restarts of pods that are
/// still pending or running; the Job fails once they reach the backoff limit (any restart
/// when the limit is 0).
fn restarts_exceed_limit(s: &Spec<'_>, pods: &[&Pod]) -> bool {
    if !s.on_failure {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|p| matches!(phase(p), Some("Running") | Some("Pending")))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|st| {
            st.init_container_statuses
                .iter()
                .flatten()
                .chain(st.container_statuses.iter().flatten())
        })
        .map(|c| i64::from(c.restart_count))
        .sum();
    if s.backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= i64::from(s.backoff_limit)
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A new pod for the Job, for `index` when the Job is Indexed.
fn new_pod(s: &Spec<'_>, index: Option<i32>) -> Pod {
    let template_meta = s.template.metadata.clone().unwrap_or_default();
    let mut spec = s.template.spec.clone();
    let mut labels = template_meta.labels;
    let mut annotations = template_meta.annotations;
    let mut generate_name = format!("{}-", s.name);
    if let Some(i) = index {
        annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(COMPLETION_INDEX_ANNOTATION.to_owned(), i.to_string());
        labels
            .get_or_insert_with(BTreeMap::new)
            .insert(COMPLETION_INDEX_ANNOTATION.to_owned(), i.to_string());
        generate_name = format!("{}-{i}-", s.name);
        if let Some(spec) = spec.as_mut() {
            spec.hostname = Some(format!("{}-{i}", s.name));
            let env = EnvVar {
                name: COMPLETION_INDEX_ENV.to_owned(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!(
                            "metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"
                        ),
                    }),
                    ..EnvVarSource::default()
                }),
            };
            let containers = spec
                .init_containers
                .iter_mut()
                .flatten()
                .chain(spec.containers.iter_mut());
            for c in containers {
                let vars = c.env.get_or_insert_with(Vec::new);
                if !vars.iter().any(|v| v.name == COMPLETION_INDEX_ENV) {
                    vars.push(env.clone());
                }
            }
        }
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: s.namespace.clone(),
            labels,
            annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![controller_reference(
                "batch/v1", "Job", &s.name, &s.uid,
            )]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

fn name_of(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// Makes one sync's plan for `job` over the pods of its namespace.
pub fn plan_job(job: &Job, pods: &[Pod], now: Timestamp) -> Result<JobPlan, ControllerError> {
    let s = spec_of(job)?;
    // API times have whole seconds; keeping `now` that way makes a written status compare
    // equal to the one read back.
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let old = job.status.clone().unwrap_or_default();
    let mut plan = JobPlan {
        status: old.clone(),
        ..JobPlan::default()
    };
    if finished(job).is_some() {
        return Ok(plan);
    }

    // Claim: only active orphans are adopted, so a finished pod is never counted for a Job
    // that did not run it.
    let mut owned: Vec<&Pod> = Vec::new();
    for pod in pods {
        if pod.metadata.namespace.is_some() && pod.metadata.namespace != s.namespace {
            continue;
        }
        match claim(&s.uid, s.deleting, &s.selector, &pod.metadata) {
            Claim::Keep => owned.push(pod),
            Claim::Adopt if is_pod_active(pod) => {
                plan.adopt.push(name_of(pod));
                owned.push(pod);
            }
            Claim::Release => plan.release.push(name_of(pod)),
            Claim::Adopt | Claim::Ignore => {}
        }
    }
    let mut active: Vec<&Pod> = owned.iter().copied().filter(|p| is_pod_active(p)).collect();
    let terminating_before = count(owned.iter().filter(|p| is_terminating(p)).count());
    let finished_pods: Vec<(&Pod, bool)> = owned
        .iter()
        .filter_map(|p| {
            if phase(p) == Some("Succeeded") {
                Some((*p, false))
            } else if is_failed(p, s.only_replace_failed) {
                Some((*p, true))
            } else {
                None
            }
        })
        .collect();
    let failed_now = count(finished_pods.iter().filter(|(_, f)| *f).count());
    let failed = failed_now.max(old.failed.unwrap_or(0));

    let completions_for_index = s.completions.unwrap_or(0);
    let mut completed_indexes = BTreeSet::new();
    let succeeded = if s.indexed {
        completed_indexes = parse_indexes(
            old.completed_indexes.as_deref().unwrap_or(""),
            completions_for_index,
        );
        for (p, f) in &finished_pods {
            if !f {
                if let Some(i) = completion_index(p).filter(|i| *i < completions_for_index) {
                    completed_indexes.insert(i);
                }
            }
        }
        count(completed_indexes.len())
    } else {
        let succeeded_now = count(finished_pods.iter().filter(|(_, f)| !f).count());
        succeeded_now.max(old.succeeded.unwrap_or(0))
    };

    let mut conditions = old.conditions.clone().unwrap_or_default();
    let mut start_time = old.start_time.clone();
    if start_time.is_none() && !s.suspended {
        start_time = Some(Time(now));
    }

    // Decide whether the Job has failed (or already decided so, or already succeeded).
    let mut finishing: Option<JobCondition> = None;
    if let Some(target) = condition_true(&conditions, "FailureTarget") {
        finishing = Some(target.clone());
    } else if let Some(met) = condition_true(&conditions, "SuccessCriteriaMet") {
        finishing = Some(met.clone());
    } else if failed > s.backoff_limit || restarts_exceed_limit(&s, &active) {
        finishing = Some(new_condition(
            "FailureTarget",
            "True",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            now,
        ));
    } else if let (Some(deadline), Some(start), false) =
        (s.active_deadline, start_time.as_ref(), s.suspended)
    {
        let due = start
            .0
            .checked_add(SignedDuration::from_secs(deadline))
            .ok();
        match due {
            Some(due) if now < due => plan.requeue_at = Some(due),
            _ => {
                finishing = Some(new_condition(
                    "FailureTarget",
                    "True",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    now,
                ))
            }
        }
    }

    let mut terminating = terminating_before;
    let is_failure = finishing
        .as_ref()
        .is_some_and(|c| c.type_ == "FailureTarget");
    if is_failure {
        // A failed Job stops every pod it still runs.
        let mut doomed = active.clone();
        doomed.sort_by(|a, b| deletion_order(a, b, now));
        for p in doomed.into_iter().take(MAX_PODS_PER_SYNC) {
            plan.delete.push(name_of(p));
        }
    } else if !s.deleting && finishing.is_none() {
        let progress = Progress {
            completed_indexes: &completed_indexes,
            succeeded,
            terminating: terminating_before,
            finished_pods: &finished_pods,
        };
        manage(&s, &mut plan, &mut active, &progress, now);
    }
    let deleted: BTreeSet<&str> = plan.delete.iter().map(String::as_str).collect();
    let still_active = count(
        active
            .iter()
            .filter(|p| !deleted.contains(p.metadata.name.as_deref().unwrap_or("")))
            .count(),
    );
    let created = count(plan.create.len());
    // Pods deleted now are terminating until they are gone.
    terminating += count(active.len()) - still_active;
    let active_count = still_active + created;
    let ready = count(
        active
            .iter()
            .filter(|p| !deleted.contains(p.metadata.name.as_deref().unwrap_or("")))
            .filter(|p| is_pod_ready(p))
            .count(),
    );

    if finishing.is_none() {
        let complete = match s.completions {
            None => succeeded > 0 && active_count == 0,
            Some(c) => succeeded >= c && active_count == 0,
        };
        if complete {
            finishing = Some(new_condition(
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                now,
            ));
        } else if s.suspended {
            // A suspended Job has not started: its template's scheduling directives may change
            // again, and the active deadline starts over when it resumes.
            start_time = None;
            if ensure_condition(
                &mut conditions,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            ) {
                plan.events.push(JobEvent {
                    type_: "Normal",
                    reason: "Suspended".into(),
                    message: "Job suspended".into(),
                });
            }
        } else if ensure_condition(
            &mut conditions,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now,
        ) {
            plan.events.push(JobEvent {
                type_: "Normal",
                reason: "Resumed".into(),
                message: "Job resumed".into(),
            });
            // The active deadline counts time the Job has been running without a pause.
            start_time = Some(Time(now));
        }
    }

    let mut completion_time = old.completion_time.clone();
    if let Some(interim) = &finishing {
        let reason = interim.reason.clone().unwrap_or_default();
        let message = interim.message.clone().unwrap_or_default();
        if condition_true(&conditions, &interim.type_).is_none() {
            conditions.push(interim.clone());
        }
        // The terminal condition waits for the last pod to stop.
        if terminating == 0 && active_count == 0 {
            let terminal = if interim.type_ == "FailureTarget" {
                "Failed"
            } else {
                "Complete"
            };
            conditions.push(new_condition(terminal, "True", &reason, &message, now));
            if terminal == "Complete" {
                completion_time = Some(Time(now));
                plan.events.push(JobEvent {
                    type_: "Normal",
                    reason: "Completed".into(),
                    message: "Job completed".into(),
                });
            } else {
                plan.events.push(JobEvent {
                    type_: "Warning",
                    reason,
                    message,
                });
            }
            plan.requeue_at = None;
        }
    }

    plan.status = JobStatus {
        active: Some(active_count).filter(|n| *n > 0),
        ready: Some(ready),
        terminating: Some(terminating),
        succeeded: Some(succeeded).filter(|n| *n > 0),
        failed: Some(failed).filter(|n| *n > 0),
        start_time,
        completion_time,
        conditions: Some(conditions).filter(|c| !c.is_empty()),
        completed_indexes: if s.indexed {
            Some(format_indexes(&completed_indexes)).filter(|t| !t.is_empty())
        } else {
            old.completed_indexes.clone()
        },
        failed_indexes: old.failed_indexes.clone(),
        uncounted_terminated_pods: old.uncounted_terminated_pods.clone(),
    };
    Ok(plan)
}

/// Creates or deletes pods toward the wanted number of active ones.
/// What the Job has done so far, as [`manage`] needs it.
struct Progress<'a> {
    completed_indexes: &'a BTreeSet<i32>,
    succeeded: i32,
    terminating: i32,
    /// Finished pods, `true` for failed ones.
    finished_pods: &'a [(&'a Pod, bool)],
}

fn manage(
    s: &Spec<'_>,
    plan: &mut JobPlan,
    active: &mut Vec<&Pod>,
    progress: &Progress<'_>,
    now: Timestamp,
) {
    let Progress {
        completed_indexes,
        succeeded,
        terminating,
        finished_pods,
    } = *progress;
    active.sort_by(|a, b| deletion_order(a, b, now));
    if s.suspended {
        plan.delete = active
            .iter()
            .take(MAX_PODS_PER_SYNC)
            .map(|p| name_of(p))
            .collect();
        return;
    }
    // Indexed: pods without a usable index, for an index already done, or duplicating another
    // pod's index go first.
    let mut surplus: Vec<&Pod> = Vec::new();
    let mut keep: Vec<&Pod> = Vec::new();
    if s.indexed {
        let completions = s.completions.unwrap_or(0);
        let mut seen = BTreeSet::new();
        // Iterate from the pod to keep longest, so the first of an index seen is kept.
        for p in active.iter().rev() {
            match completion_index(p) {
                Some(i) if i < completions && !completed_indexes.contains(&i) && seen.insert(i) => {
                    keep.push(p)
                }
                _ => surplus.push(p),
            }
        }
        keep.reverse();
    } else {
        keep = active.clone();
    }
    let want = match s.completions {
        // Without completions, the first success means "the work is done": let what runs
        // finish, start nothing new.
        None if succeeded > 0 => count(keep.len()),
        None => s.parallelism,
        Some(c) => (c - succeeded).clamp(0, s.parallelism),
    };
    let extra = usize::try_from(count(keep.len()) - want).unwrap_or(0);
    // `keep` is in deletion order: the cheapest pods to lose come first.
    surplus.extend(keep.iter().take(extra));
    if !surplus.is_empty() {
        plan.delete = surplus
            .iter()
            .take(MAX_PODS_PER_SYNC)
            .map(|p| name_of(p))
            .collect();
        return;
    }
    // Replacing only failed pods means waiting for deleted ones to stop first.
    let terminating = if s.only_replace_failed {
        terminating
    } else {
        0
    };
    let missing = want - terminating - count(keep.len());
    if missing <= 0 {
        return;
    }
    if let Some(until) = backoff_until(finished_pods) {
        if now < until {
            plan.requeue_at = Some(plan.requeue_at.map_or(until, |r| r.min(until)));
            return;
        }
    }
    let missing = usize::try_from(missing).unwrap_or(0).min(MAX_PODS_PER_SYNC);
    if s.indexed {
        let running: BTreeSet<i32> = keep.iter().filter_map(|p| completion_index(p)).collect();
        let pending = (0..s.completions.unwrap_or(0))
            .filter(|i| !completed_indexes.contains(i) && !running.contains(i))
            .take(missing);
        plan.create = pending.map(|i| new_pod(s, Some(i))).collect();
    } else {
        plan.create = (0..missing).map(|_| new_pod(s, None)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{merge, now};
    use serde_json::{json, Value};

    /// The seed Job after admission (completions 2, parallelism 2), with `extra` merged in.
    fn job(extra: Value) -> Job {
        let mut v = json!({
            "metadata": {"name": "pi", "namespace": "default", "uid": "job-uid",
                         "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {
                "completions": 2, "parallelism": 2, "backoffLimit": 6,
                "completionMode": "NonIndexed", "suspend": false,
                "podReplacementPolicy": "TerminatingOrFailed",
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
                "template": {
                    "metadata": {"labels": {"batch.kubernetes.io/controller-uid": "job-uid",
                                            "batch.kubernetes.io/job-name": "pi",
                                            "controller-uid": "job-uid", "job-name": "pi"}},
                    "spec": {"restartPolicy": "Never",
                             "containers": [{"name": "pi", "image": "perl"}]}
                }
            }
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn pod(name: &str, phase: &str, extra: Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default",
                         "creationTimestamp": "2024-05-01T11:00:00Z",
                         "labels": {"batch.kubernetes.io/controller-uid": "job-uid"},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi",
                                              "uid": "job-uid", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "pi", "image": "perl"}]},
            "status": {"phase": phase}
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn finished_pod(name: &str, phase: &str, at: &str) -> Pod {
        let code = if phase == "Succeeded" { 0 } else { 1 };
        pod(
            name,
            phase,
            json!({"status": {"containerStatuses": [{"name": "pi", "image": "perl", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "finishedAt": at}}}]}}),
        )
    }

    fn types(plan: &JobPlan) -> Vec<(String, String)> {
        plan.status
            .conditions
            .iter()
            .flatten()
            .map(|c| (c.type_.clone(), c.reason.clone().unwrap_or_default()))
            .collect()
    }

    fn with_status(mut j: Job, status: &JobStatus) -> Job {
        j.status = Some(status.clone());
        j
    }

    #[test]
    fn a_new_job_starts_parallelism_pods_with_the_job_labels() {
        let plan = plan_job(&job(json!({})), &[], now()).unwrap();
        assert_eq!(plan.create.len(), 2);
        let p = &plan.create[0];
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-"));
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-name"],
            "pi"
        );
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("Job", "job-uid", Some(true))
        );
        assert_eq!(plan.status.start_time, Some(Time(now())));
        assert_eq!(plan.status.active, Some(2));
        assert_eq!(plan.status.ready, Some(0));
        assert_eq!(plan.status.terminating, Some(0));
        assert!(plan.status.conditions.is_none());
        assert_eq!(plan.requeue_at, None);
    }

    #[test]
    fn parallelism_caps_active_pods_and_completions_cap_the_rest() {
        let j = job(json!({"spec": {"completions": 5, "parallelism": 2}}));
        let running = [pod("a", "Running", json!({}))];
        assert_eq!(plan_job(&j, &running, now()).unwrap().create.len(), 1);
        let mostly_done = [
            finished_pod("a", "Succeeded", "2024-05-01T11:10:00Z"),
            finished_pod("b", "Succeeded", "2024-05-01T11:10:00Z"),
            finished_pod("c", "Succeeded", "2024-05-01T11:10:00Z"),
            finished_pod("d", "Succeeded", "2024-05-01T11:10:00Z"),
        ];
        let plan = plan_job(&j, &mostly_done, now()).unwrap();
        assert_eq!(plan.create.len(), 1, "only one completion is left");
        assert_eq!(plan.status.succeeded, Some(4));
    }

    #[test]
    fn reaching_completions_writes_success_criteria_met_then_complete() {
        let pods = [
            finished_pod("a", "Succeeded", "2024-05-01T11:59:00Z"),
            finished_pod("b", "Succeeded", "2024-05-01T11:59:30Z"),
        ];
        let j = job(json!({"status": {"startTime": "2024-05-01T11:58:00Z", "active": 2}}));
        let plan = plan_job(&j, &pods, now()).unwrap();
        assert!(plan.create.is_empty() && plan.delete.is_empty());
        assert_eq!(
            types(&plan),
            vec![
                ("SuccessCriteriaMet".into(), "CompletionsReached".into()),
                ("Complete".into(), "CompletionsReached".into())
            ]
        );
        assert_eq!(plan.status.succeeded, Some(2));
        assert_eq!(plan.status.active, None);
        assert_eq!(plan.status.completion_time, Some(Time(now())));
        assert_eq!(plan.events[0].reason, "Completed");
        // A finished Job is left alone.
        let done = with_status(j, &plan.status);
        assert_eq!(finished(&done), Some("Complete"));
        let again = plan_job(&done, &[], now()).unwrap();
        assert_eq!(again.status, plan.status);
        assert!(again.create.is_empty());
    }

    #[test]
    fn counts_never_go_down_when_finished_pods_disappear() {
        let j = job(
            json!({"status": {"startTime": "2024-05-01T11:58:00Z", "succeeded": 1, "failed": 1}}),
        );
        let plan = plan_job(&j, &[pod("b", "Running", json!({}))], now()).unwrap();
        assert_eq!(plan.status.succeeded, Some(1));
        assert_eq!(plan.status.failed, Some(1));
        assert!(
            plan.create.is_empty(),
            "one running plus one succeeded covers 2 completions"
        );
    }

    #[test]
    fn a_job_without_completions_finishes_once_one_pod_succeeded_and_the_rest_stopped() {
        let j = job(json!({"spec": {"completions": null, "parallelism": 3}}));
        let pods = [
            finished_pod("a", "Succeeded", "2024-05-01T11:59:00Z"),
            pod("b", "Running", json!({})),
        ];
        let plan = plan_job(&j, &pods, now()).unwrap();
        assert!(
            plan.create.is_empty(),
            "no new pods after the first success"
        );
        assert!(plan.delete.is_empty(), "running pods may finish");
        assert!(plan.status.conditions.is_none());
        let plan = plan_job(&j, &pods[..1], now()).unwrap();
        assert_eq!(types(&plan)[1].0, "Complete");
    }

    #[test]
    fn backoff_limit_counts_failed_pods_and_fails_after_limit_plus_one() {
        let j = job(
            json!({"spec": {"completions": 1, "parallelism": 1, "backoffLimit": 2},
                           "status": {"startTime": "2024-05-01T11:00:00Z"}}),
        );
        let two = [
            finished_pod("a", "Failed", "2024-05-01T11:10:00Z"),
            finished_pod("b", "Failed", "2024-05-01T11:20:00Z"),
        ];
        let plan = plan_job(&j, &two, now()).unwrap();
        assert!(plan.status.conditions.is_none());
        assert_eq!(plan.status.failed, Some(2));
        assert_eq!(plan.create.len(), 1, "two failures are within a limit of 2");
        let mut three = two.to_vec();
        three.push(finished_pod("c", "Failed", "2024-05-01T11:30:00Z"));
        let plan = plan_job(&j, &three, now()).unwrap();
        assert!(plan.create.is_empty());
        assert_eq!(
            types(&plan),
            vec![
                ("FailureTarget".into(), "BackoffLimitExceeded".into()),
                ("Failed".into(), "BackoffLimitExceeded".into())
            ]
        );
        let failed = plan.status.conditions.as_ref().unwrap()[1].clone();
        assert_eq!(
            failed.message.as_deref(),
            Some("Job has reached the specified backoff limit")
        );
        assert_eq!(
            plan.status.completion_time, None,
            "only success has a completion time"
        );
        assert_eq!(plan.events[0].reason, "BackoffLimitExceeded");
    }

    #[test]
    fn failed_waits_for_running_pods_to_be_gone() {
        let j = job(
            json!({"spec": {"completions": 3, "parallelism": 2, "backoffLimit": 0},
                           "status": {"startTime": "2024-05-01T11:00:00Z"}}),
        );
        let pods = [
            finished_pod("a", "Failed", "2024-05-01T11:10:00Z"),
            pod("b", "Running", json!({})),
        ];
        let plan = plan_job(&j, &pods, now()).unwrap();
        assert_eq!(plan.delete, vec!["b"]);
        assert_eq!(
            types(&plan),
            vec![("FailureTarget".into(), "BackoffLimitExceeded".into())]
        );
        assert_eq!(plan.status.terminating, Some(1));
        assert_eq!(plan.status.active, None);
        // Next sync: b is terminating (and counts as failed); still no Failed.
        let j = with_status(j, &plan.status);
        let going = pod(
            "b",
            "Running",
            json!({"metadata": {"deletionTimestamp": "2024-05-01T12:00:30Z"}}),
        );
        let plan = plan_job(&j, &[pods[0].clone(), going], now()).unwrap();
        assert_eq!(types(&plan).len(), 1);
        assert_eq!(plan.status.failed, Some(2));
        assert!(plan.delete.is_empty(), "already deleted");
        // b is gone: Failed, with the interim condition's reason.
        let j = with_status(j, &plan.status);
        let plan = plan_job(&j, &pods[..1], now()).unwrap();
        assert_eq!(
            types(&plan)[1],
            ("Failed".into(), "BackoffLimitExceeded".into())
        );
    }

    #[test]
    fn on_failure_restarts_count_against_the_backoff_limit() {
        let j = job(
            json!({"spec": {"backoffLimit": 3, "template": {"spec": {"restartPolicy": "OnFailure"}}},
                           "status": {"startTime": "2024-05-01T11:00:00Z"}}),
        );
        let restarting = |n: i32| {
            pod(
                "a",
                "Running",
                json!({"status": {"containerStatuses": [{"name": "pi", "image": "perl",
                "imageID": "", "ready": false, "restartCount": n}]}}),
            )
        };
        let ok = plan_job(&j, &[restarting(2), pod("b", "Running", json!({}))], now()).unwrap();
        assert!(ok.status.conditions.is_none());
        let plan = plan_job(&j, &[restarting(3), pod("b", "Running", json!({}))], now()).unwrap();
        assert_eq!(
            types(&plan)[0],
            ("FailureTarget".into(), "BackoffLimitExceeded".into())
        );
        assert_eq!(plan.delete.len(), 2);
    }

    #[test]
    fn active_deadline_requeues_then_fails_the_job_and_deletes_its_pods() {
        let j = job(json!({"spec": {"activeDeadlineSeconds": 30},
                           "status": {"startTime": "2024-05-01T11:59:50Z"}}));
        let pods = [
            pod("a", "Running", json!({})),
            pod("b", "Pending", json!({})),
        ];
        let plan = plan_job(&j, &pods, now()).unwrap();
        assert_eq!(
            plan.requeue_at,
            Some("2024-05-01T12:00:20Z".parse().unwrap())
        );
        assert!(plan.status.conditions.is_none());
        let later: Timestamp = "2024-05-01T12:00:20Z".parse().unwrap();
        let plan = plan_job(&j, &pods, later).unwrap();
        assert_eq!(plan.delete, vec!["b", "a"], "pending before running");
        assert_eq!(
            types(&plan),
            vec![("FailureTarget".into(), "DeadlineExceeded".into())]
        );
        assert_eq!(
            plan.status.conditions.as_ref().unwrap()[0]
                .message
                .as_deref(),
            Some("Job was active longer than specified deadline")
        );
        let j = with_status(j, &plan.status);
        let plan = plan_job(&j, &[], later).unwrap();
        assert_eq!(
            types(&plan)[1],
            ("Failed".into(), "DeadlineExceeded".into())
        );
        assert!(plan.create.is_empty(), "a failed job starts nothing");
    }

    #[test]
    fn a_suspended_job_deletes_its_pods_and_resuming_restarts_the_clock() {
        let j = job(
            json!({"spec": {"suspend": true, "activeDeadlineSeconds": 10},
                           "status": {"startTime": "2024-05-01T11:00:00Z"}}),
        );
        let plan = plan_job(&j, &[pod("a", "Running", json!({}))], now()).unwrap();
        assert_eq!(plan.delete, vec!["a"]);
        assert!(plan.create.is_empty());
        assert_eq!(
            types(&plan),
            vec![("Suspended".into(), "JobSuspended".into())]
        );
        assert_eq!(plan.requeue_at, None, "no deadline while suspended");
        assert_eq!(plan.status.start_time, None);
        let suspended = with_status(j, &plan.status);
        let mut resumed = suspended.clone();
        resumed.spec.as_mut().unwrap().suspend = Some(false);
        let plan = plan_job(&resumed, &[], now()).unwrap();
        assert_eq!(plan.create.len(), 2);
        let c = &plan.status.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("JobResumed"))
        );
        assert_eq!(plan.status.start_time, Some(Time(now())));
        assert_eq!(plan.events[0].reason, "Resumed");
    }

    #[test]
    fn a_job_created_suspended_has_no_start_time() {
        let plan = plan_job(&job(json!({"spec": {"suspend": true}})), &[], now()).unwrap();
        assert_eq!(plan.status.start_time, None);
        assert!(plan.create.is_empty());
    }

    #[test]
    fn replacements_wait_for_the_failure_backoff() {
        let j = job(json!({"spec": {"completions": 1, "parallelism": 1},
                           "status": {"startTime": "2024-05-01T11:00:00Z"}}));
        let one = [finished_pod("a", "Failed", "2024-05-01T11:59:55Z")];
        let plan = plan_job(&j, &one, now()).unwrap();
        assert!(plan.create.is_empty());
        assert_eq!(
            plan.requeue_at,
            Some("2024-05-01T12:00:05Z".parse().unwrap())
        );
        let two = [
            finished_pod("a", "Failed", "2024-05-01T11:59:00Z"),
            finished_pod("b", "Failed", "2024-05-01T11:59:50Z"),
        ];
        let plan = plan_job(&j, &two, now()).unwrap();
        assert_eq!(
            plan.requeue_at,
            Some("2024-05-01T12:00:10Z".parse().unwrap()),
            "20 s after two failures"
        );
        // A success resets the count.
        let j3 = job(json!({"spec": {"completions": 2, "parallelism": 1},
                            "status": {"startTime": "2024-05-01T11:00:00Z"}}));
        let reset = [
            finished_pod("a", "Failed", "2024-05-01T11:50:00Z"),
            finished_pod("b", "Succeeded", "2024-05-01T11:59:58Z"),
        ];
        assert_eq!(plan_job(&j3, &reset, now()).unwrap().create.len(), 1);
        let after_backoff: Timestamp = "2024-05-01T12:00:06Z".parse().unwrap();
        assert_eq!(plan_job(&j, &one, after_backoff).unwrap().create.len(), 1);
    }

    #[test]
    fn lowering_parallelism_deletes_the_cheapest_pods() {
        let j = job(json!({"spec": {"completions": 5, "parallelism": 1}}));
        let pods = [
            pod("running", "Running", json!({})),
            pod("pending", "Pending", json!({})),
        ];
        let plan = plan_job(&j, &pods, now()).unwrap();
        assert_eq!(plan.delete, vec!["pending"]);
        assert!(plan.create.is_empty());
    }

    #[test]
    fn orphans_are_adopted_only_while_active_and_strangers_are_ignored() {
        let j = job(json!({}));
        let orphan = pod(
            "o",
            "Running",
            json!({"metadata": {"ownerReferences": null}}),
        );
        let done_orphan = pod(
            "d",
            "Succeeded",
            json!({"metadata": {"ownerReferences": null}}),
        );
        let stranger = pod(
            "s",
            "Running",
            json!({"metadata": {"labels": {"batch.kubernetes.io/controller-uid": null, "app": "x"}, "ownerReferences": null}}),
        );
        let plan = plan_job(&j, &[orphan, done_orphan, stranger], now()).unwrap();
        assert_eq!(plan.adopt, vec!["o"]);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.status.succeeded, None);
    }

    #[test]
    fn ready_counts_ready_active_pods() {
        let ready = pod(
            "a",
            "Running",
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let plan = plan_job(
            &job(json!({})),
            &[ready, pod("b", "Running", json!({}))],
            now(),
        )
        .unwrap();
        assert_eq!(plan.status.ready, Some(1));
        assert_eq!(plan.status.active, Some(2));
    }

    fn indexed(completions: i32, parallelism: i32) -> Job {
        job(
            json!({"spec": {"completionMode": "Indexed", "completions": completions, "parallelism": parallelism}}),
        )
    }

    fn indexed_pod(name: &str, phase: &str, index: &str) -> Pod {
        pod(
            name,
            phase,
            json!({"metadata": {"annotations": {COMPLETION_INDEX_ANNOTATION: index}}}),
        )
    }

    #[test]
    fn indexed_jobs_create_the_lowest_pending_indexes_with_annotation_label_env_and_hostname() {
        let j = indexed(4, 2);
        let pods = [
            indexed_pod("x", "Succeeded", "0"),
            indexed_pod("y", "Running", "1"),
        ];
        let plan = plan_job(&j, &pods, now()).unwrap();
        assert_eq!(plan.create.len(), 1);
        let p = &plan.create[0];
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-2-"));
        assert_eq!(
            p.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX_ANNOTATION],
            "2"
        );
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX_ANNOTATION],
            "2"
        );
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("pi-2"));
        let env = &spec.containers[0].env.as_ref().unwrap()[0];
        assert_eq!(env.name, COMPLETION_INDEX_ENV);
        assert_eq!(
            env.value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
        assert_eq!(plan.status.completed_indexes.as_deref(), Some("0"));
        assert_eq!(plan.status.succeeded, Some(1));
    }

    #[test]
    fn indexed_jobs_complete_when_every_index_succeeded_once() {
        let j = indexed(3, 3);
        let pods = [
            indexed_pod("a", "Succeeded", "0"),
            indexed_pod("b", "Succeeded", "0"),
            indexed_pod("c", "Succeeded", "2"),
        ];
        let plan = plan_job(&j, &pods, now()).unwrap();
        assert_eq!(plan.status.succeeded, Some(2), "index 0 counts once");
        assert_eq!(plan.status.completed_indexes.as_deref(), Some("0,2"));
        assert_eq!(plan.create.len(), 1);
        assert_eq!(
            plan.create[0].metadata.generate_name.as_deref(),
            Some("pi-1-")
        );
        let mut all = pods.to_vec();
        all.push(indexed_pod("d", "Succeeded", "1"));
        let plan = plan_job(&j, &all, now()).unwrap();
        assert_eq!(plan.status.completed_indexes.as_deref(), Some("0-2"));
        assert_eq!(types(&plan)[1].0, "Complete");
    }

    #[test]
    fn indexed_duplicates_and_bad_indexes_are_deleted() {
        let j = indexed(2, 2);
        let pods = [
            indexed_pod("a", "Running", "0"),
            indexed_pod("b", "Pending", "0"),
            indexed_pod("c", "Running", "7"),
            indexed_pod("d", "Running", "x"),
        ];
        let mut plan = plan_job(&j, &pods, now()).unwrap();
        plan.delete.sort();
        assert_eq!(plan.delete, vec!["b", "c", "d"]);
        assert!(
            plan.create.is_empty(),
            "deletions first, creations next sync"
        );
    }

    #[test]
    fn index_sets_parse_and_format() {
        let set = parse_indexes("0-2,4,6-7,x,9-3,100", 8);
        assert_eq!(
            set.iter().copied().collect::<Vec<_>>(),
            vec![0, 1, 2, 4, 6, 7]
        );
        assert_eq!(format_indexes(&set), "0-2,4,6-7");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }

    #[test]
    fn a_job_without_selector_is_refused() {
        let j = job(json!({"spec": {"selector": null}}));
        assert!(matches!(
            plan_job(&j, &[], now()),
            Err(ControllerError::EmptySelector { .. })
        ));
    }

    #[test]
    fn a_job_being_deleted_creates_nothing() {
        let j = job(json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:00Z"}}));
        let plan = plan_job(&j, &[], now()).unwrap();
        assert!(plan.create.is_empty());
    }

    #[test]
    fn replace_only_failed_pods_waits_for_terminating_ones() {
        let j = job(
            json!({"spec": {"podReplacementPolicy": "Failed", "completions": 1, "parallelism": 1},
                           "status": {"startTime": "2024-05-01T11:00:00Z"}}),
        );
        let going = pod(
            "a",
            "Running",
            json!({"metadata": {"deletionTimestamp": "2024-05-01T12:00:30Z"}}),
        );
        let plan = plan_job(&j, std::slice::from_ref(&going), now()).unwrap();
        assert!(plan.create.is_empty());
        assert_eq!(
            plan.status.failed, None,
            "deletion alone is not a failure here"
        );
        let default_policy = job(json!({"spec": {"completions": 1, "parallelism": 1},
                                        "status": {"startTime": "2024-05-01T11:00:00Z"}}));
        let plan = plan_job(&default_policy, &[going], now()).unwrap();
        assert_eq!(plan.status.failed, Some(1));
        assert!(
            plan.create.is_empty(),
            "still backing off after the counted failure"
        );
    }
}
