//! HTTP(S) requests to registries on the workspace's one HTTP stack (hyper 1 + rustls with
//! ring), one connection per request. Pulls make few requests (a token, a manifest or two, a
//! config, the layers), so pooling buys little, and a fresh connection per request keeps
//! redirects to blob CDNs on other hosts simple.
//!
//! Why not `oci-client`: it brings reqwest 0.13, whose rustls feature builds aws-lc-rs (C,
//! via cmake) and the platform verifier, plus oci-spec, chrono and regex: a second HTTP and TLS
//! stack in a workspace that has one, and a long build on two cores. Its `pull()` buffers
//! layers in memory, and what is left once streaming to disk is done here (the token flow,
//! manifests, mirrors and per-host plain HTTP) is a few hundred lines.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, HOST, LOCATION, USER_AGENT};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::hosts::Endpoint;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest wait for the next piece of a body before the transfer counts as stalled.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Makes requests for one endpoint, with that endpoint's TLS trust.
pub struct Transport {
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Transport {
    /// Builds the TLS settings: the system's CAs plus the endpoint's `ca_files`.
    pub fn for_endpoint(endpoint: &Endpoint) -> Result<Transport, BoxError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!(%error, "skipping a system CA certificate");
        }
        for cert in native.certs {
            // A system bundle may hold certificates rustls cannot use; skip those.
            let _ = roots.add(cert);
        }
        for path in &endpoint.ca_files {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("reading CA file {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("reading CA file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            }
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Transport {
            tls: Some(Arc::new(config)),
        })
    }

    /// Sends a GET (or HEAD) and follows redirects. `authorization` goes only to `url`'s own
    /// host: a redirect to another host (a blob CDN with a signed URL) must not receive the
    /// registry's credentials or token.
    pub async fn get(
        &self,
        method: Method,
        url: &str,
        authorization: Option<&HeaderValue>,
        accept: Option<&str>,
    ) -> Result<Response<Incoming>, BoxError> {
        let mut uri: Uri = url.parse()?;
        let origin = uri.authority().cloned();
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = uri.authority() == origin.as_ref();
            let auth = authorization.filter(|_| same_origin);
            let response = self.send_once(&method, &uri, auth, accept).await?;
            if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED
            {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or("redirect without a Location")?;
            uri = resolve_location(&uri, location)?;
        }
        Err(format!("more than {MAX_REDIRECTS} redirects").into())
    }

    async fn send_once(
        &self,
        method: &Method,
        uri: &Uri,
        authorization: Option<&HeaderValue>,
        accept: Option<&str>,
    ) -> Result<Response<Incoming>, BoxError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(format!("unsupported URL scheme {other:?}").into()),
        };
        let authority = uri.authority().ok_or("URL without a host")?.clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| format!("connecting to {authority} timed out"))??;
        tcp.set_nodelay(true)?;

        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, authority.as_str())
            .header(
                USER_AGENT,
                concat!("node-image/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(accept) = accept {
            request = request.header(http::header::ACCEPT, accept);
        }
        if let Some(auth) = authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request.body(Empty::<Bytes>::new())?;

        let send = async {
            if https {
                let tls = self.tls.clone().ok_or("TLS is not configured")?;
                let name = ServerName::try_from(host.to_string())?;
                let stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, tcp)
                    .await?;
                send_on(TokioIo::new(stream), request).await
            } else {
                send_on(TokioIo::new(tcp), request).await
            }
        };
        tokio::time::timeout(RESPONSE_TIMEOUT, send)
            .await
            .map_err(|_| format!("no response from {authority} within {RESPONSE_TIMEOUT:?}"))?
    }
}

async fn send_on<T>(io: T, request: Request<Empty<Bytes>>) -> Result<Response<Incoming>, BoxError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "registry connection ended");
        }
    });
    Ok(sender.send_request(request).await?)
}

/// Resolves a `Location` against the URL that answered: absolute, or absolute-path.
fn resolve_location(base: &Uri, location: &str) -> Result<Uri, BoxError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.parse()?);
    }
    if location.starts_with('/') {
        let mut parts = base.clone().into_parts();
        parts.path_and_query = Some(location.parse()?);
        return Ok(Uri::from_parts(parts)?);
    }
    Err(format!("unsupported redirect location {location:?}").into())
}

/// Reads a whole (small) body, refusing more than `limit` bytes.
pub async fn read_body(body: Incoming, limit: u64) -> Result<Bytes, ReadError> {
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = next_frame(&mut body).await? {
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// The next frame of a body, or `None` at its end; stalls longer than [`BODY_IDLE_TIMEOUT`]
/// are errors so a hung registry cannot hold a pull forever.
pub async fn next_frame(
    body: &mut Incoming,
) -> Result<Option<hyper::body::Frame<Bytes>>, ReadError> {
    match tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await {
        Err(_) => Err(ReadError::Stalled),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(ReadError::Http(e)),
        Ok(Some(Ok(frame))) => Ok(Some(frame)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("body larger than allowed")]
    TooLarge,
    #[error("no data for {BODY_IDLE_TIMEOUT:?}")]
    Stalled,
    #[error("reading body: {0}")]
    Http(#[from] hyper::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve_against_the_answering_url() {
        let base: Uri = "https://reg.example:5000/v2/a/blobs/sha256:x"
            .parse()
            .unwrap();
        assert_eq!(
            resolve_location(&base, "/storage/abc?sig=1")
                .unwrap()
                .to_string(),
            "https://reg.example:5000/storage/abc?sig=1"
        );
        assert_eq!(
            resolve_location(&base, "https://cdn.example/x")
                .unwrap()
                .to_string(),
            "https://cdn.example/x"
        );
        assert!(resolve_location(&base, "relative/x").is_err());
    }
}
