//! Resource handlers: one file per group of verbs (read, watch, write, delete, subresources).
//! This module holds what they share: the request context, store access and content negotiation.

pub mod delete;
pub mod quota;
pub mod read;
pub mod subresource;
pub mod watch;
pub mod write;

use std::sync::Arc;

use control_apimachinery::resources::{self, Resource};
use control_store::KeyValue;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::Value;

use super::body::Body;
use super::objects::{self, Meta};
use super::request::{Query, ResourceRequest};
use super::status::{ApiError, ApiResult};
use super::ApiServer;

/// Everything a handler needs to know about the request it serves.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub server: &'a Arc<ApiServer>,
    pub rr: &'a ResourceRequest,
    pub query: &'a Query,
    pub accept: &'a str,
    /// Who asked (None for anonymous requests and the server's own writes): creates record it
    /// where Kubernetes does (a CSR's spec.username/groups) and NodeRestriction checks it.
    pub requestor: Option<&'a super::tls::Identity>,
}

impl Ctx<'_> {
    pub fn resource(&self) -> &'static Resource {
        self.rr.resource
    }

    pub fn namespace(&self) -> Option<&str> {
        self.rr.namespace.as_deref()
    }

    pub fn key(&self, name: &str) -> String {
        objects::key(self.rr.resource, self.namespace(), name)
    }

    /// Whether the client asked for a server-side Table (kubectl get).
    pub fn wants_table(&self) -> bool {
        self.accept.contains("as=Table")
    }

    /// The stored key-value of the named object, or 404.
    pub fn get_kv(&self, name: &str) -> ApiResult<KeyValue> {
        self.server
            .store
            .get(&self.key(name))
            .ok_or_else(|| ApiError::not_found(self.rr.resource, name))
    }

    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun") == Some("All")
    }
}

/// Routes a resource request to its handler by method, name and subresource.
pub async fn dispatch(ctx: Ctx<'_>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    if ctx.accept_is_protobuf_only() {
        return Err(ApiError::NotAcceptable(
            "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io".into(),
        ));
    }
    let method = req.method().clone();
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let rr = ctx.rr;
    match (&method, rr.name.as_deref(), rr.subresource.as_deref()) {
        (&Method::GET, None, None) if ctx.query.flag("watch") => watch::watch(ctx).await,
        (&Method::GET, None, None) => read::list(ctx),
        (&Method::GET, Some(name), None) => read::get(ctx, name),
        (&Method::POST, None, None) => {
            let body = super::body::read(req.into_body()).await?;
            write::create(ctx, &content_type, &body).await
        }
        (&Method::PUT, Some(name), None) => {
            let body = super::body::read(req.into_body()).await?;
            write::update(ctx, name, None, &content_type, &body).await
        }
        (&Method::PATCH, Some(name), None) => {
            let body = super::body::read(req.into_body()).await?;
            write::patch(ctx, name, None, &content_type, &body).await
        }
        (&Method::DELETE, Some(name), None) => {
            let body = super::body::read(req.into_body()).await?;
            delete::delete(ctx, name, &body).await
        }
        (&Method::DELETE, None, None) => {
            let body = super::body::read(req.into_body()).await?;
            delete::delete_collection(ctx, &body).await
        }
        // Log, exec, attach and port-forward relay to the kubelet; an upgrade needs the
        // request itself, unread.
        (_, Some(name), Some(sub))
            if rr.resource.plural == "pods" && super::kubelet_proxy::serves(sub) =>
        {
            super::kubelet_proxy::pod_subresource(ctx, &method, name, sub, req).await
        }
        (_, Some(name), Some(sub)) => {
            let body = super::body::read(req.into_body()).await?;
            subresource::handle(ctx, &method, name, sub, &content_type, &body).await
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

impl Ctx<'_> {
    fn accept_is_protobuf_only(&self) -> bool {
        !self.accept.is_empty()
            && self.accept.contains("protobuf")
            && !self.accept.contains("json")
            && !self.accept.contains("*/*")
    }
}

/// Checks that a namespace exists and is not being deleted before something is created in it.
pub fn ensure_namespace_accepts(ctx: &Ctx<'_>, name_for_message: &str) -> ApiResult<()> {
    let Some(ns) = ctx.namespace() else {
        return Ok(());
    };
    let namespaces = resources::by_plural("", "v1", "namespaces").expect("namespaces served");
    let kv = ctx
        .server
        .store
        .get(&objects::key(namespaces, None, ns))
        .ok_or_else(|| ApiError::not_found(namespaces, ns))?;
    let obj = objects::decode(&kv)?;
    if obj.meta_str("deletionTimestamp").is_some() {
        return Err(ApiError::Forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
            super::status::qualified(ctx.resource()),
            name_for_message,
            ns
        )));
    }
    Ok(())
}

/// RFC 3339 time with second precision, as Kubernetes writes metadata times.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Ensures an object's `apiVersion` and `kind` are the resource's own (list items, stored forms).
pub fn set_type_meta(obj: &mut Value, r: &Resource) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(r.api_version()));
        m.insert("kind".into(), Value::String(r.kind.to_string()));
    }
}
