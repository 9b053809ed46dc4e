//! Zone states and the per-zone eviction rate.
//!
//! Nodes are grouped by zone (region + zone labels). When many nodes of one
//! zone go not-Ready together the likelier cause is the zone's network or
//! power, not the nodes, so evicting fast would only move the problem.
//! Kubernetes therefore slows or stops new `NoExecute` tainting per zone:
//!
//! | state               | when                                             | rate |
//! |---------------------|--------------------------------------------------|------|
//! | `Normal`            | otherwise                                        | `eviction_rate` |
//! | `PartialDisruption` | > 2 not Ready and fraction >= threshold          | `secondary_eviction_rate` if the zone has more than `large_cluster_size_threshold` nodes, else 0 |
//! | `FullDisruption`    | every node not Ready                             | `eviction_rate` (the zone is gone; move its pods elsewhere) |
//!
//! and if *every* zone is fully disrupted the controller assumes it is the
//! one cut off: it stops all tainting, lifts the `NoExecute` health taints
//! from all nodes, and when any zone recovers it restarts every node's
//! grace period before resuming.
//!
//! Note that a single fully disrupted zone keeps the normal rate, exactly as
//! in Kubernetes (`enterFullDisruptionFunc = HealthyQPSFunc`); only the
//! all-zones case stops evictions.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;

use crate::ratelimit::TokenBucket;
use crate::{ConditionStatus, Config};

pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
pub const LABEL_TOPOLOGY_REGION: &str = "topology.kubernetes.io/region";
pub const LABEL_FAILURE_DOMAIN_BETA_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
pub const LABEL_FAILURE_DOMAIN_BETA_REGION: &str = "failure-domain.beta.kubernetes.io/region";

/// A zone's disruption state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZoneState {
    /// Seen for the first time; not yet evaluated.
    Initial,
    Normal,
    PartialDisruption,
    FullDisruption,
}

/// The zone a node belongs to, as one string: `region:\0:zone`, or `""`
/// for nodes without topology labels (they form one zone of their own).
/// The NUL keeps `a:b` + `c` apart from `a` + `b:c`.
pub fn zone_key(node: &Node) -> String {
    let Some(labels) = node.metadata.labels.as_ref() else {
        return String::new();
    };
    let pick = |ga: &str, beta: &str| {
        labels
            .get(ga)
            .or_else(|| labels.get(beta))
            .cloned()
            .unwrap_or_default()
    };
    let zone = pick(LABEL_TOPOLOGY_ZONE, LABEL_FAILURE_DOMAIN_BETA_ZONE);
    let region = pick(LABEL_TOPOLOGY_REGION, LABEL_FAILURE_DOMAIN_BETA_REGION);
    if zone.is_empty() && region.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// Counts of one zone's nodes. A node counts as ready only if its Ready
/// condition is `True` (after this pass's health updates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneCount {
    pub ready: u32,
    pub not_ready: u32,
}

impl ZoneCount {
    pub fn add(&mut self, ready: ConditionStatus) {
        if ready == ConditionStatus::True {
            self.ready += 1;
        } else {
            self.not_ready += 1;
        }
    }

    pub fn size(&self) -> u32 {
        self.ready + self.not_ready
    }
}

