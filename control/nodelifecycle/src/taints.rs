//! Which health taints a node must carry.
//!
//! Two families, as in Kubernetes:
//! - `NoExecute` taints (`not-ready`, `unreachable`) drive taint-based
//!   eviction. They carry `timeAdded`, because pods' `tolerationSeconds`
//!   count from it. Putting one on a healthy-until-now node is the moment
//!   pods start to go, so that step is rate limited per zone (see
//!   [`crate::zones`]); switching one for the other is not, since the node
//!   is already being evicted.
//! - `NoSchedule` taints mirror conditions and cordoning so the scheduler
//!   keeps new pods off; they are applied at once and carry no time.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::health::{
    node_condition, CONDITION_DISK_PRESSURE, CONDITION_MEMORY_PRESSURE,
    CONDITION_NETWORK_UNAVAILABLE, CONDITION_PID_PRESSURE, CONDITION_READY,
};
use crate::ConditionStatus;

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

pub const EFFECT_NO_EXECUTE: &str = "NoExecute";
pub const EFFECT_NO_SCHEDULE: &str = "NoSchedule";

/// Which condition status puts which `NoSchedule` taint on a node.
const CONDITION_TAINTS: [(&str, ConditionStatus, &str); 6] = [
    (CONDITION_READY, ConditionStatus::False, TAINT_NOT_READY),
    (CONDITION_READY, ConditionStatus::Unknown, TAINT_UNREACHABLE),
    (
        CONDITION_MEMORY_PRESSURE,
        ConditionStatus::True,
        TAINT_MEMORY_PRESSURE,
    ),
    (
        CONDITION_DISK_PRESSURE,
        ConditionStatus::True,
        TAINT_DISK_PRESSURE,
    ),
    (
        CONDITION_NETWORK_UNAVAILABLE,
        ConditionStatus::True,
        TAINT_NETWORK_UNAVAILABLE,
    ),
    (
        CONDITION_PID_PRESSURE,
        ConditionStatus::True,
        TAINT_PID_PRESSURE,
    ),
];

/// `NoSchedule` taint keys this controller owns (and may therefore remove).
const MANAGED_NO_SCHEDULE_KEYS: [&str; 7] = [
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_MEMORY_PRESSURE,
    TAINT_DISK_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
    TAINT_PID_PRESSURE,
    TAINT_UNSCHEDULABLE,
];

/// Taints to add to and remove from a node's `spec.taints`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaintChanges {
    pub add: Vec<Taint>,
    pub remove: Vec<Taint>,
    /// True when `add` newly starts evicting a node that was not being
    /// evicted: the caller must first get a token from the zone's limiter
    /// and, without one, retry on a later pass.
    pub rate_limited: bool,
}

impl TaintChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies the changes to a taint list: removals match by key and
    /// effect, additions replace a taint of the same key and effect.
    pub fn apply(&self, taints: &[Taint]) -> Vec<Taint> {
        let mut out: Vec<Taint> = taints
            .iter()
            .filter(|t| {
                !self.remove.iter().any(|r| same_taint(r, t))
                    && !self.add.iter().any(|a| same_taint(a, t))
            })
            .cloned()
            .collect();
        out.extend(self.add.iter().cloned());
        out
    }
}

/// Taints are identified by key and effect; value and time do not matter.
fn same_taint(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

fn node_taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
}

fn has_taint(node: &Node, key: &str, effect: &str) -> Option<Taint> {
    node_taints(node)
        .iter()
        .find(|t| t.key == key && t.effect == effect)
        .cloned()
}

fn taint(key: &str, effect: &str, time_added: Option<Timestamp>) -> Taint {
    Taint {
        key: key.to_owned(),
        effect: effect.to_owned(),
        value: None,
        time_added: time_added.map(Time),
    }
}

