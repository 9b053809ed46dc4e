//! Pushing an image over the distribution API: `GET /v2/` (learning how the registry wants
//! to be authenticated), for each blob `HEAD` to skip what is there and otherwise `POST
//! /v2/<name>/blobs/uploads/` then one monolithic `PUT <location>?digest=`, and last `PUT
//! /v2/<name>/manifests/<tag>`, whose `Docker-Content-Digest` must be the digest computed here.
//!
//! The HTTP stack is node-image's: hyper 1 over rustls (ring), one connection per request;
//! challenges are parsed by `node_image::registry::auth`. Basic credentials and the bearer
//! token flow (scope `repository:<name>:pull,push`) are answered. An `Authorization` goes only
//! to the registry's own origin and to the token realm the registry names.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION,
    USER_AGENT, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use node_image::registry::auth::{self, Challenge};
use node_image::{Credentials, Digest};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::error::{BoxError, Error, Result};
use crate::oci::{Blob, Image};
use crate::reference::PushTarget;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole request, upload included (layers here are a few MB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The most bytes read of any response: errors, tokens and empty successes are small.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// How to reach the registry.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Speak plain HTTP. Loopback registries always get plain HTTP.
    pub plain_http: bool,
    /// A PEM file of CAs to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    pub credentials: Option<Credentials>,
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// `registry/repository:tag@sha256:...`.
    pub reference: String,
    pub manifest_digest: Digest,
    pub manifest_size: u64,
    /// Config first, then the layers.
    pub blobs: Vec<PushedBlob>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedBlob {
    pub digest: Digest,
    pub size: u64,
    /// False when the registry had it already.
    pub uploaded: bool,
}

/// Pushes `image` to `target`: its blobs, then its manifest under the target's tag.
pub async fn push(image: &Image, target: &PushTarget, options: &PushOptions) -> Result<Pushed> {
    let mut client = Client::new(target, options)?;
    client.ping().await?;
    let mut blobs = Vec::new();
    for blob in image.blobs() {
        let uploaded = client.push_blob(blob).await?;
        blobs.push(PushedBlob {
            digest: blob.digest.clone(),
            size: blob.size(),
            uploaded,
        });
    }
    client.put_manifest(&image.manifest, &target.tag).await?;
    let reference = target.with_digest(&image.manifest.digest);
    tracing::info!(%reference, "pushed");
    Ok(Pushed {
        reference,
        manifest_digest: image.manifest.digest.clone(),
        manifest_size: image.manifest.size(),
        blobs,
    })
}

/// A response, body read.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Client {
    registry: String,
    /// `http(s)://registry`.
    base: String,
    repository: String,
    credentials: Option<Credentials>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// What answered the last challenge (basic credentials or a bearer token). Never logged.
    authorization: Option<HeaderValue>,
}

impl Client {
    fn new(target: &PushTarget, options: &PushOptions) -> Result<Client> {
        let plain = options.plain_http || target.is_loopback();
        let tls = if plain {
            None
        } else {
            Some(
                tls_config(options.ca_file.as_deref()).map_err(|source| Error::Transport {
                    registry: target.registry.clone(),
                    what: "setting up TLS".into(),
                    source,
                })?,
            )
        };
        Ok(Client {
            registry: target.registry.clone(),
            base: format!(
                "{}://{}",
                if plain { "http" } else { "https" },
                target.registry
            ),
            repository: target.repository.clone(),
            credentials: options.credentials.clone(),
            tls,
            authorization: None,
        })
    }

    /// `GET /v2/`: the registry speaks the distribution API and accepts our credentials.
    async fn ping(&mut self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let answer = self
            .request(
                Method::GET,
                &url,
                None,
                Bytes::new(),
                "checking the API at /v2/",
            )
            .await?;
        if answer.status.is_success() {
            return Ok(());
        }
        Err(self.status_error("checking the API at /v2/", &answer))
    }

