//! The Kubernetes API server: HTTPS (rustls, HTTP/1.1 and HTTP/2), authentication by client
//! certificate, routing, and the handlers that turn requests into store transactions.
//!
//! Only this module touches the store; everything else in the cluster talks to it over HTTPS.

pub mod allocator;
pub mod authn;
pub mod authz;
pub mod body;
pub mod clusterinfo;
pub mod discovery;
pub mod handlers;
pub mod kubelet_proxy;
pub mod metrics;
pub mod namespaces;
pub mod objects;
pub mod request;
pub mod satoken;
pub mod status;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use control_store::{Store, StoreOptions};
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::pki::{self, ClusterCa};
use allocator::ServiceNetwork;
use body::Body;
use request::{Query, Route};
use status::ApiError;
use tls::Identity;

/// Version reported by `/version`: the Kubernetes minor this server implements.
pub const KUBE_VERSION: (&str, &str, &str) = ("1", "32", "v1.32.0");

/// Settings of one API server.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub service_cidr: String,
    pub node_port_range: (u16, u16),
    pub store: StoreOptions,
    /// Run the scheduler loop beside the API server (off for API-only benchmarks).
    pub run_scheduler: bool,
    /// Run the workload controllers (ReplicaSet, ReplicationController, Deployment).
    pub run_controllers: bool,
    /// Run the node lifecycle loop with these settings (None: off).
    pub node_lifecycle: Option<control_nodelifecycle::Config>,
    /// Give nodes pod CIDRs from this range (None: off).
    pub pod_cidrs: Option<crate::loops::nodeipam::PodCidrs>,
    /// More names and addresses for the serving certificate: the machine's own addresses
    /// when listening on all of them, a load balancer's name.
    pub extra_sans: Vec<String>,
    /// The URL nodes reach this server at, published in `kube-public/cluster-info` (default:
    /// the listen address, or 127.0.0.1 when listening on all addresses).
    pub advertise_url: Option<String>,
    /// Bootstrap tokens (`id.secret`) created at start when absent, so an installer can hand
    /// the token to machines before the control plane runs (kubeadm's `--token`).
    pub bootstrap_tokens: Vec<crate::join::token::Token>,
}

/// Shared state of a running API server.
pub struct ApiServer {
    pub store: Store,
    pub config: Config,
    pub ca: ClusterCa,
    /// Signs and checks service account tokens.
    pub sa_key: satoken::SigningKey,
    pub network: ServiceNetwork,
    pub metrics: metrics::Metrics,
    pub namespace_wakeup: tokio::sync::Notify,
    pub started: Instant,
    /// The client for logs, exec, attach, port-forward and node proxy requests to kubelets.
    pub kubelets: kubelet_proxy::KubeletClient,
}

