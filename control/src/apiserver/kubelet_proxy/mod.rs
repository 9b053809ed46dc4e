//! The API server's side of `kubectl logs`, `exec`, `attach` and `port-forward`, and of
//! `nodes/<name>/proxy`: find the pod's kubelet, then relay. Logs stream through as they come
//! (so `logs -f` follows); exec, attach and port-forward are plain upgrade tunnels, as
//! apimachinery's `UpgradeAwareHandler` is: the kubelet speaks WebSocket and SPDY itself, so
//! nothing here translates protocols.
//!
//! `location` decides where a request goes (pure); `tunnel` does the network IO.

pub mod location;
pub mod tunnel;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Incoming;
use serde_json::Value;

use super::body::{self, Body};
use super::handlers::Ctx;
use super::objects;
use super::status::{ApiError, ApiResult};
use super::ApiServer;
use location::{LogOptions, Params, Stream};
pub use tunnel::KubeletClient;

/// How much of a kubelet's error answer is read (kube-apiserver's `maxReadLength`).
const MAX_ERROR_BODY: usize = 50_000;

/// Whether a pod subresource is served here.
pub fn serves(sub: &str) -> bool {
    sub == "log" || Stream::from_subresource(sub).is_some()
}

/// `pods/<name>/log`, `exec`, `attach` and `portforward`.
pub async fn pod_subresource(
    ctx: Ctx<'_>,
    method: &Method,
    name: &str,
    sub: &str,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    match (sub, Stream::from_subresource(sub)) {
        ("log", _) if method == Method::GET => log(ctx, name, req.uri().query()).await,
        (_, Some(stream)) if method == Method::GET || method == Method::POST => {
            connect(ctx, name, stream, req).await
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Streams a container's log from its kubelet.
async fn log(ctx: Ctx<'_>, name: &str, query: Option<&str>) -> ApiResult<Response<Body>> {
    let opts = LogOptions::from_query(&Params::parse(query), name)?;
    let pod = objects::decode(&ctx.get_kv(name)?)?;
    let Some(target) = location::log_location(&pod, &opts)? else {
        return Ok(text_response(StatusCode::OK, body::full(Bytes::new())));
    };
    let addr = kubelet_address(ctx.server, &target.node)?;
    let resp = ctx
        .server
        .kubelets
        .send(addr, Method::GET, &target.path_and_query, HeaderMap::new())
        .await
        .map_err(dial_error)?;
    let code = resp.status();
    if !(200..=206).contains(&code.as_u16()) {
        let text = tunnel::read_prefix(resp.into_body(), MAX_ERROR_BODY).await;
        return Err(ApiError::from_backend(
            code.as_u16(),
            &text,
            "pods/log",
            name,
        ));
    }
    Ok(text_response(code, relay(resp.into_body())))
}

/// Opens an exec, attach or port-forward session: the kubelet's 101 answer goes back to the
/// client and the two connections are spliced.
async fn connect(
    ctx: Ctx<'_>,
    name: &str,
    stream: Stream,
    mut req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let params = Params::parse(req.uri().query());
    let pod = objects::decode(&ctx.get_kv(name)?)?;
    let target = location::stream_location(&pod, stream, &params)?;
    let addr = kubelet_address(ctx.server, &target.node)?;
    if !location::is_upgrade_request(req.headers()) {
        return Err(ApiError::BadRequest("Upgrade request required".into()));
    }
    let client_upgrade = hyper::upgrade::on(&mut req);
    let resp = ctx
        .server
        .kubelets
        .send(
            addr,
            req.method().clone(),
            &target.path_and_query,
            location::upgrade_headers(req.headers()),
        )
        .await
        .map_err(dial_error)?;
    let code = resp.status();
    if code != StatusCode::SWITCHING_PROTOCOLS {
        if code.as_u16() < 400 {
            return Err(ApiError::internal(format!(
                "invalid upgrade response: status code {}",
                code.as_u16()
            )));
        }
        let text = tunnel::read_prefix(resp.into_body(), MAX_ERROR_BODY).await;
        // A kubelet that answers with a Status is relayed as it is.
        if serde_json::from_slice::<Value>(&text).is_ok_and(|v| v["kind"] == "Status") {
            return Ok(body::raw_json_response(code, text));
        }
        return Err(ApiError::from_backend(
            code.as_u16(),
            &text,
            stream.resource(),
            name,
        ));
    }
    let mut answer = Response::new(Empty::<Bytes>::new().boxed());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (k, v) in resp.headers() {
        if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
            answer.headers_mut().append(k, v.clone());
        }
    }
    let backend = hyper::upgrade::on(resp).await.map_err(|e| {
        ApiError::Unavailable(format!(
            "error dialing backend: upgrading to the kubelet: {e}"
        ))
    })?;
    tracing::debug!(pod = name, ?stream, %addr, "upgraded");
    tokio::spawn(tunnel::splice(client_upgrade, backend));
    Ok(answer)
}

/// `nodes/<name>/proxy/<path>`: a GET or HEAD (path, query and `Accept`) sent to the node's
/// kubelet, its status, `Content-Type` and body relayed as they are. Other methods and upgrades
/// are not relayed (kube-apiserver relays them all; nothing here needs them yet).
pub async fn node_proxy(
    server: &ApiServer,
    name: &str,
    path: &str,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let addr = kubelet_address(server, name)?;
    if location::is_upgrade_request(req.headers()) {
        return Err(ApiError::BadRequest(
            "upgrades through nodes/proxy are not supported".into(),
        ));
    }
    let method = req.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed);
    }
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut headers = HeaderMap::new();
    if let Some(accept) = req.headers().get(http::header::ACCEPT) {
        headers.insert(http::header::ACCEPT, accept.clone());
    }
    let resp = server
        .kubelets
        .send(addr, method, &path_and_query, headers)
        .await
        .map_err(dial_error)?;
    let code = resp.status();
    let content_type = resp.headers().get(http::header::CONTENT_TYPE).cloned();
    let mut out = Response::new(relay(resp.into_body()));
    *out.status_mut() = code;
    if let Some(ct) = content_type {
        out.headers_mut().insert(http::header::CONTENT_TYPE, ct);
    }
    Ok(out)
}

/// The kubelet address of a node: 404 when the Node does not exist, 503 when it reports no
/// usable address.
fn kubelet_address(server: &ApiServer, node: &str) -> ApiResult<SocketAddr> {
    let nodes = control_apimachinery::resources::by_plural("", "v1", "nodes").expect("nodes");
    let kv = server
        .store
        .get(&objects::key(nodes, None, node))
        .ok_or_else(|| ApiError::not_found(nodes, node))?;
    location::kubelet_endpoint(&objects::decode(&kv)?).map_err(ApiError::Unavailable)
}

/// A kubelet that cannot be reached is 503 with kube-apiserver's wording (which answers 500
/// for it; 503 tells clients the API server itself is fine).
fn dial_error(e: tunnel::DialError) -> ApiError {
    tracing::debug!("kubelet unreachable: {e}");
    ApiError::Unavailable(format!("error dialing backend: {e}"))
}

fn text_response(code: StatusCode, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = code;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

/// A kubelet's body as ours, frame by frame as it arrives; a failure midway ends the stream
/// (the client sees a short body, as with kube-apiserver).
fn relay(body: Incoming) -> Body {
    let frames = futures::stream::unfold(body, |mut b| async move {
        match b.frame().await? {
            Ok(frame) => Some((Ok::<_, Infallible>(frame), b)),
            Err(e) => {
                tracing::debug!("kubelet stream ended: {e}");
                None
            }
        }
    });
    StreamBody::new(frames).boxed()
}
