//! Taint-based eviction: for a pod bound to a node carrying `NoExecute`
//! taints, decide whether it must go now, never, or at a given time.
//!
//! Rules, as in Kubernetes' taint eviction controller:
//! - Only `NoExecute` taints matter here.
//! - Every such taint must be tolerated by some toleration of the pod;
//!   otherwise the pod is evicted at once.
//! - Of the tolerations used (the first matching one per taint), the
//!   smallest `tolerationSeconds` wins; zero or negative means at once, and
//!   if none sets it the pod stays forever.
//! - The countdown starts at the taint's `timeAdded` (the earliest one
//!   among the node's `NoExecute` taints, missing times counting as `now`).
//!   Kubernetes starts it when its controller first noticed the pod on the
//!   tainted node; `timeAdded` is the same instant in steady state and,
//!   unlike an in-memory timer, survives a controller restart.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

use crate::add_clamped;
use crate::taints::EFFECT_NO_EXECUTE;

/// What to do with one pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionDecision {
    /// Not subject to eviction: no `NoExecute` taint, or all tolerated with
    /// no time limit. Any eviction scheduled earlier should be cancelled.
    Keep,
    /// Delete the pod now.
    EvictNow,
    /// Delete the pod at this time (strictly in the future) unless the
    /// taints go away first.
    EvictAt(Timestamp),
}

/// Whether one toleration tolerates one taint (Kubernetes'
/// `ToleratesTaint`): an empty effect or key matches any; `Exists` ignores
/// the value; `Equal` (or no operator) compares values, absent meaning "".
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty()) {
        if key != taint.key {
            return false;
        }
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// For each taint, the first toleration that tolerates it; `None` if some
/// taint is not tolerated at all.
pub fn matching_tolerations<'a>(
    taints: &[&Taint],
    tolerations: &'a [Toleration],
) -> Option<Vec<&'a Toleration>> {
    taints
        .iter()
        .map(|taint| tolerations.iter().find(|t| tolerates(t, taint)))
        .collect()
}

/// How long the used tolerations allow the pod to stay: `None` is forever.
fn min_toleration_time(used: &[&Toleration]) -> Option<SignedDuration> {
    let mut min: Option<i64> = None;
    for secs in used.iter().filter_map(|t| t.toleration_seconds) {
        if secs <= 0 {
            return Some(SignedDuration::ZERO);
        }
        min = Some(min.map_or(secs, |m| m.min(secs)));
    }
    min.map(SignedDuration::from_secs)
}

/// Decides the fate of a pod with `tolerations` on a node with `taints`.
pub fn decide_eviction(
    tolerations: &[Toleration],
    taints: &[Taint],
    now: Timestamp,
) -> EvictionDecision {
    let no_execute: Vec<&Taint> = taints
        .iter()
        .filter(|t| t.effect == EFFECT_NO_EXECUTE)
        .collect();
    if no_execute.is_empty() {
        return EvictionDecision::Keep;
    }
    let Some(used) = matching_tolerations(&no_execute, tolerations) else {
        return EvictionDecision::EvictNow;
    };
    let Some(allowed) = min_toleration_time(&used) else {
        return EvictionDecision::Keep;
    };
    let since = no_execute
        .iter()
        .map(|t| t.time_added.as_ref().map_or(now, |t| t.0))
        .min()
        .unwrap_or(now);
    let at = add_clamped(since, allowed);
    if at <= now {
        EvictionDecision::EvictNow
    } else {
        EvictionDecision::EvictAt(at)
    }
}

