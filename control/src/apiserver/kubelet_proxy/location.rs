//! Where a pod's `log`, `exec`, `attach` or `portforward` request goes, decided without IO:
//! kube-apiserver's `LogLocation`, `streamLocation` and `PortForwardLocation` (the container
//! checks, the kubelet path and the query it is sent with) and the kubelet's address from the
//! Node, as its `NodeConnectionInfoGetter` picks it.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use serde_json::Value;

use crate::apiserver::status::{ApiError, ApiResult, Cause};

/// The kubelet port when a Node reports none (`--kubelet-port`'s default).
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Node address types tried in order. kubeadm prefers InternalIP, then ExternalIP (then
/// Hostname, which would need DNS and a certificate for the name; the kubelet's serving
/// certificate is verified for the IP).
pub const PREFERRED_ADDRESS_TYPES: &[&str] = &["InternalIP", "ExternalIP"];

/// Request headers that make an upgrade (WebSocket or SPDY) and are sent on to the kubelet;
/// nothing else of the client's request is (its credentials least of all).
pub const UPGRADE_HEADERS: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
];

/// The streaming subresources of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Exec,
    Attach,
    PortForward,
}

impl Stream {
    pub fn from_subresource(sub: &str) -> Option<Stream> {
        match sub {
            "exec" => Some(Stream::Exec),
            "attach" => Some(Stream::Attach),
            "portforward" => Some(Stream::PortForward),
            _ => None,
        }
    }

    /// `pods/exec` and so on, as errors name the resource.
    pub fn resource(self) -> &'static str {
        match self {
            Stream::Exec => "pods/exec",
            Stream::Attach => "pods/attach",
            Stream::PortForward => "pods/portforward",
        }
    }
}

/// A request's query parameters in order, repeated keys kept (`command` repeats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            raw.map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    fn all<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn first(&self, key: &str) -> Option<&str> {
        self.all(key).next()
    }

    /// A boolean as Kubernetes decodes query parameters: present and neither `0` nor `false`
    /// (any case) is true, so `?follow` alone is true.
    fn flag(&self, key: &str) -> bool {
        self.first(key)
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.first(key) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
            }),
        }
    }

    /// The container, empty meaning "not given" as in Kubernetes.
    fn container(&self) -> Option<&str> {
        self.first("container").filter(|c| !c.is_empty())
    }
}

/// The options of `pods/log` (Kubernetes' `PodLogOptions`) that reach the kubelet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub since_seconds: Option<i64>,
    /// RFC 3339, normalized to UTC.
    pub since_time: Option<String>,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
}

