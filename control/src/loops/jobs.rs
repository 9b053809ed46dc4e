//! The batch controllers: Jobs run their pods to completion, CronJobs start Jobs on schedule,
//! and finished Jobs with `ttlSecondsAfterFinished` are deleted when it runs out. Decisions are
//! `control_controllers::{job, cronjob, ttl}`'s; this loop keeps informers on pods, Jobs and
//! CronJobs and writes through the API.
//!
//! Each pass returns the earliest time a plan asked to be looked at again (a CronJob's next
//! schedule time, a Job's active deadline or pod failure backoff, a TTL), and the loop sleeps
//! until then or until an informer changes. Expectations keep a Job from creating pods twice
//! (or a CronJob Jobs twice) while the informers have not yet seen the earlier writes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use control_controllers::cronjob::plan_cronjob;
use control_controllers::job::{finished, plan_job, JobEvent};
use control_controllers::ownership::controller_of;
use control_controllers::slow_start_batches;
use control_controllers::ttl::{ttl_decision, TtlDecision};
use http::{Method, StatusCode};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::apiserver::handlers::now_rfc3339;
use crate::client::{Connection, KubeConfig};
use crate::informer::all_synced;
use crate::loops::common::{
    adopt_and_release, create_pods, delete_expected, in_namespace, live_keys, merge_patch,
    satisfied, typed, Driver, Expectation, EXPECTATIONS_TTL,
};

/// The longest the loop sleeps without a change: a safety net for a lost watch event.
const RESYNC: Duration = Duration::from_secs(60);

/// What the loop remembers between passes.
#[derive(Default)]
struct State {
    /// Pods a Job (by uid) created or deleted and has not seen yet.
    job_expectations: HashMap<String, Expectation>,
    /// Jobs a CronJob (by uid) created or deleted and has not seen yet.
    cron_expectations: HashMap<String, Expectation>,
    /// Events already recorded, per object uid, so a condition that persists across passes
    /// (a Forbid skip, an unparseable schedule) is reported once rather than every pass.
    reported: HashMap<String, HashSet<String>>,
}

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let mut driver = Driver::new(cfg);
    let pods = driver.informer("/api/v1/pods");
    let jobs = driver.informer("/apis/batch/v1/jobs");
    let cronjobs = driver.informer("/apis/batch/v1/cronjobs");
    let mut state = State::default();
    let mut sleep = RESYNC;
    loop {
        driver.wait(sleep).await;
        sleep = RESYNC;
        let Some(c) = driver.connection().await else {
            sleep = Duration::from_secs(1);
            continue;
        };
        if !all_synced(&[&pods, &jobs, &cronjobs]) {
            sleep = Duration::from_millis(200);
            continue;
        }
        let pods: Vec<Pod> = typed(pods.objects());
        let jobs: Vec<Job> = typed(jobs.objects());
        let cronjobs: Vec<CronJob> = typed(cronjobs.objects());
        let result = pass(c, &pods, &jobs, &cronjobs, &mut state).await;
        match result {
            Ok(wake) => {
                if let Some(at) = wake {
                    let until = at.duration_since(Timestamp::now());
                    let until = Duration::try_from(until).unwrap_or(Duration::ZERO);
                    sleep = until.clamp(Duration::from_millis(10), RESYNC);
                }
            }
            Err(e) => {
                driver.failed("batch controllers", &e);
                sleep = Duration::from_secs(1);
            }
        }
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// The time an expectation expires, so an owner held back by one is looked at again then.
fn expiry(e: &Expectation) -> Option<Timestamp> {
    let left = EXPECTATIONS_TTL.saturating_sub(e.since.elapsed());
    Timestamp::now()
        .checked_add(jiff::SignedDuration::try_from(left).ok()?)
        .ok()
}

async fn pass(
    c: &mut Connection,
    pods: &[Pod],
    jobs: &[Job],
    cronjobs: &[CronJob],
    state: &mut State,
) -> anyhow::Result<Option<Timestamp>> {
    let now = Timestamp::now();
    let mut wake = None;

    // Objects marked for deletion count as gone: their owners asked for that already.
    let live_pods = live_keys(pods.iter().map(|p| &p.metadata));
    let live_jobs = live_keys(jobs.iter().map(|j| &j.metadata));
    let mut pods_by_ns: HashMap<&str, Vec<Pod>> = HashMap::new();
    for p in pods {
        let ns = p.metadata.namespace.as_deref().unwrap_or("");
        pods_by_ns.entry(ns).or_default().push(p.clone());
    }
    let uids: HashSet<&str> = jobs
        .iter()
        .filter_map(|j| j.metadata.uid.as_deref())
        .chain(cronjobs.iter().filter_map(|j| j.metadata.uid.as_deref()))
        .collect();
    state
        .job_expectations
        .retain(|u, _| uids.contains(u.as_str()));
    state
        .cron_expectations
        .retain(|u, _| uids.contains(u.as_str()));
    state.reported.retain(|u, _| uids.contains(u.as_str()));

    for job in jobs {
        let next = sync_job(c, job, &pods_by_ns, &live_pods, state, now).await?;
        wake = earliest(wake, next);
    }
    for cj in cronjobs {
        let next = sync_cronjob(c, cj, jobs, &live_jobs, state, now).await?;
        wake = earliest(wake, next);
    }
    Ok(wake)
}

fn job_path(ns: &str, name: &str) -> String {
    format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}")
}

