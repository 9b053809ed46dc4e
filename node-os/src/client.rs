//! The node's small HTTPS client for the API server: one HTTP/1.1 connection per request,
//! server verified against a pinned CA (or, for the single discovery read, not at all), and
//! the client authenticated by a bootstrap token or by the node's certificate.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the server's certificate is checked.
#[derive(Clone)]
pub enum ServerTrust {
    /// Not at all. Only for fetching cluster-info, whose content is then authenticated by its
    /// JWS and the CA pin instead; nothing else may be sent or believed over such a connection.
    UnverifiedForDiscovery,
    /// Against this CA (PEM).
    Ca(String),
}

/// Who the client is.
#[derive(Clone)]
pub enum Credentials {
    Anonymous,
    /// `Authorization: Bearer <token>`; the value is never logged.
    Bearer(String),
    /// A client certificate and key, PEM.
    Certificate {
        cert_pem: String,
        key_pem: String,
    },
}

/// An API server endpoint with the trust and credentials to use.
#[derive(Clone)]
pub struct ApiClient {
    pub host: String,
    pub port: u16,
    trust: ServerTrust,
    credentials: Credentials,
}

/// `https://HOST:PORT` split into host and port.
pub fn parse_server(url: &str) -> Result<(String, u16)> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("--server {url:?} must start with https://"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (rest, "443"),
        Some((h, p)) => (h, p),
        None => (rest, "443"),
    };
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow!("--server {url:?} has a bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    anyhow::ensure!(!host.is_empty(), "--server {url:?} has no host");
    Ok((host.to_string(), port))
}

impl ApiClient {
    pub fn new(server: &str, trust: ServerTrust, credentials: Credentials) -> Result<ApiClient> {
        let (host, port) = parse_server(server)?;
        Ok(ApiClient {
            host,
            port,
            trust,
            credentials,
        })
    }

    fn tls(&self) -> Result<Arc<ClientConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.trust {
            ServerTrust::Ca(pem) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots.add(c.context("parsing the cluster CA")?)?;
                }
                builder.with_root_certificates(roots)
            }
            ServerTrust::UnverifiedForDiscovery => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServer(provider))),
        };
        let cfg = match &self.credentials {
            Credentials::Certificate { cert_pem, key_pem } => {
                let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .context("parsing the node certificate")?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .context("parsing the node key")?;
                builder.with_client_auth_cert(chain, key)?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Arc::new(cfg))
    }

    /// Sends one request and reads the whole answer.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<(StatusCode, Bytes)> {
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.request_inner(method, path, body, content_type),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "no answer from {}:{} within {REQUEST_TIMEOUT:?}",
                self.host,
                self.port
            )
        })?
    }

    async fn request_inner(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<(StatusCode, Bytes)> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("connecting to {}:{}", self.host, self.port))?;
        let name = ServerName::try_from(self.host.clone())?;
        let tls = TlsConnector::from(self.tls()?)
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {}:{}", self.host, self.port))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, format!("{}:{}", self.host, self.port))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::USER_AGENT, "node-os");
        if let Credentials::Bearer(t) = &self.credentials {
            let mut v = http::HeaderValue::from_str(&format!("Bearer {t}"))?;
            v.set_sensitive(true);
            req = req.header(http::header::AUTHORIZATION, v);
        }
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(body.unwrap_or_default())))?)
            .await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// Starts a watch (`path` with `watch=1`) and returns its events, one JSON object each, as
    /// they arrive. The channel closes when the server ends the watch or the connection
    /// drops; the caller then lists again or resumes from the last resourceVersion it saw.
    pub async fn watch(
        &self,
        path: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<serde_json::Value>> {
        let tcp = tokio::time::timeout(
            REQUEST_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| anyhow!("connecting to {}:{} timed out", self.host, self.port))??;
        let name = ServerName::try_from(self.host.clone())?;
        let tls = TlsConnector::from(self.tls()?).connect(name, tcp).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::HOST, format!("{}:{}", self.host, self.port))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "node-os")
            .body(Full::new(Bytes::new()))?;
        let resp = sender.send_request(req).await?;
        if !resp.status().is_success() {
            let code = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::bail!("watch {path}: {code}: {}", String::from_utf8_lossy(&body));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let mut body = resp.into_body();
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
                        if tx.send(v).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(rx)
    }

    /// GET a JSON document.
    pub async fn get_json(&self, path: &str) -> Result<(StatusCode, serde_json::Value)> {
        let (code, body) = self
            .request(Method::GET, path, None, "application/json")
            .await?;
        let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        Ok((code, v))
    }
}

/// The `message` of a Kubernetes Status, or the raw body.
pub fn status_message(body: &serde_json::Value) -> String {
    body["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string())
}

/// Accepts any server certificate while still checking the handshake signatures, for the
/// discovery read only (see [`ServerTrust::UnverifiedForDiscovery`]).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_split_into_host_and_port() {
        assert_eq!(
            parse_server("https://10.0.0.1:6443").unwrap(),
            ("10.0.0.1".to_string(), 6443)
        );
        assert_eq!(
            parse_server("https://api.example/").unwrap(),
            ("api.example".to_string(), 443)
        );
        assert_eq!(
            parse_server("https://[::1]:6443").unwrap(),
            ("::1".to_string(), 6443)
        );
        assert!(parse_server("http://10.0.0.1:6443").is_err());
        assert!(parse_server("https://10.0.0.1:x").is_err());
    }
}
