//! Patch strategies and list types of the built-in kinds' fields.
//!
//! Kubernetes declares these on its Go types (`patchStrategy`/`patchMergeKey` struct tags and
//! `+listType`/`+listMapKey` markers in `types.go`); kubectl reads them from the published
//! OpenAPI documents to compute three-way patches, and the server needs the same facts to apply
//! strategic merge patches. Both uses read this one table, keyed by Kubernetes definition name
//! and JSON field name, so the documents and the patch logic can never disagree.
//!
//! The rows cover every type reachable from the served kinds (core/v1, apps/v1, batch/v1,
//! coordination/v1, discovery/v1, certificates/v1, meta/v1, and the autoscaling/v1 Scale and
//! policy/v1 Eviction bodies), as of Kubernetes 1.32. Fields of Go types embedded inline (such as
//! `EphemeralContainerCommon`) are listed under the definition that carries them.

/// How a strategic merge patch treats a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchStrategy {
    /// A list merged element-wise (by merge key for objects, as a set for primitives).
    Merge,
    /// An object whose unmentioned keys are cleared when the patch carries `$retainKeys`.
    RetainKeys,
    /// Both of the above (lists of union types such as `volumes`).
    MergeRetainKeys,
}

impl PatchStrategy {
    /// The value of the `x-kubernetes-patch-strategy` extension.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchStrategy::Merge => "merge",
            PatchStrategy::RetainKeys => "retainKeys",
            PatchStrategy::MergeRetainKeys => "merge,retainKeys",
        }
    }

    /// Whether lists with this strategy are merged rather than replaced.
    pub fn merges(self) -> bool {
        matches!(self, PatchStrategy::Merge | PatchStrategy::MergeRetainKeys)
    }
}

/// The patch facts of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchMeta {
    pub strategy: PatchStrategy,
    /// Field identifying list elements; `None` for lists of primitives (merged as sets) and for
    /// non-list fields.
    pub merge_key: Option<&'static str>,
}

/// `x-kubernetes-list-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Atomic,
    Set,
    Map,
}

impl ListKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Atomic => "atomic",
            ListKind::Set => "set",
            ListKind::Map => "map",
        }
    }
}

/// The list type of one list field (server-side apply's view of a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListType {
    pub kind: ListKind,
    /// `x-kubernetes-list-map-keys`, for [`ListKind::Map`] only.
    pub map_keys: &'static [&'static str],
}

use PatchStrategy::{Merge, MergeRetainKeys, RetainKeys};

/// (definition, field, strategy, merge key), from the `patchStrategy` struct tags.
#[rustfmt::skip]
const PATCH_META: &[(&str, &str, PatchStrategy, Option<&str>)] = &[
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.core.v1.Container", "ports", Merge, Some("containerPort")),
    ("io.k8s.api.core.v1.Container", "env", Merge, Some("name")),
    ("io.k8s.api.core.v1.Container", "volumeMounts", Merge, Some("mountPath")),
    ("io.k8s.api.core.v1.Container", "volumeDevices", Merge, Some("devicePath")),
    ("io.k8s.api.core.v1.ContainerStatus", "volumeMounts", Merge, Some("mountPath")),
    ("io.k8s.api.core.v1.ContainerStatus", "allocatedResourcesStatus", Merge, Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "volumes", MergeRetainKeys, Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", Merge, Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "containers", Merge, Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", Merge, Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", Merge, Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", Merge, Some("ip")),
    ("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", Merge, Some("topologyKey")),
    ("io.k8s.api.core.v1.PodSpec", "schedulingGates", Merge, Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims", MergeRetainKeys, Some("name")),
    ("io.k8s.api.core.v1.EphemeralContainer", "ports", Merge, Some("containerPort")),
    ("io.k8s.api.core.v1.EphemeralContainer", "env", Merge, Some("name")),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", Merge, Some("mountPath")),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices", Merge, Some("devicePath")),
    ("io.k8s.api.core.v1.PodStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", Merge, Some("ip")),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", Merge, Some("ip")),
    ("io.k8s.api.core.v1.PodStatus", "resourceClaimStatuses", MergeRetainKeys, Some("name")),
    ("io.k8s.api.core.v1.ReplicationControllerStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.core.v1.ServiceStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", Merge, Some("port")),
    ("io.k8s.api.core.v1.ServiceAccount", "secrets", Merge, Some("name")),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", Merge, None),
    ("io.k8s.api.core.v1.NodeStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.core.v1.NodeStatus", "addresses", Merge, Some("type")),
    ("io.k8s.api.core.v1.NamespaceStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.apps.v1.DeploymentStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", Merge, Some("type")),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", Merge, Some("type")),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", Merge, Some("uid")),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", Merge, None),
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy", RetainKeys, None),
];

