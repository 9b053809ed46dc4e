//! A container's environment and command line as kubelet builds them
//! (`makeEnvironmentVariables`, pkg/kubelet/envvars and the `$(VAR)` expansion of
//! third_party/forked/golang/expansion): `envFrom` first, then `env` in order (each value may
//! refer to variables defined before it and to the service variables), then the service
//! variables that nothing overrode. Pure: the objects a pod refers to are passed in.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use thiserror::Error;

use super::quantity::parse_milli;

/// Why a container cannot be given its environment; the pod then waits with reason
/// `CreateContainerConfigError` and this message, as kubelet reports it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKey {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKey {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("unsupported fieldPath: {0}")]
    FieldPath(String),
    #[error("unsupported container resource: {0}")]
    Resource(String),
    #[error("env var {0:?}: {1}")]
    Value(String, String),
}

/// What a pod's environment may refer to, looked up by the caller in the pod's namespace.
#[derive(Debug, Default, Clone)]
pub struct EnvSources<'a> {
    pub config_maps: HashMap<String, &'a ConfigMap>,
    pub secrets: HashMap<String, &'a Secret>,
    /// Services of the pod's namespace and of `default` (for the `kubernetes` Service).
    pub services: Vec<&'a Service>,
    /// Node allocatable CPU (millicores) and memory (bytes): what `limits.cpu` and
    /// `limits.memory` resolve to for a container without limits.
    pub node_allocatable_cpu_milli: i128,
    pub node_allocatable_memory: i128,
}

/// An ordered environment where a later definition replaces the value of an earlier one but
/// keeps its position, so the result is deterministic.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Env {
    pub fn set(&mut self, k: &str, v: String) {
        match self.index.get(k) {
            Some(&i) => self.vars[i].1 = v,
            None => {
                self.index.insert(k.to_string(), self.vars.len());
                self.vars.push((k.to_string(), v));
            }
        }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.index.get(k).map(|&i| self.vars[i].1.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// `KEY=value` strings, as a runtime takes them.
    pub fn to_strings(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

/// Expands `$(VAR)` references in `input` with `lookup`, as Kubernetes does: `$$` is a
/// literal `$`, a reference to an undefined variable (or an unterminated one) stays as written,
/// and a `$` followed by anything else is kept with that character.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&input[start..i]);
            match b[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                }
                b'(' => match input[i + 2..].find(')') {
                    Some(end) => {
                        let name = &input[i + 2..i + 2 + end];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        i += 3 + end;
                    }
                    None => {
                        out.push_str("$(");
                        i += 2;
                    }
                },
                _ => {
                    // Kept as written: `$` and the next character (which may be multibyte).
                    let ch = input[i + 1..].chars().next().expect("not at the end");
                    out.push('$');
                    out.push(ch);
                    i += 1 + ch.len_utf8();
                }
            }
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&input[start..]);
    out
}

