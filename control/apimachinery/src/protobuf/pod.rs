//! core/v1 PodTemplateSpec and everything a PodSpec holds, shared by Deployment, Job and
//! CronJob. Fields are those of Kubernetes v1.32; fields k8s-pb knows from later releases
//! (kubectl 1.32 cannot send them) are not read.

use k8s_pb::api::core::v1::{
    Affinity, AppArmorProfile, CSIVolumeSource, Capabilities, ClusterTrustBundleProjection,
    ConfigMapEnvSource, ConfigMapKeySelector, ConfigMapProjection, ConfigMapVolumeSource,
    Container, ContainerPort, ContainerResizePolicy, DownwardAPIProjection, DownwardAPIVolumeFile,
    DownwardAPIVolumeSource, EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource,
    EphemeralContainer, EphemeralVolumeSource, ExecAction, GitRepoVolumeSource, GrpcAction,
    HostAlias, HostPathVolumeSource, HttpGetAction, HttpHeader, ImageVolumeSource, KeyToPath,
    Lifecycle, LifecycleHandler, LocalObjectReference, NfsVolumeSource, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector, PersistentVolumeClaimSpec,
    PersistentVolumeClaimTemplate, PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm,
    PodAntiAffinity, PodDnsConfig, PodDnsConfigOption, PodOs, PodReadinessGate, PodResourceClaim,
    PodSchedulingGate, PodSecurityContext, PodSpec, PodTemplateSpec, PreferredSchedulingTerm,
    Probe, ProbeHandler, ProjectedVolumeSource, ResourceClaim, ResourceFieldSelector,
    ResourceRequirements, SeLinuxOptions, SeccompProfile, SecretEnvSource, SecretKeySelector,
    SecretProjection, SecretVolumeSource, SecurityContext, ServiceAccountTokenProjection,
    SleepAction, Sysctl, TcpSocketAction, Toleration, TopologySpreadConstraint,
    TypedLocalObjectReference, TypedObjectReference, Volume, VolumeDevice, VolumeMount,
    VolumeProjection, VolumeResourceRequirements, VolumeSource, WeightedPodAffinityTerm,
    WindowsSecurityContextOptions,
};
use prost::Message;

use super::json::{Json, Obj};
use super::meta_v1::{label_selector, object_meta};
use super::ProtobufError;

pub(super) fn pod_template_spec(t: &PodTemplateSpec) -> Json {
    Obj::new()
        .obj("metadata", t.metadata.as_ref(), object_meta)
        .obj("spec", t.spec.as_ref(), pod_spec)
        .finish()
}

pub(super) fn pod_spec(s: &PodSpec) -> Json {
    Obj::new()
        .list("volumes", &s.volumes, volume)
        .list("initContainers", &s.init_containers, container)
        .list_req("containers", &s.containers, container)
        .list(
            "ephemeralContainers",
            &s.ephemeral_containers,
            ephemeral_container,
        )
        .str("restartPolicy", &s.restart_policy)
        .int_ptr(
            "terminationGracePeriodSeconds",
            s.termination_grace_period_seconds,
        )
        .int_ptr("activeDeadlineSeconds", s.active_deadline_seconds)
        .str("dnsPolicy", &s.dns_policy)
        .str_map("nodeSelector", &s.node_selector)
        .str("serviceAccountName", &s.service_account_name)
        .str("serviceAccount", &s.service_account)
        .bool_ptr(
            "automountServiceAccountToken",
            s.automount_service_account_token,
        )
        .str("nodeName", &s.node_name)
        .bool("hostNetwork", s.host_network)
        .bool("hostPID", s.host_pid)
        .bool("hostIPC", s.host_ipc)
        .bool_ptr("shareProcessNamespace", s.share_process_namespace)
        .obj(
            "securityContext",
            s.security_context.as_ref(),
            pod_security_context,
        )
        .list(
            "imagePullSecrets",
            &s.image_pull_secrets,
            local_object_reference,
        )
        .str("hostname", &s.hostname)
        .str("subdomain", &s.subdomain)
        .obj("affinity", s.affinity.as_ref(), affinity)
        .str("schedulerName", &s.scheduler_name)
        .list("tolerations", &s.tolerations, toleration)
        .list("hostAliases", &s.host_aliases, host_alias)
        .str("priorityClassName", &s.priority_class_name)
        .int_ptr("priority", s.priority)
        .obj("dnsConfig", s.dns_config.as_ref(), pod_dns_config)
        .list("readinessGates", &s.readiness_gates, readiness_gate)
        .str_ptr("runtimeClassName", &s.runtime_class_name)
        .bool_ptr("enableServiceLinks", s.enable_service_links)
        .str_ptr("preemptionPolicy", &s.preemption_policy)
        .quantity_map("overhead", &s.overhead)
        .list(
            "topologySpreadConstraints",
            &s.topology_spread_constraints,
            topology_spread_constraint,
        )
        .bool_ptr("setHostnameAsFQDN", s.set_hostname_as_fqdn)
        .obj("os", s.os.as_ref(), pod_os)
        .bool_ptr("hostUsers", s.host_users)
        .list("schedulingGates", &s.scheduling_gates, scheduling_gate)
        .list("resourceClaims", &s.resource_claims, pod_resource_claim)
        .obj("resources", s.resources.as_ref(), resource_requirements)
        .finish()
}

