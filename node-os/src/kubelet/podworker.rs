//! The IO side of the pod lifecycle: watches the pods bound to this node
//! (`fieldSelector=spec.nodeName=<node>`), and for each one observes the runtime, asks
//! [`lifecycle::plan`] what to do, does it through a [`ContainerRuntime`], runs due probes, and
//! writes the status [`status::pod_status`] computes. On start it reconciles: sandboxes of pods
//! no longer bound here are stopped and removed.
//!
//! It needs a runtime to run containers, so `node-os agent` starts it once the runtime crate
//! (`node-os/runtime`) implements [`ContainerRuntime`]; until then no pod runs on a node-os
//! node. Every decision it applies is a pure function tested in its own module; this loop is
//! exercised end to end when the runtime lands.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use http::{Method, StatusCode};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::backoff::{self, Backoff};
use super::env::{self, EnvSources};
use super::lifecycle::{self, Action, Instance, InstanceState, Observed};
use super::node::send_json;
use super::probes::{self, ContainerProbes, Kind, Verdict};
use super::quantity::{parse_milli, parse_units};
use super::runtime_api::{self as rt, ContainerRuntime, ContainerState, RuntimeError};
use super::status::{self, ContainerView, PodNet, State};
use super::volumes::{self, VolumePlan};
use crate::client::ApiClient;

/// Labels the kubelet puts on sandboxes and containers to find them again after a restart.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// What the pod worker keeps per pod between passes.
#[derive(Default)]
struct PodState {
    sandbox_attempt: u32,
    probes: HashMap<String, (String, ContainerProbes)>,
    restart_requested: BTreeSet<String>,
    last_status: Value,
    waiting: HashMap<String, (String, String)>,
}

pub struct PodWorker<R: ContainerRuntime> {
    pub api: ApiClient,
    pub node_name: String,
    pub host_ip: String,
    /// The kubelet's directory (`<data-dir>/kubelet`): pod volumes and logs live under it.
    pub root: PathBuf,
    pub runtime: Arc<R>,
    pub allocatable_cpu_milli: i128,
    pub allocatable_memory: i128,
    pods: BTreeMap<String, Pod>,
    state: HashMap<String, PodState>,
    backoff: Backoff,
}

fn label(m: &BTreeMap<String, String>, k: &str) -> String {
    m.get(k).cloned().unwrap_or_default()
}