/// Starts the API server and serves until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let store = Store::open(&config.data_dir.join("store"), config.store.clone())
        .await
        .context("opening the store")?;
    let ca = ClusterCa::load_or_create(&config.data_dir)?;
    let sa_key = satoken::SigningKey::load_or_create(&config.data_dir)?;
    let network = ServiceNetwork::new(&config.service_cidr, config.node_port_range)?;
    let kubelets = kubelet_proxy::KubeletClient::new(&ca.cert_pem, &ca.kubelet_client()?)
        .context("setting up the kubelet client")?;
    let server = Arc::new(ApiServer {
        store,
        config: config.clone(),
        ca,
        sa_key,
        network,
        metrics: metrics::Metrics::default(),
        namespace_wakeup: tokio::sync::Notify::new(),
        started: Instant::now(),
        kubelets,
    });
    namespaces::bootstrap(&server).await?;
    namespaces::seed_bootstrap_tokens(&server, &config.bootstrap_tokens).await?;
    tokio::spawn(namespaces::run_controller(server.clone()));

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let local = listener.local_addr()?;
    let mut dns_names: Vec<String> = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        dns_names.push(host.trim().to_string());
    }
    let mut ips = vec![
        local.ip(),
        "127.0.0.1".parse().expect("literal"),
        server.network.kubernetes_service_ip().into(),
    ];
    for san in &config.extra_sans {
        match san.parse::<std::net::IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns_names.push(san.clone()),
        }
    }
    ips.retain(|ip| !ip.is_unspecified());
    ips.sort();
    ips.dedup();
    dns_names.sort();
    dns_names.dedup();
    let serving = server.ca.issue_serving(&dns_names, &ips)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(&server.ca.cert_pem, &serving)?));

    // The kubeconfig is written only once the listener is bound, so its existence means "ready".
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        local.ip().to_string()
    };
    let url = format!("https://{}:{}", host, local.port());
    // Nodes discover the cluster from this before they hold any credential.
    clusterinfo::publish(&server, config.advertise_url.as_deref().unwrap_or(&url)).await?;
    let admin = server.ca.admin()?;
    let kubeconfig_path = config.data_dir.join("admin.kubeconfig");
    pki::write_private(
        &kubeconfig_path,
        pki::kubeconfig(&url, &server.ca.cert_pem, pki::ADMIN_USER, &admin).as_bytes(),
    )?;
    tracing::info!(
        "serving the Kubernetes API at {url}; admin kubeconfig written to {}",
        kubeconfig_path.display()
    );
    // The loops beside the API server reach it over HTTPS, each with an identity of its own.
    let identity = |user: &str| -> Result<crate::client::KubeConfig> {
        let id = server.ca.issue_client(user, &[])?;
        Ok(crate::client::KubeConfig {
            host: host.clone(),
            port: local.port(),
            ca_pem: server.ca.cert_pem.clone(),
            cert_pem: id.cert_pem,
            key_pem: id.key_pem,
        })
    };
    // The scheduler and controllers run under leader election, so that a second process
    // offering them (another `control serve` or `control controllers`) never acts at once.
    // The identity is kept in the data directory: the directory lock makes it unique to this
    // process, and a restarted process resumes its own Lease at once instead of waiting for
    // it to expire.
    crate::loops::start(
        identity("system:kube-scheduler")?,
        identity("system:kube-controller-manager")?,
        crate::loops::Brain {
            scheduler: config.run_scheduler,
            controllers: config.run_controllers,
            pod_cidrs: config.pod_cidrs,
            node_lifecycle: config.node_lifecycle.clone(),
            identity: election_identity(&config.data_dir)?,
        },
    );
    // The kubelet certificate signer needs the CA key, which only this process holds, so it
    // runs here rather than under leader election; its writes are compare-and-swap guarded.
    if config.run_controllers {
        crate::loops::csr::start_signer(
            identity("system:kube-controller-manager")?,
            ClusterCa::load_or_create(&config.data_dir)?,
        );
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
            };
            let identity = tls::identity(tls.get_ref().1.peer_certificates());
            let svc = service_fn(move |req| {
                let server = server.clone();
                let identity = identity.clone();
                async move { Ok::<_, Infallible>(handle(server, identity, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // Upgrades carry exec, attach and port-forward sessions (HTTP/1.1 only).
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    tracing::info!("shutting down");
    server.store.clone().close().await?;
    Ok(())
}

/// Serves one request: authenticate, route, dispatch, and map any error to a `Status`.
pub async fn handle(
    server: Arc<ApiServer>,
    identity: Option<Identity>,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    // A client certificate wins over a bearer token, as kube-apiserver tries x509 first.
    let identity = match identity {
        Some(id) => Ok(Some(id)),
        None => authn::bearer(
            &server,
            req.headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    let result = match identity.and_then(|id| request::route(&path).map(|r| (id, r))) {
        Ok((identity, route)) => {
            let verb_label = verb_label(&method, &route, &query);
            let resource_label = match &route {
                Route::Resource(r) => r.resource.plural,
                _ => "",
            };
            let res = dispatch(&server, identity.as_ref(), route, query, req).await;
            let code = match &res {
                Ok(r) => r.status().as_u16(),
                Err(e) => e.code().as_u16(),
            };
            server
                .metrics
                .observe(verb_label, resource_label, code, started.elapsed());
            res
        }
        Err(e) => Err(e),
    };
    let resp = match result {
        Ok(r) => r,
        Err(e) => body::json_response(e.code(), &e.to_status()),
    };
    tracing::debug!(%method, %path, code = resp.status().as_u16(), "request");
    resp
}

fn verb_label(method: &Method, route: &Route, q: &Query) -> &'static str {
    match (method, route) {
        (&Method::GET, Route::Resource(r)) if q.flag("watch") => "WATCH",
        (&Method::GET, Route::Resource(r)) if r.name.is_none() => "LIST",
        (&Method::GET, _) => "GET",
        (&Method::POST, _) => "POST",
        (&Method::PUT, _) => "PUT",
        (&Method::PATCH, _) => "PATCH",
        (&Method::DELETE, _) => "DELETE",
        _ => "OTHER",
    }
}

async fn dispatch(
    server: &Arc<ApiServer>,
    identity: Option<&Identity>,
    route: Route,
    query: Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let non_resource = |what| match authz::authorize_non_resource(identity, what) {
        authz::Decision::Allow => Ok(()),
        authz::Decision::Deny(_) if identity.is_none() => Err(ApiError::Unauthorized),
        authz::Decision::Deny(_) => Err(ApiError::Forbidden(format!(
            "forbidden: User \"{}\" cannot get path \"{}\"",
            identity.map(|i| i.user.as_str()).unwrap_or_default(),
            req.uri().path()
        ))),
    };
    match &route {
        Route::Health(_) | Route::Version => {}
        Route::Metrics => non_resource(authz::NonResource::Metrics)?,
        Route::Resource(rr) => authorize(server, identity, rr, req.method(), &query)?,
        Route::NodeProxy { name, .. } => {
            let attrs = authz::Attributes {
                verb: authz::verb(req.method(), true, false),
                group: "",
                resource: "nodes",
                subresource: Some("proxy"),
                namespace: None,
                name: Some(name),
            };
            decide(identity, &attrs, None)?
        }
        _ => non_resource(authz::NonResource::Discovery)?,
    }
    match route {
        // Health and version are public, as kube-apiserver's default RBAC makes them.
        Route::Health(which) => Ok(discovery::health(server, which, &query)),
        Route::Version => Ok(discovery::version()),
        Route::Metrics => Ok(server.metrics.render(server)),
        Route::CoreVersions => discovery::core_versions(server, &accept),
        Route::Groups => discovery::groups(&accept),
        Route::Group(g) => Ok(discovery::group(&g)),
        Route::ResourceList { group, version } => Ok(discovery::resource_list(&group, &version)),
        Route::OpenApiV2 => discovery::openapi_v2(&accept),
        Route::OpenApiV3Index => Ok(discovery::openapi_v3_index()),
        Route::OpenApiV3(gv) => discovery::openapi_v3(&gv),
        Route::NodeProxy { name, path } => {
            kubelet_proxy::node_proxy(server, &name, &path, req).await
        }
        Route::Resource(rr) => {
            let ctx = handlers::Ctx {
                server,
                rr: &rr,
                query: &query,
                accept: &accept,
                requestor: identity,
            };
            handlers::dispatch(ctx, req).await
        }
    }
}

/// Applies [`authz::authorize`] to a resource request: anonymous refusals are 401 (as this
/// server has always answered unauthenticated clients), authenticated ones 403 with
/// Kubernetes' message.
fn authorize(
    server: &ApiServer,
    identity: Option<&Identity>,
    rr: &request::ResourceRequest,
    method: &Method,
    query: &Query,
) -> Result<(), ApiError> {
    let verb = if authz::is_pod_connect(
        rr.resource.group,
        rr.resource.plural,
        rr.subresource.as_deref(),
    ) {
        "create"
    } else {
        authz::verb(method, rr.name.is_some(), query.flag("watch"))
    };
    let attrs = authz::Attributes {
        verb,
        group: rr.resource.group,
        resource: rr.resource.plural,
        subresource: rr.subresource.as_deref(),
        namespace: rr.namespace.as_deref(),
        name: rr.name.as_deref(),
    };
    let pod_node = if authz::needs_pod_node(identity, &attrs) {
        server
            .store
            .get(&objects::key(
                rr.resource,
                rr.namespace.as_deref(),
                rr.name.as_deref().unwrap_or(""),
            ))
            .and_then(|kv| objects::decode(&kv).ok())
            .and_then(|pod| pod["spec"]["nodeName"].as_str().map(str::to_string))
    } else if authz::needs_reference(identity, &attrs) {
        // Does a pod bound to the requesting node reference the object?
        let node = identity.and_then(authz::node_name).unwrap_or_default();
        let pods = server
            .store
            .range(&control_store::RangeRequest::prefix(objects::prefix(
                control_apimachinery::resources::by_plural("", "v1", "pods")
                    .expect("pods are a built-in resource"),
                rr.namespace.as_deref(),
            )))
            .map(|r| r.kvs)
            .unwrap_or_default();
        pods.iter()
            .filter_map(|kv| objects::decode(kv).ok())
            .any(|pod| {
                pod["spec"]["nodeName"] == node
                    && authz::pod_references(&pod, attrs.resource, rr.name.as_deref().unwrap_or(""))
            })
            .then(|| node.to_string())
    } else {
        None
    };
    decide(identity, &attrs, pod_node.as_deref())
}

/// Maps an [`authz::authorize`] decision to the answer a refused client gets.
fn decide(
    identity: Option<&Identity>,
    attrs: &authz::Attributes<'_>,
    pod_node: Option<&str>,
) -> Result<(), ApiError> {
    match (authz::authorize(identity, attrs, pod_node), identity) {
        (authz::Decision::Allow, _) => Ok(()),
        (authz::Decision::Deny(_), None) => Err(ApiError::Unauthorized),
        (authz::Decision::Deny(reason), Some(id)) => Err(ApiError::Forbidden(
            authz::forbidden_message(&id.user, attrs, reason.as_deref()),
        )),
    }
}

/// `<hostname>_<uuid>`, the uuid made once per data directory.
fn election_identity(data_dir: &std::path::Path) -> Result<String> {
    let path = data_dir.join("election-identity");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
    }
    let id = crate::leader::process_identity();
    std::fs::write(&path, &id)?;
    Ok(id)
}