fn container(c: &Container) -> Json {
    Obj::new()
        .str_req("name", &c.name)
        .str("image", &c.image)
        .strs("command", &c.command)
        .strs("args", &c.args)
        .str("workingDir", &c.working_dir)
        .list("ports", &c.ports, container_port)
        .list("envFrom", &c.env_from, env_from_source)
        .list("env", &c.env, env_var)
        .obj("resources", c.resources.as_ref(), resource_requirements)
        .list("resizePolicy", &c.resize_policy, container_resize_policy)
        .str_ptr("restartPolicy", &c.restart_policy)
        .list("volumeMounts", &c.volume_mounts, volume_mount)
        .list("volumeDevices", &c.volume_devices, volume_device)
        .obj("livenessProbe", c.liveness_probe.as_ref(), probe)
        .obj("readinessProbe", c.readiness_probe.as_ref(), probe)
        .obj("startupProbe", c.startup_probe.as_ref(), probe)
        .obj("lifecycle", c.lifecycle.as_ref(), lifecycle)
        .str("terminationMessagePath", &c.termination_message_path)
        .str("terminationMessagePolicy", &c.termination_message_policy)
        .str("imagePullPolicy", &c.image_pull_policy)
        .obj(
            "securityContext",
            c.security_context.as_ref(),
            security_context,
        )
        .bool("stdin", c.stdin)
        .bool("stdinOnce", c.stdin_once)
        .bool("tty", c.tty)
        .finish()
}

/// EphemeralContainerCommon is Container under another name: Kubernetes keeps its fields and
/// protobuf tags identical to Container's, so its bytes read as a Container.
fn ephemeral_container(e: &EphemeralContainer) -> Json {
    let common = e
        .ephemeral_container_common
        .as_ref()
        .map(|common| Container::decode(common.encode_to_vec().as_slice()))
        .transpose()
        .map_err(|error| ProtobufError::Malformed {
            what: "ephemeral container".to_owned(),
            message: error.to_string(),
        })?;
    Obj::new()
        .inline(common.as_ref(), container)
        .str("targetContainerName", &e.target_container_name)
        .finish()
}

fn container_port(p: &ContainerPort) -> Json {
    Obj::new()
        .str("name", &p.name)
        .int("hostPort", p.host_port)
        .int_req("containerPort", p.container_port)
        .str("protocol", &p.protocol)
        .str("hostIP", &p.host_ip)
        .finish()
}

fn env_var(e: &EnvVar) -> Json {
    Obj::new()
        .str_req("name", &e.name)
        .str("value", &e.value)
        .obj("valueFrom", e.value_from.as_ref(), env_var_source)
        .finish()
}

fn env_var_source(s: &EnvVarSource) -> Json {
    Obj::new()
        .obj("fieldRef", s.field_ref.as_ref(), object_field_selector)
        .obj(
            "resourceFieldRef",
            s.resource_field_ref.as_ref(),
            resource_field_selector,
        )
        .obj(
            "configMapKeyRef",
            s.config_map_key_ref.as_ref(),
            config_map_key_selector,
        )
        .obj(
            "secretKeyRef",
            s.secret_key_ref.as_ref(),
            secret_key_selector,
        )
        .finish()
}

