//! batch/v1 Job and CronJob. `status` is not read (see core_v1).

use k8s_pb::api::batch::v1::{
    CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec, PodFailurePolicy,
    PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern,
    PodFailurePolicyRule, SuccessPolicy, SuccessPolicyRule,
};

use super::json::{Json, Obj};
use super::meta_v1::{label_selector, object_meta};
use super::pod::pod_template_spec;

pub(super) fn job(j: &Job) -> Json {
    Obj::new()
        .obj("metadata", j.metadata.as_ref(), object_meta)
        .obj("spec", j.spec.as_ref(), job_spec)
        .finish()
}

pub(super) fn cron_job(c: &CronJob) -> Json {
    Obj::new()
        .obj("metadata", c.metadata.as_ref(), object_meta)
        .obj("spec", c.spec.as_ref(), cron_job_spec)
        .finish()
}

fn cron_job_spec(s: &CronJobSpec) -> Json {
    Obj::new()
        .str_req("schedule", &s.schedule)
        .str_ptr("timeZone", &s.time_zone)
        .int_ptr("startingDeadlineSeconds", s.starting_deadline_seconds)
        .str("concurrencyPolicy", &s.concurrency_policy)
        .bool_ptr("suspend", s.suspend)
        .obj("jobTemplate", s.job_template.as_ref(), job_template_spec)
        .int_ptr(
            "successfulJobsHistoryLimit",
            s.successful_jobs_history_limit,
        )
        .int_ptr("failedJobsHistoryLimit", s.failed_jobs_history_limit)
        .finish()
}

fn job_template_spec(t: &JobTemplateSpec) -> Json {
    Obj::new()
        .obj("metadata", t.metadata.as_ref(), object_meta)
        .obj("spec", t.spec.as_ref(), job_spec)
        .finish()
}

fn job_spec(s: &JobSpec) -> Json {
    Obj::new()
        .int_ptr("parallelism", s.parallelism)
        .int_ptr("completions", s.completions)
        .int_ptr("activeDeadlineSeconds", s.active_deadline_seconds)
        .obj(
            "podFailurePolicy",
            s.pod_failure_policy.as_ref(),
            pod_failure_policy,
        )
        .obj("successPolicy", s.success_policy.as_ref(), success_policy)
        .int_ptr("backoffLimit", s.backoff_limit)
        .int_ptr("backoffLimitPerIndex", s.backoff_limit_per_index)
        .int_ptr("maxFailedIndexes", s.max_failed_indexes)
        .obj("selector", s.selector.as_ref(), label_selector)
        .bool_ptr("manualSelector", s.manual_selector)
        .obj("template", s.template.as_ref(), pod_template_spec)
        .int_ptr("ttlSecondsAfterFinished", s.ttl_seconds_after_finished)
        .str_ptr("completionMode", &s.completion_mode)
        .bool_ptr("suspend", s.suspend)
        .str_ptr("podReplacementPolicy", &s.pod_replacement_policy)
        .str_ptr("managedBy", &s.managed_by)
        .finish()
}

fn pod_failure_policy(p: &PodFailurePolicy) -> Json {
    Obj::new()
        .list_req("rules", &p.rules, pod_failure_policy_rule)
        .finish()
}

fn pod_failure_policy_rule(r: &PodFailurePolicyRule) -> Json {
    Obj::new()
        .str_req("action", &r.action)
        .obj("onExitCodes", r.on_exit_codes.as_ref(), on_exit_codes)
        .list("onPodConditions", &r.on_pod_conditions, on_pod_conditions)
        .finish()
}

fn on_exit_codes(r: &PodFailurePolicyOnExitCodesRequirement) -> Json {
    // `values` has no omitempty in Go; `[]` rather than `null` for the same reason as list_req.
    Obj::new()
        .str_ptr("containerName", &r.container_name)
        .str_req("operator", &r.operator)
        .value("values", r.values.iter().copied().collect())
        .finish()
}

fn on_pod_conditions(p: &PodFailurePolicyOnPodConditionsPattern) -> Json {
    Obj::new()
        .str_req("type", &p.r#type)
        .str_req("status", &p.status)
        .finish()
}

fn success_policy(p: &SuccessPolicy) -> Json {
    Obj::new()
        .list_req("rules", &p.rules, success_policy_rule)
        .finish()
}

fn success_policy_rule(r: &SuccessPolicyRule) -> Json {
    Obj::new()
        .str_ptr("succeededIndexes", &r.succeeded_indexes)
        .int_ptr("succeededCount", r.succeeded_count)
        .finish()
}
