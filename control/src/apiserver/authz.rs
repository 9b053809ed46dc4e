//! Authorization: who may do what, decided by one pure function ([`authorize`]) from the
//! requestor and the request's attributes, as kube-apiserver's Node and RBAC authorizers decide
//! it for the identities this cluster hands out. There are no Roles to edit yet, so the rules
//! are the fixed ones kubeadm's default RBAC and the Node authorizer give:
//!
//! - `system:masters`, `system:kube-scheduler` and `system:kube-controller-manager`: everything.
//! - Anyone, even anonymous: `get` of `kube-public/configmaps/cluster-info` (node discovery).
//! - Every authenticated user: discovery and OpenAPI documents.
//! - `system:bootstrappers`: create, get, list and watch CertificateSigningRequests.
//! - Nodes (`system:node:<name>` in `system:nodes`), the Node authorizer plus NodeRestriction:
//!   `get` of exactly the Secrets, ConfigMaps and PersistentVolumeClaims that pods bound to
//!   them reference (the node graph, [`pod_references`]) and no other access to those; read
//!   everything else; write their own Node (and its status), their own Lease in
//!   kube-node-lease, the status of pods bound to them and deletes of those pods, Events,
//!   CSRs, and service account tokens bound to their pods.
//! - Service accounts (bearer tokens from the TokenRequest API) are authenticated but, with no
//!   RBAC Roles served yet, get only what every authenticated user gets.
//!   Nodes never reach other kubelets through the API: `pods/log`, `pods/exec`, `pods/attach`,
//!   `pods/portforward` and `nodes/proxy` are refused them, as kubeadm's RBAC does.
//!
//! Everything else is refused with Kubernetes' Forbidden message.

use super::tls::Identity;

/// The groups and users with full access.
pub const SUPERUSER_GROUP: &str = "system:masters";
pub const LOOP_USERS: &[&str] = &["system:kube-scheduler", "system:kube-controller-manager"];

/// What a request on a resource asks for, in Kubernetes' authorization attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes<'a> {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'a str,
    pub group: &'a str,
    /// The plural resource, e.g. `pods`.
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// What a request that is not on a resource asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonResource {
    /// `/api`, `/apis/...` discovery and `/openapi/...`.
    Discovery,
    /// `/metrics`.
    Metrics,
}

/// The decision, with Kubernetes' reason suffix when one helps (`node 'a' cannot ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Option<String>),
}