fn object_field_selector(s: &ObjectFieldSelector) -> Json {
    Obj::new()
        .str("apiVersion", &s.api_version)
        .str_req("fieldPath", &s.field_path)
        .finish()
}

fn resource_field_selector(s: &ResourceFieldSelector) -> Json {
    Obj::new()
        .str("containerName", &s.container_name)
        .str_req("resource", &s.resource)
        .quantity("divisor", s.divisor.as_ref())
        .finish()
}

fn config_map_key_selector(s: &ConfigMapKeySelector) -> Json {
    Obj::new()
        .inline(s.local_object_reference.as_ref(), local_object_reference)
        .str_req("key", &s.key)
        .bool_ptr("optional", s.optional)
        .finish()
}

fn secret_key_selector(s: &SecretKeySelector) -> Json {
    Obj::new()
        .inline(s.local_object_reference.as_ref(), local_object_reference)
        .str_req("key", &s.key)
        .bool_ptr("optional", s.optional)
        .finish()
}

fn env_from_source(s: &EnvFromSource) -> Json {
    Obj::new()
        .str("prefix", &s.prefix)
        .obj(
            "configMapRef",
            s.config_map_ref.as_ref(),
            config_map_env_source,
        )
        .obj("secretRef", s.secret_ref.as_ref(), secret_env_source)
        .finish()
}

fn config_map_env_source(s: &ConfigMapEnvSource) -> Json {
    Obj::new()
        .inline(s.local_object_reference.as_ref(), local_object_reference)
        .bool_ptr("optional", s.optional)
        .finish()
}

fn secret_env_source(s: &SecretEnvSource) -> Json {
    Obj::new()
        .inline(s.local_object_reference.as_ref(), local_object_reference)
        .bool_ptr("optional", s.optional)
        .finish()
}

pub(super) fn local_object_reference(r: &LocalObjectReference) -> Json {
    Obj::new().str("name", &r.name).finish()
}

fn resource_requirements(r: &ResourceRequirements) -> Json {
    Obj::new()
        .quantity_map("limits", &r.limits)
        .quantity_map("requests", &r.requests)
        .list("claims", &r.claims, resource_claim)
        .finish()
}

fn resource_claim(c: &ResourceClaim) -> Json {
    Obj::new()
        .str_req("name", &c.name)
        .str("request", &c.request)
        .finish()
}

fn container_resize_policy(p: &ContainerResizePolicy) -> Json {
    Obj::new()
        .str_req("resourceName", &p.resource_name)
        .str_req("restartPolicy", &p.restart_policy)
        .finish()
}

fn volume_mount(m: &VolumeMount) -> Json {
    Obj::new()
        .str_req("name", &m.name)
        .bool("readOnly", m.read_only)
        .str_ptr("recursiveReadOnly", &m.recursive_read_only)
        .str_req("mountPath", &m.mount_path)
        .str("subPath", &m.sub_path)
        .str_ptr("mountPropagation", &m.mount_propagation)
        .str("subPathExpr", &m.sub_path_expr)
        .finish()
}

fn volume_device(d: &VolumeDevice) -> Json {
    Obj::new()
        .str_req("name", &d.name)
        .str_req("devicePath", &d.device_path)
        .finish()
}

fn probe(p: &Probe) -> Json {
    Obj::new()
        .inline(p.handler.as_ref(), probe_handler)
        .int("initialDelaySeconds", p.initial_delay_seconds)
        .int("timeoutSeconds", p.timeout_seconds)
        .int("periodSeconds", p.period_seconds)
        .int("successThreshold", p.success_threshold)
        .int("failureThreshold", p.failure_threshold)
        .int_ptr(
            "terminationGracePeriodSeconds",
            p.termination_grace_period_seconds,
        )
        .finish()
}

fn probe_handler(h: &ProbeHandler) -> Json {
    Obj::new()
        .obj("exec", h.exec.as_ref(), exec_action)
        .obj("httpGet", h.http_get.as_ref(), http_get_action)
        .obj("tcpSocket", h.tcp_socket.as_ref(), tcp_socket_action)
        .obj("grpc", h.grpc.as_ref(), grpc_action)
        .finish()
}

fn exec_action(a: &ExecAction) -> Json {
    Obj::new().strs("command", &a.command).finish()
}

fn http_get_action(a: &HttpGetAction) -> Json {
    Obj::new()
        .str("path", &a.path)
        .int_or_string("port", a.port.as_ref())
        .str("host", &a.host)
        .str("scheme", &a.scheme)
        .list("httpHeaders", &a.http_headers, http_header)
        .finish()
}

