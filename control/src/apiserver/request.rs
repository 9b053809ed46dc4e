//! What a request asks for, read from its method, path and query: the API's routing table.
//!
//! The shapes follow kube-apiserver's request info: legacy `/api/v1/...`, grouped
//! `/apis/<group>/<version>/...`, optional `namespaces/<ns>/` scoping, then resource, name and
//! subresource.

use std::collections::HashMap;

use control_apimachinery::resources::{self, Resource};

use super::status::{ApiError, ApiResult};

/// Non-resource endpoints served beside the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health(&'static str),
    Metrics,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    ResourceList {
        group: String,
        version: String,
    },
    OpenApiV2,
    OpenApiV3Index,
    /// `/openapi/v3/<gv path>`, e.g. `api/v1` or `apis/apps/v1`
    OpenApiV3(String),
    /// `/api/v1/nodes/<name>/proxy[/<path>]`: a request relayed to the node's kubelet.
    NodeProxy {
        name: String,
        /// The kubelet path, starting with `/`.
        path: String,
    },
    Resource(ResourceRequest),
}

/// A request on a resource collection or object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub resource: &'static Resource,
    /// Namespace from the path; `None` for cluster-scoped resources and all-namespace lists.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses a request path into a route; `NoRoute` (404) for anything the server does not serve.
pub fn route(path: &str) -> ApiResult<Route> {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["healthz"] | ["healthz", ..] => return Ok(Route::Health("healthz")),
        ["livez"] | ["livez", ..] => return Ok(Route::Health("livez")),
        ["readyz"] | ["readyz", ..] => return Ok(Route::Health("readyz")),
        ["metrics"] => return Ok(Route::Metrics),
        ["openapi", "v2"] => return Ok(Route::OpenApiV2),
        ["openapi", "v3"] => return Ok(Route::OpenApiV3Index),
        ["openapi", "v3", rest @ ..] => return Ok(Route::OpenApiV3(rest.join("/"))),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["api", "v1", "nodes", name, "proxy", rest @ ..] => {
            return Ok(Route::NodeProxy {
                name: name.to_string(),
                path: format!("/{}", rest.join("/")),
            })
        }
        ["apis", group] => {
            if resources::groups().iter().any(|(g, _)| g == group) {
                return Ok(Route::Group(group.to_string()));
            }
            return Err(ApiError::NoRoute);
        }
        _ => {}
    }
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::NoRoute),
    };
    if !resources::RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version)
    {
        return Err(ApiError::NoRoute);
    }
    if rest.is_empty() {
        return Ok(Route::ResourceList {
            group: group.to_string(),
            version: version.to_string(),
        });
    }
    let mut rest: Vec<&str> = rest.to_vec();
    let mut namespace = None;
    // `namespaces/<ns>/<resource>...` scopes a namespaced resource, but `namespaces/<ns>/status`
    // and `.../finalize` are subresources of the Namespace object itself.
    if rest[0] == "namespaces" && rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
        namespace = Some(rest[1].to_string());
        rest.drain(..2);
    }
    let plural = rest[0];
    let resource = resources::by_plural(group, version, plural).ok_or(ApiError::NoRoute)?;
    if namespace.is_some() && !resource.namespaced {
        return Err(ApiError::NoRoute);
    }
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = rest.get(2).map(|s| s.to_string());
    if rest.len() > 3 {
        return Err(ApiError::NoRoute);
    }
    if let Some(sub) = &subresource {
        if !resource.subresources.contains(&sub.as_str()) {
            return Err(ApiError::NoRoute);
        }
    }
    Ok(Route::Resource(ResourceRequest {
        resource,
        namespace,
        name,
        subresource,
    }))
}

/// Decoded query parameters; repeated keys keep the last value, as Go's `Get` does the first
/// (kubectl never repeats them).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        if let Some(q) = raw {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1") | Some("true") | Some("True"))
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("invalid value for {key}: {v:?} is not an integer"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourceRequest {
        match route(path).unwrap() {
            Route::Resource(r) => r,
            other => panic!("{path} routed to {other:?}"),
        }
    }

    #[test]
    fn namespaced_object_paths_are_split_into_their_parts() {
        let r = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(r.resource.plural, "pods");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let d = res("/apis/apps/v1/namespaces/kube-system/deployments");
        assert_eq!(d.resource.kind, "Deployment");
        assert_eq!(d.name, None);
    }

    #[test]
    fn namespace_status_is_a_subresource_not_a_scope() {
        let r = res("/api/v1/namespaces/demo/status");
        assert_eq!(r.resource.plural, "namespaces");
        assert_eq!(r.name.as_deref(), Some("demo"));
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let all = res("/api/v1/pods");
        assert_eq!(all.namespace, None);
    }

    #[test]
    fn unknown_paths_and_versions_are_not_routed() {
        assert!(matches!(
            route("/apis/batch/v1beta1/cronjobs"),
            Err(ApiError::NoRoute)
        ));
        assert!(matches!(route("/api/v1/widgets"), Err(ApiError::NoRoute)));
        assert!(matches!(
            route("/api/v1/namespaces/a/nodes/x"),
            Err(ApiError::NoRoute)
        ));
        assert!(matches!(
            route("/api/v1/pods/x/bogus"),
            Err(ApiError::NoRoute)
        ));
        assert_eq!(route("/apis/apps").unwrap(), Route::Group("apps".into()));
        assert_eq!(route("/healthz/ping").unwrap(), Route::Health("healthz"));
    }

    #[test]
    fn node_proxy_paths_keep_the_kubelet_path() {
        assert_eq!(
            route("/api/v1/nodes/n1/proxy/stats/summary").unwrap(),
            Route::NodeProxy {
                name: "n1".into(),
                path: "/stats/summary".into()
            }
        );
        assert_eq!(
            route("/api/v1/nodes/n1/proxy").unwrap(),
            Route::NodeProxy {
                name: "n1".into(),
                path: "/".into()
            }
        );
        let log = res("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(log.subresource.as_deref(), Some("log"));
    }

    #[test]
    fn query_values_are_decoded() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&limit=5",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert!(q.int("watch").is_ok());
        assert!(Query::parse(Some("limit=x")).int("limit").is_err());
    }
}
