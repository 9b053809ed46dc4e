//! Node lifecycle decisions as pure functions: the brain of the node
//! lifecycle controller and of taint-based eviction, without any IO.
//!
//! Nothing here reads a clock or talks to the API: the current time is
//! always an argument (`now`), and every result is a description of what the
//! caller (the IO loop in the `control` package, which watches Nodes, Leases
//! and Pods) should write. That keeps every rule testable with fixed times.
//!
//! Module map:
//! - [`health`]: is a node still alive, judged from its status heartbeats
//!   and its Lease renewals; which conditions turn `Unknown` when it is not.
//! - [`taints`]: which `NoExecute` and `NoSchedule` taints a node must carry
//!   for its conditions and cordon state.
//! - [`eviction`]: for a pod on a tainted node, evict now, never, or when.
//! - [`ratelimit`]: the token bucket that paces new `NoExecute` taints.
//! - [`zones`]: zone disruption states and the per-zone eviction rate.
//!
//! Semantics follow Kubernetes v1.32's node lifecycle controller
//! (`pkg/controller/nodelifecycle`) and taint eviction controller
//! (`pkg/controller/tainteviction`).

pub mod eviction;
pub mod health;
pub mod ratelimit;
pub mod taints;
pub mod zones;

use jiff::{SignedDuration, Timestamp};

pub use eviction::{decide_eviction, EvictionDecision};
pub use health::{assess_health, HealthAssessment, HealthRecord};
pub use ratelimit::TokenBucket;
pub use taints::{no_execute_changes, no_schedule_changes, TaintChanges};
pub use zones::{compute_zone_state, zone_key, DisruptionOutcome, ZoneState, ZoneTracker};

/// Every timing and rate knob of the node lifecycle controller, with
/// Kubernetes v1.32's kube-controller-manager defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// How often the IO loop should re-run the health pass
    /// (`--node-monitor-period`, default 5 s). The pure functions do not use
    /// it; it lives here so the whole controller is configured in one place.
    pub node_monitor_period: SignedDuration,
    /// How long a node may go without a status heartbeat or a Lease renewal
    /// before its Ready condition becomes `Unknown`
    /// (`--node-monitor-grace-period`). Kubernetes raised the default from
    /// 40 s to 50 s in v1.32 so that it comfortably exceeds the time the
    /// kubelet needs to notice and replace a broken HTTP/2 connection to the
    /// API server. A faster value (e.g. 20 s) is fine for single-host or test
    /// clusters, but it must stay well above the kubelet's Lease renew
    /// interval (10 s by default) or healthy nodes will flap.
    pub node_monitor_grace_period: SignedDuration,
    /// Grace period for a node that has never posted a status (no Ready
    /// condition at all), counted from its creation
    /// (`--node-startup-grace-period`, default 60 s). Could be lowered for
    /// clusters whose kubelets register quickly, but registration plus the
    /// first status post can take tens of seconds on slow machines.
    pub node_startup_grace_period: SignedDuration,
    /// Nodes per second that may newly receive a `NoExecute` taint in a
    /// healthy zone (`--node-eviction-rate`, default 0.1, i.e. one node every
    /// 10 s). Higher rates evict faster but amplify mass failures caused by
    /// a control plane or network problem rather than by the nodes.
    pub eviction_rate: f64,
    /// Rate used in a partially disrupted zone of a large cluster
    /// (`--secondary-node-eviction-rate`, default 0.01).
    pub secondary_eviction_rate: f64,
    /// Token bucket burst for the eviction limiters. Kubernetes hard-codes 1,
    /// and its rate-limiter swap logic assumes it.
    pub eviction_burst: u32,
    /// A partially disrupted zone with at most this many nodes stops evicting
    /// entirely instead of using the secondary rate
    /// (`--large-cluster-size-threshold`, default 50).
    pub large_cluster_size_threshold: u32,
    /// Fraction of not-Ready nodes (with at least 3 of them) at which a zone
    /// counts as partially disrupted (`--unhealthy-zone-threshold`,
    /// default 0.55).
    pub unhealthy_zone_threshold: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_monitor_period: SignedDuration::from_secs(5),
            node_monitor_grace_period: SignedDuration::from_secs(50),
            node_startup_grace_period: SignedDuration::from_secs(60),
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            eviction_burst: 1,
            large_cluster_size_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }
}

/// A [`Config`] value that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{field} must be positive, got {value}")]
    NonPositiveDuration {
        field: &'static str,
        value: SignedDuration,
    },
    #[error("{field} must be a finite, non-negative rate, got {value}")]
    BadRate { field: &'static str, value: f64 },
    #[error("eviction_burst must be at least 1")]
    ZeroBurst,
    #[error("unhealthy_zone_threshold must be in (0, 1], got {0}")]
    BadThreshold(f64),
}

impl Config {
    /// Checks that every field is usable; the IO loop calls this once at
    /// start-up so a bad flag fails loudly instead of disabling evictions.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("node_monitor_period", self.node_monitor_period),
            ("node_monitor_grace_period", self.node_monitor_grace_period),
            ("node_startup_grace_period", self.node_startup_grace_period),
        ] {
            if value <= SignedDuration::ZERO {
                return Err(ConfigError::NonPositiveDuration { field, value });
            }
        }
        for (field, value) in [
            ("eviction_rate", self.eviction_rate),
            ("secondary_eviction_rate", self.secondary_eviction_rate),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(ConfigError::BadRate { field, value });
            }
        }
        if self.eviction_burst == 0 {
            return Err(ConfigError::ZeroBurst);
        }
        let t = self.unhealthy_zone_threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(ConfigError::BadThreshold(t));
        }
        Ok(())
    }
}

/// The status of a node condition, parsed from its string form. Anything
/// other than `True` or `False` is `Unknown`, as the API server treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "True" => ConditionStatus::True,
            "False" => ConditionStatus::False,
            _ => ConditionStatus::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// `t + d`, clamped to the representable range instead of panicking, since
/// a huge configured duration should mean "never" rather than a crash.
pub(crate) fn add_clamped(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kubernetes_1_32() {
        let c = Config::default();
        assert_eq!(c.node_monitor_grace_period, SignedDuration::from_secs(50));
        assert_eq!(c.node_startup_grace_period, SignedDuration::from_secs(60));
        assert_eq!(c.eviction_rate, 0.1);
        assert_eq!(c.secondary_eviction_rate, 0.01);
        assert_eq!(c.large_cluster_size_threshold, 50);
        assert_eq!(c.unhealthy_zone_threshold, 0.55);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn a_threshold_above_one_is_rejected() {
        let c = Config {
            unhealthy_zone_threshold: 1.5,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadThreshold(1.5)));
    }

    #[test]
    fn a_zero_grace_period_is_rejected() {
        let c = Config {
            node_monitor_grace_period: SignedDuration::ZERO,
            ..Config::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::NonPositiveDuration { .. })
        ));
    }

    #[test]
    fn unrecognised_condition_strings_are_unknown() {
        assert_eq!(ConditionStatus::parse("True"), ConditionStatus::True);
        assert_eq!(ConditionStatus::parse("False"), ConditionStatus::False);
        assert_eq!(ConditionStatus::parse("maybe"), ConditionStatus::Unknown);
    }
}