fn http_header(h: &HttpHeader) -> Json {
    Obj::new()
        .str_req("name", &h.name)
        .str_req("value", &h.value)
        .finish()
}

fn tcp_socket_action(a: &TcpSocketAction) -> Json {
    Obj::new()
        .int_or_string("port", a.port.as_ref())
        .str("host", &a.host)
        .finish()
}

fn grpc_action(a: &GrpcAction) -> Json {
    Obj::new()
        .int_req("port", a.port)
        .str_ptr("service", &a.service)
        .finish()
}

fn lifecycle(l: &Lifecycle) -> Json {
    Obj::new()
        .obj("postStart", l.post_start.as_ref(), lifecycle_handler)
        .obj("preStop", l.pre_stop.as_ref(), lifecycle_handler)
        .finish()
}

fn lifecycle_handler(h: &LifecycleHandler) -> Json {
    Obj::new()
        .obj("exec", h.exec.as_ref(), exec_action)
        .obj("httpGet", h.http_get.as_ref(), http_get_action)
        .obj("tcpSocket", h.tcp_socket.as_ref(), tcp_socket_action)
        .obj("sleep", h.sleep.as_ref(), sleep_action)
        .finish()
}

fn sleep_action(a: &SleepAction) -> Json {
    Obj::new().int_req("seconds", a.seconds).finish()
}

fn security_context(s: &SecurityContext) -> Json {
    Obj::new()
        .obj("capabilities", s.capabilities.as_ref(), capabilities)
        .bool_ptr("privileged", s.privileged)
        .obj(
            "seLinuxOptions",
            s.se_linux_options.as_ref(),
            se_linux_options,
        )
        .obj(
            "windowsOptions",
            s.windows_options.as_ref(),
            windows_security_context_options,
        )
        .int_ptr("runAsUser", s.run_as_user)
        .int_ptr("runAsGroup", s.run_as_group)
        .bool_ptr("runAsNonRoot", s.run_as_non_root)
        .bool_ptr("readOnlyRootFilesystem", s.read_only_root_filesystem)
        .bool_ptr("allowPrivilegeEscalation", s.allow_privilege_escalation)
        .str_ptr("procMount", &s.proc_mount)
        .obj(
            "seccompProfile",
            s.seccomp_profile.as_ref(),
            seccomp_profile,
        )
        .obj(
            "appArmorProfile",
            s.app_armor_profile.as_ref(),
            app_armor_profile,
        )
        .finish()
}

fn capabilities(c: &Capabilities) -> Json {
    Obj::new()
        .strs("add", &c.add)
        .strs("drop", &c.drop)
        .finish()
}

