//! The REST operations of each document, described once and rendered into either the OpenAPI
//! 3.0 or the Swagger 2.0 shape.
//!
//! kubectl reads three things from operations: `x-kubernetes-group-version-kind` (explain finds
//! a resource's kind through its collection path, and `kubectl apply` finds the PATCH operation
//! of a kind), the PATCH request body's media types (strategic merge is only attempted when
//! `application/strategic-merge-patch+json` is listed) and the PATCH operation's own query
//! parameters (the `fieldValidation` parameter tells kubectl the server validates fields, so it
//! skips client-side validation). Parameters are therefore written inline on each operation,
//! never as shared `$ref`s, because kubectl only looks at the inline names.

use serde_json::{json, Map, Value};

use super::definitions::{
    Catalog, API_GROUP, API_GROUP_LIST, API_RESOURCE_LIST, API_VERSIONS, BINDING, DELETE_OPTIONS,
    EVICTION, PATCH, SCALE, STATUS, VERSION_INFO,
};
use crate::resources::{Resource, RESOURCES};

/// One parameter of an operation.
pub(crate) struct Param {
    name: &'static str,
    location: &'static str,
    description: &'static str,
    ty: &'static str,
    required: bool,
}

const fn query(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "query",
        description,
        ty,
        required: false,
    }
}

static NAME: Param = Param {
    name: "name",
    location: "path",
    description: "Name of the object.",
    ty: "string",
    required: true,
};
static NAMESPACE: Param = Param {
    name: "namespace",
    location: "path",
    description: "Namespace of the object; the scope of its name and of access control.",
    ty: "string",
    required: true,
};
static PRETTY: Param = query("pretty", "string", "When 'true', the response is indented.");
static DRY_RUN: Param = query(
    "dryRun",
    "string",
    "When present, the request is processed but nothing is persisted. The only valid value is 'All'.",
);
static FIELD_MANAGER: Param = query(
    "fieldManager",
    "string",
    "Name of the actor making the change, recorded in managedFields.",
);
static FIELD_VALIDATION: Param = query(
    "fieldValidation",
    "string",
    "How unknown or duplicate fields in the body are treated: Ignore (drop them silently), Warn (drop them and answer with a warning per field) or Strict (reject the request).",
);
static FORCE: Param = query(
    "force",
    "boolean",
    "Take ownership of fields other managers own. Only meaningful for apply patches.",
);
static ALLOW_WATCH_BOOKMARKS: Param = query(
    "allowWatchBookmarks",
    "boolean",
    "Ask for BOOKMARK events in a watch. The server may ignore it.",
);
static CONTINUE: Param = query(
    "continue",
    "string",
    "Token from a previous paged list response to fetch the next page.",
);
static FIELD_SELECTOR: Param = query(
    "fieldSelector",
    "string",
    "Restrict the objects returned by their fields. Everything by default.",
);
static LABEL_SELECTOR: Param = query(
    "labelSelector",
    "string",
    "Restrict the objects returned by their labels. Everything by default.",
);
static LIMIT: Param = query(
    "limit",
    "integer",
    "Largest number of objects in one list response; the rest is fetched with 'continue'.",
);
static RESOURCE_VERSION: Param = query(
    "resourceVersion",
    "string",
    "Constrains which resource versions the request may be served from. Unset means the most recent.",
);
static RESOURCE_VERSION_MATCH: Param = query(
    "resourceVersionMatch",
    "string",
    "How resourceVersion is applied to a list: Exact or NotOlderThan.",
);
static SEND_INITIAL_EVENTS: Param = query(
    "sendInitialEvents",
    "boolean",
    "Begin a watch with synthetic ADDED events for the current state, followed by a bookmark.",
);
static TIMEOUT_SECONDS: Param = query(
    "timeoutSeconds",
    "integer",
    "Time limit for a list or watch call, whatever the activity.",
);
static WATCH: Param = query(
    "watch",
    "boolean",
    "Stream add, update and remove notifications instead of returning a list.",
);
static GRACE_PERIOD_SECONDS: Param = query(
    "gracePeriodSeconds",
    "integer",
    "Seconds before the object is deleted; zero means at once. Defaults to the kind's own grace period.",
);
static IGNORE_STORE_READ_ERROR: Param = query(
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "boolean",
    "Delete an object that cannot be read from storage (decoding or transformation failure), skipping finalizers and admission. Dangerous.",
);
static ORPHAN_DEPENDENTS: Param = query(
    "orphanDependents",
    "boolean",
    "Deprecated in favour of propagationPolicy: whether dependents are orphaned.",
);
static PROPAGATION_POLICY: Param = query(
    "propagationPolicy",
    "string",
    "Whether and how dependents are garbage collected: Orphan, Background or Foreground.",
);
static CONTAINER: Param = query(
    "container",
    "string",
    "The container to use; optional when the pod has only one.",
);
static FOLLOW: Param = query("follow", "boolean", "Keep streaming the log as it grows.");
static INSECURE_SKIP_TLS: Param = query(
    "insecureSkipTLSVerifyBackend",
    "boolean",
    "Do not verify the serving certificate of the kubelet the log is read from.",
);
static LIMIT_BYTES: Param = query(
    "limitBytes",
    "integer",
    "Stop after this many bytes of log output.",
);
static PREVIOUS: Param = query(
    "previous",
    "boolean",
    "Return the log of the previous, terminated instance of the container.",
);
static SINCE_SECONDS: Param = query(
    "sinceSeconds",
    "integer",
    "Only return log lines newer than this many seconds.",
);
static STREAM: Param = query(
    "stream",
    "string",
    "Which log stream to return: All, Stdout or Stderr.",
);
static TAIL_LINES: Param = query(
    "tailLines",
    "integer",
    "Number of lines from the end of the log to return.",
);
static TIMESTAMPS: Param = query(
    "timestamps",
    "boolean",
    "Prefix every log line with its RFC3339 timestamp.",
);
static COMMAND: Param = query(
    "command",
    "string",
    "The command to run, one argument per value.",
);
static STDIN: Param = query("stdin", "boolean", "Attach the standard input stream.");
static STDOUT: Param = query("stdout", "boolean", "Attach the standard output stream.");
static STDERR: Param = query("stderr", "boolean", "Attach the standard error stream.");
static TTY: Param = query("tty", "boolean", "Allocate a terminal. Implies stdin.");
static PORTS: Param = query("ports", "integer", "The ports to forward.");