impl LogOptions {
    /// Decodes the query (400 for values that do not parse) and validates the options as
    /// `ValidatePodLogOptions` does (422 naming `PodLogOptions`). `insecureSkipTLSVerifyBackend`
    /// is accepted and ignored: kubelets' serving certificates are always verified here.
    pub fn from_query(params: &Params, pod_name: &str) -> ApiResult<LogOptions> {
        let since_time = match params.first("sinceTime") {
            None | Some("") => None,
            Some(t) => Some(
                t.parse::<jiff::Timestamp>()
                    .map_err(|_| {
                        ApiError::BadRequest(format!(
                            "parsing time {t:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse"
                        ))
                    })?
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            ),
        };
        let opts = LogOptions {
            container: params.container().map(str::to_string),
            follow: params.flag("follow"),
            previous: params.flag("previous"),
            timestamps: params.flag("timestamps"),
            since_seconds: params.int("sinceSeconds")?,
            since_time,
            tail_lines: params.int("tailLines")?,
            limit_bytes: params.int("limitBytes")?,
        };
        let mut causes = Vec::new();
        let invalid = |field: &str, value: i64, message: &str| Cause {
            reason: "FieldValueInvalid".into(),
            field: field.into(),
            message: format!("Invalid value: {value}: {message}"),
        };
        if let Some(n) = opts.tail_lines.filter(|n| *n < 0) {
            causes.push(invalid(
                "tailLines",
                n,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(n) = opts.limit_bytes.filter(|n| *n < 1) {
            causes.push(invalid("limitBytes", n, "must be greater than 0"));
        }
        match (opts.since_seconds, &opts.since_time) {
            (Some(_), Some(_)) => causes.push(Cause {
                reason: "FieldValueForbidden".into(),
                field: String::new(),
                message: "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                    .into(),
            }),
            (Some(n), None) if n < 1 => {
                causes.push(invalid("sinceSeconds", n, "must be greater than 0"))
            }
            _ => {}
        }
        if !causes.is_empty() {
            return Err(invalid_log_options(pod_name, causes));
        }
        Ok(opts)
    }

    /// The query the kubelet gets, keys sorted as Go's `url.Values.Encode` sorts them.
    fn kubelet_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if self.follow {
            q.append_pair("follow", "true");
        }
        if let Some(n) = self.limit_bytes {
            q.append_pair("limitBytes", &n.to_string());
        }
        if self.previous {
            q.append_pair("previous", "true");
        }
        if let Some(n) = self.since_seconds {
            q.append_pair("sinceSeconds", &n.to_string());
        }
        if let Some(t) = &self.since_time {
            q.append_pair("sinceTime", t);
        }
        if let Some(n) = self.tail_lines {
            q.append_pair("tailLines", &n.to_string());
        }
        if self.timestamps {
            q.append_pair("timestamps", "true");
        }
        q.finish()
    }
}

/// `PodLogOptions "<pod>" is invalid: ...`, as `errors.NewInvalid` words it.
fn invalid_log_options(pod_name: &str, causes: Vec<Cause>) -> ApiError {
    let list: Vec<String> = causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    let joined = if list.len() == 1 {
        list[0].clone()
    } else {
        format!("[{}]", list.join(", "))
    };
    ApiError::Invalid {
        group: String::new(),
        kind: "PodLogOptions".into(),
        name: pod_name.into(),
        message: format!("PodLogOptions \"{pod_name}\" is invalid: {joined}"),
        causes,
    }
}

/// A request to send to a pod's kubelet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletTarget {
    /// The node the pod is bound to.
    pub node: String,
    /// Path and query on the kubelet, e.g. `/containerLogs/default/web/app?follow=true`.
    pub path_and_query: String,
}

fn with_query(path: String, query: String) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

fn pod_name(pod: &Value) -> &str {
    pod["metadata"]["name"].as_str().unwrap_or("")
}

fn pod_namespace(pod: &Value) -> &str {
    pod["metadata"]["namespace"].as_str().unwrap_or("")
}

fn node_name(pod: &Value) -> Option<&str> {
    pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty())
}

/// Every container name of a pod in Kubernetes' visiting order: init, regular, ephemeral.
fn container_names(pod: &Value) -> Vec<&str> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|list| pod["spec"][list].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect()
}

/// The container a request is for: the one named (which must exist), or the pod's only
/// container (`validateContainer`).
pub fn container(pod: &Value, requested: Option<&str>) -> ApiResult<String> {
    let name = pod_name(pod);
    match requested {
        Some(c) if container_names(pod).contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::BadRequest(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => {
            let containers = pod["spec"]["containers"].as_array();
            match containers.map(Vec::len).unwrap_or(0) {
                1 => Ok(containers.expect("one container")[0]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()),
                0 => Err(ApiError::BadRequest(format!(
                    "a container name must be specified for pod {name}"
                ))),
                _ => Err(ApiError::BadRequest(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    container_names(pod).join(" ")
                ))),
            }
        }
    }
}

/// Where a pod's log is read: `None` when the pod is not scheduled yet, which Kubernetes
/// answers with an empty log rather than an error.
pub fn log_location(pod: &Value, opts: &LogOptions) -> ApiResult<Option<KubeletTarget>> {
    let container = container(pod, opts.container.as_deref())?;
    let Some(node) = node_name(pod) else {
        return Ok(None);
    };
    let path = format!(
        "/containerLogs/{}/{}/{container}",
        pod_namespace(pod),
        pod_name(pod)
    );
    Ok(Some(KubeletTarget {
        node: node.to_string(),
        path_and_query: with_query(path, opts.kubelet_query()),
    }))
}

