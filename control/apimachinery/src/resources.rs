//! The table of API resources this server serves: one row per (group, version, resource).
//!
//! Discovery, OpenAPI, routing, table printing and storage keys are all derived from this one
//! table, so adding a kind means adding a row here (and its typed hooks in the server).

/// Verbs every ordinary collection resource supports.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Verbs of a resource that is only created and read, never changed in place.
const EVENT_LIKE_VERBS: &[&str] = STANDARD_VERBS;

/// One served resource, the shape `kubectl api-resources` and discovery describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the legacy core group served under `/api/v1`.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural used in URLs (`pods`).
    pub plural: &'static str,
    /// Lower-case singular (`pod`).
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
    /// Subresources served below an object (`status`, `scale`, `binding`, `eviction`, ...).
    pub subresources: &'static [&'static str],
    /// Categories such as `all` that `kubectl get all` expands.
    pub categories: &'static [&'static str],
}

impl Resource {
    /// `v1` or `apps/v1`, as written in an object's `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// URL prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Storage key prefix of this resource, etcd style: `/registry/<group>/<plural>/`.
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/registry/{}/{}/", group, self.plural)
    }
}

macro_rules! res {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, namespaced: $ns:expr,
     short: [$($short:expr),*], sub: [$($sub:expr),*], cat: [$($cat:expr),*]) => {
        Resource {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: &[$($short),*],
            verbs: STANDARD_VERBS,
            subresources: &[$($sub),*],
            categories: &[$($cat),*],
        }
    };
}

/// Every resource the server serves, in discovery order.
pub static RESOURCES: &[Resource] = &[
    res!("", "v1", "Namespace", "namespaces", "namespace", namespaced: false, short: ["ns"], sub: ["status", "finalize"], cat: []),
    res!("", "v1", "Pod", "pods", "pod", namespaced: true, short: ["po"], sub: ["status", "binding", "eviction", "log", "exec", "attach", "portforward"], cat: ["all"]),
    res!("", "v1", "Service", "services", "service", namespaced: true, short: ["svc"], sub: ["status"], cat: ["all"]),
    res!("", "v1", "Endpoints", "endpoints", "endpoints", namespaced: true, short: ["ep"], sub: [], cat: []),
    res!("", "v1", "ConfigMap", "configmaps", "configmap", namespaced: true, short: ["cm"], sub: [], cat: []),
    res!("", "v1", "Secret", "secrets", "secret", namespaced: true, short: [], sub: [], cat: []),
    res!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", namespaced: true, short: ["sa"], sub: ["token"], cat: []),
    res!("", "v1", "Node", "nodes", "node", namespaced: false, short: ["no"], sub: ["status", "proxy"], cat: []),
    Resource {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        verbs: EVENT_LIKE_VERBS,
        subresources: &[],
        categories: &[],
    },
    res!("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", namespaced: true, short: ["rc"], sub: ["scale", "status"], cat: ["all"]),
    res!("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", namespaced: true, short: ["quota"], sub: ["status"], cat: []),
    res!("", "v1", "LimitRange", "limitranges", "limitrange", namespaced: true, short: ["limits"], sub: [], cat: []),
    res!("apps", "v1", "Deployment", "deployments", "deployment", namespaced: true, short: ["deploy"], sub: ["scale", "status"], cat: ["all"]),
    res!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", namespaced: true, short: ["rs"], sub: ["scale", "status"], cat: ["all"]),
    res!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", namespaced: true, short: ["sts"], sub: ["scale", "status"], cat: ["all"]),
    res!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", namespaced: true, short: ["ds"], sub: ["status"], cat: ["all"]),
    res!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", namespaced: true, short: [], sub: [], cat: []),
    res!("batch", "v1", "Job", "jobs", "job", namespaced: true, short: [], sub: ["status"], cat: ["all"]),
    res!("batch", "v1", "CronJob", "cronjobs", "cronjob", namespaced: true, short: ["cj"], sub: ["status"], cat: ["all"]),
    res!("coordination.k8s.io", "v1", "Lease", "leases", "lease", namespaced: true, short: [], sub: [], cat: []),
    res!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", namespaced: true, short: [], sub: [], cat: []),
    res!("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", "certificatesigningrequest", namespaced: false, short: ["csr"], sub: ["status", "approval"], cat: []),
];

/// The API groups served under `/apis`, in discovery order, each with its one version.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !out.iter().any(|(g, _)| *g == r.group) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// Looks up a resource by group, version and URL plural.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks up a resource by `apiVersion` and `kind` as written in an object.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_is_found_by_plural_and_by_kind() {
        for r in RESOURCES {
            assert_eq!(by_plural(r.group, r.version, r.plural), Some(r));
            assert_eq!(by_kind(&r.api_version(), r.kind), Some(r));
        }
    }

    #[test]
    fn core_resources_live_under_api_v1() {
        let pods = by_plural("", "v1", "pods").unwrap();
        assert_eq!(pods.group_version_path(), "/api/v1");
        assert_eq!(pods.key_prefix(), "/registry/core/pods/");
        let deploy = by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(deploy.group_version_path(), "/apis/apps/v1");
    }

    #[test]
    fn groups_are_listed_once() {
        let g = groups();
        assert_eq!(g.iter().filter(|(n, _)| *n == "apps").count(), 1);
        assert!(g.iter().all(|(n, _)| !n.is_empty()));
    }
}