fn nanos_to_rfc3339(n: i64) -> String {
    Timestamp::from_nanosecond(i128::from(n))
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl<R: ContainerRuntime> PodWorker<R> {
    pub fn new(
        api: ApiClient,
        node_name: String,
        host_ip: String,
        root: PathBuf,
        runtime: Arc<R>,
        allocatable_cpu_milli: i128,
        allocatable_memory: i128,
    ) -> Self {
        PodWorker {
            api,
            node_name,
            host_ip,
            root,
            runtime,
            allocatable_cpu_milli,
            allocatable_memory,
            pods: BTreeMap::new(),
            state: HashMap::new(),
            backoff: Backoff::default(),
        }
    }

    fn pods_path(&self) -> String {
        format!(
            "/api/v1/pods?fieldSelector=spec.nodeName%3D{}",
            self.node_name
        )
    }

    /// Lists the bound pods, reconciles the runtime against them, then follows the watch and
    /// syncs every pod on each change and every second (probes and backoff run on time).
    pub async fn run(mut self) -> Result<()> {
        loop {
            let (code, list) = send_json(
                &self.api,
                Method::GET,
                &self.pods_path(),
                None,
                "application/json",
            )
            .await?;
            anyhow::ensure!(code.is_success(), "listing pods: {code}");
            self.pods.clear();
            for p in list["items"].as_array().into_iter().flatten() {
                if let Ok(pod) = serde_json::from_value::<Pod>(p.clone()) {
                    self.pods
                        .insert(pod.metadata.uid.clone().unwrap_or_default(), pod);
                }
            }
            self.reconcile().await;
            let rv = list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("0")
                .to_string();
            let path = format!(
                "{}&watch=1&resourceVersion={rv}&allowWatchBookmarks=true",
                self.pods_path()
            );
            let mut events = self.api.watch(&path).await?;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    ev = events.recv() => {
                        let Some(ev) = ev else { break };
                        match ev["type"].as_str() {
                            Some("ADDED" | "MODIFIED") => {
                                if let Ok(p) = serde_json::from_value::<Pod>(ev["object"].clone()) {
                                    self.pods.insert(p.metadata.uid.clone().unwrap_or_default(), p);
                                }
                            }
                            Some("DELETED") => {
                                if let Some(uid) = ev["object"]["metadata"]["uid"].as_str() {
                                    self.pods.remove(uid);
                                }
                            }
                            Some("ERROR") => break,
                            _ => {}
                        }
                    }
                    _ = tick.tick() => {}
                }
                self.sync_all().await;
            }
        }
    }

    /// Stops and removes sandboxes whose pod is no longer bound here (deleted while the
    /// kubelet was down), as kubelet's housekeeping does.
    async fn reconcile(&mut self) {
        let Ok(sandboxes) = self.runtime.list_pod_sandboxes().await else {
            return;
        };
        let pairs: Vec<(String, String)> = sandboxes
            .iter()
            .map(|(c, s)| (s.id.clone(), c.uid.clone()))
            .collect();
        let bound: BTreeSet<String> = self.pods.keys().cloned().collect();
        for id in lifecycle::orphaned_sandboxes(&pairs, &bound) {
            tracing::info!(
                sandbox = id,
                "removing the sandbox of a pod no longer bound here"
            );
            let _ = self.runtime.stop_pod_sandbox(id).await;
            let _ = self.runtime.remove_pod_sandbox(id).await;
        }
        // Volumes of pods deleted while the kubelet was down.
        if let Ok(dirs) = std::fs::read_dir(self.root.join("pods")) {
            for d in dirs.flatten() {
                let uid = d.file_name().to_string_lossy().into_owned();
                if !bound.contains(&uid) {
                    if let Err(e) = super::mounts::unmount_and_remove(&d.path()) {
                        tracing::warn!(pod = %uid, "removing an orphaned pod directory: {e}");
                    }
                }
            }
        }
    }

    async fn sync_all(&mut self) {
        let uids: Vec<String> = self.pods.keys().cloned().collect();
        let gone: Vec<String> = self
            .state
            .keys()
            .filter(|u| !self.pods.contains_key(*u))
            .cloned()
            .collect();
        for u in gone {
            self.state.remove(&u);
            self.backoff.forget_pod(&u);
        }
        for uid in uids {
            if let Err(e) = self.sync_pod(&uid).await {
                tracing::warn!(pod = %uid, "syncing pod: {e:#}");
            }
        }
    }

    async fn observe(
        &self,
        uid: &str,
    ) -> Result<(
        Observed,
        Vec<rt::ContainerStatus>,
        Option<rt::PodSandboxStatus>,
    )> {
        let mut obs = Observed::default();
        let mut sandbox_status = None;
        for (cfg, st) in self
            .runtime
            .list_pod_sandboxes()
            .await
            .map_err(anyhow::Error::from)?
        {
            if cfg.uid == uid {
                obs.sandbox = Some((st.id.clone(), st.ready));
                sandbox_status = Some(st);
            }
        }
        let containers: Vec<rt::ContainerStatus> = self
            .runtime
            .list_containers()
            .await
            .map_err(anyhow::Error::from)?
            .into_iter()
            .filter(|c| label(&c.labels, LABEL_POD_UID) == uid)
            .collect();
        for c in &containers {
            let state = match c.state {
                ContainerState::Created => InstanceState::Created,
                ContainerState::Running => InstanceState::Running,
                ContainerState::Exited | ContainerState::Unknown => InstanceState::Exited {
                    exit_code: c.exit_code,
                },
            };
            obs.instances
                .entry(c.name.clone())
                .or_default()
                .push(Instance {
                    id: c.id.clone(),
                    attempt: c.attempt,
                    state,
                });
        }
        Ok((obs, containers, sandbox_status))
    }

    async fn sync_pod(&mut self, uid: &str) -> Result<()> {
        let pod = self.pods.get(uid).cloned().context("pod vanished")?;
        let (obs, containers, sandbox) = self.observe(uid).await?;
        let now = Instant::now();
        let st = self.state.entry(uid.to_string()).or_default();
        // Probes follow container instances: a new id starts them over.
        for c in &containers {
            if c.state != ContainerState::Running {
                continue;
            }
            let spec = find_container(&pod, &c.name);
            let entry = st.probes.entry(c.name.clone()).or_insert_with(|| {
                (
                    String::new(),
                    ContainerProbes::for_container(&spec.cloned().unwrap_or_default()),
                )
            });
            if entry.0 != c.id {
                entry.0 = c.id.clone();
                entry.1.container_started(now);
                st.restart_requested.remove(&c.name);
            }
        }
        let terminal = {
            let (init, apps) = self.views(&pod, &containers);
            matches!(
                status::phase(&pod, &init, &apps, false),
                "Succeeded" | "Failed"
            )
        };
        let st = self.state.get(uid).expect("inserted above");
        let ctx = lifecycle::Context {
            restart_requested: st.restart_requested.clone(),
            backoff: pod_containers(&pod)
                .filter_map(|c| {
                    self.backoff
                        .remaining(&format!("{uid}/{}", c.name), now)
                        .map(|d| (c.name.clone(), d))
                })
                .collect(),
            terminal,
        };
        for action in lifecycle::plan(&pod, &obs, &ctx) {
            self.apply(&pod, uid, &obs, action).await?;
        }
        self.run_probes(&pod, uid, &containers, sandbox.as_ref())
            .await;
        let (_, containers, sandbox) = self.observe(uid).await?;
        self.write_status(&pod, uid, &containers, sandbox.as_ref())
            .await
    }

    fn views(
        &self,
        pod: &Pod,
        containers: &[rt::ContainerStatus],
    ) -> (Vec<ContainerView>, Vec<ContainerView>) {
        let st = pod.metadata.uid.as_deref().and_then(|u| self.state.get(u));
        let view = |c: &Container| -> Option<ContainerView> {
            let mut mine: Vec<&rt::ContainerStatus> =
                containers.iter().filter(|s| s.name == c.name).collect();
            mine.sort_by_key(|s| s.attempt);
            let to_state = |s: &rt::ContainerStatus| match s.state {
                ContainerState::Running => State::Running {
                    started_at: nanos_to_rfc3339(s.started_at),
                },
                ContainerState::Created => State::Waiting {
                    reason: "ContainerCreating".into(),
                    message: None,
                },
                _ => State::Terminated {
                    exit_code: s.exit_code,
                    reason: if s.reason.is_empty() {
                        if s.exit_code == 0 {
                            "Completed".into()
                        } else {
                            "Error".into()
                        }
                    } else {
                        s.reason.clone()
                    },
                    message: (!s.message.is_empty()).then(|| s.message.clone()),
                    started_at: nanos_to_rfc3339(s.started_at),
                    finished_at: nanos_to_rfc3339(s.finished_at),
                    container_id: format!("node-os://{}", s.id),
                },
            };
            let waiting = st.and_then(|s| s.waiting.get(&c.name));
            let last = mine.last();
            let image = c.image.clone().unwrap_or_default();
            match (last, waiting) {
                (None, None) => None,
                (None, Some((reason, msg))) => Some(ContainerView {
                    state: State::Waiting {
                        reason: reason.clone(),
                        message: Some(msg.clone()),
                    },
                    ..ContainerView::waiting(&c.name, &image, reason)
                }),
                (Some(l), waiting) => {
                    let probes = st
                        .and_then(|s| s.probes.get(&c.name))
                        .filter(|(id, _)| *id == l.id);
                    let running = l.state == ContainerState::Running;
                    let mut v = ContainerView {
                        name: c.name.clone(),
                        state: to_state(l),
                        last_terminated: mine.iter().rev().nth(1).map(|p| to_state(p)),
                        ready: running && probes.is_none_or(|(_, p)| p.ready()),
                        started: running && probes.is_none_or(|(_, p)| p.started()),
                        restart_count: l.attempt as i32,
                        image,
                        image_id: l.image_ref.clone(),
                        container_id: Some(format!("node-os://{}", l.id)),
                    };
                    if let (Some((reason, msg)), false) = (waiting, running) {
                        v.last_terminated = Some(v.state.clone());
                        v.state = State::Waiting {
                            reason: reason.clone(),
                            message: Some(msg.clone()),
                        };
                    }
                    Some(v)
                }
            }
        };
        let spec = pod.spec.clone().unwrap_or_default();
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .filter_map(view)
            .collect();
        let apps = spec
            .containers
            .iter()
            .map(|c| {
                view(c).unwrap_or_else(|| {
                    ContainerView::waiting(
                        &c.name,
                        c.image.as_deref().unwrap_or(""),
                        "ContainerCreating",
                    )
                })
            })
            .collect();
        (init, apps)
    }

    async fn apply(&mut self, pod: &Pod, uid: &str, obs: &Observed, action: Action) -> Result<()> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        match action {
            Action::CreateSandbox => {
                let st = self.state.entry(uid.to_string()).or_default();
                let attempt = st.sandbox_attempt;
                st.sandbox_attempt += 1;
                let spec = pod.spec.clone().unwrap_or_default();
                let cfg = rt::PodSandboxConfig {
                    name: name.clone(),
                    namespace: ns,
                    uid: uid.to_string(),
                    attempt,
                    hostname: spec.hostname.clone().unwrap_or(name),
                    log_directory: self.root.join("pods").join(uid).join("logs"),
                    host_network: spec.host_network == Some(true),
                    host_pid: spec.host_pid == Some(true),
                    host_ipc: spec.host_ipc == Some(true),
                    labels: BTreeMap::from([(LABEL_POD_UID.to_string(), uid.to_string())]),
                    annotations: BTreeMap::new(),
                    cgroup_parent: None,
                    dns: None,
                    port_mappings: Vec::new(),
                    qos_class: pod
                        .status
                        .as_ref()
                        .and_then(|s| s.qos_class.clone())
                        .unwrap_or_else(|| "BestEffort".into()),
                };
                self.runtime
                    .run_pod_sandbox(&cfg)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            Action::StopSandbox { id } => {
                self.runtime
                    .stop_pod_sandbox(&id)
                    .await
                    .map_err(anyhow::Error::from)?;
                self.runtime
                    .remove_pod_sandbox(&id)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            Action::Remove { id } => {
                let _ = self.runtime.remove_container(&id).await;
            }
            Action::BackOff { name: c, remaining } => {
                let period = self
                    .backoff
                    .period(&format!("{uid}/{c}"))
                    .unwrap_or(remaining);
                let msg = backoff::crash_loop_message(period, &c, &name, &ns, uid);
                self.set_waiting(uid, &c, "CrashLoopBackOff", &msg);
            }
            Action::Kill {
                id,
                name: c,
                grace,
                pre_stop,
                reason,
            } => {
                let started = Instant::now();
                if pre_stop {
                    if let Some(cmd) = find_container(pod, &c).and_then(|c| {
                        c.lifecycle
                            .as_ref()?
                            .pre_stop
                            .as_ref()?
                            .exec
                            .as_ref()?
                            .command
                            .clone()
                    }) {
                        let _ = self.runtime.exec_sync(&id, &cmd, grace).await;
                    }
                }
                tracing::info!(pod = %name, container = %c, %reason, "stopping container");
                let left = grace.saturating_sub(started.elapsed());
                self.runtime
                    .stop_container(&id, left)
                    .await
                    .map_err(anyhow::Error::from)?;
                if let Some(st) = self.state.get_mut(uid) {
                    if let Some((_, p)) = st.probes.get_mut(&c) {
                        p.container_stopped();
                    }
                }
            }
            Action::Start {
                name: c,
                init,
                attempt,
            } => {
                let Some((sandbox, _)) = obs.sandbox.clone() else {
                    return Ok(());
                };
                match self.start_container(pod, uid, &sandbox, &c, attempt).await {
                    Ok(()) => {
                        if let Some(st) = self.state.get_mut(uid) {
                            st.waiting.remove(&c);
                        }
                    }
                    Err((reason, msg)) => {
                        tracing::warn!(pod = %name, container = %c, init, "{reason}: {msg}");
                        self.set_waiting(uid, &c, &reason, &msg);
                        if reason != "CreateContainerConfigError" {
                            let now = Instant::now();
                            self.backoff.record_exit(&format!("{uid}/{c}"), now, now);
                        }
                    }
                }
            }
            Action::Finalize => {
                // Volumes go before the Pod object does, so that a pod seen gone has left
                // nothing mounted behind.
                let dir = self.root.join("pods").join(uid);
                if let Err(e) = super::mounts::unmount_and_remove(&dir) {
                    tracing::warn!(pod = %name, "removing {}: {e}", dir.display());
                }
                let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                  "preconditions": {"uid": uid}});
                let path = format!(
                    "/api/v1/namespaces/{}/pods/{name}",
                    pod.metadata.namespace.as_deref().unwrap_or("")
                );
                let (code, _) = send_json(
                    &self.api,
                    Method::DELETE,
                    &path,
                    Some(&body),
                    "application/json",
                )
                .await?;
                if !(code.is_success()
                    || code == StatusCode::NOT_FOUND
                    || code == StatusCode::CONFLICT)
                {
                    anyhow::bail!("deleting pod {name}: {code}");
                }
            }
        }
        Ok(())
    }

    fn set_waiting(&mut self, uid: &str, c: &str, reason: &str, msg: &str) {
        self.state
            .entry(uid.to_string())
            .or_default()
            .waiting
            .insert(c.to_string(), (reason.to_string(), msg.to_string()));
    }

    /// Pulls (per imagePullPolicy), resolves env and volumes, creates and starts one container.
    /// Errors come back as the Waiting reason and message kubelet would show.
    async fn start_container(
        &mut self,
        pod: &Pod,
        uid: &str,
        sandbox: &str,
        name: &str,
        attempt: u32,
    ) -> std::result::Result<(), (String, String)> {
        let c = find_container(pod, name).cloned().ok_or((
            "CreateContainerConfigError".to_string(),
            format!("no container {name}"),
        ))?;
        let image = c.image.clone().unwrap_or_default();
        let policy = c.image_pull_policy.clone().unwrap_or_else(|| {
            if image.ends_with(":latest") || !image.rsplit('/').next().unwrap_or("").contains(':') {
                "Always".into()
            } else {
                "IfNotPresent".into()
            }
        });
        let present = self
            .runtime
            .image_status(&image)
            .await
            .map_err(|e| ("ErrImagePull".to_string(), e.to_string()))?;
        let info = match (policy.as_str(), present) {
            ("Never", None) => {
                return Err((
                    "ErrImageNeverPull".into(),
                    format!("Container image \"{image}\" is not present with pull policy of Never"),
                ))
            }
            ("Never" | "IfNotPresent", Some(i)) => i,
            _ => self
                .runtime
                .pull_image(&image)
                .await
                .map_err(|e| ("ErrImagePull".to_string(), e.to_string()))?,
        };
        let (cm_names, secret_names) = volumes::referenced_objects(pod);
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let mut cms: Vec<ConfigMap> = Vec::new();
        for n in cm_names {
            if let Ok((code, v)) = send_json(
                &self.api,
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/configmaps/{n}"),
                None,
                "application/json",
            )
            .await
            {
                if code.is_success() {
                    cms.extend(serde_json::from_value(v).ok());
                }
            }
        }
        let mut secrets: Vec<Secret> = Vec::new();
        for n in secret_names {
            if let Ok((code, v)) = send_json(
                &self.api,
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/secrets/{n}"),
                None,
                "application/json",
            )
            .await
            {
                if code.is_success() {
                    secrets.extend(serde_json::from_value(v).ok());
                }
            }
        }
        let mut services: Vec<Service> = Vec::new();
        for n in [ns.as_str(), "default"] {
            if let Ok((StatusCode::OK, v)) = send_json(
                &self.api,
                Method::GET,
                &format!("/api/v1/namespaces/{n}/services"),
                None,
                "application/json",
            )
            .await
            {
                services.extend(
                    v["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| serde_json::from_value(s.clone()).ok()),
                );
            }
        }
        let sources = EnvSources {
            config_maps: cms
                .iter()
                .map(|c| (c.metadata.name.clone().unwrap_or_default(), c))
                .collect(),
            secrets: secrets
                .iter()
                .map(|s| (s.metadata.name.clone().unwrap_or_default(), s))
                .collect(),
            services: services.iter().collect(),
            node_allocatable_cpu_milli: self.allocatable_cpu_milli,
            node_allocatable_memory: self.allocatable_memory,
        };
        let config_err = |e: String| ("CreateContainerConfigError".to_string(), e);
        let env = env::container_env(pod, &c, &sources).map_err(|e| config_err(e.to_string()))?;
        let mut mounts = Vec::new();
        for v in pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
        {
            let Some(m) = c.volume_mounts.iter().flatten().find(|m| m.name == v.name) else {
                continue;
            };
            let plan = volumes::plan(&self.root, pod, v, &sources)
                .map_err(|e| config_err(e.to_string()))?;
            let host =
                materialize(&plan).map_err(|e| config_err(format!("volume {}: {e:#}", v.name)))?;
            let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sp) => {
                    volumes::validate_path(sp).map_err(|e| config_err(e.to_string()))?;
                    host.join(sp)
                }
                None => host,
            };
            mounts.push(rt::Mount {
                container_path: m.mount_path.clone(),
                host_path: host,
                readonly: m.read_only == Some(true),
                propagation: m.mount_propagation.clone().unwrap_or_else(|| "None".into()),
            });
        }
        let limits = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        let requests = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.clone())
            .unwrap_or_default();
        let milli =
            |m: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
             k: &str| m.get(k).and_then(|q| parse_milli(&q.0).ok());
        let cpu_request = milli(&requests, "cpu")
            .or_else(|| milli(&limits, "cpu"))
            .unwrap_or(0);
        let sc = c.security_context.clone().unwrap_or_default();
        let psc = pod
            .spec
            .as_ref()
            .and_then(|s| s.security_context.clone())
            .unwrap_or_default();
        let uid_n = sc.run_as_user.or(psc.run_as_user);
        let config = rt::ContainerConfig {
            name: name.to_string(),
            attempt,
            image: image.clone(),
            argv: env::argv(&c, &env, &info.entrypoint, &info.cmd),
            env: env.to_strings(),
            working_dir: c.working_dir.clone().unwrap_or_default(),
            user: uid_n.map(|u| {
                let gid = sc.run_as_group.or(psc.run_as_group).unwrap_or(0);
                let groups = psc
                    .supplemental_groups
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .chain(psc.fs_group)
                    .map(|g| g as u32)
                    .collect();
                (u as u32, gid as u32, groups)
            }),
            mounts,
            resources: rt::Resources {
                cpu_shares: rt::milli_cpu_to_shares(cpu_request),
                cpu_quota: milli(&limits, "cpu")
                    .and_then(|l| rt::milli_cpu_to_quota(l, rt::CPU_PERIOD_US)),
                cpu_period: rt::CPU_PERIOD_US,
                memory_limit_bytes: limits
                    .get("memory")
                    .and_then(|q| parse_units(&q.0).ok())
                    .map(|v| v as i64),
                pids_limit: None,
                oom_score_adj: 0,
            },
            log_path: self
                .root
                .join("pods")
                .join(uid)
                .join("logs")
                .join(name)
                .join(format!("{attempt}.log")),
            tty: c.tty == Some(true),
            stdin: c.stdin == Some(true),
            stdin_once: c.stdin_once == Some(true),
            privileged: sc.privileged == Some(true),
            readonly_rootfs: sc.read_only_root_filesystem == Some(true),
            labels: BTreeMap::from([
                (LABEL_POD_UID.to_string(), uid.to_string()),
                (LABEL_CONTAINER_NAME.to_string(), name.to_string()),
            ]),
            annotations: BTreeMap::new(),
        };
        let start_err = |e: RuntimeError| ("RunContainerError".to_string(), e.to_string());
        let id = self
            .runtime
            .create_container(sandbox, &config)
            .await
            .map_err(start_err)?;
        self.runtime.start_container(&id).await.map_err(start_err)?;
        Ok(())
    }

    /// Runs the probes that are due, records their results, and records exits for backoff.
    async fn run_probes(
        &mut self,
        pod: &Pod,
        uid: &str,
        containers: &[rt::ContainerStatus],
        sandbox: Option<&rt::PodSandboxStatus>,
    ) {
        let now = Instant::now();
        let pod_ip = sandbox
            .and_then(|s| s.ip.clone())
            .unwrap_or_else(|| self.host_ip.clone());
        for c in containers {
            if c.state == ContainerState::Exited {
                let key = format!("{uid}/{}", c.name);
                let seen = self
                    .state
                    .get(uid)
                    .and_then(|s| s.probes.get(&c.name))
                    .is_some_and(|(id, _)| *id == c.id);
                if seen {
                    // The instance we probed has exited: account it once for CrashLoopBackOff.
                    let ran = Duration::from_nanos((c.finished_at - c.started_at).max(0) as u64);
                    self.backoff
                        .record_exit(&key, now.checked_sub(ran).unwrap_or(now), now);
                    if let Some(st) = self.state.get_mut(uid) {
                        st.probes.remove(&c.name);
                    }
                }
                continue;
            }
            let Some(spec) = find_container(pod, &c.name).cloned() else {
                continue;
            };
            let due: Vec<Kind> = self
                .state
                .get(uid)
                .and_then(|s| s.probes.get(&c.name))
                .map(|(_, p)| p.due(now))
                .unwrap_or_default();
            for kind in due {
                let probe = match kind {
                    Kind::Liveness => spec.liveness_probe.clone(),
                    Kind::Readiness => spec.readiness_probe.clone(),
                    Kind::Startup => spec.startup_probe.clone(),
                };
                let Some(probe) = probe else { continue };
                let timing = probes::Timing::from_spec(&probe);
                let ok = match probes::action(&probe, &spec, &pod_ip) {
                    Ok(a) => self.probe_once(&c.id, a, timing.timeout).await,
                    Err(e) => {
                        tracing::warn!(container = %c.name, "probe: {e}");
                        false
                    }
                };
                let st = self.state.get_mut(uid).expect("probed pods have state");
                if let Some((_, p)) = st.probes.get_mut(&c.name) {
                    if let Some(w) = p.worker_mut(kind) {
                        if let Verdict::Restart(msg) = w.record(ok, Instant::now()) {
                            tracing::info!(container = %c.name, "container {} {msg}", c.name);
                            st.restart_requested.insert(c.name.clone());
                        }
                    }
                }
            }
        }
    }

    async fn probe_once(&self, id: &str, action: probes::Action, timeout: Duration) -> bool {
        let run = async {
            match action {
                probes::Action::Exec(cmd) => {
                    matches!(self.runtime.exec_sync(id, &cmd, timeout).await, Ok((0, _)))
                }
                probes::Action::Tcp { host, port } => {
                    tokio::net::TcpStream::connect((host.as_str(), port))
                        .await
                        .is_ok()
                }
                probes::Action::Http {
                    scheme,
                    host,
                    port,
                    path,
                    headers,
                } => super::prober::http_get(&scheme, &host, port, &path, &headers)
                    .await
                    .is_some_and(probes::http_success),
                probes::Action::Grpc {
                    host,
                    port,
                    service,
                } => super::prober::grpc_check(&host, port, service.as_deref().unwrap_or("")).await,
            }
        };
        tokio::time::timeout(timeout, run).await.unwrap_or(false)
    }

    async fn write_status(
        &mut self,
        pod: &Pod,
        uid: &str,
        containers: &[rt::ContainerStatus],
        sandbox: Option<&rt::PodSandboxStatus>,
    ) -> Result<()> {
        let (init, apps) = self.views(pod, containers);
        let net = PodNet {
            sandbox_ready: sandbox.is_some_and(|s| s.ready),
            host_ip: self.host_ip.clone(),
            pod_ip: sandbox.and_then(|s| s.ip.clone()).or_else(|| {
                (pod.spec.as_ref().and_then(|s| s.host_network) == Some(true))
                    .then(|| self.host_ip.clone())
            }),
            start_time: Some(Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        };
        let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let st = status::pod_status(pod, &init, &apps, &net, false, &now);
        let state = self.state.entry(uid.to_string()).or_default();
        if state.last_status == st {
            return Ok(());
        }
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/status",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        );
        let (code, _) = send_json(
            &self.api,
            Method::PATCH,
            &path,
            Some(&json!({"status": st})),
            "application/merge-patch+json",
        )
        .await?;
        if code.is_success() {
            state.last_status = st;
        }
        Ok(())
    }
}

