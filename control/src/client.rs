//! A small HTTPS client for this API server, authenticated by the admin kubeconfig's client
//! certificate: used by the benchmarks and crash tests, which need many raw connections and
//! exact timings rather than a full Kubernetes client library.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The parts of a kubeconfig written by `control serve` that a client needs.
#[derive(Clone)]
pub struct KubeConfig {
    pub host: String,
    pub port: u16,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl KubeConfig {
    /// Reads a kubeconfig with one cluster and one user with embedded certificate data.
    pub fn load(path: &std::path::Path) -> Result<KubeConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let field = |name: &str| -> Result<String> {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
                .ok_or_else(|| anyhow!("{}: no {name} in kubeconfig", path.display()))
        };
        let b64 = |name: &str| -> Result<String> {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(field(name)?)
                .with_context(|| format!("{name} is not base64"))?;
            String::from_utf8(raw).with_context(|| format!("{name} is not PEM text"))
        };
        let server = field("server:")?;
        let hostport = server
            .strip_prefix("https://")
            .ok_or_else(|| anyhow!("server {server:?} is not https"))?;
        let (host, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("server {server:?} has no port"))?;
        Ok(KubeConfig {
            host: host.trim_matches(['[', ']']).to_string(),
            port: port.parse().context("server port")?,
            ca_pem: b64("certificate-authority-data:")?,
            cert_pem: b64("client-certificate-data:")?,
            key_pem: b64("client-key-data:")?,
        })
    }

    fn tls(&self) -> Result<Arc<ClientConfig>> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c?)?;
        }
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(Arc::new(cfg))
    }
}

/// One HTTP/1.1 connection; requests on it are sequential.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl Connection {
    pub async fn connect(cfg: &KubeConfig) -> Result<Connection> {
        let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
            .await
            .with_context(|| format!("connecting to {}:{}", cfg.host, cfg.port))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(cfg.host.clone())?;
        let tls = TlsConnector::from(cfg.tls()?).connect(name, tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection {
            sender,
            authority: format!("{}:{}", cfg.host, cfg.port),
        })
    }

    /// Sends a request and returns the status and the response stream.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<http::Response<Incoming>> {
        self.sender.ready().await?;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.authority)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        Ok(self.sender.send_request(req).await?)
    }

    /// Sends a request and reads the whole response.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes)> {
        let resp = self.send(method, path, body, "application/json").await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// Like [`request`](Self::request) but fails unless the status is 2xx.
    pub async fn expect_ok(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes> {
        let (status, bytes) = self.request(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(bytes)
    }
}