/// Where an exec, attach or port-forward goes, with the query Kubernetes sends the kubelet:
/// booleans as `1`, `stdout` and `stderr` always on (the defaults of `PodExecOptions` and
/// `PodAttachOptions` apply after decoding), each `command` word in order, and the ports of a
/// port-forward as one `port` list. An exec without a command is refused here rather than by
/// the container runtime.
pub fn stream_location(pod: &Value, stream: Stream, params: &Params) -> ApiResult<KubeletTarget> {
    let (ns, name) = (pod_namespace(pod), pod_name(pod));
    let container = match stream {
        Stream::PortForward => None,
        _ => Some(container(pod, params.container())?),
    };
    let node = node_name(pod)
        .ok_or_else(|| ApiError::BadRequest(format!("pod {name} does not have a host assigned")))?;
    let mut q = form_urlencoded::Serializer::new(String::new());
    let path = match (stream, container) {
        (Stream::Exec | Stream::Attach, Some(container)) => {
            let command: Vec<&str> = params.all("command").collect();
            if stream == Stream::Exec {
                if command.is_empty() {
                    return Err(ApiError::BadRequest(
                        "you must specify at least one command for the container".into(),
                    ));
                }
                for word in &command {
                    q.append_pair("command", word);
                }
            }
            q.append_pair("stderr", "1");
            if params.flag("stdin") {
                q.append_pair("stdin", "1");
            }
            q.append_pair("stdout", "1");
            if params.flag("tty") {
                q.append_pair("tty", "1");
            }
            let verb = if stream == Stream::Exec {
                "exec"
            } else {
                "attach"
            };
            format!("/{verb}/{ns}/{name}/{container}")
        }
        _ => {
            let mut ports = Vec::new();
            for list in params.all("ports") {
                for p in list.split(',') {
                    let port: u16 = p.parse().map_err(|_| {
                        ApiError::BadRequest(format!(
                            "cannot convert to []int32: strconv.ParseUint: parsing {p:?}: invalid syntax"
                        ))
                    })?;
                    ports.push(port.to_string());
                }
            }
            if !ports.is_empty() {
                q.append_pair("port", &ports.join(","));
            }
            format!("/portForward/{ns}/{name}")
        }
    };
    Ok(KubeletTarget {
        node: node.to_string(),
        path_and_query: with_query(path, q.finish()),
    })
}

/// The kubelet's HTTPS address from its Node: the first address of a preferred type and
/// `status.daemonEndpoints.kubeletEndpoint.Port` (10250 when unset). The error is Kubernetes'
/// `no preferred addresses found; known addresses: [...]`.
pub fn kubelet_endpoint(node: &Value) -> Result<SocketAddr, String> {
    let addresses: Vec<(&str, &str)> = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["type"].as_str()?, a["address"].as_str()?)))
        .collect();
    let ip = PREFERRED_ADDRESS_TYPES.iter().find_map(|want| {
        addresses
            .iter()
            .filter(|(t, _)| t == want)
            .find_map(|(_, a)| a.parse::<IpAddr>().ok())
    });
    let Some(ip) = ip else {
        let known: Vec<String> = addresses
            .iter()
            .map(|(t, a)| format!("{{{t} {a}}}"))
            .collect();
        return Err(format!(
            "no preferred addresses found; known addresses: [{}]",
            known.join(" ")
        ));
    };
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok(SocketAddr::new(ip, port))
}

/// Whether a request asks for a protocol upgrade, as apimachinery's `IsUpgradeRequest` reads
/// it: a `Connection` header mentioning `upgrade`.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("upgrade"))
}