/// The `NoExecute` changes for a node whose Ready status is `ready`
/// (normally [`HealthAssessment::ready`](crate::health::HealthAssessment)).
///
/// Ready=False wants `not-ready`, Ready=Unknown wants `unreachable`,
/// Ready=True wants neither. A taint already present is kept as is, so its
/// `timeAdded` (and every pod's toleration countdown) is not reset.
pub fn no_execute_changes(node: &Node, ready: ConditionStatus, now: Timestamp) -> TaintChanges {
    let (wanted, other) = match ready {
        ConditionStatus::True => return reachable_changes(node),
        ConditionStatus::False => (TAINT_NOT_READY, TAINT_UNREACHABLE),
        ConditionStatus::Unknown => (TAINT_UNREACHABLE, TAINT_NOT_READY),
    };
    let mut changes = TaintChanges::default();
    let swapping = if let Some(old) = has_taint(node, other, EFFECT_NO_EXECUTE) {
        changes.remove.push(old);
        true
    } else {
        false
    };
    if has_taint(node, wanted, EFFECT_NO_EXECUTE).is_none() {
        changes
            .add
            .push(taint(wanted, EFFECT_NO_EXECUTE, Some(now)));
        // Swapping keeps an eviction going; only a fresh one is paced.
        changes.rate_limited = !swapping;
    }
    changes
}

/// Removes both `NoExecute` health taints: used for Ready nodes, and for
/// every node when the whole cluster is found fully disrupted (then the
/// fault is almost certainly on the controller's side, not the nodes').
pub fn reachable_changes(node: &Node) -> TaintChanges {
    TaintChanges {
        add: Vec::new(),
        remove: [TAINT_NOT_READY, TAINT_UNREACHABLE]
            .iter()
            .filter_map(|k| has_taint(node, k, EFFECT_NO_EXECUTE))
            .collect(),
        rate_limited: false,
    }
}

/// The `NoSchedule` taints a node must carry from its conditions (as
/// currently written on it) and its cordon flag, in a stable order.
pub fn desired_no_schedule_taints(node: &Node) -> Vec<Taint> {
    let mut out: Vec<Taint> = CONDITION_TAINTS
        .iter()
        .filter(|(cond, status, _)| {
            node_condition(node, cond).is_some_and(|c| ConditionStatus::parse(&c.status) == *status)
        })
        .map(|(_, _, key)| taint(key, EFFECT_NO_SCHEDULE, None))
        .collect();
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    if cordoned {
        out.push(taint(TAINT_UNSCHEDULABLE, EFFECT_NO_SCHEDULE, None));
    }
    out
}