/// The service variable prefix of a Service name: upper case, `-` as `_`.
fn service_prefix(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// The Services whose variables a pod in `namespace` gets, by name (kubelet's
/// `getServiceEnvVarMap`): the `kubernetes` Service of `default` always, and with service
/// links every Service of the pod's own namespace (winning over `default`'s). Headless and
/// IP-less Services give none.
pub fn service_env(namespace: &str, enable_service_links: bool, services: &[&Service]) -> Env {
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    for s in services {
        let ip = s.spec.as_ref().and_then(|sp| sp.cluster_ip.as_deref());
        if matches!(ip, None | Some("") | Some("None")) {
            continue;
        }
        let name = s.metadata.name.clone().unwrap_or_default();
        let ns = s.metadata.namespace.as_deref().unwrap_or("");
        if ns == "default" && name == "kubernetes" {
            chosen.entry(name).or_insert(s);
        } else if ns == namespace && enable_service_links {
            chosen.insert(name, s);
        }
    }
    let mut env = Env::default();
    for (name, s) in chosen {
        let spec = s.spec.as_ref().expect("checked above");
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        let p = service_prefix(&name);
        let ports = spec.ports.clone().unwrap_or_default();
        env.set(&format!("{p}_SERVICE_HOST"), ip.clone());
        if let Some(first) = ports.first() {
            env.set(&format!("{p}_SERVICE_PORT"), first.port.to_string());
        }
        for port in &ports {
            if let Some(pn) = port.name.as_deref().filter(|n| !n.is_empty()) {
                env.set(
                    &format!("{p}_SERVICE_PORT_{}", service_prefix(pn)),
                    port.port.to_string(),
                );
            }
        }
        // The Docker link variables, which older images still read.
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.clone()
        };
        let url = |port: &k8s_openapi::api::core::v1::ServicePort| {
            let proto = port
                .protocol
                .as_deref()
                .unwrap_or("TCP")
                .to_ascii_lowercase();
            (proto.clone(), format!("{proto}://{host}:{}", port.port))
        };
        if let Some(first) = ports.first() {
            env.set(&format!("{p}_PORT"), url(first).1);
        }
        for port in &ports {
            let (proto, u) = url(port);
            let base = format!("{p}_PORT_{}_{}", port.port, proto.to_ascii_uppercase());
            env.set(&base, u);
            env.set(&format!("{base}_PROTO"), proto);
            env.set(&format!("{base}_PORT"), port.port.to_string());
            env.set(&format!("{base}_ADDR"), ip.clone());
        }
    }
    env
}