static LIST_PARAMS: &[&Param] = &[
    &ALLOW_WATCH_BOOKMARKS,
    &CONTINUE,
    &FIELD_SELECTOR,
    &LABEL_SELECTOR,
    &LIMIT,
    &RESOURCE_VERSION,
    &RESOURCE_VERSION_MATCH,
    &SEND_INITIAL_EVENTS,
    &TIMEOUT_SECONDS,
    &WATCH,
];
static WRITE_PARAMS: &[&Param] = &[&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION];
static PATCH_PARAMS: &[&Param] = &[&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION, &FORCE];
static DELETE_PARAMS: &[&Param] = &[
    &DRY_RUN,
    &GRACE_PERIOD_SECONDS,
    &IGNORE_STORE_READ_ERROR,
    &ORPHAN_DEPENDENTS,
    &PROPAGATION_POLICY,
];
static DELETE_COLLECTION_PARAMS: &[&Param] = &[
    &CONTINUE,
    &DRY_RUN,
    &FIELD_SELECTOR,
    &GRACE_PERIOD_SECONDS,
    &IGNORE_STORE_READ_ERROR,
    &LABEL_SELECTOR,
    &LIMIT,
    &ORPHAN_DEPENDENTS,
    &PROPAGATION_POLICY,
    &RESOURCE_VERSION,
    &RESOURCE_VERSION_MATCH,
    &SEND_INITIAL_EVENTS,
    &TIMEOUT_SECONDS,
];
static LOG_PARAMS: &[&Param] = &[
    &CONTAINER,
    &FOLLOW,
    &INSECURE_SKIP_TLS,
    &LIMIT_BYTES,
    &PREVIOUS,
    &SINCE_SECONDS,
    &STREAM,
    &TAIL_LINES,
    &TIMESTAMPS,
];
static EXEC_PARAMS: &[&Param] = &[&COMMAND, &CONTAINER, &STDERR, &STDIN, &STDOUT, &TTY];
static ATTACH_PARAMS: &[&Param] = &[&CONTAINER, &STDERR, &STDIN, &STDOUT, &TTY];
static PORT_FORWARD_PARAMS: &[&Param] = &[&PORTS];

