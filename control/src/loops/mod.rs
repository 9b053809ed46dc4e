//! The control plane's loops. Each one watches through the API (never the store) and writes
//! back through it with an identity of its own, as kube-controller-manager and kube-scheduler do.

pub mod bootstraptokens;
pub mod common;
pub mod csr;
pub mod daemonset;
pub mod endpoints;
pub mod gc;
pub mod jobs;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod resourcequota;
pub mod scheduler;
pub mod serviceaccounts;
pub mod statefulset;
pub mod workloads;

use tokio::task::JoinHandle;

use crate::client::KubeConfig;
use crate::leader::{run_elected, ElectionConfig};

/// Which loops this process offers to run, and their settings.
#[derive(Debug, Clone)]
pub struct Brain {
    pub scheduler: bool,
    /// The workload, garbage-collection, endpoint, service-account and quota controllers.
    pub controllers: bool,
    pub pod_cidrs: Option<nodeipam::PodCidrs>,
    pub node_lifecycle: Option<control_nodelifecycle::Config>,
    /// The leader-election identity: unique among every process that may run these loops.
    pub identity: String,
}

/// The loops of kube-controller-manager's share, started on becoming its leader.
fn spawn_controllers(cfg: &KubeConfig, brain: &Brain) -> Vec<JoinHandle<()>> {
    let mut h = Vec::new();
    if brain.controllers {
        h.push(tokio::spawn(workloads::run(cfg.clone())));
        h.push(tokio::spawn(daemonset::run(cfg.clone())));
        h.push(tokio::spawn(statefulset::run(cfg.clone())));
        h.push(tokio::spawn(jobs::run(cfg.clone())));
        h.push(tokio::spawn(gc::run(cfg.clone())));
        h.push(tokio::spawn(serviceaccounts::run(cfg.clone())));
        h.push(tokio::spawn(endpoints::run(cfg.clone())));
        h.push(tokio::spawn(resourcequota::run(cfg.clone())));
        h.push(tokio::spawn(bootstraptokens::run(cfg.clone())));
        h.push(tokio::spawn(csr::run_approver(cfg.clone())));
    }
    if let Some(cidrs) = brain.pod_cidrs {
        h.push(tokio::spawn(nodeipam::run(cfg.clone(), cidrs)));
    }
    if let Some(nl) = brain.node_lifecycle.clone() {
        h.push(tokio::spawn(nodelifecycle::run(cfg.clone(), nl)));
    }
    h
}

/// Campaigns for the `kube-system/kube-scheduler` and `kube-system/kube-controller-manager`
/// Leases and runs each group of loops only while this process holds its Lease, so several
/// processes may offer the same loops and exactly one acts (see [`crate::leader`]).
pub fn start(scheduler_cfg: KubeConfig, controllers_cfg: KubeConfig, brain: Brain) {
    if brain.scheduler {
        let cfg = scheduler_cfg.clone();
        tokio::spawn(run_elected(
            scheduler_cfg,
            ElectionConfig::new("kube-scheduler", &brain.identity),
            move || vec![tokio::spawn(scheduler::run(cfg.clone()))],
        ));
    }
    let any_controller =
        brain.controllers || brain.pod_cidrs.is_some() || brain.node_lifecycle.is_some();
    if any_controller {
        let cfg = controllers_cfg.clone();
        let b = brain.clone();
        tokio::spawn(run_elected(
            controllers_cfg,
            ElectionConfig::new("kube-controller-manager", &brain.identity),
            move || spawn_controllers(&cfg, &b),
        ));
    }
}