/// [`decide_eviction`] for a whole pod. Pods already being deleted are
/// left alone: a second delete changes nothing and costs a write. (This
/// check is this crate's choice; the rest is Kubernetes' rule.)
pub fn decide_for_pod(pod: &Pod, node_taints: &[Taint], now: Timestamp) -> EvictionDecision {
    if pod.metadata.deletion_timestamp.is_some() {
        return EvictionDecision::Keep;
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    decide_eviction(tolerations, node_taints, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taints::{EFFECT_NO_SCHEDULE, TAINT_NOT_READY, TAINT_UNREACHABLE};
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn taint(key: &str, effect: &str, added: Option<i64>) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            value: None,
            time_added: added.map(|s| Time(at(s))),
        }
    }

    fn exists(key: &str, effect: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    #[test]
    fn a_pod_without_a_toleration_for_a_no_execute_taint_goes_at_once() {
        let taints = [taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(0))];
        assert_eq!(
            decide_eviction(&[], &taints, at(1)),
            EvictionDecision::EvictNow
        );
    }

    #[test]
    fn a_toleration_of_three_hundred_seconds_delays_eviction_from_time_added() {
        let taints = [taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(100))];
        let tols = [exists(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(300))];
        assert_eq!(
            decide_eviction(&tols, &taints, at(150)),
            EvictionDecision::EvictAt(at(400))
        );
        assert_eq!(
            decide_eviction(&tols, &taints, at(400)),
            EvictionDecision::EvictNow
        );
    }

    #[test]
    fn a_toleration_without_seconds_keeps_the_pod_forever() {
        let taints = [taint(TAINT_NOT_READY, EFFECT_NO_EXECUTE, Some(0))];
        let tols = [exists(TAINT_NOT_READY, EFFECT_NO_EXECUTE, None)];
        assert_eq!(
            decide_eviction(&tols, &taints, at(1_000_000)),
            EvictionDecision::Keep
        );
    }

    #[test]
    fn no_schedule_taints_never_evict() {
        let taints = [taint(TAINT_NOT_READY, EFFECT_NO_SCHEDULE, None)];
        assert_eq!(decide_eviction(&[], &taints, at(0)), EvictionDecision::Keep);
    }

    #[test]
    fn the_smallest_toleration_seconds_among_matching_tolerations_wins() {
        let taints = [
            taint(TAINT_NOT_READY, EFFECT_NO_EXECUTE, Some(10)),
            taint("example.com/drain", EFFECT_NO_EXECUTE, Some(20)),
        ];
        let tols = [
            exists(TAINT_NOT_READY, EFFECT_NO_EXECUTE, Some(300)),
            exists("example.com/drain", EFFECT_NO_EXECUTE, Some(60)),
        ];
        // Earliest timeAdded (10) plus the smallest allowance (60).
        assert_eq!(
            decide_eviction(&tols, &taints, at(20)),
            EvictionDecision::EvictAt(at(70))
        );
    }

    #[test]
    fn one_untolerated_taint_among_tolerated_ones_evicts_at_once() {
        let taints = [
            taint(TAINT_NOT_READY, EFFECT_NO_EXECUTE, Some(0)),
            taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(0)),
        ];
        let tols = [exists(TAINT_NOT_READY, EFFECT_NO_EXECUTE, None)];
        assert_eq!(
            decide_eviction(&tols, &taints, at(0)),
            EvictionDecision::EvictNow
        );
    }

    #[test]
    fn zero_or_negative_toleration_seconds_evict_at_once() {
        let taints = [taint(TAINT_NOT_READY, EFFECT_NO_EXECUTE, Some(0))];
        for secs in [0, -5] {
            let tols = [
                exists(TAINT_NOT_READY, EFFECT_NO_EXECUTE, Some(secs)),
                exists(TAINT_NOT_READY, EFFECT_NO_EXECUTE, Some(300)),
            ];
            assert_eq!(
                decide_eviction(&tols, &taints, at(0)),
                EvictionDecision::EvictNow
            );
        }
    }

    #[test]
    fn an_empty_key_with_exists_tolerates_every_taint() {
        let tol = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert!(tolerates(
            &tol,
            &taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, None)
        ));
        assert!(tolerates(&tol, &taint("x", EFFECT_NO_SCHEDULE, None)));
    }

    #[test]
    fn equal_compares_values_and_treats_absent_as_empty() {
        let mut t = taint("k", EFFECT_NO_EXECUTE, None);
        let tol = Toleration {
            key: Some("k".into()),
            operator: Some("Equal".into()),
            value: Some("v".into()),
            ..Default::default()
        };
        assert!(!tolerates(&tol, &t));
        t.value = Some("v".into());
        assert!(tolerates(&tol, &t));
        let no_value = Toleration {
            key: Some("k".into()),
            ..Default::default()
        };
        assert!(tolerates(&no_value, &taint("k", EFFECT_NO_EXECUTE, None)));
    }

    #[test]
    fn a_toleration_for_another_effect_does_not_match() {
        let tol = exists(TAINT_NOT_READY, EFFECT_NO_SCHEDULE, None);
        assert!(!tolerates(
            &tol,
            &taint(TAINT_NOT_READY, EFFECT_NO_EXECUTE, None)
        ));
    }

    #[test]
    fn a_pod_already_being_deleted_is_left_alone() {
        let pod = Pod {
            metadata: ObjectMeta {
                deletion_timestamp: Some(Time(at(0))),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            status: None,
        };
        let taints = [taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(0))];
        assert_eq!(decide_for_pod(&pod, &taints, at(1)), EvictionDecision::Keep);
        let live = Pod {
            metadata: ObjectMeta::default(),
            ..pod
        };
        assert_eq!(
            decide_for_pod(&live, &taints, at(1)),
            EvictionDecision::EvictNow
        );
    }
}