/// The media types a PATCH body may have, one per patch type.
pub(crate) const PATCH_MEDIA_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
const OBJECT_MEDIA_TYPES: &[&str] = &["application/json", "application/yaml"];
const LIST_MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/json;stream=watch",
];

/// What an operation's request body is.
pub(crate) enum Body {
    /// An object of the named definition, in any of the object media types.
    Object(String),
    /// A patch document in any of [`PATCH_MEDIA_TYPES`].
    Patch,
}

/// What an operation answers with.
pub(crate) enum Answer {
    /// Objects of the named definition, per status code.
    Object(Vec<(u16, String)>),
    /// A list of the named definition (also streamable as watch events).
    List(String),
    /// Plain text or a stream (logs, exec).
    Text,
    /// Nothing described.
    Nothing,
}

pub(crate) struct Operation {
    pub method: &'static str,
    pub id: String,
    pub description: String,
    /// `x-kubernetes-action`; `None` for the discovery operations, which Kubernetes leaves
    /// unmarked.
    pub action: Option<&'static str>,
    pub gvk: Option<(String, String, String)>,
    pub params: Vec<&'static Param>,
    pub body: Option<Body>,
    pub answer: Answer,
    pub tag: String,
}

pub(crate) struct PathItem {
    pub path: String,
    pub params: Vec<&'static Param>,
    pub operations: Vec<Operation>,
}

