//! The IO half of the kubelet proxy: one TLS connection per request to a kubelet, its serving
//! certificate verified against the cluster CA for the IP dialled and this server's
//! `kube-apiserver-kubelet-client` identity presented; one HTTP/1.1 request on it; and, for
//! upgrades, the byte-for-byte splice of the client's and the kubelet's connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::pki::CertKey;

/// How long dialling and the TLS handshake may take (kube-apiserver's dialer allows 30 s;
/// a kubelet that has not answered in 10 is not coming).
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the kubelet may take to answer a request's headers.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a kubelet could not be reached; all of them are "error dialing backend" to clients.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("dial tcp {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("tls handshake with {addr}: {source}")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("dial tcp {0}: i/o timeout")]
    Timeout(SocketAddr),
    #[error("sending the request to {addr}: {source}")]
    Http {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
}

/// The API server's HTTPS client towards kubelets.
pub struct KubeletClient {
    tls: TlsConnector,
}

impl KubeletClient {
    /// Trusts only `ca_pem` for kubelets' serving certificates and presents `identity`.
    pub fn new(ca_pem: &str, identity: &CertKey) -> anyhow::Result<KubeletClient> {
        use anyhow::Context;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(c.context("parsing the cluster CA")?)
                .context("trusting the cluster CA")?;
        }
        let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the kubelet client certificate")?;
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
            .context("parsing the kubelet client key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .context("installing the kubelet client certificate")?;
        // Upgrades exist only in HTTP/1.1, and one protocol keeps one code path.
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(KubeletClient {
            tls: TlsConnector::from(Arc::new(cfg)),
        })
    }

    /// Sends one request without a body (`headers` added to it) to the kubelet at `addr` and
    /// returns its answer. The connection serves only this request; an upgrade answer (101)
    /// keeps it for [`hyper::upgrade::on`].
    pub async fn send(
        &self,
        addr: SocketAddr,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
    ) -> Result<Response<Incoming>, DialError> {
        let tls = tokio::time::timeout(DIAL_TIMEOUT, self.dial(addr))
            .await
            .map_err(|_| DialError::Timeout(addr))??;
        let http_err = |source| DialError::Http { addr, source };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(http_err)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(%addr, "kubelet connection ended: {e}");
            }
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(http::header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())
            .expect("a valid request");
        req.headers_mut().extend(headers);
        match tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(req)).await {
            Err(_) => Err(DialError::Timeout(addr)),
            Ok(r) => r.map_err(http_err),
        }
    }

    async fn dial(
        &self,
        addr: SocketAddr,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, DialError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| DialError::Connect { addr, source })?;
        let _ = tcp.set_nodelay(true);
        // The kubelet's certificate must name the IP dialled, as Go's TLS client checks it.
        let name = ServerName::IpAddress(addr.ip().into());
        self.tls
            .connect(name, tcp)
            .await
            .map_err(|source| DialError::Tls { addr, source })
    }
}

/// Reads at most `limit` bytes of a body (the rest is dropped with the connection), as
/// kube-apiserver reads at most 50,000 bytes of a kubelet's error answer.
pub async fn read_prefix(mut body: Incoming, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    out.truncate(limit);
    out
}

/// Once the client's side of an answered upgrade is handed over, copies bytes both ways until
/// either side finishes, then closes both, as apimachinery's `UpgradeAwareHandler` does.
pub async fn splice(client: OnUpgrade, backend: Upgraded) {
    let client = match client.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("client upgrade failed: {e}");
            return;
        }
    };
    let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client));
    let (mut backend_read, mut backend_write) = tokio::io::split(TokioIo::new(backend));
    tokio::select! {
        r = copy_then_close(&mut client_read, &mut backend_write) => log_end("client to kubelet", r),
        r = copy_then_close(&mut backend_read, &mut client_write) => log_end("kubelet to client", r),
    }
    // Closing the other direction too: half-open streams would outlive their session.
    let _ = client_write.shutdown().await;
    let _ = backend_write.shutdown().await;
}

async fn copy_then_close<R, W>(from: &mut R, to: &mut W) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let n = tokio::io::copy(from, to).await?;
    to.shutdown().await?;
    Ok(n)
}

fn log_end(direction: &str, r: std::io::Result<u64>) {
    match r {
        Ok(n) => tracing::debug!(direction, bytes = n, "upgraded stream ended"),
        Err(e) => tracing::debug!(direction, "upgraded stream failed: {e}"),
    }
}
