//! Node health: decides whether a node is still alive from the two
//! heartbeats a kubelet sends (its Ready condition's `lastHeartbeatTime` and
//! its Lease's `spec.renewTime`), and which conditions the controller must
//! flip to `Unknown` when both have gone quiet for the grace period.
//!
//! The controller never trusts the timestamps written by the kubelet (its
//! clock may be skewed). Instead it remembers, per node, *when it observed*
//! the last change of either heartbeat (the "probe timestamp" in a
//! [`HealthRecord`]) and measures the grace period from that, on its own
//! clock.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{add_clamped, ConditionStatus, Config};

pub const CONDITION_READY: &str = "Ready";
pub const CONDITION_MEMORY_PRESSURE: &str = "MemoryPressure";
pub const CONDITION_DISK_PRESSURE: &str = "DiskPressure";
pub const CONDITION_PID_PRESSURE: &str = "PIDPressure";
pub const CONDITION_NETWORK_UNAVAILABLE: &str = "NetworkUnavailable";

/// Reason and message written when a node that once reported stops.
pub const REASON_STATUS_UNKNOWN: &str = "NodeStatusUnknown";
pub const MESSAGE_STATUS_UNKNOWN: &str = "Kubelet stopped posting node status.";
/// Reason and message written for a node that never reported at all.
pub const REASON_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
pub const MESSAGE_NEVER_UPDATED: &str = "Kubelet never posted node status.";

/// Conditions besides Ready that are only meaningful while the kubelet
/// reports them, so they are reset to `Unknown` together with Ready.
/// (`NetworkUnavailable` is left alone: it is usually owned by a network
/// plugin or cloud provider, not the kubelet.)
const KUBELET_OWNED_CONDITIONS: [&str; 3] = [
    CONDITION_MEMORY_PRESSURE,
    CONDITION_DISK_PRESSURE,
    CONDITION_PID_PRESSURE,
];

/// What the controller remembers about one node between passes; the IO loop
/// keeps one per node name and feeds it back into [`assess_health`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthRecord {
    /// When this controller last saw either heartbeat move.
    pub probe_timestamp: Timestamp,
    /// When this controller last saw the Ready condition transition.
    pub ready_transition_timestamp: Timestamp,
    /// The Ready condition's heartbeat and transition times as last seen,
    /// or `None` if the node had no Ready condition then.
    pub saved_ready: Option<SavedReady>,
    /// The Lease's `renewTime` as last seen.
    pub lease_renew_time: Option<Timestamp>,
}

/// The two timestamps of a Ready condition that the controller compares
/// between passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedReady {
    pub last_heartbeat_time: Option<Timestamp>,
    pub last_transition_time: Option<Timestamp>,
}

/// The outcome of one health pass over one node.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthAssessment {
    /// The record to keep for the next pass. It assumes `condition_updates`
    /// get written; the caller may keep its old record if the write fails.
    pub record: HealthRecord,
    /// The grace period that applied (startup or monitor).
    pub grace_period: SignedDuration,
    /// True if neither heartbeat moved within the grace period.
    pub timed_out: bool,
    /// Ready as found on the node before this pass (`Unknown` if missing).
    pub observed_ready: ConditionStatus,
    /// Ready as it will be once `condition_updates` are written: the value
    /// taints and zone states should be computed from.
    pub ready: ConditionStatus,
    /// Whole conditions to write into `status.conditions`, each replacing
    /// the condition of the same type (or appended if absent). Empty when
    /// nothing changes.
    pub condition_updates: Vec<NodeCondition>,
}

impl HealthAssessment {
    /// Applies `condition_updates` to a node object in place (replace by
    /// type, append if missing), ready for an update of the status.
    pub fn apply_to(&self, node: &mut Node) {
        let status = node.status.get_or_insert_with(Default::default);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        for update in &self.condition_updates {
            match conditions.iter_mut().find(|c| c.type_ == update.type_) {
                Some(existing) => *existing = update.clone(),
                None => conditions.push(update.clone()),
            }
        }
    }
}