/// The Kubernetes verb of a request on a resource.
pub fn verb(method: &http::Method, has_name: bool, watch: bool) -> &'static str {
    match *method {
        http::Method::GET | http::Method::HEAD if watch => "watch",
        http::Method::GET | http::Method::HEAD if has_name => "get",
        http::Method::GET | http::Method::HEAD => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if has_name => "delete",
        http::Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

/// Whether a request opens a stream into a pod (`pods/exec`, `pods/attach`,
/// `pods/portforward`). These are authorized as `create` whatever the method: WebSocket clients
/// (kubectl 1.30+) open them with GET, which Kubernetes 1.32 checked as `get` until 1.35 added
/// the `create` check (`AuthorizePodWebsocketUpgradeCreatePermission`); here one rule covers
/// both methods.
pub fn is_pod_connect(group: &str, resource: &str, subresource: Option<&str>) -> bool {
    group.is_empty()
        && resource == "pods"
        && matches!(subresource, Some("exec" | "attach" | "portforward"))
}

/// Subresources that reach a kubelet through the API server.
fn reaches_a_kubelet(a: &Attributes<'_>) -> bool {
    a.group.is_empty()
        && matches!(
            (a.resource, a.subresource),
            (
                "pods",
                Some("log" | "exec" | "attach" | "portforward" | "proxy")
            ) | ("nodes", Some("proxy"))
        )
}

fn is_superuser(u: &Identity) -> bool {
    u.groups.iter().any(|g| g == SUPERUSER_GROUP) || LOOP_USERS.contains(&u.user.as_str())
}

fn in_group(u: &Identity, g: &str) -> bool {
    u.groups.iter().any(|x| x == g)
}

/// The node name of a node identity: user `system:node:<name>` in group `system:nodes`.
pub fn node_name(u: &Identity) -> Option<&str> {
    u.user
        .strip_prefix(crate::join::csr::NODE_USER_PREFIX)
        .filter(|n| !n.is_empty() && in_group(u, crate::join::csr::NODES_GROUP))
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// Whether the decision for this request needs to know which node the named pod is bound to;
/// the caller then looks it up and passes it as `pod_node`.
pub fn needs_pod_node(user: Option<&Identity>, a: &Attributes<'_>) -> bool {
    user.is_some_and(|u| node_name(u).is_some() && !is_superuser(u))
        && a.group.is_empty()
        && a.resource == "pods"
        && a.name.is_some()
        && !is_read(a.verb)
}

/// Whether the decision needs to know if a pod bound to the requesting node references the
/// named Secret, ConfigMap or PersistentVolumeClaim; the caller then passes the node's name
/// as `pod_node` when one does (see [`pod_references`]).
pub fn needs_reference(user: Option<&Identity>, a: &Attributes<'_>) -> bool {
    user.is_some_and(|u| node_name(u).is_some() && !is_superuser(u))
        && a.group.is_empty()
        && matches!(
            a.resource,
            "secrets" | "configmaps" | "persistentvolumeclaims"
        )
        && a.verb == "get"
        && a.name.is_some()
        && a.subresource.is_none()
}

/// Whether `pod` uses the object `name` of `resource` (secrets, configmaps,
/// persistentvolumeclaims): through volumes (also projected sources), env and envFrom of any
/// container, or imagePullSecrets — the edges of Kubernetes' node authorizer graph.
pub fn pod_references(pod: &serde_json::Value, resource: &str, name: &str) -> bool {
    let spec = &pod["spec"];
    let is = |v: &serde_json::Value| v.as_str() == Some(name);
    let volumes = spec["volumes"].as_array().into_iter().flatten();
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten());
    match resource {
        "secrets" => {
            spec["imagePullSecrets"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| is(&s["name"]))
                || volumes.clone().any(|v| {
                    is(&v["secret"]["secretName"])
                        || v["projected"]["sources"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|s| is(&s["secret"]["name"]))
                })
                || containers.clone().any(|c| {
                    c["env"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| is(&e["valueFrom"]["secretKeyRef"]["name"]))
                        || c["envFrom"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|e| is(&e["secretRef"]["name"]))
                })
        }
        "configmaps" => {
            volumes.clone().any(|v| {
                is(&v["configMap"]["name"])
                    || v["projected"]["sources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|s| is(&s["configMap"]["name"]))
            }) || containers.clone().any(|c| {
                c["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| is(&e["valueFrom"]["configMapKeyRef"]["name"]))
                    || c["envFrom"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| is(&e["configMapRef"]["name"]))
            })
        }
        "persistentvolumeclaims" => volumes
            .clone()
            .any(|v| is(&v["persistentVolumeClaim"]["claimName"])),
        _ => false,
    }
}

/// Decides a request on a resource. `pod_node` is the `spec.nodeName` of the pod the request
/// names, when [`needs_pod_node`] asked for it.
pub fn authorize(user: Option<&Identity>, a: &Attributes<'_>, pod_node: Option<&str>) -> Decision {
    let cluster_info = a.verb == "get"
        && a.group.is_empty()
        && a.resource == "configmaps"
        && a.subresource.is_none()
        && a.namespace == Some(crate::join::CLUSTER_INFO_NAMESPACE)
        && a.name == Some(crate::join::CLUSTER_INFO_NAME);
    if cluster_info {
        return Decision::Allow;
    }
    let Some(u) = user else {
        return Decision::Deny(None);
    };
    if is_superuser(u) {
        return Decision::Allow;
    }
    let csr = a.group == "certificates.k8s.io"
        && a.resource == "certificatesigningrequests"
        && a.subresource.is_none()
        && matches!(a.verb, "create" | "get" | "list" | "watch");
    if csr && (in_group(u, crate::join::token::BOOTSTRAPPERS_GROUP) || node_name(u).is_some()) {
        return Decision::Allow;
    }
    match node_name(u) {
        Some(node) => authorize_node(node, a, pod_node),
        None => Decision::Deny(None),
    }
}

fn authorize_node(node: &str, a: &Attributes<'_>, pod_node: Option<&str>) -> Decision {
    let core = a.group.is_empty();
    if reaches_a_kubelet(a) {
        return Decision::Deny(None);
    }
    if core
        && matches!(
            a.resource,
            "secrets" | "configmaps" | "persistentvolumeclaims"
        )
    {
        // The node graph: a node reads one such object by name when a pod bound to it
        // references it, and nothing else of them (no list, no watch, no write).
        return match (a.verb, a.name, pod_node) {
            ("get", Some(_), Some(n)) if n == node => Decision::Allow,
            _ => Decision::Deny(Some(format!(
                "no relationship found between node '{node}' and this object"
            ))),
        };
    }
    if is_read(a.verb) {
        return Decision::Allow;
    }
    let own = a.name == Some(node);
    match (a.group, a.resource, a.subresource) {
        // Which name a create carries is checked at admission (NodeRestriction).
        ("", "nodes", None) if a.verb == "create" => Decision::Allow,
        ("", "nodes", None | Some("status")) if matches!(a.verb, "update" | "patch" | "delete") => {
            if own {
                Decision::Allow
            } else {
                Decision::Deny(Some(format!(
                    "node '{node}' cannot modify node '{}'",
                    a.name.unwrap_or("")
                )))
            }
        }
        ("coordination.k8s.io", "leases", None)
            if a.namespace == Some("kube-node-lease")
                && (a.verb == "create"
                    || (own && matches!(a.verb, "update" | "patch" | "delete"))) =>
        {
            Decision::Allow
        }
        ("", "pods", Some("status")) if matches!(a.verb, "update" | "patch") => {
            pod_of_node(node, pod_node, a)
        }
        ("", "pods", None) if a.verb == "delete" => pod_of_node(node, pod_node, a),
        // Tokens for its pods' service accounts; the TokenRequest handler checks that the
        // token is bound to a pod on this node (NodeRestriction).
        ("", "serviceaccounts", Some("token")) if a.verb == "create" => Decision::Allow,
        ("", "events", None) | ("events.k8s.io", "events", None)
            if matches!(a.verb, "create" | "update" | "patch") =>
        {
            Decision::Allow
        }
        _ => Decision::Deny(None),
    }
}

fn pod_of_node(node: &str, pod_node: Option<&str>, a: &Attributes<'_>) -> Decision {
    if pod_node == Some(node) {
        Decision::Allow
    } else {
        Decision::Deny(Some(format!(
            "node '{node}' can only {} pods bound to it, and pod '{}' is not",
            a.verb,
            a.name.unwrap_or("")
        )))
    }
}

/// Non-resource requests: discovery for every authenticated user, metrics for superusers.
pub fn authorize_non_resource(user: Option<&Identity>, what: NonResource) -> Decision {
    match (user, what) {
        (None, _) => Decision::Deny(None),
        (Some(_), NonResource::Discovery) => Decision::Allow,
        (Some(u), NonResource::Metrics) if is_superuser(u) => Decision::Allow,
        (Some(_), NonResource::Metrics) => Decision::Deny(None),
    }
}

/// NodeRestriction at admission: a node may create only its own Node and its own Lease, since
/// the name of a created object is not known when the request is authorized.
pub fn node_restriction_on_create(
    user: Option<&Identity>,
    group: &str,
    resource: &str,
    name: &str,
) -> Result<(), String> {
    let Some(node) = user.filter(|u| !is_superuser(u)).and_then(node_name) else {
        return Ok(());
    };
    let own_kind = match (group, resource) {
        ("", "nodes") => "node",
        ("coordination.k8s.io", "leases") => "lease",
        _ => return Ok(()),
    };
    if name == node {
        Ok(())
    } else {
        Err(format!(
            "node '{node}' is not allowed to create a {own_kind} named '{name}'; only its own"
        ))
    }
}

/// Kubernetes' Forbidden message: `pods "x" is forbidden: User "u" cannot get resource "pods"
/// in API group "" in the namespace "default"` (plus `: reason` when there is one).
pub fn forbidden_message(user: &str, a: &Attributes<'_>, reason: Option<&str>) -> String {
    let qualified = if a.group.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let subject = match a.name {
        Some(n) => format!("{qualified} \"{n}\""),
        None => qualified,
    };
    let resource = match a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.to_string(),
    };
    let scope = match a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let mut msg = format!(
        "{subject} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        a.verb, a.group
    );
    if let Some(r) = reason {
        msg.push_str(": ");
        msg.push_str(r);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(user: &str, groups: &[&str]) -> Identity {
        Identity {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn attrs<'a>(
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        sub: Option<&'a str>,
        ns: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes {
            verb,
            group,
            resource,
            subresource: sub,
            namespace: ns,
            name,
        }
    }

    fn bootstrapper() -> Identity {
        id(
            "system:bootstrap:abcdef",
            &[
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token",
                "system:authenticated",
            ],
        )
    }

    fn node(name: &str) -> Identity {
        id(&format!("system:node:{name}"), &["system:nodes"])
    }

    #[test]
    fn superusers_and_loops_may_do_anything() {
        let admin = id("kubernetes-admin", &["system:masters"]);
        let sched = id("system:kube-scheduler", &[]);
        let a = attrs(
            "delete",
            "",
            "secrets",
            None,
            Some("kube-system"),
            Some("x"),
        );
        assert_eq!(authorize(Some(&admin), &a, None), Decision::Allow);
        assert_eq!(authorize(Some(&sched), &a, None), Decision::Allow);
        assert_eq!(
            authorize_non_resource(Some(&admin), NonResource::Metrics),
            Decision::Allow
        );
        // Any other certificate user has no grants.
        let alice = id("alice", &["devs"]);
        assert_eq!(authorize(Some(&alice), &a, None), Decision::Deny(None));
        assert_eq!(
            authorize_non_resource(Some(&alice), NonResource::Metrics),
            Decision::Deny(None)
        );
    }

    #[test]
    fn anonymous_users_may_only_read_cluster_info() {
        let ci = attrs(
            "get",
            "",
            "configmaps",
            None,
            Some("kube-public"),
            Some("cluster-info"),
        );
        assert_eq!(authorize(None, &ci, None), Decision::Allow);
        let other = attrs(
            "get",
            "",
            "configmaps",
            None,
            Some("kube-public"),
            Some("other"),
        );
        assert_eq!(authorize(None, &other, None), Decision::Deny(None));
        let list = attrs("list", "", "configmaps", None, Some("kube-public"), None);
        assert_eq!(authorize(None, &list, None), Decision::Deny(None));
        let update = attrs(
            "update",
            "",
            "configmaps",
            None,
            Some("kube-public"),
            Some("cluster-info"),
        );
        assert_eq!(authorize(None, &update, None), Decision::Deny(None));
        assert_eq!(
            authorize_non_resource(None, NonResource::Discovery),
            Decision::Deny(None)
        );
    }

    #[test]
    fn bootstrappers_may_only_request_certificates() {
        let b = bootstrapper();
        for verb in ["create", "get", "list", "watch"] {
            let name = (verb == "get").then_some("node-csr-x");
            let a = attrs(
                verb,
                "certificates.k8s.io",
                "certificatesigningrequests",
                None,
                None,
                name,
            );
            assert_eq!(authorize(Some(&b), &a, None), Decision::Allow, "{verb}");
        }
        for a in [
            attrs(
                "update",
                "certificates.k8s.io",
                "certificatesigningrequests",
                Some("approval"),
                None,
                Some("x"),
            ),
            attrs(
                "delete",
                "certificates.k8s.io",
                "certificatesigningrequests",
                None,
                None,
                Some("x"),
            ),
            attrs("list", "", "pods", None, Some("default"), None),
            attrs("get", "", "nodes", None, None, Some("n1")),
            attrs("create", "", "nodes", None, None, None),
        ] {
            assert_eq!(authorize(Some(&b), &a, None), Decision::Deny(None), "{a:?}");
        }
        assert_eq!(
            authorize_non_resource(Some(&b), NonResource::Discovery),
            Decision::Allow
        );
    }

    #[test]
    fn nodes_write_only_what_is_theirs() {
        let n = node("n1");
        let allow = |a: Attributes<'_>, pod: Option<&str>| {
            assert_eq!(authorize(Some(&n), &a, pod), Decision::Allow, "{a:?}")
        };
        let deny = |a: Attributes<'_>, pod: Option<&str>| {
            assert!(
                matches!(authorize(Some(&n), &a, pod), Decision::Deny(_)),
                "{a:?}"
            )
        };
        allow(attrs("list", "", "pods", None, None, None), None);
        allow(attrs("watch", "", "services", None, None, None), None);
        allow(attrs("get", "", "nodes", None, None, Some("n2")), None);
        allow(attrs("create", "", "nodes", None, None, None), None);
        allow(
            attrs("patch", "", "nodes", Some("status"), None, Some("n1")),
            None,
        );
        allow(attrs("update", "", "nodes", None, None, Some("n1")), None);
        deny(attrs("patch", "", "nodes", None, None, Some("n2")), None);
        deny(
            attrs("update", "", "nodes", Some("status"), None, Some("n2")),
            None,
        );
        deny(
            attrs("deletecollection", "", "nodes", None, None, None),
            None,
        );
        allow(
            attrs(
                "update",
                "coordination.k8s.io",
                "leases",
                None,
                Some("kube-node-lease"),
                Some("n1"),
            ),
            None,
        );
        deny(
            attrs(
                "update",
                "coordination.k8s.io",
                "leases",
                None,
                Some("kube-node-lease"),
                Some("n2"),
            ),
            None,
        );
        deny(
            attrs(
                "update",
                "coordination.k8s.io",
                "leases",
                None,
                Some("kube-system"),
                Some("n1"),
            ),
            None,
        );
        allow(
            attrs(
                "patch",
                "",
                "pods",
                Some("status"),
                Some("default"),
                Some("p"),
            ),
            Some("n1"),
        );
        deny(
            attrs(
                "patch",
                "",
                "pods",
                Some("status"),
                Some("default"),
                Some("p"),
            ),
            Some("n2"),
        );
        allow(
            attrs("delete", "", "pods", None, Some("default"), Some("p")),
            Some("n1"),
        );
        deny(
            attrs("delete", "", "pods", None, Some("default"), Some("p")),
            None,
        );
        deny(
            attrs("create", "", "pods", None, Some("default"), None),
            None,
        );
        deny(
            attrs("update", "", "pods", None, Some("default"), Some("p")),
            Some("n1"),
        );
        deny(attrs("list", "", "secrets", None, None, None), None);
        deny(
            attrs("get", "", "secrets", None, Some("default"), Some("s")),
            None,
        );
        allow(
            attrs("create", "", "events", None, Some("default"), None),
            None,
        );
        allow(
            attrs(
                "create",
                "certificates.k8s.io",
                "certificatesigningrequests",
                None,
                None,
                None,
            ),
            None,
        );
        deny(
            attrs("create", "apps", "deployments", None, Some("default"), None),
            None,
        );
        // A node name without the nodes group is not a node.
        let impostor = id("system:node:n1", &[]);
        assert_eq!(
            authorize(
                Some(&impostor),
                &attrs("list", "", "pods", None, None, None),
                None
            ),
            Decision::Deny(None)
        );
    }

    #[test]
    fn nodes_may_not_reach_pods_or_kubelets_through_the_api() {
        let n = node("n1");
        let admin = id("kubernetes-admin", &["system:masters"]);
        for (verb, resource, sub) in [
            ("get", "pods", "log"),
            ("create", "pods", "exec"),
            ("create", "pods", "attach"),
            ("create", "pods", "portforward"),
            ("get", "nodes", "proxy"),
        ] {
            let ns = (resource == "pods").then_some("default");
            let a = attrs(verb, "", resource, Some(sub), ns, Some("n1"));
            // Even for a pod bound to the node itself.
            assert_eq!(
                authorize(Some(&n), &a, Some("n1")),
                Decision::Deny(None),
                "{a:?}"
            );
            assert_eq!(authorize(Some(&admin), &a, None), Decision::Allow, "{a:?}");
        }
        assert!(is_pod_connect("", "pods", Some("exec")));
        assert!(!is_pod_connect("", "pods", Some("log")));
        assert!(!is_pod_connect("", "nodes", Some("proxy")));
        assert_eq!(
            forbidden_message(
                "system:node:n1",
                &attrs("create", "", "pods", Some("exec"), Some("default"), Some("web")),
                None
            ),
            "pods \"web\" is forbidden: User \"system:node:n1\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"default\""
        );
    }

    #[test]
    fn pod_lookups_are_asked_for_only_when_they_decide() {
        let n = node("n1");
        let del = attrs("delete", "", "pods", None, Some("default"), Some("p"));
        assert!(needs_pod_node(Some(&n), &del));
        let get = attrs("get", "", "pods", None, Some("default"), Some("p"));
        assert!(!needs_pod_node(Some(&n), &get));
        assert!(!needs_pod_node(Some(&bootstrapper()), &del));
    }

    #[test]
    fn nodes_may_create_only_their_own_node_and_lease() {
        let n = node("n1");
        assert!(node_restriction_on_create(Some(&n), "", "nodes", "n1").is_ok());
        assert!(node_restriction_on_create(Some(&n), "", "nodes", "n2").is_err());
        assert!(
            node_restriction_on_create(Some(&n), "coordination.k8s.io", "leases", "n2").is_err()
        );
        assert!(node_restriction_on_create(Some(&n), "", "events", "x").is_ok());
        let admin = id("kubernetes-admin", &["system:masters"]);
        assert!(node_restriction_on_create(Some(&admin), "", "nodes", "n2").is_ok());
    }

    #[test]
    fn nodes_read_only_the_secrets_and_config_maps_their_pods_reference() {
        let n = node("n1");
        let get = |res: &'static str| attrs("get", "", res, None, Some("default"), Some("s"));
        for res in ["secrets", "configmaps", "persistentvolumeclaims"] {
            assert!(needs_reference(Some(&n), &get(res)));
            assert_eq!(authorize(Some(&n), &get(res), Some("n1")), Decision::Allow);
            assert!(matches!(
                authorize(Some(&n), &get(res), Some("n2")),
                Decision::Deny(_)
            ));
            assert!(matches!(
                authorize(Some(&n), &get(res), None),
                Decision::Deny(_)
            ));
            let list = attrs("list", "", res, None, Some("default"), None);
            assert!(!needs_reference(Some(&n), &list));
            assert!(matches!(
                authorize(Some(&n), &list, Some("n1")),
                Decision::Deny(_)
            ));
        }
        let pod = serde_json::json!({"spec": {
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "vol-secret"}},
                {"name": "b", "configMap": {"name": "vol-cm"}},
                {"name": "c", "projected": {"sources": [{"secret": {"name": "proj-secret"}},
                                                         {"configMap": {"name": "proj-cm"}}]}},
                {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [{"name": "c", "env": [
                {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}}],
                "envFrom": [{"configMapRef": {"name": "envfrom-cm"}}]}]}});
        for s in [
            "pull",
            "vol-secret",
            "proj-secret",
            "init-env",
            "env-secret",
        ] {
            assert!(pod_references(&pod, "secrets", s), "{s}");
            assert!(!pod_references(&pod, "configmaps", s), "{s}");
        }
        for c in ["vol-cm", "proj-cm", "env-cm", "envfrom-cm"] {
            assert!(pod_references(&pod, "configmaps", c), "{c}");
        }
        assert!(pod_references(&pod, "persistentvolumeclaims", "data"));
        assert!(!pod_references(&pod, "secrets", "other"));
    }

    #[test]
    fn forbidden_messages_read_like_kubernetes() {
        assert_eq!(
            forbidden_message(
                "system:bootstrap:abcdef",
                &attrs("list", "", "pods", None, Some("default"), None),
                None
            ),
            "pods is forbidden: User \"system:bootstrap:abcdef\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        assert_eq!(
            forbidden_message(
                "system:node:n1",
                &attrs("patch", "", "nodes", Some("status"), None, Some("n2")),
                Some("node 'n1' cannot modify node 'n2'")
            ),
            "nodes \"n2\" is forbidden: User \"system:node:n1\" cannot patch resource \"nodes/status\" in API group \"\" at the cluster scope: node 'n1' cannot modify node 'n2'"
        );
        assert_eq!(
            forbidden_message(
                "u",
                &attrs("list", "apps", "deployments", None, None, None),
                None
            ),
            "deployments.apps is forbidden: User \"u\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
        );
    }
}
