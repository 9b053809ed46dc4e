//! The one place where failures become Kubernetes `Status` objects and HTTP codes.
//!
//! Every handler returns `Result<_, ApiError>`; this module decides the code, reason and message
//! clients see, in the shapes kubectl and client-go recognise (`errors.IsNotFound`, `IsConflict`...).

use control_apimachinery::resources::Resource;
use http::StatusCode;
use serde_json::{json, Value};

/// One field-level cause of an Invalid (422) answer.
#[derive(Debug, Clone)]
pub struct Cause {
    pub reason: String,
    pub field: String,
    pub message: String,
}

/// Everything that can go wrong in a request, as the API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Unauthorized")]
    Unauthorized,
    /// 401 with the reason credentials were refused (never containing a secret).
    #[error("{0}")]
    BadCredentials(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{kind_plural} \"{name}\" not found")]
    NotFound {
        group: String,
        kind_plural: String,
        name: String,
    },
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("{message}")]
    AlreadyExists {
        group: String,
        kind_plural: String,
        name: String,
        message: String,
    },
    #[error("{message}")]
    Conflict {
        group: String,
        kind_plural: String,
        name: String,
        message: String,
    },
    #[error("{0}")]
    Gone(String),
    #[error("{message}")]
    Invalid {
        group: String,
        kind: String,
        name: String,
        message: String,
        causes: Vec<Cause>,
    },
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request is too large: limit is {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Unavailable(String),
    /// A kubelet's error answer, worded as Kubernetes relays one (see [`ApiError::from_backend`]).
    #[error("{message}")]
    Backend {
        code: StatusCode,
        reason: &'static str,
        message: String,
        /// The qualified resource, e.g. `pods/log`.
        kind: String,
        name: String,
    },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(r: &Resource, name: &str) -> ApiError {
        ApiError::NotFound {
            group: r.group.to_string(),
            kind_plural: r.plural.to_string(),
            name: name.to_string(),
        }
    }

    pub fn already_exists(r: &Resource, name: &str) -> ApiError {
        ApiError::AlreadyExists {
            group: r.group.to_string(),
            kind_plural: r.plural.to_string(),
            name: name.to_string(),
            message: format!("{} \"{}\" already exists", qualified(r), name),
        }
    }

    pub fn conflict(r: &Resource, name: &str, why: &str) -> ApiError {
        ApiError::Conflict {
            group: r.group.to_string(),
            kind_plural: r.plural.to_string(),
            name: name.to_string(),
            message: format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                qualified(r),
                name,
                why
            ),
        }
    }

    pub fn invalid(r: &Resource, name: &str, causes: Vec<Cause>) -> ApiError {
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
            group: r.group.to_string(),
            kind: r.kind.to_string(),
            name: name.to_string(),
            message: format!("{} \"{}\" is invalid: {}", qualified_kind(r), name, joined),
            causes,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(format!("Internal error occurred: {e}"))
    }

    /// An error answer from a kubelet (`code` outside 200..=206, `body` its text), mapped as
    /// kube-apiserver's generic response checker maps it: 500 and 400 keep the kubelet's text;
    /// any other code gets client-go's generic wording for it, followed by
    /// `( <resource> <name>)` (Kubernetes leaves the verb empty there).
    pub fn from_backend(code: u16, body: &[u8], resource: &str, name: &str) -> ApiError {
        let text = String::from_utf8_lossy(body).into_owned();
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        let (reason, message) = match code {
            500 => return ApiError::internal(text),
            400 => return ApiError::BadRequest(text),
            409 => ("Conflict", "the server reported a conflict".to_string()),
            404 => (
                "NotFound",
                "the server could not find the requested resource".to_string(),
            ),
            401 => (
                "Unauthorized",
                "the server has asked for the client to provide credentials".to_string(),
            ),
            403 => ("Forbidden", text),
            405 => (
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource".to_string(),
            ),
            422 => (
                "Invalid",
                "the server rejected our request due to an error in our request".to_string(),
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request".to_string(),
            ),
            504 => ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request".to_string()),
            429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later".to_string()),
            c if c >= 500 => (
                "InternalError",
                format!("an error on the server ({text:?}) has prevented the request from succeeding"),
            ),
            c => (
                "",
                format!("the server responded with the status code {c} but did not return more information"),
            ),
        };
        ApiError::Backend {
            code: status,
            reason,
            message: format!("{message} ( {resource} {name})"),
            kind: resource.to_string(),
            name: name.to_string(),
        }
    }

    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::Backend { code, .. } => *code,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::Backend { reason, .. } => reason,
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized | ApiError::BadCredentials(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Gone(_) => "Expired",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::Internal(_) => "InternalError",
            ApiError::Unavailable(_) => "ServiceUnavailable",
        }
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound {
                group,
                kind_plural,
                name,
            }
            | ApiError::AlreadyExists {
                group,
                kind_plural,
                name,
                ..
            }
            | ApiError::Conflict {
                group,
                kind_plural,
                name,
                ..
            } => Some(json!({"name": name, "group": group, "kind": kind_plural})),
            ApiError::Backend { kind, name, .. } => Some(json!({"name": name, "kind": kind})),
            ApiError::Invalid {
                group,
                kind,
                name,
                causes,
                ..
            } => Some(json!({
                "name": name, "group": group, "kind": kind,
                "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        if let Some(mut d) = details {
            if d["group"] == "" {
                d.as_object_mut().unwrap().remove("group");
            }
            status["details"] = d;
        }
        status
    }
}