/// Finds a condition by type on a node.
pub fn node_condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The node's Ready status as reported, `Unknown` when there is no Ready
/// condition.
pub fn ready_status(node: &Node) -> ConditionStatus {
    node_condition(node, CONDITION_READY)
        .map(|c| ConditionStatus::parse(&c.status))
        .unwrap_or(ConditionStatus::Unknown)
}

fn time(t: &Option<Time>) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

fn saved_ready_of(c: &NodeCondition) -> SavedReady {
    SavedReady {
        last_heartbeat_time: time(&c.last_heartbeat_time),
        last_transition_time: time(&c.last_transition_time),
    }
}

/// One health pass over one node, at `now`.
///
/// `saved` is the record returned by the previous pass for this node (or
/// `None` the first time this controller sees it); `lease` is the node's
/// Lease in `kube-node-lease`, if any.
///
/// Rules, as in Kubernetes:
/// - A node without a Ready condition has never reported: it gets the
///   startup grace period, counted from its creation.
/// - Otherwise the monitor grace period applies, counted from the last time
///   this controller saw the Ready heartbeat change or the Lease renewed.
///   A first sighting counts as a fresh observation, so a controller restart
///   never condemns nodes at once.
/// - Past the grace period Ready (and the kubelet-owned pressure conditions)
///   become `Unknown`; missing ones are created as "never updated".
pub fn assess_health(
    config: &Config,
    node: &Node,
    lease: Option<&Lease>,
    saved: Option<&HealthRecord>,
    now: Timestamp,
) -> HealthAssessment {
    let current_ready = node_condition(node, CONDITION_READY);
    let created = node
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);

    let (grace_period, mut record) = match current_ready {
        None => {
            // Never reported: measure from creation unless we already track
            // it, and forget any Ready we had seen (it was removed).
            let record = match saved {
                Some(s) => HealthRecord {
                    saved_ready: None,
                    ..s.clone()
                },
                None => HealthRecord {
                    probe_timestamp: created,
                    ready_transition_timestamp: created,
                    saved_ready: None,
                    lease_renew_time: None,
                },
            };
            (config.node_startup_grace_period, record)
        }
        Some(ready) => {
            let fresh = || HealthRecord {
                probe_timestamp: now,
                ready_transition_timestamp: now,
                saved_ready: Some(saved_ready_of(ready)),
                lease_renew_time: saved.and_then(|s| s.lease_renew_time),
            };
            let record = match saved {
                // First sighting, or Ready appeared: start the clock now.
                None => fresh(),
                Some(s) if s.saved_ready.is_none() => fresh(),
                Some(s) => {
                    let seen = s.saved_ready.as_ref().expect("checked above");
                    let current = saved_ready_of(ready);
                    if seen.last_heartbeat_time != current.last_heartbeat_time {
                        // The kubelet posted status since last time.
                        let ready_transition_timestamp =
                            if seen.last_transition_time != current.last_transition_time {
                                now
                            } else {
                                s.ready_transition_timestamp
                            };
                        HealthRecord {
                            probe_timestamp: now,
                            ready_transition_timestamp,
                            saved_ready: Some(current),
                            lease_renew_time: s.lease_renew_time,
                        }
                    } else {
                        s.clone()
                    }
                }
            };
            (config.node_monitor_grace_period, record)
        }
    };

    // A renewed Lease is proof of life on its own: it is the cheap heartbeat
    // the kubelet sends every 10 s, while full status posts may be minutes
    // apart. (A kubelet that renews its Lease but never posts status is
    // therefore considered healthy, as in Kubernetes.)
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    if let Some(renewed) = renewed {
        if record.lease_renew_time.is_none_or(|seen| seen < renewed) {
            record.lease_renew_time = Some(renewed);
            record.probe_timestamp = now;
        }
    }

    let observed_ready = ready_status(node);
    let deadline = add_clamped(record.probe_timestamp, grace_period);
    let timed_out = now > deadline;
    let mut condition_updates = Vec::new();

    if timed_out {
        let ready_update = unknown_condition(node, CONDITION_READY, created, now);
        // Only when Ready itself changes are the others rewritten: a node
        // already marked Unknown needs no further writes.
        if let Some(ready_update) = ready_update {
            condition_updates.push(ready_update);
            for type_ in KUBELET_OWNED_CONDITIONS {
                condition_updates.extend(unknown_condition(node, type_, created, now));
            }
            let written = &condition_updates[0];
            record.saved_ready = Some(saved_ready_of(written));
            record.ready_transition_timestamp = now;
        }
    }

    let ready = if timed_out {
        ConditionStatus::Unknown
    } else {
        observed_ready
    };
    HealthAssessment {
        record,
        grace_period,
        timed_out,
        observed_ready,
        ready,
        condition_updates,
    }
}