/// One Job: its TTL if it has finished, its plan otherwise.
async fn sync_job(
    c: &mut Connection,
    job: &Job,
    pods_by_ns: &HashMap<&str, Vec<Pod>>,
    live_pods: &HashSet<String>,
    state: &mut State,
    now: Timestamp,
) -> anyhow::Result<Option<Timestamp>> {
    let ns = job.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    if finished(job).is_some() {
        return match ttl_decision(job, now) {
            TtlDecision::Keep => Ok(None),
            TtlDecision::DeleteAt(t) => Ok(Some(t)),
            TtlDecision::DeleteNow => {
                expire(c, &ns, &name, &uid).await?;
                Ok(None)
            }
        };
    }
    if let Some(e) = state.job_expectations.get(&uid) {
        if !satisfied(Some(e), live_pods) {
            return Ok(expiry(e));
        }
    }
    state.job_expectations.remove(&uid);
    let no_pods = Vec::new();
    let ns_pods = pods_by_ns.get(ns.as_str()).unwrap_or(&no_pods);
    let plan = match plan_job(job, ns_pods, now) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(%ns, %name, "job not planned: {e}");
            return Ok(None);
        }
    };
    let pods_dir = format!("/api/v1/namespaces/{ns}/pods");
    let oref = control_controllers::controller_reference("batch/v1", "Job", &name, &uid);
    adopt_and_release(c, &pods_dir, &plan.adopt, &plan.release, &oref).await?;
    let mut exp = Expectation::new();
    let mut events: Vec<JobEvent> = plan.events.clone();
    for n in delete_expected(c, &pods_dir, &ns, &plan.delete, None, &mut exp).await? {
        events.push(JobEvent {
            type_: "Normal",
            reason: "SuccessfulDelete".into(),
            message: format!("Deleted pod: {n}"),
        });
    }
    let batches = slow_start_batches(plan.create.len(), 1);
    let created = create_pods(c, &ns, &plan.create, batches, &mut exp).await?;
    for pod_name in &created.names {
        events.push(JobEvent {
            type_: "Normal",
            reason: "SuccessfulCreate".into(),
            message: format!("Created pod: {pod_name}"),
        });
    }
    if let Some((code, resp)) = &created.refused {
        tracing::warn!(%ns, job = %name, %code, "creating a pod failed: {}", String::from_utf8_lossy(resp));
        events.push(JobEvent {
            type_: "Warning",
            reason: "FailedCreate".into(),
            message: format!("Error creating: {}", api_message(resp)),
        });
    }
    if !exp.is_empty() {
        state.job_expectations.insert(uid.clone(), exp);
    }
    let old = serde_json::to_value(&job.status)?;
    let new = serde_json::to_value(&plan.status)?;
    if old != new {
        merge_patch(
            c,
            &format!("{}/status", job_path(&ns, &name)),
            &json!({"status": status_patch(&old, &new)}),
        )
        .await?;
    }
    let about = Involved::of_job(job);
    for e in events {
        event(
            c,
            state,
            &about,
            "job-controller",
            e.type_,
            &e.reason,
            &e.message,
        )
        .await?;
    }
    Ok(plan.requeue_at)
}