/// The client's [`UPGRADE_HEADERS`], every value kept in order (SPDY clients send several
/// `X-Stream-Protocol-Version` headers).
pub fn upgrade_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in UPGRADE_HEADERS {
        for v in headers.get_all(*name) {
            out.append(*name, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], node: Option<&str>) -> Value {
        let containers: Vec<Value> = containers.iter().map(|c| json!({"name": c})).collect();
        let mut p = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": containers}});
        if let Some(n) = node {
            p["spec"]["nodeName"] = json!(n);
        }
        p
    }

    fn message(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn the_only_container_is_the_default_and_others_must_be_named() {
        assert_eq!(container(&pod(&["app"], None), None).unwrap(), "app");
        let mut two = pod(&["app", "sidecar"], None);
        two["spec"]["initContainers"] = json!([{"name": "init"}]);
        assert_eq!(
            message(container(&two, None).unwrap_err()),
            "a container name must be specified for pod web, choose one of: [init app sidecar]"
        );
        assert_eq!(container(&two, Some("init")).unwrap(), "init");
        let e = container(&two, Some("nope")).unwrap_err();
        assert_eq!(e.code(), 400);
        assert_eq!(message(e), "container nope is not valid for pod web");
        assert_eq!(
            message(container(&pod(&[], None), None).unwrap_err()),
            "a container name must be specified for pod web"
        );
    }

    #[test]
    fn log_options_reach_the_kubelet_in_kubernetes_form() {
        let params = Params::parse(Some(
            "container=app&follow=true&tailLines=10&timestamps=1&previous=false&limitBytes=500&insecureSkipTLSVerifyBackend=true",
        ));
        let opts = LogOptions::from_query(&params, "web").unwrap();
        let target = log_location(&pod(&["app", "b"], Some("n1")), &opts)
            .unwrap()
            .unwrap();
        assert_eq!(target.node, "n1");
        assert_eq!(
            target.path_and_query,
            "/containerLogs/default/web/app?follow=true&limitBytes=500&tailLines=10&timestamps=true"
        );
        let since = LogOptions::from_query(
            &Params::parse(Some("sinceTime=2024-05-01T12:00:00%2B02:00")),
            "web",
        )
        .unwrap();
        assert_eq!(since.since_time.as_deref(), Some("2024-05-01T10:00:00Z"));
        let plain = log_location(&pod(&["app"], Some("n1")), &LogOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(plain.path_and_query, "/containerLogs/default/web/app");
        // Not scheduled yet: an empty log, as Kubernetes answers.
        assert_eq!(
            log_location(&pod(&["app"], None), &LogOptions::default()).unwrap(),
            None
        );
    }

    #[test]
    fn invalid_log_options_are_refused_as_kubernetes_refuses_them() {
        let invalid = |q: &str| {
            let e = LogOptions::from_query(&Params::parse(Some(q)), "web").unwrap_err();
            (e.code().as_u16(), e.to_string())
        };
        assert_eq!(
            invalid("tailLines=-1"),
            (
                422,
                "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
                    .into()
            )
        );
        assert_eq!(invalid("limitBytes=0").0, 422);
        assert_eq!(invalid("sinceSeconds=0").0, 422);
        assert!(invalid("sinceSeconds=5&sinceTime=2024-05-01T10:00:00Z")
            .1
            .contains("at most one of `sinceTime` or `sinceSeconds` may be specified"));
        assert_eq!(invalid("tailLines=x").0, 400);
        assert_eq!(invalid("sinceTime=yesterday").0, 400);
    }

    #[test]
    fn exec_goes_to_the_kubelet_with_each_command_word_and_numeric_flags() {
        let params = Params::parse(Some(
            "command=sh&command=-c&command=echo+a%26b&container=app&stdin=true&stdout=true&tty=false",
        ));
        let t = stream_location(&pod(&["app", "b"], Some("n1")), Stream::Exec, &params).unwrap();
        assert_eq!(
            t.path_and_query,
            "/exec/default/web/app?command=sh&command=-c&command=echo+a%26b&stderr=1&stdin=1&stdout=1"
        );
        let e = stream_location(
            &pod(&["app"], Some("n1")),
            Stream::Exec,
            &Params::parse(Some("stdout=true")),
        )
        .unwrap_err();
        assert_eq!(e.code(), 400);
        let attach = stream_location(
            &pod(&["app"], Some("n1")),
            Stream::Attach,
            &Params::parse(Some("stdin=1&tty=1&command=ignored")),
        )
        .unwrap();
        assert_eq!(
            attach.path_and_query,
            "/attach/default/web/app?stderr=1&stdin=1&stdout=1&tty=1"
        );
        let e = stream_location(&pod(&["app"], None), Stream::Attach, &Params::parse(None))
            .unwrap_err();
        assert_eq!(e.to_string(), "pod web does not have a host assigned");
        let e = stream_location(
            &pod(&["app", "b"], Some("n1")),
            Stream::Exec,
            &Params::parse(Some("command=ls&container=c")),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "container c is not valid for pod web");
    }

    #[test]
    fn port_forward_needs_no_container_and_passes_its_ports() {
        let t = stream_location(
            &pod(&["a", "b"], Some("n1")),
            Stream::PortForward,
            &Params::parse(Some("ports=8080&ports=9090,53")),
        )
        .unwrap();
        assert_eq!(
            t.path_and_query,
            "/portForward/default/web?port=8080%2C9090%2C53"
        );
        let bare = stream_location(
            &pod(&["a"], Some("n1")),
            Stream::PortForward,
            &Params::parse(None),
        )
        .unwrap();
        assert_eq!(bare.path_and_query, "/portForward/default/web");
        assert_eq!(
            stream_location(
                &pod(&["a"], Some("n1")),
                Stream::PortForward,
                &Params::parse(Some("ports=http")),
            )
            .unwrap_err()
            .code(),
            400
        );
    }

    #[test]
    fn the_kubelet_is_found_at_the_preferred_address_and_reported_port() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"},
                          {"type": "ExternalIP", "address": "203.0.113.7"},
                          {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10350}}}});
        assert_eq!(
            kubelet_endpoint(&node).unwrap(),
            "10.0.0.5:10350".parse().unwrap()
        );
        let external =
            json!({"status": {"addresses": [{"type": "ExternalIP", "address": "fd00::7"}]}});
        assert_eq!(
            kubelet_endpoint(&external).unwrap(),
            "[fd00::7]:10250".parse().unwrap()
        );
        let hostname_only =
            json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(
            kubelet_endpoint(&hostname_only).unwrap_err(),
            "no preferred addresses found; known addresses: [{Hostname n1}]"
        );
        assert!(kubelet_endpoint(&json!({})).is_err());
    }

    #[test]
    fn only_upgrade_headers_are_forwarded_and_every_value_is_kept() {
        let mut h = HeaderMap::new();
        h.insert("connection", "Upgrade".parse().unwrap());
        h.insert("upgrade", "SPDY/3.1".parse().unwrap());
        h.append(
            "x-stream-protocol-version",
            "v5.channel.k8s.io".parse().unwrap(),
        );
        h.append(
            "x-stream-protocol-version",
            "v4.channel.k8s.io".parse().unwrap(),
        );
        h.insert("authorization", "Bearer secret".parse().unwrap());
        h.insert("cookie", "a=b".parse().unwrap());
        assert!(is_upgrade_request(&h));
        let out = upgrade_headers(&h);
        assert_eq!(out.len(), 4);
        assert!(out.get("authorization").is_none() && out.get("cookie").is_none());
        let versions: Vec<_> = out.get_all("x-stream-protocol-version").iter().collect();
        assert_eq!(versions, ["v5.channel.k8s.io", "v4.channel.k8s.io"]);
        let mut plain = HeaderMap::new();
        plain.insert("connection", "keep-alive".parse().unwrap());
        assert!(!is_upgrade_request(&plain));
    }
}