fn se_linux_options(o: &SeLinuxOptions) -> Json {
    Obj::new()
        .str("user", &o.user)
        .str("role", &o.role)
        .str("type", &o.r#type)
        .str("level", &o.level)
        .finish()
}

fn windows_security_context_options(o: &WindowsSecurityContextOptions) -> Json {
    Obj::new()
        .str_ptr("gmsaCredentialSpecName", &o.gmsa_credential_spec_name)
        .str_ptr("gmsaCredentialSpec", &o.gmsa_credential_spec)
        .str_ptr("runAsUserName", &o.run_as_user_name)
        .bool_ptr("hostProcess", o.host_process)
        .finish()
}

fn seccomp_profile(p: &SeccompProfile) -> Json {
    Obj::new()
        .str_req("type", &p.r#type)
        .str_ptr("localhostProfile", &p.localhost_profile)
        .finish()
}

fn app_armor_profile(p: &AppArmorProfile) -> Json {
    Obj::new()
        .str_req("type", &p.r#type)
        .str_ptr("localhostProfile", &p.localhost_profile)
        .finish()
}

fn pod_security_context(s: &PodSecurityContext) -> Json {
    Obj::new()
        .obj(
            "seLinuxOptions",
            s.se_linux_options.as_ref(),
            se_linux_options,
        )
        .obj(
            "windowsOptions",
            s.windows_options.as_ref(),
            windows_security_context_options,
        )
        .int_ptr("runAsUser", s.run_as_user)
        .int_ptr("runAsGroup", s.run_as_group)
        .bool_ptr("runAsNonRoot", s.run_as_non_root)
        .ints("supplementalGroups", &s.supplemental_groups)
        .str_ptr("supplementalGroupsPolicy", &s.supplemental_groups_policy)
        .int_ptr("fsGroup", s.fs_group)
        .list("sysctls", &s.sysctls, sysctl)
        .str_ptr("fsGroupChangePolicy", &s.fs_group_change_policy)
        .obj(
            "seccompProfile",
            s.seccomp_profile.as_ref(),
            seccomp_profile,
        )
        .obj(
            "appArmorProfile",
            s.app_armor_profile.as_ref(),
            app_armor_profile,
        )
        .str_ptr("seLinuxChangePolicy", &s.se_linux_change_policy)
        .finish()
}

fn sysctl(s: &Sysctl) -> Json {
    Obj::new()
        .str_req("name", &s.name)
        .str_req("value", &s.value)
        .finish()
}

fn toleration(t: &Toleration) -> Json {
    Obj::new()
        .str("key", &t.key)
        .str("operator", &t.operator)
        .str("value", &t.value)
        .str("effect", &t.effect)
        .int_ptr("tolerationSeconds", t.toleration_seconds)
        .finish()
}

fn host_alias(a: &HostAlias) -> Json {
    Obj::new()
        .str_req("ip", &a.ip)
        .strs("hostnames", &a.hostnames)
        .finish()
}

fn pod_dns_config(c: &PodDnsConfig) -> Json {
    Obj::new()
        .strs("nameservers", &c.nameservers)
        .strs("searches", &c.searches)
        .list("options", &c.options, pod_dns_config_option)
        .finish()
}

fn pod_dns_config_option(o: &PodDnsConfigOption) -> Json {
    Obj::new()
        .str("name", &o.name)
        .str_ptr("value", &o.value)
        .finish()
}

fn readiness_gate(g: &PodReadinessGate) -> Json {
    Obj::new()
        .str_req("conditionType", &g.condition_type)
        .finish()
}

fn pod_os(o: &PodOs) -> Json {
    Obj::new().str_req("name", &o.name).finish()
}

fn scheduling_gate(g: &PodSchedulingGate) -> Json {
    Obj::new().str_req("name", &g.name).finish()
}

fn pod_resource_claim(c: &PodResourceClaim) -> Json {
    Obj::new()
        .str_req("name", &c.name)
        .str_ptr("resourceClaimName", &c.resource_claim_name)
        .str_ptr("resourceClaimTemplateName", &c.resource_claim_template_name)
        .finish()
}

fn topology_spread_constraint(c: &TopologySpreadConstraint) -> Json {
    Obj::new()
        .int_req("maxSkew", c.max_skew)
        .str_req("topologyKey", &c.topology_key)
        .str_req("whenUnsatisfiable", &c.when_unsatisfiable)
        .obj("labelSelector", c.label_selector.as_ref(), label_selector)
        .int_ptr("minDomains", c.min_domains)
        .str_ptr("nodeAffinityPolicy", &c.node_affinity_policy)
        .str_ptr("nodeTaintsPolicy", &c.node_taints_policy)
        .strs("matchLabelKeys", &c.match_label_keys)
        .finish()
}

fn affinity(a: &Affinity) -> Json {
    Obj::new()
        .obj("nodeAffinity", a.node_affinity.as_ref(), node_affinity)
        .obj("podAffinity", a.pod_affinity.as_ref(), pod_affinity)
        .obj(
            "podAntiAffinity",
            a.pod_anti_affinity.as_ref(),
            pod_anti_affinity,
        )
        .finish()
}

fn node_affinity(a: &NodeAffinity) -> Json {
    Obj::new()
        .obj(
            "requiredDuringSchedulingIgnoredDuringExecution",
            a.required_during_scheduling_ignored_during_execution
                .as_ref(),
            node_selector,
        )
        .list(
            "preferredDuringSchedulingIgnoredDuringExecution",
            &a.preferred_during_scheduling_ignored_during_execution,
            preferred_scheduling_term,
        )
        .finish()
}

fn node_selector(s: &NodeSelector) -> Json {
    Obj::new()
        .list_req(
            "nodeSelectorTerms",
            &s.node_selector_terms,
            node_selector_term,
        )
        .finish()
}

fn node_selector_term(t: &NodeSelectorTerm) -> Json {
    Obj::new()
        .list(
            "matchExpressions",
            &t.match_expressions,
            node_selector_requirement,
        )
        .list("matchFields", &t.match_fields, node_selector_requirement)
        .finish()
}

fn node_selector_requirement(r: &NodeSelectorRequirement) -> Json {
    Obj::new()
        .str_req("key", &r.key)
        .str_req("operator", &r.operator)
        .strs("values", &r.values)
        .finish()
}

fn preferred_scheduling_term(t: &PreferredSchedulingTerm) -> Json {
    Obj::new()
        .int_req("weight", t.weight)
        .obj("preference", t.preference.as_ref(), node_selector_term)
        .finish()
}

fn pod_affinity(a: &PodAffinity) -> Json {
    Obj::new()
        .list(
            "requiredDuringSchedulingIgnoredDuringExecution",
            &a.required_during_scheduling_ignored_during_execution,
            pod_affinity_term,
        )
        .list(
            "preferredDuringSchedulingIgnoredDuringExecution",
            &a.preferred_during_scheduling_ignored_during_execution,
            weighted_pod_affinity_term,
        )
        .finish()
}

/// The same shape as PodAffinity, but a distinct message in k8s-pb.
fn pod_anti_affinity(a: &PodAntiAffinity) -> Json {
    Obj::new()
        .list(
            "requiredDuringSchedulingIgnoredDuringExecution",
            &a.required_during_scheduling_ignored_during_execution,
            pod_affinity_term,
        )
        .list(
            "preferredDuringSchedulingIgnoredDuringExecution",
            &a.preferred_during_scheduling_ignored_during_execution,
            weighted_pod_affinity_term,
        )
        .finish()
}

fn pod_affinity_term(t: &PodAffinityTerm) -> Json {
    Obj::new()
        .obj("labelSelector", t.label_selector.as_ref(), label_selector)
        .strs("namespaces", &t.namespaces)
        .str_req("topologyKey", &t.topology_key)
        .obj(
            "namespaceSelector",
            t.namespace_selector.as_ref(),
            label_selector,
        )
        .strs("matchLabelKeys", &t.match_label_keys)
        .strs("mismatchLabelKeys", &t.mismatch_label_keys)
        .finish()
}

fn weighted_pod_affinity_term(t: &WeightedPodAffinityTerm) -> Json {
    Obj::new()
        .int_req("weight", t.weight)
        .obj(
            "podAffinityTerm",
            t.pod_affinity_term.as_ref(),
            pod_affinity_term,
        )
        .finish()
}

fn volume(v: &Volume) -> Json {
    Obj::new()
        .str_req("name", &v.name)
        .inline(v.volume_source.as_ref(), volume_source)
        .finish()
}

/// The volume sources a pod template commonly uses. The legacy in-tree cloud and network
/// volume types are refused rather than silently dropped, so the client can resend as JSON.
fn volume_source(s: &VolumeSource) -> Json {
    if let Some(name) = unsupported_volume_source(s) {
        return Err(ProtobufError::UnsupportedField(format!(
            "volume source {name}"
        )));
    }
    Obj::new()
        .obj("hostPath", s.host_path.as_ref(), host_path_volume_source)
        .obj("emptyDir", s.empty_dir.as_ref(), empty_dir_volume_source)
        .obj("gitRepo", s.git_repo.as_ref(), git_repo_volume_source)
        .obj("secret", s.secret.as_ref(), secret_volume_source)
        .obj("nfs", s.nfs.as_ref(), nfs_volume_source)
        .obj(
            "persistentVolumeClaim",
            s.persistent_volume_claim.as_ref(),
            persistent_volume_claim_volume_source,
        )
        .obj(
            "downwardAPI",
            s.downward_api.as_ref(),
            downward_api_volume_source,
        )
        .obj("configMap", s.config_map.as_ref(), config_map_volume_source)
        .obj("projected", s.projected.as_ref(), projected_volume_source)
        .obj("csi", s.csi.as_ref(), csi_volume_source)
        .obj("ephemeral", s.ephemeral.as_ref(), ephemeral_volume_source)
        .obj("image", s.image.as_ref(), image_volume_source)
        .finish()
}

fn unsupported_volume_source(s: &VolumeSource) -> Option<&'static str> {
    [
        ("gcePersistentDisk", s.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", s.aws_elastic_block_store.is_some()),
        ("iscsi", s.iscsi.is_some()),
        ("glusterfs", s.glusterfs.is_some()),
        ("rbd", s.rbd.is_some()),
        ("flexVolume", s.flex_volume.is_some()),
        ("cinder", s.cinder.is_some()),
        ("cephfs", s.cephfs.is_some()),
        ("flocker", s.flocker.is_some()),
        ("fc", s.fc.is_some()),
        ("azureFile", s.azure_file.is_some()),
        ("vsphereVolume", s.vsphere_volume.is_some()),
        ("quobyte", s.quobyte.is_some()),
        ("azureDisk", s.azure_disk.is_some()),
        ("photonPersistentDisk", s.photon_persistent_disk.is_some()),
        ("portworxVolume", s.portworx_volume.is_some()),
        ("scaleIO", s.scale_io.is_some()),
        ("storageos", s.storageos.is_some()),
    ]
    .into_iter()
    .find_map(|(name, set)| set.then_some(name))
}

fn host_path_volume_source(s: &HostPathVolumeSource) -> Json {
    Obj::new()
        .str_req("path", &s.path)
        .str_ptr("type", &s.r#type)
        .finish()
}

fn empty_dir_volume_source(s: &EmptyDirVolumeSource) -> Json {
    Obj::new()
        .str("medium", &s.medium)
        .quantity("sizeLimit", s.size_limit.as_ref())
        .finish()
}

fn git_repo_volume_source(s: &GitRepoVolumeSource) -> Json {
    Obj::new()
        .str_req("repository", &s.repository)
        .str("revision", &s.revision)
        .str("directory", &s.directory)
        .finish()
}

fn secret_volume_source(s: &SecretVolumeSource) -> Json {
    Obj::new()
        .str("secretName", &s.secret_name)
        .list("items", &s.items, key_to_path)
        .int_ptr("defaultMode", s.default_mode)
        .bool_ptr("optional", s.optional)
        .finish()
}

fn key_to_path(k: &KeyToPath) -> Json {
    Obj::new()
        .str_req("key", &k.key)
        .str_req("path", &k.path)
        .int_ptr("mode", k.mode)
        .finish()
}

fn nfs_volume_source(s: &NfsVolumeSource) -> Json {
    Obj::new()
        .str_req("server", &s.server)
        .str_req("path", &s.path)
        .bool("readOnly", s.read_only)
        .finish()
}

fn persistent_volume_claim_volume_source(s: &PersistentVolumeClaimVolumeSource) -> Json {
    Obj::new()
        .str_req("claimName", &s.claim_name)
        .bool("readOnly", s.read_only)
        .finish()
}

fn downward_api_volume_source(s: &DownwardAPIVolumeSource) -> Json {
    Obj::new()
        .list("items", &s.items, downward_api_volume_file)
        .int_ptr("defaultMode", s.default_mode)
        .finish()
}

fn downward_api_volume_file(f: &DownwardAPIVolumeFile) -> Json {
    Obj::new()
        .str_req("path", &f.path)
        .obj("fieldRef", f.field_ref.as_ref(), object_field_selector)
        .obj(
            "resourceFieldRef",
            f.resource_field_ref.as_ref(),
            resource_field_selector,
        )
        .int_ptr("mode", f.mode)
        .finish()
}

fn config_map_volume_source(s: &ConfigMapVolumeSource) -> Json {
    Obj::new()
        .inline(s.local_object_reference.as_ref(), local_object_reference)
        .list("items", &s.items, key_to_path)
        .int_ptr("defaultMode", s.default_mode)
        .bool_ptr("optional", s.optional)
        .finish()
}

fn projected_volume_source(s: &ProjectedVolumeSource) -> Json {
    Obj::new()
        .list("sources", &s.sources, volume_projection)
        .int_ptr("defaultMode", s.default_mode)
        .finish()
}

fn volume_projection(p: &VolumeProjection) -> Json {
    Obj::new()
        .obj("secret", p.secret.as_ref(), secret_projection)
        .obj(
            "downwardAPI",
            p.downward_api.as_ref(),
            downward_api_projection,
        )
        .obj("configMap", p.config_map.as_ref(), config_map_projection)
        .obj(
            "serviceAccountToken",
            p.service_account_token.as_ref(),
            service_account_token_projection,
        )
        .obj(
            "clusterTrustBundle",
            p.cluster_trust_bundle.as_ref(),
            cluster_trust_bundle_projection,
        )
        .finish()
}

fn secret_projection(p: &SecretProjection) -> Json {
    Obj::new()
        .inline(p.local_object_reference.as_ref(), local_object_reference)
        .list("items", &p.items, key_to_path)
        .bool_ptr("optional", p.optional)
        .finish()
}

fn config_map_projection(p: &ConfigMapProjection) -> Json {
    Obj::new()
        .inline(p.local_object_reference.as_ref(), local_object_reference)
        .list("items", &p.items, key_to_path)
        .bool_ptr("optional", p.optional)
        .finish()
}

fn downward_api_projection(p: &DownwardAPIProjection) -> Json {
    Obj::new()
        .list("items", &p.items, downward_api_volume_file)
        .finish()
}

fn service_account_token_projection(p: &ServiceAccountTokenProjection) -> Json {
    Obj::new()
        .str("audience", &p.audience)
        .int_ptr("expirationSeconds", p.expiration_seconds)
        .str_req("path", &p.path)
        .finish()
}

fn cluster_trust_bundle_projection(p: &ClusterTrustBundleProjection) -> Json {
    Obj::new()
        .str_ptr("name", &p.name)
        .str_ptr("signerName", &p.signer_name)
        .obj("labelSelector", p.label_selector.as_ref(), label_selector)
        .bool_ptr("optional", p.optional)
        .str_req("path", &p.path)
        .finish()
}

fn csi_volume_source(s: &CSIVolumeSource) -> Json {
    Obj::new()
        .str_req("driver", &s.driver)
        .bool_ptr("readOnly", s.read_only)
        .str_ptr("fsType", &s.fs_type)
        .str_map("volumeAttributes", &s.volume_attributes)
        .obj(
            "nodePublishSecretRef",
            s.node_publish_secret_ref.as_ref(),
            local_object_reference,
        )
        .finish()
}

fn ephemeral_volume_source(s: &EphemeralVolumeSource) -> Json {
    Obj::new()
        .obj(
            "volumeClaimTemplate",
            s.volume_claim_template.as_ref(),
            persistent_volume_claim_template,
        )
        .finish()
}

fn persistent_volume_claim_template(t: &PersistentVolumeClaimTemplate) -> Json {
    Obj::new()
        .obj("metadata", t.metadata.as_ref(), object_meta)
        .obj("spec", t.spec.as_ref(), persistent_volume_claim_spec)
        .finish()
}

fn persistent_volume_claim_spec(s: &PersistentVolumeClaimSpec) -> Json {
    Obj::new()
        .strs("accessModes", &s.access_modes)
        .obj("selector", s.selector.as_ref(), label_selector)
        .obj(
            "resources",
            s.resources.as_ref(),
            volume_resource_requirements,
        )
        .str("volumeName", &s.volume_name)
        .str_ptr("storageClassName", &s.storage_class_name)
        .str_ptr("volumeMode", &s.volume_mode)
        .obj(
            "dataSource",
            s.data_source.as_ref(),
            typed_local_object_reference,
        )
        .obj(
            "dataSourceRef",
            s.data_source_ref.as_ref(),
            typed_object_reference,
        )
        .str_ptr("volumeAttributesClassName", &s.volume_attributes_class_name)
        .finish()
}

fn volume_resource_requirements(r: &VolumeResourceRequirements) -> Json {
    Obj::new()
        .quantity_map("limits", &r.limits)
        .quantity_map("requests", &r.requests)
        .finish()
}

pub(super) fn typed_local_object_reference(r: &TypedLocalObjectReference) -> Json {
    Obj::new()
        .str_ptr("apiGroup", &r.api_group)
        .str_req("kind", &r.kind)
        .str_req("name", &r.name)
        .finish()
}

fn typed_object_reference(r: &TypedObjectReference) -> Json {
    Obj::new()
        .str_ptr("apiGroup", &r.api_group)
        .str_req("kind", &r.kind)
        .str_req("name", &r.name)
        .str_ptr("namespace", &r.namespace)
        .finish()
}

fn image_volume_source(s: &ImageVolumeSource) -> Json {
    Obj::new()
        .str("reference", &s.reference)
        .str("pullPolicy", &s.pull_policy)
        .finish()
}