/// `apps` → `Apps`, `coordination.k8s.io` → `Coordination`, core → `Core`.
fn group_ident(group: &str) -> String {
    let first = group.split('.').next().unwrap_or_default();
    if first.is_empty() {
        "Core".to_string()
    } else {
        capitalize(first)
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn tag(group: &str, version: &str) -> String {
    let first = group.split('.').next().unwrap_or_default();
    let first = if first.is_empty() { "core" } else { first };
    format!("{first}_{version}")
}

fn gvk(group: &str, version: &str, kind: &str) -> Option<(String, String, String)> {
    Some((group.into(), version.into(), kind.into()))
}

/// Operations every group version document carries besides its resources.
fn resource_list_path(group: &str, version: &str) -> PathItem {
    let prefix = gv_prefix(group, version);
    PathItem {
        path: format!("{prefix}/"),
        params: vec![],
        operations: vec![Operation {
            method: "get",
            id: format!(
                "get{}{}APIResources",
                group_ident(group),
                capitalize(version)
            ),
            description: "Get the resources this group version serves.".into(),
            action: None,
            gvk: None,
            params: vec![],
            body: None,
            answer: Answer::Object(vec![(200, API_RESOURCE_LIST.into())]),
            tag: tag(group, version),
        }],
    }
}

fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// All paths of one group version, in resource table order.
pub(crate) fn group_version_paths(catalog: &Catalog, group: &str, version: &str) -> Vec<PathItem> {
    let mut items = vec![resource_list_path(group, version)];
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        items.extend(resource_paths(catalog, r));
    }
    items
}

fn resource_paths(catalog: &Catalog, r: &Resource) -> Vec<PathItem> {
    let Some(def) = catalog.definition_of(r.group, r.version, r.kind) else {
        return Vec::new();
    };
    let def = def.to_string();
    let list_def = catalog
        .definition_of(r.group, r.version, &r.list_kind())
        .map(str::to_string);
    let gv = capitalize(r.version);
    let g = group_ident(r.group);
    let ident = if r.namespaced {
        format!("{g}{gv}Namespaced{}", r.kind)
    } else {
        format!("{g}{gv}{}", r.kind)
    };
    let prefix = r.group_version_path();
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let object = format!("{collection}/{{name}}");
    let can = |verb: &str| r.verbs.contains(&verb);
    let own_gvk = || gvk(r.group, r.version, r.kind);
    let tag = tag(r.group, r.version);
    let op =
        |method: &'static str, id: String, description: String, action: &'static str| Operation {
            method,
            id,
            description,
            action: Some(action),
            gvk: own_gvk(),
            params: vec![],
            body: None,
            answer: Answer::Nothing,
            tag: tag.clone(),
        };
    let scope_params = |with_name: bool| {
        let mut params: Vec<&'static Param> = Vec::new();
        if with_name {
            params.push(&NAME);
        }
        if r.namespaced {
            params.push(&NAMESPACE);
        }
        params.push(&PRETTY);
        params
    };

    let mut items = Vec::new();

    // The collection: list, create, delete many.
    let mut ops = Vec::new();
    if can("list") {
        if let Some(list_def) = &list_def {
            ops.push(Operation {
                params: LIST_PARAMS.to_vec(),
                answer: Answer::List(list_def.clone()),
                ..op(
                    "get",
                    format!("list{ident}"),
                    format!("List or watch objects of kind {}.", r.kind),
                    "list",
                )
            });
        }
    }
    if can("create") {
        ops.push(Operation {
            params: WRITE_PARAMS.to_vec(),
            body: Some(Body::Object(def.clone())),
            answer: Answer::Object(vec![
                (200, def.clone()),
                (201, def.clone()),
                (202, def.clone()),
            ]),
            ..op(
                "post",
                format!("create{ident}"),
                format!("Create a {}.", r.kind),
                "post",
            )
        });
    }
    if can("deletecollection") {
        ops.push(Operation {
            params: DELETE_COLLECTION_PARAMS.to_vec(),
            body: Some(Body::Object(DELETE_OPTIONS.into())),
            answer: Answer::Object(vec![(200, STATUS.into())]),
            ..op(
                "delete",
                format!("deletecollection{ident}"),
                format!("Delete a collection of {} objects.", r.kind),
                "deletecollection",
            )
        });
    }
    if !ops.is_empty() {
        items.push(PathItem {
            path: collection.clone(),
            params: scope_params(false),
            operations: ops,
        });
    }

    // Namespaced kinds can also be listed across all namespaces.
    if r.namespaced && can("list") {
        if let Some(list_def) = &list_def {
            items.push(PathItem {
                path: format!("{prefix}/{}", r.plural),
                params: vec![&PRETTY],
                operations: vec![Operation {
                    params: LIST_PARAMS.to_vec(),
                    answer: Answer::List(list_def.clone()),
                    ..op(
                        "get",
                        format!("list{g}{gv}{}ForAllNamespaces", r.kind),
                        format!(
                            "List or watch objects of kind {} in all namespaces.",
                            r.kind
                        ),
                        "list",
                    )
                }],
            });
        }
    }

    // The object: read, replace, delete, patch.
    let mut ops = Vec::new();
    if can("get") {
        ops.push(Operation {
            answer: Answer::Object(vec![(200, def.clone())]),
            ..op(
                "get",
                format!("read{ident}"),
                format!("Read the specified {}.", r.kind),
                "get",
            )
        });
    }
    if can("update") {
        ops.push(Operation {
            params: WRITE_PARAMS.to_vec(),
            body: Some(Body::Object(def.clone())),
            answer: Answer::Object(vec![(200, def.clone()), (201, def.clone())]),
            ..op(
                "put",
                format!("replace{ident}"),
                format!("Replace the specified {}.", r.kind),
                "put",
            )
        });
    }
    if can("delete") {
        ops.push(Operation {
            params: DELETE_PARAMS.to_vec(),
            body: Some(Body::Object(DELETE_OPTIONS.into())),
            answer: Answer::Object(vec![(200, def.clone()), (202, def.clone())]),
            ..op(
                "delete",
                format!("delete{ident}"),
                format!("Delete a {}.", r.kind),
                "delete",
            )
        });
    }
    if can("patch") {
        ops.push(Operation {
            params: PATCH_PARAMS.to_vec(),
            body: Some(Body::Patch),
            answer: Answer::Object(vec![(200, def.clone()), (201, def.clone())]),
            ..op(
                "patch",
                format!("patch{ident}"),
                format!("Partially update the specified {}.", r.kind),
                "patch",
            )
        });
    }
    if !ops.is_empty() {
        items.push(PathItem {
            path: object.clone(),
            params: scope_params(true),
            operations: ops,
        });
    }

    for sub in r.subresources {
        let path = format!("{object}/{sub}");
        let suffix = match *sub {
            "portforward" => "PortForward".to_string(),
            other => capitalize(other),
        };
        let named = |verb: &str| format!("{verb}{ident}{suffix}");
        let operations = match *sub {
            // Same kind, same body as the object itself, confined to one part of it.
            "status" | "approval" => {
                let what = *sub;
                vec![
                    Operation {
                        answer: Answer::Object(vec![(200, def.clone())]),
                        ..op(
                            "get",
                            named("read"),
                            format!("Read {what} of the specified {}.", r.kind),
                            "get",
                        )
                    },
                    Operation {
                        params: WRITE_PARAMS.to_vec(),
                        body: Some(Body::Object(def.clone())),
                        answer: Answer::Object(vec![(200, def.clone()), (201, def.clone())]),
                        ..op(
                            "put",
                            named("replace"),
                            format!("Replace {what} of the specified {}.", r.kind),
                            "put",
                        )
                    },
                    Operation {
                        params: PATCH_PARAMS.to_vec(),
                        body: Some(Body::Patch),
                        answer: Answer::Object(vec![(200, def.clone()), (201, def.clone())]),
                        ..op(
                            "patch",
                            named("patch"),
                            format!("Partially update {what} of the specified {}.", r.kind),
                            "patch",
                        )
                    },
                ]
            }
            "scale" => {
                let scale_gvk = || gvk("autoscaling", "v1", "Scale");
                vec![
                    Operation {
                        gvk: scale_gvk(),
                        answer: Answer::Object(vec![(200, SCALE.into())]),
                        ..op(
                            "get",
                            named("read"),
                            format!("Read scale of the specified {}.", r.kind),
                            "get",
                        )
                    },
                    Operation {
                        gvk: scale_gvk(),
                        params: WRITE_PARAMS.to_vec(),
                        body: Some(Body::Object(SCALE.into())),
                        answer: Answer::Object(vec![(200, SCALE.into()), (201, SCALE.into())]),
                        ..op(
                            "put",
                            named("replace"),
                            format!("Replace scale of the specified {}.", r.kind),
                            "put",
                        )
                    },
                    Operation {
                        gvk: scale_gvk(),
                        params: PATCH_PARAMS.to_vec(),
                        body: Some(Body::Patch),
                        answer: Answer::Object(vec![(200, SCALE.into()), (201, SCALE.into())]),
                        ..op(
                            "patch",
                            named("patch"),
                            format!("Partially update scale of the specified {}.", r.kind),
                            "patch",
                        )
                    },
                ]
            }
            "binding" | "eviction" => {
                let (body_def, body_gvk) = if *sub == "binding" {
                    (BINDING, gvk("", "v1", "Binding"))
                } else {
                    (EVICTION, gvk("policy", "v1", "Eviction"))
                };
                vec![Operation {
                    gvk: body_gvk,
                    params: WRITE_PARAMS.to_vec(),
                    body: Some(Body::Object(body_def.into())),
                    answer: Answer::Object(vec![
                        (200, body_def.into()),
                        (201, body_def.into()),
                        (202, body_def.into()),
                    ]),
                    ..op(
                        "post",
                        named("create"),
                        format!("Create {sub} of a {}.", r.kind),
                        "post",
                    )
                }]
            }
            "finalize" => vec![Operation {
                params: WRITE_PARAMS.to_vec(),
                body: Some(Body::Object(def.clone())),
                answer: Answer::Object(vec![(200, def.clone()), (201, def.clone())]),
                ..op(
                    "put",
                    named("replace"),
                    format!("Replace finalize of the specified {}.", r.kind),
                    "put",
                )
            }],
            "log" => vec![Operation {
                params: LOG_PARAMS.to_vec(),
                answer: Answer::Text,
                ..op(
                    "get",
                    named("read"),
                    format!("Read the log of the specified {}.", r.kind),
                    "get",
                )
            }],
            "exec" | "attach" | "portforward" => {
                let (params, options_kind) = match *sub {
                    "exec" => (EXEC_PARAMS, "PodExecOptions"),
                    "attach" => (ATTACH_PARAMS, "PodAttachOptions"),
                    _ => (PORT_FORWARD_PARAMS, "PodPortForwardOptions"),
                };
                ["get", "post"]
                    .into_iter()
                    .map(|method| Operation {
                        gvk: gvk(r.group, r.version, options_kind),
                        params: params.to_vec(),
                        answer: Answer::Text,
                        ..op(
                            method,
                            format!("connect{}{ident}{suffix}", capitalize(method)),
                            format!("Connect {method} requests to {sub} of a {}.", r.kind),
                            "connect",
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        if !operations.is_empty() {
            items.push(PathItem {
                path,
                params: scope_params(true),
                operations,
            });
        }
    }
    items
}

/// The discovery document paths: `/api/`, `/apis/`, `/apis/<group>/` and `/version/`.
pub(crate) fn discovery_path(doc: &str) -> Option<PathItem> {
    let (path, id, description, def, tag) = match doc {
        "api" => (
            "/api/".to_string(),
            "getCoreAPIVersions".to_string(),
            "Get the versions of the core API.",
            API_VERSIONS,
            "core".to_string(),
        ),
        "apis" => (
            "/apis/".to_string(),
            "getAPIVersions".to_string(),
            "Get the API groups and their versions.",
            API_GROUP_LIST,
            "apis".to_string(),
        ),
        "version" => (
            "/version/".to_string(),
            "getCodeVersion".to_string(),
            "Get the version of the server's code.",
            VERSION_INFO,
            "version".to_string(),
        ),
        _ => {
            let group = doc.strip_prefix("apis/")?;
            if group.contains('/') || !RESOURCES.iter().any(|r| r.group == group) {
                return None;
            }
            (
                format!("/apis/{group}/"),
                format!("get{}APIGroup", group_ident(group)),
                "Get the versions of this API group.",
                API_GROUP,
                group.split('.').next().unwrap_or(group).to_string(),
            )
        }
    };
    Some(PathItem {
        path,
        params: vec![],
        operations: vec![Operation {
            method: "get",
            id,
            description: description.into(),
            action: None,
            gvk: None,
            params: vec![],
            body: None,
            answer: Answer::Object(vec![(200, def.into())]),
            tag,
        }],
    })
}

/// Definitions an operation list refers to directly.
pub(crate) fn referenced_definitions(items: &[PathItem]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    };
    for item in items {
        for op in &item.operations {
            match &op.body {
                Some(Body::Object(def)) => add(def),
                Some(Body::Patch) => add(PATCH),
                None => {}
            }
            match &op.answer {
                Answer::Object(codes) => codes.iter().for_each(|(_, def)| add(def)),
                Answer::List(def) => add(def),
                Answer::Text | Answer::Nothing => {}
            }
        }
    }
    out
}

fn gvk_value(gvk: &(String, String, String)) -> Value {
    json!({ "group": gvk.0, "kind": gvk.2, "version": gvk.1 })
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "Response",
    }
}

fn v3_param(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(p.name));
    m.insert("in".into(), json!(p.location));
    m.insert("description".into(), json!(p.description));
    if p.required {
        m.insert("required".into(), json!(true));
    }
    m.insert(
        "schema".into(),
        json!({ "type": p.ty, "uniqueItems": true }),
    );
    Value::Object(m)
}

fn v3_content(types: &[&str], schema: &Value) -> Value {
    let mut content = Map::new();
    for t in types {
        content.insert((*t).into(), json!({ "schema": schema }));
    }
    Value::Object(content)
}

fn v3_ref(def: &str) -> Value {
    json!({ "$ref": format!("{}{def}", super::definitions::V3_PREFIX) })
}

fn v2_ref(def: &str) -> Value {
    json!({ "$ref": format!("{}{def}", super::definitions::V2_PREFIX) })
}

/// Renders path items as an OpenAPI 3.0 `paths` object.
pub(crate) fn render_v3(items: &[PathItem]) -> Value {
    let mut paths = Map::new();
    for item in items {
        let mut path = Map::new();
        for op in &item.operations {
            let mut o = Map::new();
            o.insert("tags".into(), json!([op.tag]));
            o.insert("description".into(), json!(op.description));
            o.insert("operationId".into(), json!(op.id));
            if !op.params.is_empty() {
                o.insert(
                    "parameters".into(),
                    Value::Array(op.params.iter().map(|p| v3_param(p)).collect()),
                );
            }
            match &op.body {
                Some(Body::Object(def)) => {
                    o.insert(
                        "requestBody".into(),
                        json!({ "content": v3_content(&["*/*"], &v3_ref(def)), "required": true }),
                    );
                }
                Some(Body::Patch) => {
                    o.insert(
                        "requestBody".into(),
                        json!({ "content": v3_content(PATCH_MEDIA_TYPES, &v3_ref(PATCH)), "required": true }),
                    );
                }
                None => {}
            }
            let mut responses = Map::new();
            match &op.answer {
                Answer::Object(codes) => {
                    for (code, def) in codes {
                        responses.insert(
                            code.to_string(),
                            json!({ "description": status_text(*code), "content": v3_content(OBJECT_MEDIA_TYPES, &v3_ref(def)) }),
                        );
                    }
                }
                Answer::List(def) => {
                    responses.insert(
                        "200".into(),
                        json!({ "description": "OK", "content": v3_content(LIST_MEDIA_TYPES, &v3_ref(def)) }),
                    );
                }
                Answer::Text => {
                    responses.insert(
                        "200".into(),
                        json!({ "description": "OK", "content": v3_content(&["*/*"], &json!({ "type": "string" })) }),
                    );
                }
                Answer::Nothing => {}
            }
            responses.insert("401".into(), json!({ "description": "Unauthorized" }));
            o.insert("responses".into(), Value::Object(responses));
            if let Some(action) = op.action {
                o.insert("x-kubernetes-action".into(), json!(action));
            }
            if let Some(gvk) = &op.gvk {
                o.insert("x-kubernetes-group-version-kind".into(), gvk_value(gvk));
            }
            path.insert(op.method.into(), Value::Object(o));
        }
        if !item.params.is_empty() {
            path.insert(
                "parameters".into(),
                Value::Array(item.params.iter().map(|p| v3_param(p)).collect()),
            );
        }
        paths.insert(item.path.clone(), Value::Object(path));
    }
    Value::Object(paths)
}

fn v2_param(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("uniqueItems".into(), json!(true));
    m.insert("type".into(), json!(p.ty));
    m.insert("description".into(), json!(p.description));
    m.insert("name".into(), json!(p.name));
    m.insert("in".into(), json!(p.location));
    if p.required {
        m.insert("required".into(), json!(true));
    }
    Value::Object(m)
}

/// Renders path items into a Swagger 2.0 `paths` object, adding to `paths`.
pub(crate) fn render_v2(items: &[PathItem], paths: &mut Map<String, Value>) {
    for item in items {
        let mut path = Map::new();
        for op in &item.operations {
            let mut o = Map::new();
            o.insert("description".into(), json!(op.description));
            match &op.body {
                Some(Body::Patch) => {
                    o.insert("consumes".into(), json!(PATCH_MEDIA_TYPES));
                }
                _ => {
                    o.insert("consumes".into(), json!(["*/*"]));
                }
            }
            let produces: &[&str] = match &op.answer {
                Answer::List(_) => LIST_MEDIA_TYPES,
                Answer::Text => &["*/*"],
                _ => OBJECT_MEDIA_TYPES,
            };
            o.insert("produces".into(), json!(produces));
            o.insert("schemes".into(), json!(["https"]));
            o.insert("tags".into(), json!([op.tag]));
            o.insert("operationId".into(), json!(op.id));
            let mut params: Vec<Value> = Vec::new();
            match &op.body {
                Some(Body::Object(def)) => params.push(
                    json!({ "name": "body", "in": "body", "required": true, "schema": v2_ref(def) }),
                ),
                Some(Body::Patch) => params.push(
                    json!({ "name": "body", "in": "body", "required": true, "schema": v2_ref(PATCH) }),
                ),
                None => {}
            }
            params.extend(op.params.iter().map(|p| v2_param(p)));
            if !params.is_empty() {
                o.insert("parameters".into(), Value::Array(params));
            }
            let mut responses = Map::new();
            match &op.answer {
                Answer::Object(codes) => {
                    for (code, def) in codes {
                        responses.insert(
                            code.to_string(),
                            json!({ "description": status_text(*code), "schema": v2_ref(def) }),
                        );
                    }
                }
                Answer::List(def) => {
                    responses.insert(
                        "200".into(),
                        json!({ "description": "OK", "schema": v2_ref(def) }),
                    );
                }
                Answer::Text => {
                    responses.insert(
                        "200".into(),
                        json!({ "description": "OK", "schema": { "type": "string" } }),
                    );
                }
                Answer::Nothing => {}
            }
            responses.insert("401".into(), json!({ "description": "Unauthorized" }));
            o.insert("responses".into(), Value::Object(responses));
            if let Some(action) = op.action {
                o.insert("x-kubernetes-action".into(), json!(action));
            }
            if let Some(gvk) = &op.gvk {
                o.insert("x-kubernetes-group-version-kind".into(), gvk_value(gvk));
            }
            path.insert(op.method.into(), Value::Object(o));
        }
        if !item.params.is_empty() {
            path.insert(
                "parameters".into(),
                Value::Array(item.params.iter().map(|p| v2_param(p)).collect()),
            );
        }
        paths.insert(item.path.clone(), Value::Object(path));
    }
}