/// The value of a downward API field path of `pod` (fields usable in env, and in downwardAPI
/// volumes, which also allow the whole `metadata.labels` and `metadata.annotations`).
pub fn field_value(pod: &Pod, path: &str, for_volume: bool) -> Result<String, EnvError> {
    let md = &pod.metadata;
    let st = pod.status.as_ref();
    let sp = pod.spec.as_ref();
    let map_key = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    let format_map = |m: &Option<BTreeMap<String, String>>| {
        m.iter()
            .flatten()
            .map(|(k, v)| {
                format!(
                    "{k}=\"{}\"",
                    v.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(match path {
        "metadata.name" => md.name.clone().unwrap_or_default(),
        "metadata.namespace" => md.namespace.clone().unwrap_or_default(),
        "metadata.uid" => md.uid.clone().unwrap_or_default(),
        "spec.nodeName" => sp.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => sp
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => st.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
        "status.podIP" => st.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        "status.hostIPs" => st
            .and_then(|s| s.host_ips.as_ref())
            .map(|ips| {
                ips.iter()
                    .map(|i| i.ip.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
        "status.podIPs" => st
            .and_then(|s| s.pod_ips.as_ref())
            .map(|ips| {
                ips.iter()
                    .map(|i| i.ip.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
        "metadata.labels" if for_volume => format_map(&md.labels),
        "metadata.annotations" if for_volume => format_map(&md.annotations),
        _ => {
            if let Some(k) = map_key("metadata.labels") {
                md.labels
                    .as_ref()
                    .and_then(|m| m.get(&k))
                    .cloned()
                    .unwrap_or_default()
            } else if let Some(k) = map_key("metadata.annotations") {
                md.annotations
                    .as_ref()
                    .and_then(|m| m.get(&k))
                    .cloned()
                    .unwrap_or_default()
            } else {
                return Err(EnvError::FieldPath(path.to_string()));
            }
        }
    })
}

/// The value of a `resourceFieldRef`: the container's request or limit divided by the divisor,
/// rounded up; a missing limit of cpu or memory is the node's allocatable (kubelet merges
/// allocatable into unset limits first).
pub fn resource_value(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
    sources: &EnvSources<'_>,
) -> Result<String, EnvError> {
    let bad = || EnvError::Resource(resource.to_string());
    let (kind, name) = resource.split_once('.').ok_or_else(bad)?;
    let res = container.resources.as_ref();
    let list = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        "requests" => res.and_then(|r| r.requests.as_ref()),
        _ => return Err(bad()),
    };
    let set = list
        .and_then(|l| l.get(name))
        .map(|q| parse_milli(&q.0).map_err(|e| EnvError::Value(resource.into(), e.to_string())))
        .transpose()?;
    let milli = match (kind, name, set) {
        (_, _, Some(v)) => v,
        ("limits", "cpu", None) => sources.node_allocatable_cpu_milli,
        ("limits", "memory", None) => sources.node_allocatable_memory * 1000,
        (_, "cpu" | "memory" | "ephemeral-storage", None) => 0,
        (_, n, None) if n.starts_with("hugepages-") => 0,
        _ => return Err(bad()),
    };
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !name.starts_with("hugepages-") {
        return Err(bad());
    }
    let div = match divisor {
        Some(d) => parse_milli(d).map_err(|e| EnvError::Value(resource.into(), e.to_string()))?,
        None => 1000,
    };
    if div <= 0 {
        return Err(EnvError::Value(
            resource.into(),
            "divisor must be positive".into(),
        ));
    }
    // cpu is divided in millicores, the others in whole units; both round up.
    let (num, den) = if name == "cpu" {
        (milli, div)
    } else {
        ((milli + 999) / 1000, ((div + 999) / 1000).max(1))
    };
    Ok(((num + den - 1).div_euclid(den)).to_string())
}

fn secret_string(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .or_else(|| s.string_data.as_ref().and_then(|d| d.get(key)).cloned())
}

fn config_map_string(c: &ConfigMap, key: &str) -> Option<String> {
    c.data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
        .or_else(|| {
            c.binary_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        })
}

/// Whether an `envFrom` key can be a variable name. Kubernetes 1.32 relaxed the rule to any
/// printable ASCII but `=`; keys that fail are skipped, not fatal (kubelet records an event).
pub fn valid_env_name(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

/// The container's environment, or why it cannot be built.
pub fn container_env(
    pod: &Pod,
    container: &Container,
    sources: &EnvSources<'_>,
) -> Result<Env, EnvError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let services = service_env(&ns, links, &sources.services);
    let mut env = Env::default();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let pairs: Vec<(String, String)> = if let Some(r) = &from.config_map_ref {
            match sources.config_maps.get(&r.name) {
                Some(cm) => {
                    let mut keys: Vec<String> =
                        cm.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                    keys.extend(cm.binary_data.iter().flatten().map(|(k, _)| k.clone()));
                    keys.into_iter()
                        .map(|k| {
                            let v = config_map_string(cm, &k).unwrap_or_default();
                            (k, v)
                        })
                        .collect()
                }
                None if r.optional == Some(true) => Vec::new(),
                None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
            }
        } else if let Some(r) = &from.secret_ref {
            match sources.secrets.get(&r.name) {
                Some(s) => s
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                    .collect(),
                None if r.optional == Some(true) => Vec::new(),
                None => return Err(EnvError::SecretNotFound(r.name.clone())),
            }
        } else {
            Vec::new()
        };
        for (k, v) in pairs {
            let name = format!("{prefix}{k}");
            if valid_env_name(&name) {
                env.set(&name, v);
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match &var.value_from {
            None => {
                let raw = var.value.clone().unwrap_or_default();
                let lookup = |n: &str| env.get(n).or_else(|| services.get(n)).map(str::to_string);
                Some(expand(&raw, &lookup))
            }
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    Some(field_value(pod, &f.field_path, false)?)
                } else if let Some(r) = &from.resource_field_ref {
                    Some(resource_value(
                        container,
                        &r.resource,
                        r.divisor.as_ref().map(|d| d.0.as_str()),
                        sources,
                    )?)
                } else if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.config_maps.get(&r.name) {
                        None if optional => None,
                        None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
                        Some(cm) => match config_map_string(cm, &r.key) {
                            Some(v) => Some(v),
                            None if optional => None,
                            None => {
                                return Err(EnvError::ConfigMapKey {
                                    key: r.key.clone(),
                                    namespace: ns.clone(),
                                    name: r.name.clone(),
                                })
                            }
                        },
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.secrets.get(&r.name) {
                        None if optional => None,
                        None => return Err(EnvError::SecretNotFound(r.name.clone())),
                        Some(s) => match secret_string(s, &r.key) {
                            Some(v) => Some(v),
                            None if optional => None,
                            None => {
                                return Err(EnvError::SecretKey {
                                    key: r.key.clone(),
                                    namespace: ns.clone(),
                                    name: r.name.clone(),
                                })
                            }
                        },
                    }
                } else {
                    None
                }
            }
        };
        if let Some(v) = value {
            env.set(&var.name, v);
        }
    }
    for (k, v) in services.vars() {
        if env.get(k).is_none() {
            env.set(k, v.clone());
        }
    }
    Ok(env)
}

/// The container's argv: `command` (or the image's entrypoint) then `args` (or the image's
/// cmd), each element `$(VAR)`-expanded with the final environment, as kubelet's
/// `ExpandContainerCommandAndArgs` does. `args` replaces the image cmd even when empty only if
/// it is set; `command` set alone drops the image cmd, as Docker and Kubernetes agree.
pub fn argv(
    container: &Container,
    env: &Env,
    image_entrypoint: &[String],
    image_cmd: &[String],
) -> Vec<String> {
    let lookup = |n: &str| env.get(n).map(str::to_string);
    let expand_all = |v: &[String]| v.iter().map(|s| expand(s, &lookup)).collect::<Vec<_>>();
    let (entry, cmd) = match (&container.command, &container.args) {
        (Some(c), Some(a)) => (expand_all(c), expand_all(a)),
        (Some(c), None) => (expand_all(c), Vec::new()),
        (None, Some(a)) => (image_entrypoint.to_vec(), expand_all(a)),
        (None, None) => (image_entrypoint.to_vec(), image_cmd.to_vec()),
    };
    entry.into_iter().chain(cmd).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |n| m.get(n).cloned()
    }

    #[test]
    fn expansion_follows_kubernetes_edge_cases() {
        let l = lookup_from(&[("A", "x"), ("EMPTY", ""), ("B", "$(A)")]);
        let e = |s: &str| expand(s, &l);
        assert_eq!(e("$(A)"), "x");
        assert_eq!(e("pre-$(A)-post"), "pre-x-post");
        assert_eq!(e("$(A)$(A)"), "xx");
        assert_eq!(e("$(EMPTY)"), "");
        // Undefined references stay as written.
        assert_eq!(e("$(MISSING)"), "$(MISSING)");
        // `$$` escapes.
        assert_eq!(e("$$(A)"), "$(A)");
        assert_eq!(e("$$$(A)"), "$x");
        assert_eq!(e("$$$$"), "$$");
        // Unterminated and bare dollars are kept.
        assert_eq!(e("$(A"), "$(A");
        assert_eq!(e("a$"), "a$");
        assert_eq!(e("$A"), "$A");
        assert_eq!(e("$é"), "$é");
        assert_eq!(e("$()"), "$()");
        // Values are not expanded again.
        assert_eq!(e("$(B)"), "$(A)");
        assert_eq!(e("no refs"), "no refs");
    }

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports},
        }))
        .unwrap()
    }

    #[test]
    fn service_variables_include_docker_links() {
        let redis = svc(
            "app",
            "redis-primary",
            "10.0.0.11",
            json!([{"name": "redis", "port": 6379, "protocol": "TCP"}, {"port": 9121, "protocol": "UDP"}]),
        );
        let env = service_env("app", true, &[&redis]);
        let get = |k: &str| env.get(k).map(str::to_string);
        assert_eq!(
            get("REDIS_PRIMARY_SERVICE_HOST").as_deref(),
            Some("10.0.0.11")
        );
        assert_eq!(get("REDIS_PRIMARY_SERVICE_PORT").as_deref(), Some("6379"));
        assert_eq!(
            get("REDIS_PRIMARY_SERVICE_PORT_REDIS").as_deref(),
            Some("6379")
        );
        assert_eq!(
            get("REDIS_PRIMARY_PORT").as_deref(),
            Some("tcp://10.0.0.11:6379")
        );
        assert_eq!(
            get("REDIS_PRIMARY_PORT_6379_TCP").as_deref(),
            Some("tcp://10.0.0.11:6379")
        );
        assert_eq!(
            get("REDIS_PRIMARY_PORT_6379_TCP_PROTO").as_deref(),
            Some("tcp")
        );
        assert_eq!(
            get("REDIS_PRIMARY_PORT_6379_TCP_PORT").as_deref(),
            Some("6379")
        );
        assert_eq!(
            get("REDIS_PRIMARY_PORT_6379_TCP_ADDR").as_deref(),
            Some("10.0.0.11")
        );
        assert_eq!(
            get("REDIS_PRIMARY_PORT_9121_UDP").as_deref(),
            Some("udp://10.0.0.11:9121")
        );
        assert_eq!(env.vars().len(), 12);
    }

    #[test]
    fn which_services_a_pod_sees() {
        let k = svc(
            "default",
            "kubernetes",
            "10.96.0.1",
            json!([{"name": "https", "port": 443}]),
        );
        let other_ns = svc("default", "web", "10.96.0.9", json!([{"port": 80}]));
        let mine = svc("app", "web", "10.96.0.20", json!([{"port": 8080}]));
        let headless = svc("app", "db", "None", json!([{"port": 5432}]));
        let v6 = svc("app", "six", "fd00::5", json!([{"port": 80}]));
        let all = [&k, &other_ns, &mine, &headless, &v6];
        let env = service_env("app", true, &all);
        assert_eq!(env.get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(env.get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(env.get("WEB_SERVICE_HOST"), Some("10.96.0.20"));
        assert_eq!(env.get("DB_SERVICE_HOST"), None);
        assert_eq!(env.get("SIX_SERVICE_HOST"), Some("fd00::5"));
        assert_eq!(env.get("SIX_PORT"), Some("tcp://[fd00::5]:80"));
        // Without service links only the API server's Service remains.
        let env = service_env("app", false, &all);
        assert_eq!(env.get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(env.get("WEB_SERVICE_HOST"), None);
        // A pod's own `kubernetes` Service wins over default's.
        let own = svc("app", "kubernetes", "10.96.0.77", json!([{"port": 1}]));
        let env = service_env("app", true, &[&k, &own]);
        assert_eq!(env.get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.77"));
    }

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "app", "uid": "u-1",
                         "labels": {"app": "web", "tier": "fe"}, "annotations": {"a": "b\"c"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": containers},
            "status": {"podIP": "10.244.0.5", "hostIP": "10.0.0.1",
                       "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}]},
        }))
        .unwrap()
    }

    #[test]
    fn env_resolves_every_source_in_kubernetes_order() {
        let p = pod(json!([{
            "name": "c", "image": "x",
            "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "250m"}},
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                        {"secretRef": {"name": "sec"}}],
            "env": [
                {"name": "CFG_MODE", "value": "override"},
                {"name": "GREETING", "value": "hello $(NAME) at $(WEB_SERVICE_HOST) $(LATER)"},
                {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "LATER", "value": "late"},
                {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
                {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
                {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": true}}},
                {"name": "WEB_SERVICE_PORT", "value": "mine"},
            ],
        }]));
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cfg"},
            "data": {"mode": "fast", "bad=key": "x"}}))
        .unwrap();
        let sec: Secret = serde_json::from_value(json!({"metadata": {"name": "sec"},
            "data": {"password": "czNjcjN0"}}))
        .unwrap();
        let web = svc("app", "web", "10.96.0.20", json!([{"port": 8080}]));
        let sources = EnvSources {
            config_maps: HashMap::from([("cfg".to_string(), &cm)]),
            secrets: HashMap::from([("sec".to_string(), &sec)]),
            services: vec![&web],
            node_allocatable_cpu_milli: 3500,
            node_allocatable_memory: 8 << 30,
        };
        let c = &p.spec.as_ref().unwrap().containers[0];
        let env = container_env(&p, c, &sources).unwrap();
        let get = |k: &str| env.get(k).map(str::to_string);
        assert_eq!(get("CFG_MODE").as_deref(), Some("override"));
        assert_eq!(get("CFG_bad=key"), None);
        assert_eq!(get("password").as_deref(), Some("s3cr3t"));
        // NAME and LATER are defined after GREETING, so they stay unexpanded; service
        // variables are always visible.
        assert_eq!(
            get("GREETING").as_deref(),
            Some("hello $(NAME) at 10.96.0.20 $(LATER)")
        );
        assert_eq!(get("NAME").as_deref(), Some("web-1"));
        assert_eq!(get("TIER").as_deref(), Some("fe"));
        assert_eq!(get("IPS").as_deref(), Some("10.244.0.5,fd00::5"));
        assert_eq!(get("MEM").as_deref(), Some("256"));
        assert_eq!(get("CPU").as_deref(), Some("1"));
        assert_eq!(get("CPU_M").as_deref(), Some("250"));
        assert_eq!(get("CPU_LIMIT").as_deref(), Some("4"));
        assert_eq!(get("KEY").as_deref(), Some("fast"));
        assert_eq!(get("PASS").as_deref(), Some("s3cr3t"));
        assert_eq!(get("OPT"), None);
        assert_eq!(get("WEB_SERVICE_PORT").as_deref(), Some("mine"));
        assert_eq!(get("WEB_SERVICE_HOST").as_deref(), Some("10.96.0.20"));
        // Order: envFrom, env, then the service variables nothing overrode.
        let names: Vec<&str> = env.vars().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names[..3], ["CFG_mode", "password", "CFG_MODE"]);
        assert_eq!(names.last(), Some(&"WEB_PORT_8080_TCP_ADDR"));
    }

    #[test]
    fn missing_references_fail_unless_optional() {
        let p = pod(json!([{"name": "c", "image": "x",
            "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}]}]));
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {}})).unwrap();
        let c = &p.spec.as_ref().unwrap().containers[0];
        let with = EnvSources {
            config_maps: HashMap::from([("cfg".to_string(), &cm)]),
            ..Default::default()
        };
        assert_eq!(
            container_env(&p, c, &with).unwrap_err().to_string(),
            "couldn't find key nope in ConfigMap app/cfg"
        );
        assert_eq!(
            container_env(&p, c, &EnvSources::default())
                .unwrap_err()
                .to_string(),
            "configmap \"cfg\" not found"
        );
        let p =
            pod(json!([{"name": "c", "image": "x", "envFrom": [{"secretRef": {"name": "s"}}]}]));
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            container_env(&p, c, &EnvSources::default()).unwrap_err(),
            EnvError::SecretNotFound("s".into())
        );
        let p = pod(json!([{"name": "c", "image": "x",
            "env": [{"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers"}}}]}]));
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert!(matches!(
            container_env(&p, c, &EnvSources::default()),
            Err(EnvError::FieldPath(_))
        ));
    }

    #[test]
    fn command_and_args_expand_with_the_final_environment() {
        let mut env = Env::default();
        env.set("PORT", "8080".into());
        let c: Container = serde_json::from_value(json!({"name": "c",
            "command": ["/bin/server", "--port=$(PORT)"], "args": ["$(MISSING)", "$$(PORT)"]}))
        .unwrap();
        let ep = vec!["/entry".to_string()];
        let cmd = vec!["default".to_string()];
        assert_eq!(
            argv(&c, &env, &ep, &cmd),
            ["/bin/server", "--port=8080", "$(MISSING)", "$(PORT)"]
        );
        let c: Container = serde_json::from_value(json!({"name": "c", "args": ["-v"]})).unwrap();
        assert_eq!(argv(&c, &env, &ep, &cmd), ["/entry", "-v"]);
        let c: Container = serde_json::from_value(json!({"name": "c", "command": ["/x"]})).unwrap();
        assert_eq!(argv(&c, &env, &ep, &cmd), ["/x"]);
        let c: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        assert_eq!(argv(&c, &env, &ep, &cmd), ["/entry", "default"]);
    }

    #[test]
    fn downward_maps_render_as_kubelet_writes_them_in_volumes() {
        let p = pod(json!([]));
        assert_eq!(
            field_value(&p, "metadata.labels", true).unwrap(),
            "app=\"web\"\ntier=\"fe\""
        );
        assert_eq!(
            field_value(&p, "metadata.annotations", true).unwrap(),
            "a=\"b\\\"c\""
        );
        assert!(field_value(&p, "metadata.labels", false).is_err());
    }
}
