//! One pod's sync: observes the pod's sandbox and containers in the runtime, asks
//! [`lifecycle::plan`] what to do, does it through the [`ContainerRuntime`], runs the probes
//! that are due, and writes the status [`status::pod_status`] computes. A [`PodSync`] belongs
//! to the pod's own worker task (see the parent module), so one pod's slow step (a pull, a
//! grace period, a hook) never holds up another pod.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use http::{Method, StatusCode};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::super::backoff::{self, Backoff};
use super::super::env::{self, EnvSources};
use super::super::lifecycle::{self, Action, Instance, InstanceState, Observed};
use super::super::node::send_json;
use super::super::probes::{self, ContainerProbes, Kind, Verdict};
use super::super::quantity::{parse_milli, parse_units};
use super::super::runtime_api::{
    self as rt, ContainerRuntime, ContainerState, RuntimeError, LABEL_CONTAINER_NAME, LABEL_POD_UID,
};
use super::super::status::{self, ContainerView, PodNet, State};
use super::super::volumes;
use super::materialize::materialize;
use super::NodeContext;

/// What the worker keeps about its pod between passes.
#[derive(Default)]
struct PodState {
    sandbox_attempt: u32,
    probes: std::collections::HashMap<String, (String, ContainerProbes)>,
    restart_requested: std::collections::BTreeSet<String>,
    last_status: Value,
    waiting: std::collections::HashMap<String, (String, String)>,
    /// Per container name, the exited instance already counted for CrashLoopBackOff.
    exits_counted: std::collections::HashMap<String, String>,
}

pub(super) struct PodSync<R: ContainerRuntime> {
    ctx: Arc<NodeContext<R>>,
    uid: String,
    st: PodState,
    backoff: Backoff,
}

