//! The kubelet API on port 10250: what kube-apiserver proxies `kubectl logs`, `exec`, `attach`
//! and `port-forward` to, plus `/healthz` and `/metrics`. HTTPS with client certificates
//! ([`tls`]); routes as the kubelet's `server.go` ([`routes`]); container logs from the CRI
//! files ([`logs`]); exec and attach over WebSocket (`v5.channel.k8s.io` and older,
//! [`websocket`]) or SPDY/3.1 ([`spdy`], [`remotecommand`]); port-forward over SPDY, plain or
//! tunnelled in WebSocket ([`portforward`]). The API server tunnels upgrades through
//! unchanged, so everything kubectl speaks is understood here. The node's side (logs,
//! processes, sockets in the pod) is the [`KubeletBackend`] trait.

pub mod backend;
pub mod logs;
pub mod metrics;
pub mod portforward;
pub mod remotecommand;
pub mod routes;
pub mod spdy;
pub mod tls;
pub mod upgrade;
pub mod websocket;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

pub use backend::{BackendError, ExecSession, KubeletBackend};
pub use tls::ServerTls;

use logs::{ContainerRef, LogQuery};
use metrics::Metrics;
use remotecommand::{Connection, StreamOptions};
use routes::{ContainerTarget, Query, Route, RouteError};
use tls::ClientIdentity;
use upgrade::{PortForwardTransport, Refusal, RemoteCommandTransport};

/// Response bodies: whole, or streamed from a channel.
pub type Body = BoxBody<Bytes, Infallible>;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the kubelet API on `listener` until the returned future is dropped. Fails only if
/// the TLS material is unusable.
pub async fn serve<B: KubeletBackend>(
    listener: TcpListener,
    tls: ServerTls,
    backend: Arc<B>,
) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(&tls)?));
    let server = Arc::new(Server {
        backend,
        metrics: Metrics::default(),
    });
    tracing::info!(addr = ?listener.local_addr().ok(), "kubelet API listening");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!("kubelet API accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "kubelet API TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "kubelet API TLS handshake timed out");
                    return;
                }
            };
            let identity = tls::client_identity(tls.get_ref().1.peer_certificates());
            let svc = service_fn(move |req| {
                let server = server.clone();
                let identity = identity.clone();
                async move { Ok::<_, Infallible>(server.handle(identity.as_ref(), req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "kubelet API connection ended: {e}");
            }
        });
    }
}

struct Server<B> {
    backend: Arc<B>,
    metrics: Metrics,
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut msg = msg.into();
    if !msg.ends_with('\n') {
        msg.push('\n');
    }
    let mut r = Response::new(full(msg));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The one place backend errors become status codes.
fn backend_error(e: BackendError) -> Response<Body> {
    let status = match e {
        BackendError::NotFound(_) => StatusCode::NOT_FOUND,
        BackendError::BadRequest(_) => StatusCode::BAD_REQUEST,
        BackendError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, e.to_string())
}

fn refusal(r: Refusal) -> Response<Body> {
    let mut resp = text(r.status, r.message);
    for p in r.accepted {
        resp.headers_mut().append(
            upgrade::HEADER_ACCEPTED_PROTOCOLS,
            HeaderValue::from_static(p),
        );
    }
    resp
}

/// A response body fed from a channel; it ends when the sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

impl<B: KubeletBackend> Server<B> {
    async fn handle(
        self: Arc<Self>,
        id: Option<&ClientIdentity>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let method = req.method().clone();
        let bucket = routes::metric_bucket(req.uri().path());
        let path = req.uri().to_string();
        let resp = self.dispatch(id, req).await;
        tracing::debug!(%method, %path, status = resp.status().as_u16(), "kubelet API request");
        self.metrics
            .observe(bucket, method.as_str(), resp.status().as_u16());
        resp
    }