/// The `NoSchedule` changes that bring a node to
/// [`desired_no_schedule_taints`]. Only taints this controller owns are
/// ever removed; never rate limited.
pub fn no_schedule_changes(node: &Node) -> TaintChanges {
    let desired = desired_no_schedule_taints(node);
    let add = desired
        .iter()
        .filter(|d| has_taint(node, &d.key, EFFECT_NO_SCHEDULE).is_none())
        .cloned()
        .collect();
    let remove = node_taints(node)
        .iter()
        .filter(|t| {
            t.effect == EFFECT_NO_SCHEDULE
                && MANAGED_NO_SCHEDULE_KEYS.contains(&t.key.as_str())
                && !desired.iter().any(|d| d.key == t.key)
        })
        .cloned()
        .collect();
    TaintChanges {
        add,
        remove,
        rate_limited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::tests::{at, condition, node};
    use crate::health::{assess_health, HealthAssessment};
    use crate::Config;
    use k8s_openapi::api::core::v1::NodeSpec;

    fn with_taints(mut n: Node, taints: Vec<Taint>) -> Node {
        n.spec.get_or_insert_with(NodeSpec::default).taints = Some(taints);
        n
    }

    fn keys(ts: &[Taint]) -> Vec<(&str, &str)> {
        ts.iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect()
    }

    #[test]
    fn a_missed_grace_period_adds_unreachable_no_execute() {
        let c = Config::default();
        let mut n = node(vec![condition(CONDITION_READY, "True", 0)]);
        let first = assess_health(&c, &n, None, None, at(0));
        let a: HealthAssessment = assess_health(&c, &n, None, Some(&first.record), at(51));
        let changes = no_execute_changes(&n, a.ready, at(51));
        assert_eq!(keys(&changes.add), [(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE)]);
        assert_eq!(changes.add[0].time_added, Some(Time(at(51))));
        assert!(changes.rate_limited);
        // And once the Unknown status is written, NoSchedule follows.
        a.apply_to(&mut n);
        let ns = no_schedule_changes(&n);
        assert_eq!(keys(&ns.add), [(TAINT_UNREACHABLE, EFFECT_NO_SCHEDULE)]);
    }

    #[test]
    fn ready_false_adds_not_ready_no_execute() {
        let n = node(vec![condition(CONDITION_READY, "False", 0)]);
        let changes = no_execute_changes(&n, ConditionStatus::False, at(7));
        assert_eq!(keys(&changes.add), [(TAINT_NOT_READY, EFFECT_NO_EXECUTE)]);
        assert!(changes.remove.is_empty());
        assert!(changes.rate_limited);
    }

    #[test]
    fn switching_from_unreachable_to_not_ready_is_a_swap_without_rate_limit() {
        let n = with_taints(
            node(vec![condition(CONDITION_READY, "False", 0)]),
            vec![taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(at(1)))],
        );
        let changes = no_execute_changes(&n, ConditionStatus::False, at(9));
        assert_eq!(keys(&changes.add), [(TAINT_NOT_READY, EFFECT_NO_EXECUTE)]);
        assert_eq!(
            keys(&changes.remove),
            [(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE)]
        );
        assert!(!changes.rate_limited);
        let applied = changes.apply(node_taints(&n));
        assert_eq!(keys(&applied), [(TAINT_NOT_READY, EFFECT_NO_EXECUTE)]);
    }

    #[test]
    fn an_existing_no_execute_taint_is_kept_with_its_time() {
        let n = with_taints(
            node(vec![condition(CONDITION_READY, "Unknown", 0)]),
            vec![taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(at(1)))],
        );
        assert!(no_execute_changes(&n, ConditionStatus::Unknown, at(100)).is_empty());
    }

    #[test]
    fn a_ready_node_loses_both_no_execute_taints() {
        let n = with_taints(
            node(vec![condition(CONDITION_READY, "True", 0)]),
            vec![
                taint(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE, Some(at(1))),
                taint("example.com/other", EFFECT_NO_EXECUTE, None),
            ],
        );
        let changes = no_execute_changes(&n, ConditionStatus::True, at(5));
        assert!(changes.add.is_empty());
        assert_eq!(
            keys(&changes.remove),
            [(TAINT_UNREACHABLE, EFFECT_NO_EXECUTE)]
        );
        let applied = changes.apply(node_taints(&n));
        assert_eq!(keys(&applied), [("example.com/other", EFFECT_NO_EXECUTE)]);
    }

    #[test]
    fn a_cordoned_node_gets_unschedulable_no_schedule() {
        let mut n = node(vec![condition(CONDITION_READY, "True", 0)]);
        n.spec = Some(NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        });
        let changes = no_schedule_changes(&n);
        assert_eq!(
            keys(&changes.add),
            [(TAINT_UNSCHEDULABLE, EFFECT_NO_SCHEDULE)]
        );
        assert_eq!(changes.add[0].time_added, None);
    }

    #[test]
    fn an_uncordoned_recovered_node_sheds_its_no_schedule_taints_but_not_foreign_ones() {
        let n = with_taints(
            node(vec![
                condition(CONDITION_READY, "True", 0),
                condition(CONDITION_DISK_PRESSURE, "True", 0),
            ]),
            vec![
                taint(TAINT_NOT_READY, EFFECT_NO_SCHEDULE, None),
                taint(TAINT_UNSCHEDULABLE, EFFECT_NO_SCHEDULE, None),
                taint("example.com/gpu", EFFECT_NO_SCHEDULE, None),
            ],
        );
        let changes = no_schedule_changes(&n);
        assert_eq!(
            keys(&changes.add),
            [(TAINT_DISK_PRESSURE, EFFECT_NO_SCHEDULE)]
        );
        assert_eq!(
            keys(&changes.remove),
            [
                (TAINT_NOT_READY, EFFECT_NO_SCHEDULE),
                (TAINT_UNSCHEDULABLE, EFFECT_NO_SCHEDULE)
            ]
        );
    }

    #[test]
    fn ready_false_and_unknown_map_to_their_no_schedule_taints() {
        let n = node(vec![condition(CONDITION_READY, "False", 0)]);
        assert_eq!(
            keys(&desired_no_schedule_taints(&n)),
            [(TAINT_NOT_READY, EFFECT_NO_SCHEDULE)]
        );
        let n = node(vec![condition(CONDITION_READY, "Unknown", 0)]);
        assert_eq!(
            keys(&desired_no_schedule_taints(&n)),
            [(TAINT_UNREACHABLE, EFFECT_NO_SCHEDULE)]
        );
    }
}
