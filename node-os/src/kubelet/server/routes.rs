//! Which handler a request goes to, from its method and path, as the kubelet's routes in
//! `pkg/kubelet/server/server.go` declare them; and the query string, parsed as Go's
//! `url.ParseQuery` does (repeated keys kept in order, `+` a space).

use http::Method;

/// A container addressed by a streaming request (`/exec/...`, `/attach/...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerTarget {
    pub namespace: String,
    pub pod: String,
    /// The pod UID, when the path carries one.
    pub uid: Option<String>,
    /// May be empty: the backend then picks the pod's only container.
    pub container: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Metrics,
    ContainerLogs {
        namespace: String,
        pod: String,
        container: String,
    },
    Exec(ContainerTarget),
    Attach(ContainerTarget),
    PortForward {
        namespace: String,
        pod: String,
        uid: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
}

/// Routes a request. Path parameters are single non-empty segments, as go-restful matches
/// them.
pub fn route(method: &Method, path: &str) -> Result<Route, RouteError> {
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    if segments.iter().skip(1).any(|s| s.is_empty()) {
        return Err(RouteError::NotFound);
    }
    let get_only = |r: Route| {
        if method == Method::GET || method == Method::HEAD {
            Ok(r)
        } else {
            Err(RouteError::MethodNotAllowed("GET"))
        }
    };
    let get_or_post = |r: Route| {
        if method == Method::GET || method == Method::POST {
            Ok(r)
        } else {
            Err(RouteError::MethodNotAllowed("GET, POST"))
        }
    };
    let owned = |s: &&str| s.to_string();
    match segments.as_slice() {
        ["healthz"] => get_only(Route::Healthz),
        ["metrics"] => get_only(Route::Metrics),
        ["containerLogs", ns, pod, container] => get_only(Route::ContainerLogs {
            namespace: owned(ns),
            pod: owned(pod),
            container: owned(container),
        }),
        [verb @ ("exec" | "attach"), ns, pod, rest @ ..] if (1..=2).contains(&rest.len()) => {
            let (uid, container) = match rest {
                [container] => (None, container),
                [uid, container] => (Some(owned(uid)), container),
                _ => unreachable!("length checked above"),
            };
            let target = ContainerTarget {
                namespace: owned(ns),
                pod: owned(pod),
                uid,
                container: owned(container),
            };
            get_or_post(if *verb == "exec" {
                Route::Exec(target)
            } else {
                Route::Attach(target)
            })
        }
        ["portForward", ns, pod, rest @ ..] if rest.len() <= 1 => get_or_post(Route::PortForward {
            namespace: owned(ns),
            pod: owned(pod),
            uid: rest.first().map(owned),
        }),
        _ => Err(RouteError::NotFound),
    }
}

/// The label requests are counted under: the path's first segment for known endpoints (as the
/// kubelet's `getMetricBucket`), so that pod names do not explode the label set.
pub fn metric_bucket(path: &str) -> &'static str {
    match path.trim_start_matches('/').split('/').next() {
        Some("healthz") => "healthz",
        Some("metrics") => "metrics",
        Some("containerLogs") => "containerLogs",
        Some("exec") => "exec",
        Some("attach") => "attach",
        Some("portForward") => "portForward",
        _ => "other",
    }
}

/// A parsed query string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (unescape(k), unescape(v))
            })
            .collect();
        Query(pairs)
    }

    /// The first value of `key`, as Go's `Values.Get`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order (`command=sh&command=-c`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Go's `QueryUnescape`, lenient: a malformed escape is kept as written.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_routes_take_an_optional_uid_before_the_container() {
        assert_eq!(
            route(&Method::POST, "/exec/default/web/app"),
            Ok(Route::Exec(ContainerTarget {
                namespace: "default".into(),
                pod: "web".into(),
                uid: None,
                container: "app".into(),
            }))
        );
        assert_eq!(
            route(&Method::GET, "/attach/default/web/1234/app"),
            Ok(Route::Attach(ContainerTarget {
                namespace: "default".into(),
                pod: "web".into(),
                uid: Some("1234".into()),
                container: "app".into(),
            }))
        );
        assert_eq!(
            route(&Method::GET, "/exec/default/web/a/b/c"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(&Method::PUT, "/exec/default/web/app"),
            Err(RouteError::MethodNotAllowed("GET, POST"))
        );
    }

    #[test]
    fn port_forward_and_logs_routes() {
        assert_eq!(
            route(&Method::POST, "/portForward/ns/p"),
            Ok(Route::PortForward {
                namespace: "ns".into(),
                pod: "p".into(),
                uid: None
            })
        );
        assert_eq!(
            route(&Method::GET, "/portForward/ns/p/uid-1"),
            Ok(Route::PortForward {
                namespace: "ns".into(),
                pod: "p".into(),
                uid: Some("uid-1".into())
            })
        );
        assert_eq!(
            route(&Method::GET, "/containerLogs/ns/p/c"),
            Ok(Route::ContainerLogs {
                namespace: "ns".into(),
                pod: "p".into(),
                container: "c".into()
            })
        );
        assert_eq!(
            route(&Method::POST, "/containerLogs/ns/p/c"),
            Err(RouteError::MethodNotAllowed("GET"))
        );
        assert_eq!(
            route(&Method::GET, "/containerLogs/ns//c"),
            Err(RouteError::NotFound)
        );
        assert_eq!(route(&Method::GET, "/pods"), Err(RouteError::NotFound));
        assert_eq!(route(&Method::GET, "/healthz"), Ok(Route::Healthz));
    }

    #[test]
    fn metric_buckets_hide_pod_names() {
        assert_eq!(metric_bucket("/exec/ns/pod/c"), "exec");
        assert_eq!(metric_bucket("/containerLogs/ns/pod/c"), "containerLogs");
        assert_eq!(metric_bucket("/nonsense/x"), "other");
    }

    #[test]
    fn queries_keep_repeated_keys_and_unescape_like_go() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo+a%20b%3B&stdout=1&x=%zz",
        ));
        assert_eq!(q.all("command"), vec!["sh", "-c", "echo a b;"]);
        assert_eq!(q.get("stdout"), Some("1"));
        assert_eq!(q.get("x"), Some("%zz"));
        assert_eq!(q.get("missing"), None);
        assert_eq!(Query::parse(Some("follow")).get("follow"), Some(""));
    }
}