    async fn dispatch(
        self: &Arc<Self>,
        id: Option<&ClientIdentity>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let path = req.uri().path().to_string();
        if let Err(msg) = tls::authorize(id, req.method().as_str(), &path) {
            tracing::info!(?id, %path, "kubelet API request refused");
            return text(StatusCode::FORBIDDEN, msg);
        }
        match routes::route(req.method(), &path) {
            Err(RouteError::NotFound) => text(StatusCode::NOT_FOUND, "404 page not found"),
            Err(RouteError::MethodNotAllowed(allow)) => {
                let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                r
            }
            Ok(Route::Healthz) => text(StatusCode::OK, "ok"),
            Ok(Route::Metrics) => {
                let mut r = Response::new(full(self.metrics.render()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            Ok(Route::ContainerLogs {
                namespace,
                pod,
                container,
            }) => {
                let who = ContainerRef {
                    namespace,
                    pod,
                    container,
                };
                self.container_logs(who, req.uri().query()).await
            }
            Ok(Route::Exec(target)) => self.exec(target, req).await,
            Ok(Route::Attach(target)) => self.attach(target, req).await,
            Ok(Route::PortForward {
                namespace,
                pod,
                uid,
            }) => {
                let target = portforward::PortForwardTarget {
                    namespace,
                    pod,
                    uid,
                };
                self.port_forward(target, req)
            }
        }
    }

    async fn container_logs(
        self: &Arc<Self>,
        who: ContainerRef,
        query: Option<&str>,
    ) -> Response<Body> {
        let q = match LogQuery::parse(&Query::parse(query)) {
            Ok(q) => q,
            Err(e) => {
                return text(
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                    e.message,
                )
            }
        };
        let files = match self
            .backend
            .log_files(&who.namespace, &who.pod, &who.container, q.previous)
            .await
        {
            Ok(f) => f,
            Err(e) => return backend_error(e),
        };
        let (tx, rx) = mpsc::channel(16);
        let server = self.clone();
        tokio::spawn(async move {
            let _open = (q.follow && !q.previous).then(|| server.metrics.session("logs"));
            logs::stream_logs(server.backend.clone(), who, q, files, tx).await;
        });
        let mut r = Response::new(BodyExt::boxed(ChannelBody(rx)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    }

    /// Checks an exec or attach request up to the choice of transport.
    fn remotecommand_request(
        req: &Request<Incoming>,
    ) -> Result<(Query, StreamOptions, RemoteCommandTransport), Refusal> {
        let q = Query::parse(req.uri().query());
        let opts =
            StreamOptions::parse(&q).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e))?;
        let transport = upgrade::remotecommand_transport(req.headers())?;
        Ok((q, opts, transport))
    }

    /// The 101 answer for a transport.
    fn upgrade_response(
        req: &Request<Incoming>,
        transport: &RemoteCommandTransport,
    ) -> Result<Response<Body>, Refusal> {
        match transport {
            RemoteCommandTransport::WebSocket(p) => upgrade::websocket_response(req.headers(), p),
            RemoteCommandTransport::Spdy(p) => Ok(upgrade::spdy_response(p)),
        }
    }

    async fn exec(
        self: &Arc<Self>,
        t: ContainerTarget,
        mut req: Request<Incoming>,
    ) -> Response<Body> {
        let (q, opts, transport) = match Self::remotecommand_request(&req) {
            Ok(v) => v,
            Err(r) => return refusal(r),
        };
        let command = q.all("command");
        if command.is_empty() {
            return text(
                StatusCode::BAD_REQUEST,
                "a command is required (command=...)",
            );
        }
        let resp = match Self::upgrade_response(&req, &transport) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        let mut session = match self
            .backend
            .exec(
                &t.namespace,
                &t.pod,
                &t.container,
                command.clone(),
                opts.tty,
                opts.stdin,
            )
            .await
        {
            Ok(s) => s,
            Err(e) => return backend_error(e),
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let server = self.clone();
        tokio::spawn(async move {
            let _open = server.metrics.session("exec");
            let conn = match open(on_upgrade, transport, opts).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(pod = %t.pod, "exec session not opened: {e}");
                    if let Some(cancel) = session.cancel.take() {
                        cancel();
                    }
                    return;
                }
            };
            let mut conn = conn;
            let outcome = remotecommand::run_exec(session, &mut conn.streams, command).await;
            tracing::debug!(pod = %t.pod, container = %t.container, ?outcome, "exec ended");
            conn.close(outcome).await;
        });
        resp
    }

    async fn attach(
        self: &Arc<Self>,
        t: ContainerTarget,
        mut req: Request<Incoming>,
    ) -> Response<Body> {
        let (_, opts, transport) = match Self::remotecommand_request(&req) {
            Ok(v) => v,
            Err(r) => return refusal(r),
        };
        let resp = match Self::upgrade_response(&req, &transport) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        let files = match self
            .backend
            .log_files(&t.namespace, &t.pod, &t.container, false)
            .await
        {
            Ok(f) => f,
            Err(e) => return backend_error(e),
        };
        let stdin = if opts.stdin {
            match self
                .backend
                .attach_stdin(&t.namespace, &t.pod, &t.container)
                .await
            {
                Ok(w) => w,
                Err(e) => return backend_error(e),
            }
        } else {
            None
        };
        let files = remotecommand::attach_files(files);
        let on_upgrade = hyper::upgrade::on(&mut req);
        let server = self.clone();
        tokio::spawn(async move {
            let _open = server.metrics.session("attach");
            let mut conn = match open(on_upgrade, transport, opts).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(pod = %t.pod, "attach session not opened: {e}");
                    return;
                }
            };
            let who = ContainerRef {
                namespace: t.namespace,
                pod: t.pod,
                container: t.container,
            };
            let outcome = remotecommand::run_attach(
                server.backend.clone(),
                who,
                files,
                stdin,
                &mut conn.streams,
                opts.tty,
            )
            .await;
            conn.close(outcome).await;
        });
        resp
    }

