//! The CronJob controller: start a Job at each time of the schedule, honouring the
//! concurrency policy and the starting deadline, keep `status.active`, `lastScheduleTime` and
//! `lastSuccessfulTime`, and delete finished Jobs beyond the history limits. [`plan_cronjob`]
//! makes one sync's decisions with Kubernetes v1.32 semantics (`pkg/controller/cronjob`, the v2
//! controller):
//!
//! - Only the most recent missed time is started: a controller that was down for an hour does
//!   not start sixty Jobs. Times are missed since `status.lastScheduleTime` (or the CronJob's
//!   creation), but never earlier than `startingDeadlineSeconds` ago. More than 100 missed
//!   times is reported (event `TooManyMissedTimes`) and the most recent still starts.
//! - A Job is named `<cronjob>-<scheduled time in minutes since the epoch>`, so one scheduled
//!   time can never start two Jobs, even after a crash between creating the Job and writing
//!   the status. It carries the template's labels and annotations, the
//!   `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation (RFC 3339 in the schedule's
//!   zone) and the CronJob as controller.
//! - `Forbid` skips a time while a Job is active (it starts late, within the deadline, when the
//!   active Job finishes), `Replace` deletes the active Jobs first, `Allow` runs them side by
//!   side.
//! - The next sync is due at the next schedule time (plus 100 ms of clock-skew padding).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::cron::{Schedule, ScheduleError};
use crate::job::finished;
use crate::ownership::{controller_of, controller_reference, name_and_uid};
use crate::ControllerError;

/// The annotation recording the scheduled time a Job was started for.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Beyond this many missed start times the controller warns (likely clock skew or a long
/// outage); it still starts the most recent one.
pub const MAX_MISSED_START_TIMES: usize = 100;
/// Syncs wake this long after a schedule time, so a clock slightly behind the API server's
/// does not wake just before it.
pub const NEXT_SCHEDULE_DELTA: SignedDuration = SignedDuration::from_millis(100);

/// A core/v1 Event the controller should record about the CronJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJobEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// One sync's decisions for a CronJob.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CronJobPlan {
    /// The Job to create for [`CronJobPlan::scheduled_time`]; once created (or found to
    /// exist already and be ours), call [`CronJobPlan::record_created`] before writing the
    /// status.
    pub create: Option<Job>,
    pub scheduled_time: Option<Timestamp>,
    /// Names of Jobs to delete with `propagationPolicy: Background` (replaced, or beyond the
    /// history limits).
    pub delete: Vec<String>,
    /// The status to write (compare with the current one; write only on change).
    pub status: CronJobStatus,
    pub events: Vec<CronJobEvent>,
    /// When the next sync is due even if nothing changes.
    pub requeue_at: Option<Timestamp>,
}

impl CronJobPlan {
    /// Records the Job created for this plan's scheduled time: it joins `status.active` and
    /// the scheduled time becomes `lastScheduleTime`.
    pub fn record_created(&mut self, job: &Job) {
        let uid = job.metadata.uid.clone();
        let active = self.status.active.get_or_insert_with(Vec::new);
        if !active.iter().any(|r| r.uid.is_some() && r.uid == uid) {
            active.push(job_reference(job));
        }
        if let Some(t) = self.scheduled_time {
            self.status.last_schedule_time = Some(Time(t));
        }
    }
}

fn job_reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The name of the Job for `scheduled`: deterministic, so a scheduled time runs at most once.
pub fn job_name(cronjob_name: &str, scheduled: Timestamp) -> String {
    format!("{cronjob_name}-{}", scheduled.as_second().div_euclid(60))
}

/// The Job a CronJob starts for `scheduled`.
pub fn job_from_template(
    cj: &CronJob,
    uid: &str,
    schedule: &Schedule,
    scheduled: Timestamp,
) -> Job {
    let name = cj.metadata.name.clone().unwrap_or_default();
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.to_owned(),
        schedule.format_rfc3339(scheduled),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name, scheduled)),
            namespace: cj.metadata.namespace.clone(),
            labels: template_meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_reference(
                "batch/v1", "CronJob", &name, uid,
            )]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Go's `time.RFC1123Z`, which Kubernetes' `MissSchedule` event uses.
