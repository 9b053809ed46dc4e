//! What a pod requests and what a node offers, in the units the scheduler compares.
//!
//! Requests follow Kubernetes' `PodRequests`: the sum of the app containers (plus restartable
//! "sidecar" init containers, which keep running), or the largest init-container step if that
//! is bigger, plus `spec.overhead`. Scoring uses the "non-zero" variant in which a container
//! that states no cpu or memory request counts as 100m / 200Mi, so that best-effort pods still
//! spread out instead of piling onto one node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity;

/// Cpu a container is assumed to need when it states no cpu request (scoring only).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory a container is assumed to need when it states no memory request (scoring only).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Cpu (millicores) and memory (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
}

impl Resources {
    /// Adds `other` in place.
    pub fn add(&mut self, other: Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
    }

    /// Subtracts `other` in place (a pod leaving a node's sum).
    pub fn sub(&mut self, other: Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
    }

    fn max(&mut self, other: Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
    }

    /// True when neither cpu nor memory is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0 && self.memory == 0
    }
}

fn from_list(list: Option<&BTreeMap<String, Quantity>>, non_zero: bool) -> Resources {
    let cpu = list.and_then(|l| l.get("cpu"));
    let memory = list.and_then(|l| l.get("memory"));
    Resources {
        milli_cpu: match cpu {
            Some(q) => quantity::millis(q),
            None if non_zero => DEFAULT_MILLI_CPU_REQUEST,
            None => 0,
        },
        memory: match memory {
            Some(q) => quantity::value(q),
            None if non_zero => DEFAULT_MEMORY_REQUEST,
            None => 0,
        },
    }
}

fn container_requests(container: &Container, non_zero: bool) -> Resources {
    let requests = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    from_list(requests, non_zero)
}

/// The pod's effective cpu and memory request. With `non_zero`, missing container requests
/// take the scoring defaults.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(container_requests(c, non_zero));
    }
    // Init containers run one at a time, but sidecars (restartPolicy Always) started earlier
    // keep running alongside each later init container and the app containers.
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let reqs = container_requests(c, non_zero);
        let step = if c.restart_policy.as_deref() == Some("Always") {
            total.add(reqs);
            sidecars.add(reqs);
            sidecars
        } else {
            let mut step = reqs;
            step.add(sidecars);
            step
        };
        init_peak.max(step);
    }
    total.max(init_peak);
    // Overhead is never defaulted: it is a property of the RuntimeClass, not of containers.
    total.add(from_list(spec.overhead.as_ref(), false));
    total
}

/// The node's `status.allocatable` cpu and memory, and how many pods it accepts.
pub fn allocatable(node: &Node) -> (Resources, i64) {
    let list = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let resources = from_list(list, false);
    let pods = list
        .and_then(|l| l.get("pods"))
        .map(quantity::value)
        .unwrap_or(0);
    (resources, pods)
}

/// The summed requests of the given pods.
pub fn sum_requests<'a>(pods: impl IntoIterator<Item = &'a Pod>, non_zero: bool) -> Resources {
    let mut total = Resources::default();
    for pod in pods {
        total.add(pod_requests(pod, non_zero));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    #[test]
    fn app_containers_are_summed() {
        let p = pod(json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "1.5"}}},
        ]}));
        assert_eq!(
            pod_requests(&p, false),
            Resources {
                milli_cpu: 1600,
                memory: 1024 * 1024
            }
        );
    }

    #[test]
    fn a_large_init_container_dominates_the_app_containers() {
        let p = pod(json!({
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1G"}}}],
        }));
        assert_eq!(
            pod_requests(&p, false),
            Resources {
                milli_cpu: 2000,
                memory: 1_000_000_000
            }
        );
    }

    #[test]
    fn sidecars_add_to_the_app_containers_and_later_init_steps() {
        let p = pod(json!({
            "initContainers": [
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "1"}}},
            ],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "300m"}}}],
        }));
        // max(300m + 200m, 1 + 200m)
        assert_eq!(pod_requests(&p, false).milli_cpu, 1200);
    }

    #[test]
    fn overhead_is_added_on_top() {
        let p = pod(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
            "overhead": {"cpu": "250m", "memory": "120Mi"},
        }));
        assert_eq!(
            pod_requests(&p, false),
            Resources {
                milli_cpu: 350,
                memory: 120 * 1024 * 1024
            }
        );
    }

    #[test]
    fn missing_requests_take_defaults_only_for_scoring() {
        let p = pod(json!({"containers": [{"name": "a"}]}));
        assert!(pod_requests(&p, false).is_zero());
        assert_eq!(
            pod_requests(&p, true),
            Resources {
                milli_cpu: 100,
                memory: 200 * 1024 * 1024
            }
        );
    }
}