use ListKind::{Atomic, Map, Set};

/// (definition, field, list type, map keys), from the `+listType`/`+listMapKey` markers.
#[rustfmt::skip]
const LIST_TYPES: &[(&str, &str, ListKind, &[&str])] = &[
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "accessModes", Atomic, &[]),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "accessModes", Atomic, &[]),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.core.v1.RBDVolumeSource", "monitors", Atomic, &[]),
    ("io.k8s.api.core.v1.CephFSVolumeSource", "monitors", Atomic, &[]),
    ("io.k8s.api.core.v1.SecretVolumeSource", "items", Atomic, &[]),
    ("io.k8s.api.core.v1.SecretProjection", "items", Atomic, &[]),
    ("io.k8s.api.core.v1.ISCSIVolumeSource", "portals", Atomic, &[]),
    ("io.k8s.api.core.v1.FCVolumeSource", "targetWWNs", Atomic, &[]),
    ("io.k8s.api.core.v1.FCVolumeSource", "wwids", Atomic, &[]),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", "items", Atomic, &[]),
    ("io.k8s.api.core.v1.ConfigMapProjection", "items", Atomic, &[]),
    ("io.k8s.api.core.v1.ProjectedVolumeSource", "sources", Atomic, &[]),
    ("io.k8s.api.core.v1.HTTPGetAction", "httpHeaders", Atomic, &[]),
    ("io.k8s.api.core.v1.ExecAction", "command", Atomic, &[]),
    ("io.k8s.api.core.v1.Capabilities", "add", Atomic, &[]),
    ("io.k8s.api.core.v1.Capabilities", "drop", Atomic, &[]),
    ("io.k8s.api.core.v1.ResourceRequirements", "claims", Map, &["name"]),
    ("io.k8s.api.core.v1.Container", "command", Atomic, &[]),
    ("io.k8s.api.core.v1.Container", "args", Atomic, &[]),
    ("io.k8s.api.core.v1.Container", "ports", Map, &["containerPort", "protocol"]),
    ("io.k8s.api.core.v1.Container", "envFrom", Atomic, &[]),
    ("io.k8s.api.core.v1.Container", "env", Map, &["name"]),
    ("io.k8s.api.core.v1.Container", "resizePolicy", Atomic, &[]),
    ("io.k8s.api.core.v1.Container", "volumeMounts", Map, &["mountPath"]),
    ("io.k8s.api.core.v1.Container", "volumeDevices", Map, &["devicePath"]),
    ("io.k8s.api.core.v1.ContainerStatus", "volumeMounts", Map, &["mountPath"]),
    ("io.k8s.api.core.v1.ContainerStatus", "allocatedResourcesStatus", Map, &["name"]),
    ("io.k8s.api.core.v1.ResourceStatus", "resources", Map, &["resourceID"]),
    ("io.k8s.api.core.v1.LinuxContainerUser", "supplementalGroups", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeSelector", "nodeSelectorTerms", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeSelectorTerm", "matchExpressions", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeSelectorTerm", "matchFields", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeSelectorRequirement", "values", Atomic, &[]),
    ("io.k8s.api.core.v1.PodAffinity", "requiredDuringSchedulingIgnoredDuringExecution", Atomic, &[]),
    ("io.k8s.api.core.v1.PodAffinity", "preferredDuringSchedulingIgnoredDuringExecution", Atomic, &[]),
    ("io.k8s.api.core.v1.PodAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution", Atomic, &[]),
    ("io.k8s.api.core.v1.PodAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", Atomic, &[]),
    ("io.k8s.api.core.v1.PodAffinityTerm", "namespaces", Atomic, &[]),
    ("io.k8s.api.core.v1.PodAffinityTerm", "matchLabelKeys", Atomic, &[]),
    ("io.k8s.api.core.v1.PodAffinityTerm", "mismatchLabelKeys", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution", Atomic, &[]),
    ("io.k8s.api.core.v1.PodSpec", "volumes", Map, &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", Map, &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "containers", Map, &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", Map, &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", Map, &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "tolerations", Atomic, &[]),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", Map, &["ip"]),
    ("io.k8s.api.core.v1.PodSpec", "readinessGates", Atomic, &[]),
    ("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", Map, &["topologyKey", "whenUnsatisfiable"]),
    ("io.k8s.api.core.v1.PodSpec", "schedulingGates", Map, &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims", Map, &["name"]),
    ("io.k8s.api.core.v1.TopologySpreadConstraint", "matchLabelKeys", Atomic, &[]),
    ("io.k8s.api.core.v1.HostAlias", "hostnames", Atomic, &[]),
    ("io.k8s.api.core.v1.PodSecurityContext", "supplementalGroups", Atomic, &[]),
    ("io.k8s.api.core.v1.PodSecurityContext", "sysctls", Atomic, &[]),
    ("io.k8s.api.core.v1.PodDNSConfig", "nameservers", Atomic, &[]),
    ("io.k8s.api.core.v1.PodDNSConfig", "searches", Atomic, &[]),
    ("io.k8s.api.core.v1.PodDNSConfig", "options", Atomic, &[]),
    ("io.k8s.api.core.v1.EphemeralContainer", "command", Atomic, &[]),
    ("io.k8s.api.core.v1.EphemeralContainer", "args", Atomic, &[]),
    ("io.k8s.api.core.v1.EphemeralContainer", "ports", Map, &["containerPort", "protocol"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "envFrom", Atomic, &[]),
    ("io.k8s.api.core.v1.EphemeralContainer", "env", Map, &["name"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "resizePolicy", Atomic, &[]),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", Map, &["mountPath"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices", Map, &["devicePath"]),
    ("io.k8s.api.core.v1.PodStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", Atomic, &[]),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", Map, &["ip"]),
    ("io.k8s.api.core.v1.PodStatus", "initContainerStatuses", Atomic, &[]),
    ("io.k8s.api.core.v1.PodStatus", "containerStatuses", Atomic, &[]),
    ("io.k8s.api.core.v1.PodStatus", "ephemeralContainerStatuses", Atomic, &[]),
    ("io.k8s.api.core.v1.PodStatus", "resourceClaimStatuses", Map, &["name"]),
    ("io.k8s.api.core.v1.ReplicationControllerStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.core.v1.ServiceStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.core.v1.LoadBalancerStatus", "ingress", Atomic, &[]),
    ("io.k8s.api.core.v1.LoadBalancerIngress", "ports", Atomic, &[]),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", Map, &["port", "protocol"]),
    ("io.k8s.api.core.v1.ServiceSpec", "clusterIPs", Atomic, &[]),
    ("io.k8s.api.core.v1.ServiceSpec", "externalIPs", Atomic, &[]),
    ("io.k8s.api.core.v1.ServiceSpec", "loadBalancerSourceRanges", Atomic, &[]),
    ("io.k8s.api.core.v1.ServiceSpec", "ipFamilies", Atomic, &[]),
    ("io.k8s.api.core.v1.ServiceAccount", "secrets", Map, &["name"]),
    ("io.k8s.api.core.v1.ServiceAccount", "imagePullSecrets", Atomic, &[]),
    ("io.k8s.api.core.v1.Endpoints", "subsets", Atomic, &[]),
    ("io.k8s.api.core.v1.EndpointSubset", "addresses", Atomic, &[]),
    ("io.k8s.api.core.v1.EndpointSubset", "notReadyAddresses", Atomic, &[]),
    ("io.k8s.api.core.v1.EndpointSubset", "ports", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", Set, &[]),
    ("io.k8s.api.core.v1.NodeSpec", "taints", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.core.v1.NodeStatus", "addresses", Map, &["type"]),
    ("io.k8s.api.core.v1.NodeStatus", "images", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeStatus", "volumesInUse", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeStatus", "volumesAttached", Atomic, &[]),
    ("io.k8s.api.core.v1.NodeStatus", "runtimeHandlers", Atomic, &[]),
    ("io.k8s.api.core.v1.ContainerImage", "names", Atomic, &[]),
    ("io.k8s.api.core.v1.NamespaceSpec", "finalizers", Atomic, &[]),
    ("io.k8s.api.core.v1.NamespaceStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.core.v1.LimitRangeSpec", "limits", Atomic, &[]),
    ("io.k8s.api.core.v1.ResourceQuotaSpec", "scopes", Atomic, &[]),
    ("io.k8s.api.core.v1.ScopeSelector", "matchExpressions", Atomic, &[]),
    ("io.k8s.api.core.v1.ScopedResourceSelectorRequirement", "values", Atomic, &[]),
    ("io.k8s.api.core.v1.DownwardAPIVolumeSource", "items", Atomic, &[]),
    ("io.k8s.api.core.v1.DownwardAPIProjection", "items", Atomic, &[]),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "volumeClaimTemplates", Atomic, &[]),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.apps.v1.DeploymentStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", Map, &["type"]),
    ("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", "values", Set, &[]),
    ("io.k8s.api.batch.v1.PodFailurePolicyRule", "onPodConditions", Atomic, &[]),
    ("io.k8s.api.batch.v1.PodFailurePolicy", "rules", Atomic, &[]),
    ("io.k8s.api.batch.v1.SuccessPolicy", "rules", Atomic, &[]),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", Atomic, &[]),
    ("io.k8s.api.batch.v1.UncountedTerminatedPods", "succeeded", Set, &[]),
    ("io.k8s.api.batch.v1.UncountedTerminatedPods", "failed", Set, &[]),
    ("io.k8s.api.batch.v1.CronJobStatus", "active", Atomic, &[]),
    ("io.k8s.api.discovery.v1.EndpointSlice", "endpoints", Atomic, &[]),
    ("io.k8s.api.discovery.v1.EndpointSlice", "ports", Atomic, &[]),
    ("io.k8s.api.discovery.v1.Endpoint", "addresses", Set, &[]),
    ("io.k8s.api.discovery.v1.EndpointHints", "forZones", Atomic, &[]),
    ("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", "usages", Atomic, &[]),
    ("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", "groups", Atomic, &[]),
    ("io.k8s.api.certificates.v1.CertificateSigningRequestStatus", "conditions", Map, &["type"]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", Map, &["uid"]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", Set, &[]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "managedFields", Atomic, &[]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "dryRun", Atomic, &[]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails", "causes", Atomic, &[]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", "matchExpressions", Atomic, &[]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", "values", Atomic, &[]),
];

/// The patch strategy and merge key Kubernetes declares for `field` of `definition`
/// (e.g. `("io.k8s.api.core.v1.PodSpec", "containers")` → merge on `name`), or `None` when the
/// field has none, in which case a strategic merge patch replaces lists and merges objects.
pub fn list_patch_meta(definition: &str, field: &str) -> Option<PatchMeta> {
    PATCH_META
        .iter()
        .find(|(d, f, _, _)| *d == definition && *f == field)
        .map(|(_, _, strategy, merge_key)| PatchMeta {
            strategy: *strategy,
            merge_key: *merge_key,
        })
}

/// The list type Kubernetes declares for `field` of `definition`, if any.
pub fn list_type(definition: &str, field: &str) -> Option<ListType> {
    LIST_TYPES
        .iter()
        .find(|(d, f, _, _)| *d == definition && *f == field)
        .map(|(_, _, kind, map_keys)| ListType {
            kind: *kind,
            map_keys,
        })
}

/// Every (definition, field) the tables mention, for consistency tests.
#[cfg(test)]
pub(super) fn all_rows() -> impl Iterator<Item = (&'static str, &'static str)> {
    PATCH_META
        .iter()
        .map(|(d, f, _, _)| (*d, *f))
        .chain(LIST_TYPES.iter().map(|(d, f, _, _)| (*d, *f)))
}