    fn port_forward(
        self: &Arc<Self>,
        target: portforward::PortForwardTarget,
        mut req: Request<Incoming>,
    ) -> Response<Body> {
        let transport = match upgrade::port_forward_transport(req.headers()) {
            Ok(t) => t,
            Err(r) => return refusal(r),
        };
        let resp = match &transport {
            PortForwardTransport::Tunnel(p) => {
                match upgrade::websocket_response(req.headers(), p) {
                    Ok(r) => r,
                    Err(r) => return refusal(r),
                }
            }
            PortForwardTransport::Spdy => upgrade::spdy_response(upgrade::PORT_FORWARD),
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let server = self.clone();
        tokio::spawn(async move {
            let _open = server.metrics.session("portforward");
            let io = match on_upgrade.await {
                Ok(u) => TokioIo::new(u),
                Err(e) => {
                    tracing::info!(pod = %target.pod, "port-forward upgrade failed: {e}");
                    return;
                }
            };
            // The session lives as long as this task: dropping it closes the connection.
            let (session, incoming) = match transport {
                PortForwardTransport::Tunnel(_) => {
                    spdy::Session::start(websocket::WsBytes::accept(io).await, spdy::Role::Server)
                }
                PortForwardTransport::Spdy => spdy::Session::start(io, spdy::Role::Server),
            };
            portforward::serve(server.backend.clone(), target, incoming).await;
            drop(session);
        });
        resp
    }
}

/// Completes the upgrade and opens the session's streams.
async fn open(
    on_upgrade: hyper::upgrade::OnUpgrade,
    transport: RemoteCommandTransport,
    opts: StreamOptions,
) -> Result<Connection, String> {
    let io = TokioIo::new(on_upgrade.await.map_err(|e| e.to_string())?);
    match transport {
        RemoteCommandTransport::WebSocket(p) => Ok(websocket::open_channels(io, p, opts).await),
        RemoteCommandTransport::Spdy(p) => remotecommand::open_spdy(io, p, opts).await,
    }
}