fn rfc1123z(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Oldest first by start time (Jobs that never started last), then by name.
fn by_start_time(a: &&Job, b: &&Job) -> std::cmp::Ordering {
    let start = |j: &Job| {
        j.status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
    };
    match (start(a), start(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => a.metadata.name.cmp(&b.metadata.name),
    }
}

/// Makes one sync's plan for `cj` over `jobs` (those of its namespace are enough).
///
/// A Job in `status.active` that is missing from `jobs` is taken to be gone: the caller must
/// have confirmed that with a live read (a lagging cache would otherwise make the controller
/// forget a running Job and, with `Forbid`, start a second one).
pub fn plan_cronjob(
    cj: &CronJob,
    jobs: &[Job],
    now: Timestamp,
) -> Result<CronJobPlan, ControllerError> {
    let missing = |field| ControllerError::MissingMetadata {
        kind: "CronJob",
        field,
    };
    let (name, uid) = name_and_uid(&cj.metadata, "CronJob")?;
    let spec = cj.spec.as_ref().ok_or(missing("spec"))?;
    let mut plan = CronJobPlan {
        status: cj.status.clone().unwrap_or_default(),
        ..CronJobPlan::default()
    };
    let children: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.metadata.namespace == cj.metadata.namespace)
        .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
        .collect();

    let mut active = plan.status.active.take().unwrap_or_default();
    let in_active = |active: &[ObjectReference], j: &Job| {
        active
            .iter()
            .any(|r| r.uid.is_some() && r.uid == j.metadata.uid)
    };
    for j in &children {
        let job_name = j.metadata.name.clone().unwrap_or_default();
        match (in_active(&active, j), finished(j)) {
            (false, None) => plan.events.push(CronJobEvent {
                type_: "Warning",
                reason: "UnexpectedJob",
                message: format!(
                    "Saw a job that the controller did not create or forgot: {job_name}"
                ),
            }),
            (true, Some(how)) => {
                active.retain(|r| r.uid != j.metadata.uid);
                plan.events.push(CronJobEvent {
                    type_: "Normal",
                    reason: "SawCompletedJob",
                    message: format!("Saw completed job: {job_name}, condition: {how}"),
                });
            }
            _ => {}
        }
        if finished(j) == Some("Complete") {
            if let Some(done) = j.status.as_ref().and_then(|s| s.completion_time.as_ref()) {
                let last = plan.status.last_successful_time.as_ref().map(|t| t.0);
                if last.is_none_or(|l| done.0 > l) {
                    plan.status.last_successful_time = Some(done.clone());
                }
            }
        }
    }
    active.retain(|r| {
        let present = children
            .iter()
            .any(|j| r.uid.is_some() && j.metadata.uid == r.uid);
        if !present {
            plan.events.push(CronJobEvent {
                type_: "Normal",
                reason: "MissingJob",
                message: format!(
                    "Active job went missing: {}",
                    r.name.as_deref().unwrap_or("")
                ),
            });
        }
        present
    });

    if cj.metadata.deletion_timestamp.is_none() {
        schedule_next(cj, spec, &name, &uid, &mut active, &mut plan, now);
    }

    // History: the oldest finished Jobs beyond each limit go.
    let limit = |l: Option<i32>| l.map(|l| usize::try_from(l).unwrap_or(0));
    for (kind, keep) in [
        ("Complete", limit(spec.successful_jobs_history_limit)),
        ("Failed", limit(spec.failed_jobs_history_limit)),
    ] {
        let Some(keep) = keep else { continue };
        let mut done: Vec<&Job> = children
            .iter()
            .copied()
            .filter(|j| finished(j) == Some(kind))
            .filter(|j| {
                !plan
                    .delete
                    .contains(j.metadata.name.as_ref().unwrap_or(&String::new()))
            })
            .collect();
        if done.len() <= keep {
            continue;
        }
        done.sort_by(by_start_time);
        let surplus = done.len() - keep;
        for j in done.into_iter().take(surplus) {
            let job_name = j.metadata.name.clone().unwrap_or_default();
            active.retain(|r| r.uid != j.metadata.uid);
            plan.events.push(CronJobEvent {
                type_: "Normal",
                reason: "SuccessfulDelete",
                message: format!("Deleted job {job_name}"),
            });
            plan.delete.push(job_name);
        }
    }
    plan.status.active = Some(active).filter(|a| !a.is_empty());
    Ok(plan)
}

/// The scheduling half of a sync: which time (if any) to start now, and when to look again.
fn schedule_next(
    cj: &CronJob,
    spec: &k8s_openapi::api::batch::v1::CronJobSpec,
    name: &str,
    uid: &str,
    active: &mut Vec<ObjectReference>,
    plan: &mut CronJobPlan,
    now: Timestamp,
) {
    let schedule = match Schedule::parse_in(&spec.schedule, spec.time_zone.as_deref()) {
        Ok(s) => s,
        Err(e @ ScheduleError::TimeZone { .. }) => {
            plan.events.push(CronJobEvent {
                type_: "Warning",
                reason: "UnknownTimeZone",
                message: format!(
                    "invalid timeZone: {:?}: {e}",
                    spec.time_zone.as_deref().unwrap_or("")
                ),
            });
            return;
        }
        Err(e) => {
            plan.events.push(CronJobEvent {
                type_: "Warning",
                reason: "UnparseableSchedule",
                message: format!("unparseable schedule: {:?} : {e}", spec.schedule),
            });
            return;
        }
    };
    if spec.schedule.contains("TZ") {
        plan.events.push(CronJobEvent {
            type_: "Warning",
            reason: "UnsupportedSchedule",
            message: format!(
                "CRON_TZ or TZ used in schedule {:?} is not officially supported, use spec.timeZone instead",
                spec.schedule
            ),
        });
    }
    if spec.suspend == Some(true) {
        return;
    }
    let created = cj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let earliest = plan
        .status
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(created);
    plan.requeue_at = schedule
        .next_after(earliest.max(now))
        .and_then(|t| t.checked_add(NEXT_SCHEDULE_DELTA).ok());
    let deadline = spec
        .starting_deadline_seconds
        .map(SignedDuration::from_secs);
    let window_start = match deadline.and_then(|d| now.checked_sub(d).ok()) {
        Some(cutoff) if cutoff > earliest => cutoff,
        _ => earliest,
    };
    let (missed, most_recent) = schedule.times_between(window_start, now, MAX_MISSED_START_TIMES);
    let Some(scheduled) = most_recent else {
        return;
    };
    if missed > MAX_MISSED_START_TIMES {
        plan.events.push(CronJobEvent {
            type_: "Warning",
            reason: "TooManyMissedTimes",
            message: format!(
                "too many missed start times: more than {MAX_MISSED_START_TIMES}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            ),
        });
    }
    if let Some(d) = deadline {
        if scheduled.checked_add(d).is_ok_and(|end| end < now) {
            plan.events.push(CronJobEvent {
                type_: "Warning",
                reason: "MissSchedule",
                message: format!(
                    "Missed scheduled time to start a job: {}",
                    rfc1123z(scheduled)
                ),
            });
            return;
        }
    }
    let wanted_name = job_name(name, scheduled);
    let already = active
        .iter()
        .any(|r| r.name.as_deref() == Some(wanted_name.as_str()))
        || plan.status.last_schedule_time.as_ref().map(|t| t.0) == Some(scheduled);
    if already {
        return;
    }
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => {
            plan.events.push(CronJobEvent {
                type_: "Normal",
                reason: "JobAlreadyActive",
                message: "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
            });
            return;
        }
        Some("Replace") => {
            for r in active.drain(..) {
                let job_name = r.name.unwrap_or_default();
                plan.events.push(CronJobEvent {
                    type_: "Normal",
                    reason: "SuccessfulDelete",
                    message: format!("Deleted job {job_name}"),
                });
                plan.delete.push(job_name);
            }
        }
        _ => {}
    }
    plan.create = Some(job_from_template(cj, uid, &schedule, scheduled));
    plan.scheduled_time = Some(scheduled);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{merge, ts};
    use serde_json::{json, Value};

    /// The seed CronJob (every minute) after admission, created at 12:00:30.
    fn cronjob(extra: Value) -> CronJob {
        let mut v = json!({
            "metadata": {"name": "hello", "namespace": "default", "uid": "cj-uid",
                         "creationTimestamp": "2024-05-01T12:00:30Z"},
            "spec": {
                "schedule": "*/1 * * * *",
                "concurrencyPolicy": "Allow", "suspend": false,
                "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                "jobTemplate": {
                    "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                    "spec": {"completions": 2, "parallelism": 2, "template": {"spec": {
                        "restartPolicy": "Never", "containers": [{"name": "c", "image": "ubuntu"}]}}}
                }
            }
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    /// A Job of the CronJob; `state` is "running", "Complete" or "Failed".
    fn child(name: &str, uid: &str, state: &str, start: &str) -> Job {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default", "uid": uid,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                              "name": "hello", "uid": "cj-uid", "controller": true}]},
            "spec": {"template": {"spec": {"containers": []}}},
            "status": {"startTime": start, "active": 1}
        });
        if state != "running" {
            merge(
                &mut v,
                json!({"status": {"active": null, "conditions": [
                    {"type": state, "status": "True", "lastTransitionTime": start}
                ]}}),
            );
            if state == "Complete" {
                merge(&mut v, json!({"status": {"completionTime": start}}));
            }
        }
        serde_json::from_value(v).unwrap()
    }

    fn active_ref(name: &str, uid: &str) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "name": name, "namespace": "default", "uid": uid})
    }

    fn reasons(plan: &CronJobPlan) -> Vec<&'static str> {
        plan.events.iter().map(|e| e.reason).collect()
    }

    #[test]
    fn nothing_runs_before_the_first_schedule_time() {
        let plan = plan_cronjob(&cronjob(json!({})), &[], ts("2024-05-01T12:00:59Z")).unwrap();
        assert!(plan.create.is_none());
        assert_eq!(plan.requeue_at, Some(ts("2024-05-01T12:01:00.1Z")));
    }

    #[test]
    fn a_due_time_starts_a_named_annotated_owned_job() {
        let mut plan = plan_cronjob(&cronjob(json!({})), &[], ts("2024-05-01T12:01:02Z")).unwrap();
        let job = plan.create.clone().expect("a job is due");
        let minutes = ts("2024-05-01T12:01:00Z").as_second() / 60;
        assert_eq!(job.metadata.name, Some(format!("hello-{minutes}")));
        let annotations = job.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations[SCHEDULED_TIMESTAMP_ANNOTATION],
            "2024-05-01T12:01:00Z"
        );
        assert_eq!(annotations["note"], "x");
        assert_eq!(job.metadata.labels.as_ref().unwrap()["team"], "a");
        let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CronJob", "cj-uid", Some(true))
        );
        assert_eq!(job.spec.as_ref().unwrap().completions, Some(2));
        assert_eq!(plan.requeue_at, Some(ts("2024-05-01T12:02:00.1Z")));
        let mut created = job.clone();
        created.metadata.uid = Some("job-uid".into());
        plan.record_created(&created);
        assert_eq!(
            plan.status.last_schedule_time,
            Some(Time(ts("2024-05-01T12:01:00Z")))
        );
        assert_eq!(
            plan.status.active.as_ref().unwrap()[0].uid.as_deref(),
            Some("job-uid")
        );
    }

    #[test]
    fn an_already_started_time_is_not_started_again() {
        let cj = cronjob(
            json!({"status": {"lastScheduleTime": "2024-05-01T12:01:00Z",
                                           "active": [active_ref("hello-28576081", "j1")]}}),
        );
        let jobs = [child(
            "hello-28576081",
            "j1",
            "running",
            "2024-05-01T12:01:01Z",
        )];
        let plan = plan_cronjob(&cj, &jobs, ts("2024-05-01T12:01:40Z")).unwrap();
        assert!(plan.create.is_none());
        assert!(plan.events.is_empty());
        assert_eq!(plan.status, cj.status.clone().unwrap(), "nothing changes");
    }

    #[test]
    fn only_the_most_recent_missed_time_starts() {
        let cj = cronjob(json!({"status": {"lastScheduleTime": "2024-05-01T12:01:00Z"}}));
        let plan = plan_cronjob(&cj, &[], ts("2024-05-01T12:30:10Z")).unwrap();
        assert_eq!(plan.scheduled_time, Some(ts("2024-05-01T12:30:00Z")));
        assert!(
            reasons(&plan).is_empty(),
            "29 missed times are not too many"
        );
    }

    #[test]
    fn more_than_a_hundred_missed_times_warn_and_still_start_the_latest() {
        let cj = cronjob(json!({"status": {"lastScheduleTime": "2024-05-01T12:01:00Z"}}));
        let plan = plan_cronjob(&cj, &[], ts("2024-05-02T12:00:10Z")).unwrap();
        assert_eq!(reasons(&plan), vec!["TooManyMissedTimes"]);
        assert_eq!(plan.scheduled_time, Some(ts("2024-05-02T12:00:00Z")));
    }

    #[test]
    fn starting_deadline_limits_how_late_a_job_may_start() {
        let cj = cronjob(
            json!({"spec": {"schedule": "0 * * * *", "startingDeadlineSeconds": 60},
                                "status": {"lastScheduleTime": "2024-05-01T12:00:00Z"}}),
        );
        let late = plan_cronjob(&cj, &[], ts("2024-05-01T13:02:00Z")).unwrap();
        assert!(late.create.is_none(), "13:00 is more than 60 s ago");
        assert_eq!(late.requeue_at, Some(ts("2024-05-01T14:00:00.1Z")));
        let in_time = plan_cronjob(&cj, &[], ts("2024-05-01T13:00:50Z")).unwrap();
        assert_eq!(in_time.scheduled_time, Some(ts("2024-05-01T13:00:00Z")));
        // Many missed times are not "too many" when the deadline bounds the window.
        let cj = cronjob(json!({"spec": {"startingDeadlineSeconds": 200},
                                "status": {"lastScheduleTime": "2024-04-01T12:00:00Z"}}));
        let plan = plan_cronjob(&cj, &[], ts("2024-05-01T12:00:10Z")).unwrap();
        assert!(reasons(&plan).is_empty());
        assert_eq!(plan.scheduled_time, Some(ts("2024-05-01T12:00:00Z")));
    }

    /// The seed CronJob with `spec` merged in, whose 12:01 Job `j1` still runs, and that Job.
    fn one_running(spec: Value) -> (CronJob, [Job; 1]) {
        let cj = cronjob(json!({"spec": spec,
                                "status": {"lastScheduleTime": "2024-05-01T12:01:00Z",
                                           "active": [active_ref("hello-28576081", "j1")]}}));
        let running = [child(
            "hello-28576081",
            "j1",
            "running",
            "2024-05-01T12:01:01Z",
        )];
        (cj, running)
    }

    #[test]
    fn forbid_does_not_start_a_second_job_while_one_runs() {
        let (cj, running) = one_running(json!({"concurrencyPolicy": "Forbid"}));
        let plan = plan_cronjob(&cj, &running, ts("2024-05-01T12:02:01Z")).unwrap();
        assert!(plan.create.is_none());
        assert!(plan.delete.is_empty());
        assert_eq!(reasons(&plan), vec!["JobAlreadyActive"]);
        assert_eq!(plan.requeue_at, Some(ts("2024-05-01T12:03:00.1Z")));
        // Once it finished, the skipped time starts (late but without a deadline).
        let done = [child(
            "hello-28576081",
            "j1",
            "Complete",
            "2024-05-01T12:02:30Z",
        )];
        let plan = plan_cronjob(&cj, &done, ts("2024-05-01T12:02:40Z")).unwrap();
        assert_eq!(plan.scheduled_time, Some(ts("2024-05-01T12:02:00Z")));
        assert_eq!(reasons(&plan), vec!["SawCompletedJob"]);
        assert_eq!(plan.status.active, None);
        assert_eq!(
            plan.status.last_successful_time,
            Some(Time(ts("2024-05-01T12:02:30Z")))
        );
    }

    #[test]
    fn allow_runs_jobs_side_by_side() {
        let (cj, running) = one_running(json!({}));
        let mut plan = plan_cronjob(&cj, &running, ts("2024-05-01T12:02:01Z")).unwrap();
        let mut job = plan.create.clone().unwrap();
        job.metadata.uid = Some("j2".into());
        plan.record_created(&job);
        assert_eq!(plan.status.active.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn replace_deletes_the_running_job_and_starts_the_new_one() {
        let (cj, running) = one_running(json!({"concurrencyPolicy": "Replace"}));
        let plan = plan_cronjob(&cj, &running, ts("2024-05-01T12:02:01Z")).unwrap();
        assert_eq!(plan.delete, vec!["hello-28576081"]);
        assert!(plan.create.is_some());
        assert_eq!(plan.status.active, None);
    }

    #[test]
    fn suspend_starts_nothing_and_does_not_requeue() {
        let cj = cronjob(json!({"spec": {"suspend": true}}));
        let plan = plan_cronjob(&cj, &[], ts("2024-05-01T12:10:00Z")).unwrap();
        assert!(plan.create.is_none());
        assert_eq!(plan.requeue_at, None);
    }

    #[test]
    fn history_limits_delete_the_oldest_finished_jobs() {
        let cj = cronjob(json!({"status": {"lastScheduleTime": "2024-05-01T12:05:00Z"}}));
        let jobs = [
            child("ok-1", "u1", "Complete", "2024-05-01T12:01:00Z"),
            child("ok-2", "u2", "Complete", "2024-05-01T12:02:00Z"),
            child("ok-3", "u3", "Complete", "2024-05-01T12:03:00Z"),
            child("ok-4", "u4", "Complete", "2024-05-01T12:04:00Z"),
            child("bad-1", "u5", "Failed", "2024-05-01T12:01:30Z"),
            child("bad-2", "u6", "Failed", "2024-05-01T12:02:30Z"),
        ];
        let plan = plan_cronjob(&cj, &jobs, ts("2024-05-01T12:05:30Z")).unwrap();
        assert_eq!(plan.delete, vec!["ok-1", "bad-1"]);
        assert_eq!(
            plan.status.last_successful_time,
            Some(Time(ts("2024-05-01T12:04:00Z")))
        );
        let unlimited = cronjob(
            json!({"spec": {"successfulJobsHistoryLimit": null, "failedJobsHistoryLimit": 0},
                                       "status": {"lastScheduleTime": "2024-05-01T12:05:00Z"}}),
        );
        let plan = plan_cronjob(&unlimited, &jobs, ts("2024-05-01T12:05:30Z")).unwrap();
        assert_eq!(plan.delete, vec!["bad-1", "bad-2"]);
    }

    #[test]
    fn an_active_job_that_is_gone_leaves_the_active_list() {
        let cj = cronjob(
            json!({"status": {"lastScheduleTime": "2024-05-01T12:01:00Z",
                                           "active": [active_ref("hello-28576081", "j1")]}}),
        );
        let plan = plan_cronjob(&cj, &[], ts("2024-05-01T12:01:30Z")).unwrap();
        assert_eq!(plan.status.active, None);
        assert_eq!(reasons(&plan), vec!["MissingJob"]);
    }

    #[test]
    fn a_job_started_by_hand_is_reported_not_adopted_into_active() {
        let cj = cronjob(json!({"status": {"lastScheduleTime": "2024-05-01T12:01:00Z"}}));
        let manual = [child("manual", "m1", "running", "2024-05-01T12:01:10Z")];
        let plan = plan_cronjob(&cj, &manual, ts("2024-05-01T12:01:30Z")).unwrap();
        assert_eq!(reasons(&plan), vec!["UnexpectedJob"]);
        assert_eq!(plan.status.active, None);
    }

    #[test]
    fn bad_schedules_and_zones_are_reported_and_not_retried() {
        let plan = plan_cronjob(
            &cronjob(json!({"spec": {"schedule": "61 * * * *"}})),
            &[],
            ts("2024-05-01T12:10:00Z"),
        )
        .unwrap();
        assert_eq!(reasons(&plan), vec!["UnparseableSchedule"]);
        assert!(plan.events[0].message.contains("above maximum (59)"));
        assert_eq!(plan.requeue_at, None);
        let plan = plan_cronjob(
            &cronjob(json!({"spec": {"timeZone": "Mars/Olympus"}})),
            &[],
            ts("2024-05-01T12:10:00Z"),
        )
        .unwrap();
        assert_eq!(reasons(&plan), vec!["UnknownTimeZone"]);
        assert!(plan.create.is_none());
    }

    #[test]
    fn a_time_zone_moves_the_schedule_and_the_annotation() {
        if crate::cron::time_zone("Asia/Tokyo").is_err() {
            return;
        }
        let cj = cronjob(
            json!({"spec": {"schedule": "0 21 * * *", "timeZone": "Asia/Tokyo"},
                                "metadata": {"creationTimestamp": "2024-05-01T11:00:00Z"}}),
        );
        // 21:00 in Tokyo is 12:00 UTC.
        let plan = plan_cronjob(&cj, &[], ts("2024-05-01T12:00:05Z")).unwrap();
        assert_eq!(plan.scheduled_time, Some(ts("2024-05-01T12:00:00Z")));
        let job = plan.create.unwrap();
        assert_eq!(
            job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION],
            "2024-05-01T21:00:00+09:00"
        );
    }

    #[test]
    fn a_cronjob_being_deleted_starts_nothing() {
        let cj = cronjob(json!({"metadata": {"deletionTimestamp": "2024-05-01T12:01:30Z"}}));
        let plan = plan_cronjob(&cj, &[], ts("2024-05-01T12:05:00Z")).unwrap();
        assert!(plan.create.is_none());
    }
}