    /// Uploads `blob` unless the registry has it; returns whether it uploaded.
    async fn push_blob(&mut self, blob: &Blob) -> Result<bool> {
        let what = format!("blob {}", blob.digest);
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repository, blob.digest);
        let head = self
            .request(Method::HEAD, &url, None, Bytes::new(), &what)
            .await?;
        match head.status {
            s if s.is_success() => {
                tracing::info!(digest = %blob.digest, size = blob.size(), "blob exists");
                return Ok(false);
            }
            StatusCode::NOT_FOUND => {}
            _ => return Err(self.status_error(&format!("checking {what}"), &head)),
        }

        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let started = self
            .request(Method::POST, &start, None, Bytes::new(), &what)
            .await?;
        if started.status != StatusCode::ACCEPTED {
            return Err(self.status_error(&format!("starting the upload of {what}"), &started));
        }
        let location = started
            .header(LOCATION.as_str())
            .ok_or_else(|| Error::Registry {
                registry: self.registry.clone(),
                what: format!("starting the upload of {what}"),
                status: started.status.as_u16(),
                message: "no Location header".into(),
            })?;
        let upload =
            upload_url(&self.base, location, &blob.digest).map_err(|source| Error::Transport {
                registry: self.registry.clone(),
                what: format!("upload location {location:?}"),
                source,
            })?;
        tracing::info!(digest = %blob.digest, size = blob.size(), "uploading blob");
        let done = self
            .request(
                Method::PUT,
                &upload,
                Some("application/octet-stream"),
                blob.data.clone(),
                &what,
            )
            .await?;
        if done.status != StatusCode::CREATED {
            return Err(self.status_error(&format!("uploading {what}"), &done));
        }
        self.check_digest(&done, &blob.digest, &what)?;
        Ok(true)
    }

    async fn put_manifest(&mut self, manifest: &Blob, tag: &str) -> Result<()> {
        let what = format!("manifest {}:{tag}", self.repository);
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.repository);
        let answer = self
            .request(
                Method::PUT,
                &url,
                Some(manifest.media_type),
                manifest.data.clone(),
                &what,
            )
            .await?;
        if answer.status != StatusCode::CREATED {
            return Err(self.status_error(&format!("putting {what}"), &answer));
        }
        self.check_digest(&answer, &manifest.digest, &what)
    }

    /// The registry's `Docker-Content-Digest` must be ours. Registries that send none are
    /// trusted: the upload named the digest, and distribution refuses mismatches itself.
    fn check_digest(&self, answer: &Answer, expected: &Digest, what: &str) -> Result<()> {
        match answer.header(DOCKER_CONTENT_DIGEST) {
            Some(actual) if actual == expected.to_string() => Ok(()),
            Some(actual) => Err(Error::DigestMismatch {
                registry: self.registry.clone(),
                what: what.to_string(),
                expected: expected.clone(),
                actual: actual.to_string(),
            }),
            None => {
                tracing::warn!(what, "the registry sent no Docker-Content-Digest");
                Ok(())
            }
        }
    }

    /// A request with authentication: with what worked before; on 401 the challenge is
    /// answered once, and a second 401 is a clear refusal.
    async fn request(
        &mut self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
        what: &str,
    ) -> Result<Answer> {
        let own_origin = same_origin(&self.base, url);
        let current = self.authorization.clone().filter(|_| own_origin);
        let answer = self
            .send(
                &method,
                url,
                content_type,
                body.clone(),
                current.as_ref(),
                what,
            )
            .await?;
        if answer.status != StatusCode::UNAUTHORIZED || !own_origin {
            return Ok(answer);
        }
        let challenges: Vec<Challenge> = answer
            .headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(auth::parse_challenges)
            .collect();
        let authorization = self.answer(&challenges, current.is_some()).await?;
        let retried = self
            .send(&method, url, content_type, body, Some(&authorization), what)
            .await?;
        if retried.status == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized(format!(
                "{what}: {} rejected ({})",
                self.whose_credentials(),
                error_detail(&retried)
            )));
        }
        self.authorization = Some(authorization);
        Ok(retried)
    }

    /// The `Authorization` a 401's challenges ask for: a bearer token when offered, else
    /// basic credentials.
    async fn answer(
        &self,
        challenges: &[Challenge],
        had_authorization: bool,
    ) -> Result<HeaderValue> {
        let bearer = challenges.iter().find_map(|c| match c {
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => Some((realm, service, scope)),
            Challenge::Basic => None,
        });
        if let Some((realm, service, scope)) = bearer {
            let scope = scope
                .clone()
                .unwrap_or_else(|| format!("repository:{}:pull,push", self.repository));
            let token = self.fetch_token(realm, service.as_deref(), &scope).await?;
            return sensitive(&format!("Bearer {token}")).ok_or_else(|| {
                self.unauthorized("the token service sent an unusable token".into())
            });
        }
        if challenges.contains(&Challenge::Basic) {
            let Some(credentials) = &self.credentials else {
                return Err(self.unauthorized(
                    "the registry requires a username and password (--username and --password, or REGISTRY_AUTH=user:password)".into(),
                ));
            };
            if had_authorization {
                return Err(self.unauthorized(format!(
                    "credentials for {:?} rejected",
                    credentials.username
                )));
            }
            return sensitive(&auth::basic_authorization(credentials)).ok_or_else(|| {
                self.unauthorized("the credentials hold characters a header cannot carry".into())
            });
        }
        Err(self
            .unauthorized("401 Unauthorized without a Basic or Bearer challenge to answer".into()))
    }

    /// The bearer token flow: `GET realm?service=&scope=` with the basic credentials, if any.
    async fn fetch_token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        let url = auth::token_url(realm, service, scope);
        let basic = match &self.credentials {
            Some(c) => Some(sensitive(&auth::basic_authorization(c)).ok_or_else(|| {
                self.unauthorized("the credentials hold characters a header cannot carry".into())
            })?),
            None => None,
        };
        let realm_origin = realm.split('?').next().unwrap_or(realm);
        let what = format!("requesting a token from {realm_origin}");
        let answer = self
            .send(
                &Method::GET,
                &url,
                None,
                Bytes::new(),
                basic.as_ref(),
                &what,
            )
            .await?;
        if !answer.status.is_success() {
            return Err(self.unauthorized(format!(
                "token service {realm_origin} refused the {}: {} ({})",
                self.whose_credentials(),
                answer.status,
                error_detail(&answer)
            )));
        }
        auth::parse_token_response(&answer.body).ok_or_else(|| {
            self.unauthorized(format!("token service {realm_origin} returned no token"))
        })
    }

    fn whose_credentials(&self) -> String {
        match &self.credentials {
            Some(c) => format!("credentials for {:?}", c.username),
            None => "anonymous request".into(),
        }
    }

    fn unauthorized(&self, message: String) -> Error {
        Error::Unauthorized {
            registry: self.registry.clone(),
            message,
        }
    }

    fn status_error(&self, what: &str, answer: &Answer) -> Error {
        if answer.status == StatusCode::FORBIDDEN {
            return self.unauthorized(format!("{what}: 403 Forbidden ({})", error_detail(answer)));
        }
        Error::Registry {
            registry: self.registry.clone(),
            what: what.to_string(),
            status: answer.status.as_u16(),
            message: error_detail(answer),
        }
    }

    /// One request on a fresh connection; the response body is read whole (bounded).
    async fn send(
        &self,
        method: &Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
        authorization: Option<&HeaderValue>,
        what: &str,
    ) -> Result<Answer> {
        tracing::debug!(%method, url, "registry request");
        let transport = |source: BoxError| Error::Transport {
            registry: self.registry.clone(),
            what: what.to_string(),
            source,
        };
        let uri: Uri = url.parse().map_err(|e| transport(Box::new(e)))?;
        let mut headers: Vec<(HeaderName, HeaderValue)> = vec![(
            USER_AGENT,
            HeaderValue::from_static(concat!("images/", env!("CARGO_PKG_VERSION"))),
        )];
        if let Some(auth) = authorization {
            headers.push((AUTHORIZATION, auth.clone()));
        }
        if method == Method::GET {
            headers.push((ACCEPT, HeaderValue::from_static("application/json")));
        }
        if method == Method::PUT || method == Method::POST {
            headers.push((CONTENT_LENGTH, HeaderValue::from(body.len())));
        }
        if let Some(content_type) = content_type {
            let value = HeaderValue::from_str(content_type).map_err(|e| transport(Box::new(e)))?;
            headers.push((CONTENT_TYPE, value));
        }
        let exchange = self.exchange(method, &uri, headers, body);
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| transport(format!("no answer within {REQUEST_TIMEOUT:?}").into()))?
            .map_err(transport)
    }

    async fn exchange(
        &self,
        method: &Method,
        uri: &Uri,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Result<Answer, BoxError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(format!("unsupported URL scheme {other:?}").into()),
        };
        let authority = uri.authority().ok_or("URL without a host")?.clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| format!("connecting to {authority} timed out"))??;
        tcp.set_nodelay(true)?;

        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(HOST, authority.as_str());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(body))?;
        let response = if https {
            let tls = self.tls.clone().ok_or("TLS is not configured")?;
            let name = ServerName::try_from(host)?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            send_on(TokioIo::new(stream), request).await?
        } else {
            send_on(TokioIo::new(tcp), request).await?
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

async fn send_on<T>(
    io: T,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, BoxError>
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

/// The system's CAs plus those in `ca_file`.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "skipping a system CA certificate");
    }
    for cert in native.certs {
        // A system bundle may hold certificates rustls cannot use; skip those.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
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
    Ok(Arc::new(config))
}

/// Where to `PUT` a monolithic upload: the `Location` of the started upload (absolute, or a
/// path on the registry) with `digest=` added to its query.
pub fn upload_url(base: &str, location: &str, digest: &Digest) -> Result<String, BoxError> {
    let url = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        return Err(format!("unsupported upload location {location:?}").into());
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}digest={digest}"))
}