/// A zone's state from its counts.
pub fn compute_zone_state(config: &Config, count: ZoneCount) -> ZoneState {
    if count.ready == 0 && count.not_ready > 0 {
        ZoneState::FullDisruption
    } else if count.not_ready > 2
        && f64::from(count.not_ready) / f64::from(count.size()) >= config.unhealthy_zone_threshold
    {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// The tainting rate for a zone in `state` with `size` nodes.
pub fn zone_qps(config: &Config, state: ZoneState, size: u32) -> f64 {
    match state {
        ZoneState::Initial | ZoneState::Normal | ZoneState::FullDisruption => config.eviction_rate,
        ZoneState::PartialDisruption => {
            // In a small zone a few nodes down is already most of it; any
            // eviction would just pile pods onto the survivors.
            if size > config.large_cluster_size_threshold {
                config.secondary_eviction_rate
            } else {
                0.0
            }
        }
    }
}

/// What the IO loop must do after [`ZoneTracker::observe`], besides
/// asking [`ZoneTracker::try_taint`] before each new `NoExecute` taint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisruptionOutcome {
    /// Every zone is fully disrupted (evictions are stopped everywhere).
    pub all_fully_disrupted: bool,
    /// Just entered that state: remove the `NoExecute` health taints from
    /// every node ([`crate::taints::reachable_changes`]) and cancel pending
    /// evictions.
    pub entered_full_disruption: bool,
    /// Just left it: reset every node's [`HealthRecord`]
    /// (`probe_timestamp` and `ready_transition_timestamp` to now) so nodes
    /// get a full grace period to report before being judged again.
    ///
    /// [`HealthRecord`]: crate::health::HealthRecord
    pub left_full_disruption: bool,
}

/// Per-zone states and eviction limiters, carried from pass to pass.
#[derive(Clone, Debug, Default)]
pub struct ZoneTracker {
    states: BTreeMap<String, ZoneState>,
    limiters: BTreeMap<String, TokenBucket>,
}

impl ZoneTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of a zone as of the last [`observe`](Self::observe).
    pub fn state(&self, zone: &str) -> Option<ZoneState> {
        self.states.get(zone).copied()
    }

    /// The current tainting rate of a zone.
    pub fn qps(&self, zone: &str) -> Option<f64> {
        self.limiters.get(zone).map(TokenBucket::qps)
    }

    /// Asks the zone's limiter for one new `NoExecute` taint at `now`.
    /// Unknown zones are refused: they get a limiter on the next observe.
    pub fn try_taint(&mut self, zone: &str, now: Timestamp) -> bool {
        self.limiters
            .get_mut(zone)
            .is_some_and(|l| l.try_accept(now))
    }

    /// When the zone's limiter will next have a token, for sleeping.
    pub fn next_taint_at(&self, zone: &str, now: Timestamp) -> Option<Timestamp> {
        self.limiters.get(zone)?.next_token_at(now)
    }

    /// Takes one pass's counts (every zone that currently has nodes) and
    /// updates states and rates.
    pub fn observe(
        &mut self,
        config: &Config,
        counts: &BTreeMap<String, ZoneCount>,
        now: Timestamp,
    ) -> DisruptionOutcome {
        // Zones without nodes are forgotten; new zones start Initial with
        // the normal rate.
        self.states.retain(|zone, _| counts.contains_key(zone));
        self.limiters.retain(|zone, _| counts.contains_key(zone));
        for zone in counts.keys() {
            self.states
                .entry(zone.clone())
                .or_insert(ZoneState::Initial);
            self.limiters.entry(zone.clone()).or_insert_with(|| {
                TokenBucket::new(config.eviction_rate, config.eviction_burst, now)
            });
        }

        let new_states: BTreeMap<&String, ZoneState> = counts
            .iter()
            .map(|(zone, count)| (zone, compute_zone_state(config, *count)))
            .collect();
        let all_now =
            !new_states.is_empty() && new_states.values().all(|s| *s == ZoneState::FullDisruption);
        let all_before = !self.states.is_empty()
            && self
                .states
                .values()
                .all(|s| *s == ZoneState::FullDisruption);

        let mut outcome = DisruptionOutcome {
            all_fully_disrupted: all_now,
            ..Default::default()
        };
        if all_now && all_before {
            // Still cut off: nothing changes, evictions stay stopped.
            return outcome;
        }
        if all_now {
            outcome.entered_full_disruption = true;
            for (zone, limiter) in &mut self.limiters {
                limiter.set_qps(0.0, now);
                self.states.insert(zone.clone(), ZoneState::FullDisruption);
            }
            return outcome;
        }
        outcome.left_full_disruption = all_before;
        for (zone, new_state) in new_states {
            let old = self.states.insert(zone.clone(), new_state);
            // Rates only move on a state change (or when leaving the
            // all-disrupted stop), as in Kubernetes, so a flapping count
            // inside one state does not keep resetting the bucket.
            if all_before || old != Some(new_state) {
                let qps = zone_qps(config, new_state, counts[zone].size());
                if let Some(limiter) = self.limiters.get_mut(zone) {
                    limiter.set_qps(qps, now);
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn count(ready: u32, not_ready: u32) -> ZoneCount {
        ZoneCount { ready, not_ready }
    }

    fn counts(zones: &[(&str, ZoneCount)]) -> BTreeMap<String, ZoneCount> {
        zones.iter().map(|(z, c)| (z.to_string(), *c)).collect()
    }

    #[test]
    fn a_zone_with_sixty_percent_nodes_down_switches_to_the_secondary_rate() {
        let c = Config::default();
        let mut t = ZoneTracker::new();
        t.observe(
            &c,
            &counts(&[("a", count(100, 0)), ("b", count(10, 0))]),
            at(0),
        );
        assert_eq!(t.qps("a"), Some(0.1));
        let out = t.observe(
            &c,
            &counts(&[("a", count(40, 60)), ("b", count(10, 0))]),
            at(5),
        );
        assert_eq!(out, DisruptionOutcome::default());
        assert_eq!(t.state("a"), Some(ZoneState::PartialDisruption));
        assert_eq!(t.qps("a"), Some(0.01));
        assert_eq!(t.state("b"), Some(ZoneState::Normal));
        assert_eq!(t.qps("b"), Some(0.1));
    }

    #[test]
    fn a_small_partially_disrupted_zone_stops_evicting() {
        let c = Config::default();
        let mut t = ZoneTracker::new();
        t.observe(&c, &counts(&[("a", count(4, 6))]), at(0));
        assert_eq!(t.state("a"), Some(ZoneState::PartialDisruption));
        assert_eq!(t.qps("a"), Some(0.0));
        assert!(!t.try_taint("a", at(1000)));
    }

    #[test]
    fn two_nodes_down_is_never_a_disruption() {
        let c = Config::default();
        assert_eq!(compute_zone_state(&c, count(1, 2)), ZoneState::Normal);
        assert_eq!(
            compute_zone_state(&c, count(2, 3)),
            ZoneState::PartialDisruption
        );
        assert_eq!(compute_zone_state(&c, count(3, 3)), ZoneState::Normal);
        assert_eq!(
            compute_zone_state(&c, count(0, 1)),
            ZoneState::FullDisruption
        );
        assert_eq!(compute_zone_state(&c, count(0, 0)), ZoneState::Normal);
    }

    #[test]
    fn one_fully_disrupted_zone_among_healthy_ones_keeps_the_normal_rate() {
        let c = Config::default();
        let mut t = ZoneTracker::new();
        let out = t.observe(
            &c,
            &counts(&[("a", count(0, 5)), ("b", count(5, 0))]),
            at(0),
        );
        assert!(!out.all_fully_disrupted);
        assert_eq!(t.state("a"), Some(ZoneState::FullDisruption));
        assert_eq!(t.qps("a"), Some(0.1));
    }

    #[test]
    fn all_zones_down_stops_evictions_and_recovery_resumes_them() {
        let c = Config::default();
        let mut t = ZoneTracker::new();
        t.observe(
            &c,
            &counts(&[("a", count(5, 0)), ("b", count(5, 0))]),
            at(0),
        );

        let down = counts(&[("a", count(0, 5)), ("b", count(0, 5))]);
        let out = t.observe(&c, &down, at(10));
        assert!(out.all_fully_disrupted && out.entered_full_disruption);
        assert!(!t.try_taint("a", at(10)));
        assert!(!t.try_taint("b", at(10_000)));

        let out = t.observe(&c, &down, at(20));
        assert!(out.all_fully_disrupted);
        assert!(!out.entered_full_disruption && !out.left_full_disruption);
        assert_eq!(t.qps("a"), Some(0.0));

        let out = t.observe(
            &c,
            &counts(&[("a", count(5, 0)), ("b", count(0, 5))]),
            at(30),
        );
        assert!(out.left_full_disruption && !out.all_fully_disrupted);
        assert_eq!(t.state("a"), Some(ZoneState::Normal));
        assert_eq!(t.state("b"), Some(ZoneState::FullDisruption));
        assert_eq!(t.qps("a"), Some(0.1));
        assert_eq!(t.qps("b"), Some(0.1));
        // Resumed limiters start drained: the first new taint waits 10 s.
        assert!(!t.try_taint("b", at(30)));
        assert!(t.try_taint("b", at(40)));
    }

    #[test]
    fn a_new_zone_may_taint_one_node_at_once_then_one_per_ten_seconds() {
        let c = Config::default();
        let mut t = ZoneTracker::new();
        t.observe(&c, &counts(&[("a", count(9, 1))]), at(0));
        assert_eq!(t.state("a"), Some(ZoneState::Normal));
        assert!(t.try_taint("a", at(0)));
        assert!(!t.try_taint("a", at(5)));
        assert_eq!(t.next_taint_at("a", at(5)), Some(at(10)));
        assert!(t.try_taint("a", at(10)));
        assert!(!t.try_taint("unknown", at(10)));
    }

    #[test]
    fn zones_without_nodes_are_forgotten() {
        let c = Config::default();
        let mut t = ZoneTracker::new();
        t.observe(
            &c,
            &counts(&[("a", count(1, 0)), ("b", count(1, 0))]),
            at(0),
        );
        t.observe(&c, &counts(&[("a", count(1, 0))]), at(5));
        assert_eq!(t.state("b"), None);
        assert_eq!(t.qps("b"), None);
    }

    #[test]
    fn the_zone_key_joins_region_and_zone_and_falls_back_to_beta_labels() {
        let mut n = Node {
            metadata: ObjectMeta::default(),
            ..Default::default()
        };
        assert_eq!(zone_key(&n), "");
        n.metadata.labels = Some(
            [
                (LABEL_TOPOLOGY_REGION.to_string(), "eu".to_string()),
                (
                    LABEL_FAILURE_DOMAIN_BETA_ZONE.to_string(),
                    "eu-1a".to_string(),
                ),
            ]
            .into(),
        );
        assert_eq!(zone_key(&n), "eu:\0:eu-1a");
    }
}