fn pod_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.iter().flat_map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
    })
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    pod_containers(pod).find(|c| c.name == name)
}

/// Makes a volume exist on the node and returns the host path to bind.
fn materialize(plan: &VolumePlan) -> Result<PathBuf> {
    match plan {
        VolumePlan::EmptyDir {
            dir,
            medium,
            size_limit,
        } => {
            let fresh = !dir.exists();
            std::fs::create_dir_all(dir)?;
            if fresh && *medium == volumes::Medium::Memory {
                mount_tmpfs(dir, *size_limit)?;
            }
            Ok(dir.clone())
        }
        VolumePlan::HostPath { path, kind } => {
            use volumes::HostPathType as T;
            match kind {
                T::DirectoryOrCreate => std::fs::create_dir_all(path)?,
                T::FileOrCreate if !path.exists() => {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?;
                }
                T::Directory => anyhow::ensure!(
                    path.is_dir(),
                    "hostPath type check failed: {} is not a directory",
                    path.display()
                ),
                T::File => anyhow::ensure!(
                    path.is_file(),
                    "hostPath type check failed: {} is not a file",
                    path.display()
                ),
                _ => {}
            }
            Ok(path.clone())
        }
        VolumePlan::Files {
            dir,
            payload,
            tokens,
            tmpfs,
        } => {
            anyhow::ensure!(tokens.is_empty(), "serviceAccountToken projection needs the TokenRequest API, which the control plane does not serve yet");
            let fresh = !dir.exists();
            std::fs::create_dir_all(dir)?;
            if fresh && *tmpfs {
                mount_tmpfs(dir, None)?;
            }
            let existing = volumes::read_existing(dir)?;
            let name = volumes::timestamped_dir(
                Timestamp::now(),
                std::process::id() ^ Timestamp::now().subsec_nanosecond() as u32,
            );
            volumes::apply(dir, &volumes::atomic_write_plan(payload, &existing, &name))?;
            Ok(dir.clone())
        }
    }
}

fn mount_tmpfs(dir: &std::path::Path, size: Option<u64>) -> Result<()> {
    let opts = std::ffi::CString::new(size.map(|s| format!("size={s}")).unwrap_or_default())?;
    rustix::mount::mount(
        "tmpfs",
        dir,
        "tmpfs",
        rustix::mount::MountFlags::NODEV | rustix::mount::MountFlags::NOSUID,
        Some(opts.as_c_str()),
    )
    .with_context(|| format!("mounting tmpfs on {}", dir.display()))?;
    Ok(())
}
