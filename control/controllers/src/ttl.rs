//! The TTL-after-finished controller: a finished Job with `spec.ttlSecondsAfterFinished` is
//! deleted that many seconds after it finished, with `propagationPolicy: Background` so the
//! garbage collector removes its pods (Kubernetes v1.32, `pkg/controller/ttlafterfinished`).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;

use crate::job::finished_condition;

/// What to do with one Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlDecision {
    /// No TTL, not finished, or already being deleted.
    Keep,
    /// Delete it at this time (look again then).
    DeleteAt(Timestamp),
    /// The TTL has run out: delete it now. The caller should confirm with a live read that
    /// the Job still has the TTL and is finished (a user may just have changed it), and delete
    /// with a UID precondition so that a Job recreated under the same name survives.
    DeleteNow,
}

/// When a finished Job expires. The finish time is the `lastTransitionTime` of its `Complete`
/// or `Failed` condition; a finished Job without one (which a controller would never write)
/// is kept rather than deleted at a guessed time.
pub fn ttl_decision(job: &Job, now: Timestamp) -> TtlDecision {
    if job.metadata.deletion_timestamp.is_some() {
        return TtlDecision::Keep;
    }
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
        return TtlDecision::Keep;
    };
    let Some(finished_at) = finished_condition(job)
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
    else {
        return TtlDecision::Keep;
    };
    // A finish time in the future (clock skew) simply delays the deletion.
    match finished_at.checked_add(SignedDuration::from_secs(i64::from(ttl))) {
        Ok(expires) if expires > now => TtlDecision::DeleteAt(expires),
        Ok(_) => TtlDecision::DeleteNow,
        Err(_) => TtlDecision::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::ts;
    use serde_json::json;

    fn job(ttl: Option<i32>, condition: Option<&str>, deleting: bool) -> Job {
        let mut v = json!({
            "metadata": {"name": "pi", "namespace": "default", "uid": "u"},
            "spec": {"template": {"spec": {"containers": []}}},
        });
        if let Some(ttl) = ttl {
            v["spec"]["ttlSecondsAfterFinished"] = json!(ttl);
        }
        if let Some(c) = condition {
            v["status"] = json!({"conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2024-05-01T11:00:00Z"},
                {"type": c, "status": "True", "lastTransitionTime": "2024-05-01T12:00:00Z"}
            ]});
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:00:30Z");
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_finished_job_expires_ttl_seconds_after_its_terminal_condition() {
        let j = job(Some(60), Some("Complete"), false);
        assert_eq!(
            ttl_decision(&j, ts("2024-05-01T12:00:30Z")),
            TtlDecision::DeleteAt(ts("2024-05-01T12:01:00Z"))
        );
        assert_eq!(
            ttl_decision(&j, ts("2024-05-01T12:01:00Z")),
            TtlDecision::DeleteNow
        );
        let failed = job(Some(0), Some("Failed"), false);
        assert_eq!(
            ttl_decision(&failed, ts("2024-05-01T12:00:00Z")),
            TtlDecision::DeleteNow
        );
    }

    #[test]
    fn running_untimed_and_deleting_jobs_are_kept() {
        let now = ts("2024-05-01T13:00:00Z");
        assert_eq!(
            ttl_decision(&job(Some(1), None, false), now),
            TtlDecision::Keep
        );
        assert_eq!(
            ttl_decision(&job(None, Some("Complete"), false), now),
            TtlDecision::Keep
        );
        assert_eq!(
            ttl_decision(&job(Some(1), Some("Complete"), true), now),
            TtlDecision::Keep
        );
        // An interim condition alone is not finished.
        let mut interim = job(Some(1), None, false);
        interim.status = serde_json::from_value(json!({"conditions": [
            {"type": "FailureTarget", "status": "True", "lastTransitionTime": "2024-05-01T11:00:00Z"}
        ]}))
        .unwrap();
        assert_eq!(ttl_decision(&interim, now), TtlDecision::Keep);
    }
}