/// `pods` or `deployments.apps`, as Kubernetes names a resource in messages.
pub fn qualified(r: &Resource) -> String {
    if r.group.is_empty() {
        r.plural.to_string()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
}

/// `Pod` or `Deployment.apps`, as Kubernetes names a kind in Invalid messages.
pub fn qualified_kind(r: &Resource) -> String {
    if r.group.is_empty() {
        r.kind.to_string()
    } else {
        format!("{}.{}", r.kind, r.group)
    }
}

/// A `Status` reporting success, as returned by deletes that removed the object at once.
pub fn success_status(r: &Resource, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": r.plural, "uid": uid});
    if !r.group.is_empty() {
        details["group"] = json!(r.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;
    use control_apimachinery::resources::by_plural;

    #[test]
    fn not_found_names_the_resource_like_kubernetes() {
        let pods = by_plural("", "v1", "pods").unwrap();
        let s = ApiError::not_found(pods, "web").to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["message"], "pods \"web\" not found");
        assert_eq!(s["details"]["kind"], "pods");
        assert!(s["details"].get("group").is_none());
    }

    #[test]
    fn kubelet_errors_are_relayed_as_kubernetes_words_them() {
        let s = ApiError::from_backend(404, b"pod not found", "pods/log", "web").to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(
            s["message"],
            "the server could not find the requested resource ( pods/log web)"
        );
        assert_eq!(s["details"]["kind"], "pods/log");
        let s = ApiError::from_backend(
            400,
            b"container \"app\" in pod \"web\" is waiting to start: ContainerCreating",
            "pods/log",
            "web",
        )
        .to_status();
        assert_eq!(s["reason"], "BadRequest");
        assert_eq!(
            s["message"],
            "container \"app\" in pod \"web\" is waiting to start: ContainerCreating"
        );
        let s = ApiError::from_backend(502, b"bad", "pods/log", "web").to_status();
        assert_eq!(s["reason"], "InternalError");
        assert_eq!(
            s["message"],
            "an error on the server (\"bad\") has prevented the request from succeeding ( pods/log web)"
        );
        let s = ApiError::from_backend(500, b"boom", "pods/exec", "web").to_status();
        assert_eq!(s["code"], 500);
        assert_eq!(s["message"], "Internal error occurred: boom");
    }

    #[test]
    fn invalid_lists_every_cause() {
        let d = by_plural("apps", "v1", "deployments").unwrap();
        let e = ApiError::invalid(
            d,
            "x",
            vec![
                Cause {
                    reason: "FieldValueRequired".into(),
                    field: "spec.selector".into(),
                    message: "Required value".into(),
                },
                Cause {
                    reason: "FieldValueInvalid".into(),
                    field: "spec.replicas".into(),
                    message: "Invalid value: -1".into(),
                },
            ],
        );
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["causes"].as_array().unwrap().len(), 2);
        assert!(s["message"]
            .as_str()
            .unwrap()
            .starts_with("Deployment.apps \"x\" is invalid: [spec.selector"));
        assert_eq!(
            ApiError::conflict(d, "x", "the object has been modified").to_string(),
            "Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified"
        );
    }
}