/// Deletes an expired Job after re-reading it: its TTL or state may have changed since the
/// cache saw it. The UID precondition spares a Job recreated under the same name.
async fn expire(c: &mut Connection, ns: &str, name: &str, uid: &str) -> anyhow::Result<()> {
    let path = job_path(ns, name);
    let (code, body) = c.request(Method::GET, &path, None).await?;
    if !code.is_success() {
        return Ok(());
    }
    let fresh: Job = serde_json::from_slice(&body)?;
    if fresh.metadata.uid.as_deref() != Some(uid)
        || ttl_decision(&fresh, Timestamp::now()) != TtlDecision::DeleteNow
    {
        return Ok(());
    }
    let options = json!({"kind": "DeleteOptions", "apiVersion": "v1",
        "propagationPolicy": "Background", "preconditions": {"uid": uid}});
    let (code, body) = c
        .request(Method::DELETE, &path, Some(serde_json::to_vec(&options)?))
        .await?;
    if code.is_success() {
        tracing::info!(%ns, job = %name, "finished job deleted after its TTL");
    } else if code != StatusCode::NOT_FOUND && code != StatusCode::CONFLICT {
        tracing::warn!(%ns, job = %name, %code, "deleting an expired job failed: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// One CronJob.
async fn sync_cronjob(
    c: &mut Connection,
    cj: &CronJob,
    jobs: &[Job],
    live_jobs: &HashSet<String>,
    state: &mut State,
    now: Timestamp,
) -> anyhow::Result<Option<Timestamp>> {
    let ns = cj.metadata.namespace.clone().unwrap_or_default();
    let name = cj.metadata.name.clone().unwrap_or_default();
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    if let Some(e) = state.cron_expectations.get(&uid) {
        if !satisfied(Some(e), live_jobs) {
            return Ok(expiry(e));
        }
    }
    state.cron_expectations.remove(&uid);
    let mut ns_jobs = in_namespace(jobs, &ns);
    // An active Job the cache does not have may only be lagging: read it before the plan
    // forgets it.
    let active = cj
        .status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default();
    for r in active {
        if r.uid.is_none() || ns_jobs.iter().any(|j| j.metadata.uid == r.uid) {
            continue;
        }
        let job_ns = r.namespace.clone().unwrap_or_else(|| ns.clone());
        let path = job_path(&job_ns, r.name.as_deref().unwrap_or_default());
        let (code, body) = c.request(Method::GET, &path, None).await?;
        if code.is_success() {
            let fresh: Job = serde_json::from_slice(&body)?;
            if fresh.metadata.uid == r.uid {
                ns_jobs.push(fresh);
            }
        } else if code != StatusCode::NOT_FOUND {
            // Not known either way: plan again later rather than forget a running Job.
            return Ok(None);
        }
    }
    let mut plan = match plan_cronjob(cj, &ns_jobs, now) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(%ns, %name, "cronjob not planned: {e}");
            return Ok(None);
        }
    };
    let mut exp = Expectation::new();
    let mut events: Vec<(&'static str, &'static str, String)> = plan
        .events
        .iter()
        .map(|e| (e.type_, e.reason, e.message.clone()))
        .collect();
    let options = serde_json::to_vec(
        &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}),
    )?;
    for n in &plan.delete {
        let (code, body) = c
            .request(Method::DELETE, &job_path(&ns, n), Some(options.clone()))
            .await?;
        if code.is_success() || code == StatusCode::NOT_FOUND {
            exp.deleted.insert(format!("{ns}/{n}"));
        } else {
            tracing::warn!(%ns, cronjob = %name, job = %n, %code, "deleting a job failed: {}", String::from_utf8_lossy(&body));
        }
    }
    if let Some(job) = plan.create.clone() {
        let job_name = job.metadata.name.clone().unwrap_or_default();
        let (code, resp) = c
            .request(
                Method::POST,
                &format!("/apis/batch/v1/namespaces/{ns}/jobs"),
                Some(serde_json::to_vec(&job)?),
            )
            .await?;
        if code.is_success() {
            let created: Job = serde_json::from_slice(&resp)?;
            plan.record_created(&created);
            exp.created.insert(format!("{ns}/{job_name}"));
            events.push((
                "Normal",
                "SuccessfulCreate",
                format!("Created job {job_name}"),
            ));
        } else if code == StatusCode::CONFLICT {
            // Created before (a crash between the create and the status write, or a lagging
            // cache): it is ours to record if it is controlled by this CronJob.
            let (code, body) = c
                .request(Method::GET, &job_path(&ns, &job_name), None)
                .await?;
            if code.is_success() {
                let existing: Job = serde_json::from_slice(&body)?;
                if controller_of(&existing.metadata).is_some_and(|r| r.uid == uid) {
                    plan.record_created(&existing);
                }
            }
        } else {
            tracing::warn!(%ns, cronjob = %name, %code, "creating a job failed: {}", String::from_utf8_lossy(&resp));
            events.push((
                "Warning",
                "FailedCreate",
                format!("Error creating job: {}", api_message(&resp)),
            ));
        }
    }
    if !exp.is_empty() {
        state.cron_expectations.insert(uid.clone(), exp);
    }
    let old = serde_json::to_value(&cj.status)?;
    let new = serde_json::to_value(&plan.status)?;
    if old != new {
        merge_patch(
            c,
            &format!("/apis/batch/v1/namespaces/{ns}/cronjobs/{name}/status"),
            &json!({"status": status_patch(&old, &new)}),
        )
        .await?;
    }
    let about = Involved {
        api_version: "batch/v1",
        kind: "CronJob",
        namespace: ns,
        name,
        uid,
        resource_version: cj.metadata.resource_version.clone(),
    };
    for (type_, reason, message) in events {
        event(
            c,
            state,
            &about,
            "cronjob-controller",
            type_,
            reason,
            &message,
        )
        .await?;
    }
    Ok(plan.requeue_at)
}