fn nanos_to_rfc3339(n: i64) -> String {
    Timestamp::from_nanosecond(i128::from(n))
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl<R: ContainerRuntime> PodSync<R> {
    pub(super) fn new(ctx: Arc<NodeContext<R>>, uid: String) -> Self {
        PodSync {
            ctx,
            uid,
            st: PodState::default(),
            backoff: Backoff::default(),
        }
    }

    async fn observe(
        &self,
    ) -> Result<(
        Observed,
        Vec<rt::ContainerStatus>,
        Option<rt::PodSandboxStatus>,
    )> {
        let mut obs = Observed::default();
        let mut sandbox_status = None;
        // The newest sandbox is the pod's; an older one only lingers while being replaced.
        if let Some(st) = self
            .ctx
            .runtime
            .pod_sandboxes(&self.uid)
            .await?
            .into_iter()
            .max_by_key(|s| s.created_at)
        {
            obs.sandbox = Some((st.id.clone(), st.ready));
            sandbox_status = Some(st);
        }
        let containers = self.ctx.runtime.pod_containers(&self.uid).await?;
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

    /// One pass over the pod: act on the plan, probe, report.
    pub(super) async fn sync(&mut self, pod: &Pod) -> Result<()> {
        let uid = self.uid.clone();
        let uid = uid.as_str();
        let (obs, containers, sandbox) = self.observe().await?;
        let now = Instant::now();
        let st = &mut self.st;
        // Probes follow container instances: a new id starts them over.
        for c in &containers {
            if c.state != ContainerState::Running {
                continue;
            }
            let spec = find_container(pod, &c.name);
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
            let (init, apps) = self.views(pod, &containers);
            matches!(
                status::phase(pod, &init, &apps, false),
                "Succeeded" | "Failed"
            )
        };
        let ctx = lifecycle::Context {
            restart_requested: self.st.restart_requested.clone(),
            backoff: pod_containers(pod)
                .filter_map(|c| {
                    self.backoff
                        .remaining(&format!("{uid}/{}", c.name), now)
                        .map(|d| (c.name.clone(), d))
                })
                .collect(),
            terminal,
        };
        for action in lifecycle::plan(pod, &obs, &ctx) {
            self.apply(pod, uid, &obs, action).await?;
        }
        self.run_probes(pod, uid, &containers, sandbox.as_ref())
            .await;
        let (_, containers, sandbox) = self.observe().await?;
        self.write_status(pod, &containers, sandbox.as_ref()).await
    }

    /// The pod is gone from the API server (force-deleted, or deleted while this node was
    /// away): stop what still runs within the grace the deletion gave, release the sandbox,
    /// and remove the pod's volumes.
    pub(super) async fn tear_down(&mut self, pod: &Pod) {
        let grace = lifecycle::grace_period(pod);
        let name = pod.metadata.name.clone().unwrap_or_default();
        match self.ctx.runtime.pod_containers(&self.uid).await {
            Ok(containers) => {
                for c in containers
                    .iter()
                    .filter(|c| c.state == ContainerState::Running)
                {
                    tracing::info!(pod = %name, container = %c.name, "stopping container of a deleted pod");
                    if let Err(e) = self.ctx.runtime.stop_container(&c.id, grace).await {
                        tracing::warn!(pod = %name, container = %c.name, "stopping: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!(pod = %name, "listing the containers of a deleted pod: {e}"),
        }
        for s in self
            .ctx
            .runtime
            .pod_sandboxes(&self.uid)
            .await
            .unwrap_or_default()
        {
            if let Err(e) = self.ctx.runtime.remove_pod_sandbox(&s.id).await {
                tracing::warn!(pod = %name, sandbox = %s.id, "removing the sandbox: {e}");
            }
        }
        let dir = self.ctx.root.join("pods").join(&self.uid);
        if let Err(e) = super::super::mounts::unmount_and_remove(&dir) {
            tracing::warn!(pod = %name, "removing {}: {e}", dir.display());
        }
    }

    fn views(
        &self,
        pod: &Pod,
        containers: &[rt::ContainerStatus],
    ) -> (Vec<ContainerView>, Vec<ContainerView>) {
        let st = Some(&self.st);
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
                let st = &mut self.st;
                let attempt = st.sandbox_attempt;
                st.sandbox_attempt += 1;
                let spec = pod.spec.clone().unwrap_or_default();
                let cfg = rt::PodSandboxConfig {
                    name: name.clone(),
                    namespace: ns,
                    uid: uid.to_string(),
                    attempt,
                    hostname: spec.hostname.clone().unwrap_or(name),
                    log_directory: self.ctx.root.join("pods").join(uid).join("logs"),
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
                self.ctx
                    .runtime
                    .run_pod_sandbox(&cfg)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            Action::StopSandbox { id } => {
                self.ctx
                    .runtime
                    .stop_pod_sandbox(&id)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            Action::RemoveSandbox { id } => {
                self.ctx
                    .runtime
                    .stop_pod_sandbox(&id)
                    .await
                    .map_err(anyhow::Error::from)?;
                self.ctx
                    .runtime
                    .remove_pod_sandbox(&id)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            Action::Remove { id } => {
                let _ = self.ctx.runtime.remove_container(&id).await;
            }
            Action::BackOff { name: c, remaining } => {
                let period = self
                    .backoff
                    .period(&format!("{uid}/{c}"))
                    .unwrap_or(remaining);
                let msg = backoff::crash_loop_message(period, &c, &name, &ns, uid);
                self.set_waiting(&c, "CrashLoopBackOff", &msg);
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
                        let _ = self.ctx.runtime.exec_sync(&id, &cmd, grace).await;
                    }
                }
                tracing::info!(pod = %name, container = %c, %reason, "stopping container");
                let left = grace.saturating_sub(started.elapsed());
                self.ctx
                    .runtime
                    .stop_container(&id, left)
                    .await
                    .map_err(anyhow::Error::from)?;
                if let Some((_, p)) = self.st.probes.get_mut(&c) {
                    p.container_stopped();
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
                        self.st.waiting.remove(&c);
                    }
                    Err((reason, msg)) => {
                        tracing::warn!(pod = %name, container = %c, init, "{reason}: {msg}");
                        self.set_waiting(&c, &reason, &msg);
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
                let dir = self.ctx.root.join("pods").join(uid);
                if let Err(e) = super::super::mounts::unmount_and_remove(&dir) {
                    tracing::warn!(pod = %name, "removing {}: {e}", dir.display());
                }
                let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                  "preconditions": {"uid": uid}});
                let path = format!(
                    "/api/v1/namespaces/{}/pods/{name}",
                    pod.metadata.namespace.as_deref().unwrap_or("")
                );
                let (code, _) = send_json(
                    &self.ctx.api,
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

    fn set_waiting(&mut self, c: &str, reason: &str, msg: &str) {
        self.st
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
            .ctx
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
                .ctx
                .runtime
                .pull_image(&image)
                .await
                .map_err(|e| ("ErrImagePull".to_string(), e.to_string()))?,
        };
        let (cm_names, secret_names) = volumes::referenced_objects(pod);
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let mut cms: Vec<ConfigMap> = Vec::new();
        for n in cm_names {
            cms.extend(
                self.get_object(&format!("/api/v1/namespaces/{ns}/configmaps/{n}"))
                    .await,
            );
        }
        let mut secrets: Vec<Secret> = Vec::new();
        for n in secret_names {
            secrets.extend(
                self.get_object(&format!("/api/v1/namespaces/{ns}/secrets/{n}"))
                    .await,
            );
        }
        let mut services: Vec<Service> = Vec::new();
        for n in [ns.as_str(), "default"] {
            if let Ok((StatusCode::OK, v)) = send_json(
                &self.ctx.api,
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
            node_allocatable_cpu_milli: self.ctx.allocatable_cpu_milli,
            node_allocatable_memory: self.ctx.allocatable_memory,
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
            let mut plan = volumes::plan(&self.ctx.root, pod, v, &sources)
                .map_err(|e| config_err(e.to_string()))?;
            if let volumes::VolumePlan::Files {
                payload, tokens, ..
            } = &mut plan
            {
                for t in std::mem::take(tokens) {
                    let token = self
                        .request_token(pod, &t)
                        .await
                        .map_err(|e| config_err(format!("volume {}: {e:#}", v.name)))?;
                    payload.insert(
                        t.path.clone(),
                        volumes::PayloadFile {
                            data: token.into_bytes(),
                            mode: t.mode,
                        },
                    );
                }
            }
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
                .ctx
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
            .ctx
            .runtime
            .create_container(sandbox, &config)
            .await
            .map_err(start_err)?;
        self.ctx
            .runtime
            .start_container(&id)
            .await
            .map_err(start_err)?;
        Ok(())
    }

    /// One object, or None when it is absent or unreadable (the caller reports what is
    /// missing, as a container config error naming it).
    async fn get_object<T: serde::de::DeserializeOwned>(&self, path: &str) -> Option<T> {
        match send_json(&self.ctx.api, Method::GET, path, None, "application/json").await {
            Ok((code, v)) if code.is_success() => serde_json::from_value(v).ok(),
            _ => None,
        }
    }

    /// A service account token for a projected volume, bound to this pod (TokenRequest). The
    /// token itself is never logged.
    async fn request_token(&self, pod: &Pod, t: &volumes::TokenProjection) -> Result<String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let spec = pod.spec.as_ref();
        let sa = spec
            .and_then(|s| s.service_account_name.as_deref())
            .filter(|s| !s.is_empty())
            .unwrap_or("default");
        let mut body = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": t.expiration_seconds,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                   "name": pod.metadata.name, "uid": pod.metadata.uid},
            },
        });
        if let Some(a) = &t.audience {
            body["spec"]["audiences"] = json!([a]);
        }
        let (code, out) = send_json(
            &self.ctx.api,
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token"),
            Some(&body),
            "application/json",
        )
        .await?;
        anyhow::ensure!(
            code.is_success(),
            "requesting a token for service account {ns}/{sa}: {code}: {}",
            out["message"].as_str().unwrap_or("")
        );
        out["status"]["token"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| anyhow::anyhow!("the TokenRequest answer carries no token"))
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
            .unwrap_or_else(|| self.ctx.host_ip.clone());
        for c in containers {
            if c.state == ContainerState::Exited {
                let newest = containers
                    .iter()
                    .filter(|o| o.name == c.name)
                    .all(|o| o.attempt <= c.attempt);
                let counted = self.st.exits_counted.get(&c.name) == Some(&c.id);
                if newest && !counted {
                    // Each instance's exit counts once for CrashLoopBackOff, whether or not a
                    // sync saw it running (a container that fails at once never is).
                    let key = format!("{uid}/{}", c.name);
                    let ran = Duration::from_nanos((c.finished_at - c.started_at).max(0) as u64);
                    self.backoff
                        .record_exit(&key, now.checked_sub(ran).unwrap_or(now), now);
                    self.st.exits_counted.insert(c.name.clone(), c.id.clone());
                }
                if self
                    .st
                    .probes
                    .get(&c.name)
                    .is_some_and(|(id, _)| *id == c.id)
                {
                    self.st.probes.remove(&c.name);
                }
                continue;
            }
            let Some(spec) = find_container(pod, &c.name).cloned() else {
                continue;
            };
            let due: Vec<Kind> = self
                .st
                .probes
                .get(&c.name)
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
                let st = &mut self.st;
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
                    matches!(
                        self.ctx.runtime.exec_sync(id, &cmd, timeout).await,
                        Ok((0, _))
                    )
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
                } => super::super::prober::http_get(&scheme, &host, port, &path, &headers)
                    .await
                    .is_some_and(probes::http_success),
                probes::Action::Grpc {
                    host,
                    port,
                    service,
                } => {
                    super::super::prober::grpc_check(&host, port, service.as_deref().unwrap_or(""))
                        .await
                }
            }
        };
        tokio::time::timeout(timeout, run).await.unwrap_or(false)
    }

    async fn write_status(
        &mut self,
        pod: &Pod,
        containers: &[rt::ContainerStatus],
        sandbox: Option<&rt::PodSandboxStatus>,
    ) -> Result<()> {
        let (init, apps) = self.views(pod, containers);
        let net = PodNet {
            sandbox_ready: sandbox.is_some_and(|s| s.ready),
            host_ip: self.ctx.host_ip.clone(),
            pod_ip: sandbox.and_then(|s| s.ip.clone()).or_else(|| {
                (pod.spec.as_ref().and_then(|s| s.host_network) == Some(true))
                    .then(|| self.ctx.host_ip.clone())
            }),
            start_time: Some(Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        };
        let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let st = status::pod_status(pod, &init, &apps, &net, false, &now);
        let state = &mut self.st;
        if state.last_status == st {
            return Ok(());
        }
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/status",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        );
        let (code, _) = send_json(
            &self.ctx.api,
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