/// Whether `url` is on the origin (scheme, host and port) `base` names.
fn same_origin(base: &str, url: &str) -> bool {
    let origin = |u: &str| {
        let uri: Uri = u.parse().ok()?;
        let scheme = uri.scheme_str()?.to_string();
        let default = if scheme == "https" { 443 } else { 80 };
        let authority = uri.authority()?;
        Some((
            scheme,
            authority.host().to_ascii_lowercase(),
            authority.port_u16().unwrap_or(default),
        ))
    };
    matches!((origin(base), origin(url)), (Some(a), Some(b)) if a == b)
}

fn sensitive(s: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(s).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn error_detail(answer: &Answer) -> String {
    describe_error_body(answer.status, &answer.body)
}

/// A short description of an error response: distribution's error codes and messages when
/// the body has them, else the start of the body.
pub fn describe_error_body(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(errors) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = errors
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    if text.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        text.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_locations_resolve_absolute_or_against_the_registry() {
        let d = Digest::of(b"x");
        assert_eq!(
            upload_url(
                "http://127.0.0.1:5000",
                "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=s",
                &d
            )
            .unwrap(),
            format!("http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=s&digest={d}")
        );
        assert_eq!(
            upload_url("https://r.example", "/v2/a/blobs/uploads/u2", &d).unwrap(),
            format!("https://r.example/v2/a/blobs/uploads/u2?digest={d}")
        );
        assert!(upload_url("https://r.example", "uploads/u3", &d).is_err());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            "https://r.example",
            "https://R.example:443/v2/"
        ));
        assert!(same_origin(
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5000/v2/x"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5001/v2/x"
        ));
        assert!(!same_origin("https://r.example", "http://r.example/v2/"));
        assert!(!same_origin(
            "https://r.example",
            "https://cdn.example/blob"
        ));
    }

    #[test]
    fn error_bodies_are_summarised() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        assert_eq!(
            describe_error_body(StatusCode::UNAUTHORIZED, body),
            "UNAUTHORIZED: authentication required"
        );
        assert_eq!(
            describe_error_body(StatusCode::BAD_GATEWAY, b"  upstream down \n"),
            "upstream down"
        );
        assert_eq!(
            describe_error_body(StatusCode::BAD_GATEWAY, b""),
            "HTTP 502 Bad Gateway"
        );
    }

    #[test]
    fn loopback_targets_use_plain_http_and_others_https() {
        let options = PushOptions::default();
        let local = Client::new(&PushTarget::parse("localhost:5000/a").unwrap(), &options).unwrap();
        assert_eq!(local.base, "http://localhost:5000");
        assert!(local.tls.is_none());
        let remote = Client::new(&PushTarget::parse("r.example/a").unwrap(), &options).unwrap();
        assert_eq!(remote.base, "https://r.example");
        let forced = PushOptions {
            plain_http: true,
            ..PushOptions::default()
        };
        let plain = Client::new(&PushTarget::parse("r.example:80/a").unwrap(), &forced).unwrap();
        assert_eq!(plain.base, "http://r.example:80");
    }
}