/// A merge patch turning status `old` into `new`: fields that `new` leaves out are nulled, or
/// they would survive the merge (an `active` count that dropped to none, say).
fn status_patch(old: &Value, new: &Value) -> Value {
    let mut patch = new.clone();
    if let (Some(o), Some(p)) = (old.as_object(), patch.as_object_mut()) {
        for k in o.keys() {
            if !p.contains_key(k) {
                p.insert(k.clone(), Value::Null);
            }
        }
    }
    if patch.is_null() {
        json!({})
    } else {
        patch
    }
}

/// The `message` of an API error Status, or the body as text.
fn api_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

/// The object an Event is about.
struct Involved {
    api_version: &'static str,
    kind: &'static str,
    namespace: String,
    name: String,
    uid: String,
    resource_version: Option<String>,
}

impl Involved {
    fn of_job(job: &Job) -> Involved {
        Involved {
            api_version: "batch/v1",
            kind: "Job",
            namespace: job.metadata.namespace.clone().unwrap_or_default(),
            name: job.metadata.name.clone().unwrap_or_default(),
            uid: job.metadata.uid.clone().unwrap_or_default(),
            resource_version: job.metadata.resource_version.clone(),
        }
    }
}

/// Records a core/v1 Event, once per object and distinct reason and message.
async fn event(
    c: &mut Connection,
    state: &mut State,
    about: &Involved,
    component: &str,
    type_: &str,
    reason: &str,
    message: &str,
) -> anyhow::Result<()> {
    let seen = state.reported.entry(about.uid.clone()).or_default();
    if !seen.insert(format!("{reason}\n{message}")) {
        return Ok(());
    }
    let ns = &about.namespace;
    let now = now_rfc3339();
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": format!("{}.", about.name), "namespace": ns},
        "involvedObject": {"apiVersion": about.api_version, "kind": about.kind, "namespace": ns,
                           "name": about.name, "uid": about.uid,
                           "resourceVersion": about.resource_version},
        "reason": reason, "message": message, "type": type_,
        "source": {"component": component},
        "reportingComponent": component, "reportingInstance": component,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    let (code, body) = c
        .request(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/events"),
            Some(serde_json::to_vec(&ev)?),
        )
        .await?;
    if !code.is_success() {
        tracing::debug!(%ns, name = %about.name, %code, "recording event failed: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patches_null_what_the_new_status_dropped() {
        let old = json!({"active": 2, "ready": 1, "startTime": "2024-05-01T12:00:00Z"});
        let new = json!({"ready": 0, "startTime": "2024-05-01T12:00:00Z", "succeeded": 2});
        assert_eq!(
            status_patch(&old, &new),
            json!({"ready": 0, "startTime": "2024-05-01T12:00:00Z", "succeeded": 2, "active": null})
        );
        assert_eq!(status_patch(&old, &Value::Null), json!({}));
    }
}