/// The `Unknown` version of one condition, or `None` if it already is.
fn unknown_condition(
    node: &Node,
    type_: &str,
    created: Timestamp,
    now: Timestamp,
) -> Option<NodeCondition> {
    match node_condition(node, type_) {
        None => Some(NodeCondition {
            type_: type_.to_owned(),
            status: ConditionStatus::Unknown.as_str().to_owned(),
            reason: Some(REASON_NEVER_UPDATED.to_owned()),
            message: Some(MESSAGE_NEVER_UPDATED.to_owned()),
            // There never was a heartbeat; creation is the honest stand-in.
            last_heartbeat_time: Some(Time(created)),
            last_transition_time: Some(Time(now)),
        }),
        Some(c) if ConditionStatus::parse(&c.status) == ConditionStatus::Unknown => None,
        Some(c) => Some(NodeCondition {
            status: ConditionStatus::Unknown.as_str().to_owned(),
            reason: Some(REASON_STATUS_UNKNOWN.to_owned()),
            message: Some(MESSAGE_STATUS_UNKNOWN.to_owned()),
            // Keep the kubelet's last heartbeat: it records when it was last
            // heard from.
            last_heartbeat_time: c.last_heartbeat_time.clone(),
            last_transition_time: Some(Time(now)),
            type_: c.type_.clone(),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::NodeStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    pub(crate) fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    pub(crate) fn condition(type_: &str, status: &str, heartbeat: i64) -> NodeCondition {
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            last_heartbeat_time: Some(Time(at(heartbeat))),
            last_transition_time: Some(Time(at(0))),
            reason: Some("KubeletReady".into()),
            message: None,
        }
    }

    pub(crate) fn node(conditions: Vec<NodeCondition>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                creation_timestamp: Some(Time(at(0))),
                ..Default::default()
            },
            spec: None,
            status: Some(NodeStatus {
                conditions: Some(conditions),
                ..Default::default()
            }),
        }
    }

    fn healthy_node(heartbeat: i64) -> Node {
        node(vec![
            condition(CONDITION_READY, "True", heartbeat),
            condition(CONDITION_MEMORY_PRESSURE, "False", heartbeat),
            condition(CONDITION_DISK_PRESSURE, "False", heartbeat),
            condition(CONDITION_PID_PRESSURE, "False", heartbeat),
        ])
    }

    fn lease(renew: i64) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(at(renew))),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_lease_renewed_in_time_keeps_a_node_ready() {
        let c = Config::default();
        let n = healthy_node(0);
        let a = assess_health(&c, &n, Some(&lease(0)), None, at(0));
        assert!(!a.timed_out);
        // Status heartbeats stop at 0, but the Lease keeps being renewed.
        let mut record = a.record;
        for t in (10..=200).step_by(10) {
            let a = assess_health(&c, &n, Some(&lease(t)), Some(&record), at(t + 1));
            assert!(!a.timed_out, "timed out at {t}");
            assert_eq!(a.ready, ConditionStatus::True);
            assert!(a.condition_updates.is_empty());
            record = a.record;
        }
    }

    #[test]
    fn a_missed_grace_period_makes_the_node_unknown() {
        let c = Config::default();
        let n = healthy_node(0);
        let first = assess_health(&c, &n, Some(&lease(0)), None, at(0));
        // Exactly at the grace period the node is still given the benefit.
        let edge = assess_health(&c, &n, Some(&lease(0)), Some(&first.record), at(50));
        assert!(!edge.timed_out);
        let a = assess_health(&c, &n, Some(&lease(0)), Some(&first.record), at(51));
        assert!(a.timed_out);
        assert_eq!(a.observed_ready, ConditionStatus::True);
        assert_eq!(a.ready, ConditionStatus::Unknown);
        let types: Vec<_> = a
            .condition_updates
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(
            types,
            [
                CONDITION_READY,
                CONDITION_MEMORY_PRESSURE,
                CONDITION_DISK_PRESSURE,
                CONDITION_PID_PRESSURE
            ]
        );
        let ready = &a.condition_updates[0];
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some(REASON_STATUS_UNKNOWN));
        assert_eq!(ready.message.as_deref(), Some(MESSAGE_STATUS_UNKNOWN));
        assert_eq!(ready.last_heartbeat_time, Some(Time(at(0))));
        assert_eq!(ready.last_transition_time, Some(Time(at(51))));
    }

    #[test]
    fn a_node_already_unknown_needs_no_further_writes() {
        let c = Config::default();
        let mut n = healthy_node(0);
        let first = assess_health(&c, &n, None, None, at(0));
        let a = assess_health(&c, &n, None, Some(&first.record), at(60));
        a.apply_to(&mut n);
        assert_eq!(ready_status(&n), ConditionStatus::Unknown);
        let b = assess_health(&c, &n, None, Some(&a.record), at(65));
        assert!(b.timed_out);
        assert_eq!(b.ready, ConditionStatus::Unknown);
        assert!(b.condition_updates.is_empty());
    }

    #[test]
    fn a_fresh_status_heartbeat_restarts_the_grace_period() {
        let c = Config::default();
        let first = assess_health(&c, &healthy_node(0), None, None, at(0));
        let a = assess_health(&c, &healthy_node(40), None, Some(&first.record), at(40));
        assert_eq!(a.record.probe_timestamp, at(40));
        let b = assess_health(&c, &healthy_node(40), None, Some(&a.record), at(85));
        assert!(!b.timed_out);
    }

    #[test]
    fn a_node_that_never_reported_gets_the_startup_grace_from_creation() {
        let c = Config::default();
        let n = node(vec![]);
        // First seen 30 s after creation: still 30 s of startup grace left.
        let a = assess_health(&c, &n, None, None, at(30));
        assert_eq!(a.grace_period, SignedDuration::from_secs(60));
        assert!(!a.timed_out);
        let b = assess_health(&c, &n, None, Some(&a.record), at(61));
        assert!(b.timed_out);
        assert_eq!(b.condition_updates.len(), 4);
        let ready = &b.condition_updates[0];
        assert_eq!(ready.type_, CONDITION_READY);
        assert_eq!(ready.reason.as_deref(), Some(REASON_NEVER_UPDATED));
        assert_eq!(ready.message.as_deref(), Some(MESSAGE_NEVER_UPDATED));
        assert_eq!(ready.last_heartbeat_time, Some(Time(at(0))));
    }

    #[test]
    fn a_first_sighting_of_a_reporting_node_starts_the_clock_at_now() {
        // After a controller restart old heartbeats must not condemn nodes.
        let c = Config::default();
        let a = assess_health(&c, &healthy_node(0), None, None, at(1000));
        assert!(!a.timed_out);
        assert_eq!(a.record.probe_timestamp, at(1000));
    }

    #[test]
    fn an_old_lease_renewal_does_not_refresh_the_probe() {
        let c = Config::default();
        let first = assess_health(&c, &healthy_node(0), Some(&lease(5)), None, at(5));
        let a = assess_health(
            &c,
            &healthy_node(0),
            Some(&lease(5)),
            Some(&first.record),
            at(56),
        );
        assert!(a.timed_out);
    }

    #[test]
    fn a_ready_false_node_that_keeps_reporting_stays_false() {
        let c = Config::default();
        let n = node(vec![condition(CONDITION_READY, "False", 0)]);
        let first = assess_health(&c, &n, Some(&lease(0)), None, at(0));
        let a = assess_health(&c, &n, Some(&lease(30)), Some(&first.record), at(30));
        assert!(!a.timed_out);
        assert_eq!(a.ready, ConditionStatus::False);
    }
}
