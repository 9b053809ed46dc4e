//! A pull-only client of the distribution API (`/v2/<name>/manifests/<ref>`,
//! `/v2/<name>/blobs/<digest>`) for one endpoint and repository. It answers authentication
//! challenges (basic auth, or the bearer-token flow) once per session and streams blobs into
//! a [`crate::store::Ingest`], which verifies them.

pub mod auth;
pub mod hosts;
pub mod transport;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::Mutex;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::Ingest;
use auth::Challenge;
use hosts::Endpoint;
use transport::{next_frame, read_body, ReadError, Transport};

/// The most bytes read of an error or token response.
const MAX_SMALL_BODY: u64 = 64 << 10;

/// A manifest as served: its bytes and `Content-Type`.
#[derive(Debug)]
pub struct FetchedManifest {
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// A session with one endpoint for one repository.
pub struct RegistryClient {
    endpoint: Endpoint,
    repository: String,
    transport: Transport,
    /// The `Authorization` value that worked last (a bearer token or basic credentials).
    /// Never logged.
    authorization: Mutex<Option<HeaderValue>>,
}

impl RegistryClient {
    pub fn new(endpoint: Endpoint, repository: &str) -> Result<RegistryClient> {
        let transport = Transport::for_endpoint(&endpoint).map_err(|source| Error::Transport {
            registry: endpoint.host.clone(),
            what: "setting up TLS".into(),
            source,
        })?;
        Ok(RegistryClient {
            endpoint,
            repository: repository.to_string(),
            transport,
            authorization: Mutex::new(None),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Fetches a manifest by tag or digest (bounded to `limit` bytes).
    pub async fn get_manifest(&self, reference: &str, limit: u64) -> Result<FetchedManifest> {
        let what = format!("manifest {}:{reference}", self.repository);
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.endpoint.base_url(),
            self.repository
        );
        let response = self.get(&url, Some(crate::manifest::ACCEPT), &what).await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_body(response.into_body(), limit)
            .await
            .map_err(|e| self.read_error(e, &what, limit))?;
        Ok(FetchedManifest { content_type, body })
    }

    /// Streams a blob into `ingest`, which checks size and digest as the bytes arrive and on
    /// commit.
    pub async fn get_blob(&self, digest: &Digest, ingest: &mut Ingest) -> Result<()> {
        let what = format!("blob {digest}");
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.endpoint.base_url(),
            self.repository
        );
        let response = self.get(&url, None, &what).await?;
        let mut body = response.into_body();
        while let Some(frame) = next_frame(&mut body)
            .await
            .map_err(|e| self.read_error(e, &what, ingest.expected_size()))?
        {
            if let Ok(data) = frame.into_data() {
                ingest.write(&data).await?;
            }
        }
        Ok(())
    }

    /// GET with authentication: try with what worked before; on 401 answer the challenge
    /// once, and fail clearly if the answer is refused too.
    async fn get(&self, url: &str, accept: Option<&str>, what: &str) -> Result<Response<Incoming>> {
        let current = self.authorization.lock().await.clone();
        let response = self.send(url, current.as_ref(), accept, what).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return self.check_status(response, what).await;
        }
        let challenges: Vec<Challenge> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(auth::parse_challenges)
            .collect();
        let authorization = self.answer(&challenges, current.is_some()).await?;
        let response = self.send(url, Some(&authorization), accept, what).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let detail = error_detail(response).await;
            return Err(self.unauthorized(format!(
                "{what}: access denied with the {} ({detail})",
                if self.endpoint.credentials.is_some() {
                    "configured credentials"
                } else {
                    "anonymous token"
                }
            )));
        }
        *self.authorization.lock().await = Some(authorization);
        self.check_status(response, what).await
    }

    /// Builds the `Authorization` value a challenge asks for.
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
                .unwrap_or_else(|| auth::pull_scope(&self.repository));
            let token = self.fetch_token(realm, service.as_deref(), &scope).await?;
            return header_value(&format!("Bearer {token}")).ok_or_else(|| {
                self.unauthorized("token service returned an unusable token".into())
            });
        }
        if challenges.contains(&Challenge::Basic) {
            let Some(credentials) = &self.endpoint.credentials else {
                return Err(self.unauthorized(
                    "the registry requires a username and password, and none is configured for it"
                        .into(),
                ));
            };
            if had_authorization {
                return Err(self.unauthorized("credentials rejected".into()));
            }
            return header_value(&auth::basic_authorization(credentials)).ok_or_else(|| {
                self.unauthorized("credentials contain characters not allowed in a header".into())
            });
        }
        Err(self.unauthorized(
            "401 Unauthorized without a Basic or Bearer challenge this client can answer".into(),
        ))
    }

    /// The bearer-token flow: GET realm?service=&scope= (with basic credentials when
    /// configured), then use the returned token.
    async fn fetch_token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        let url = auth::token_url(realm, service, scope);
        let basic = match &self.endpoint.credentials {
            Some(c) => Some(header_value(&auth::basic_authorization(c)).ok_or_else(|| {
                self.unauthorized("credentials contain characters not allowed in a header".into())
            })?),
            None => None,
        };
        // The realm is often another host (auth.docker.io); the credentials go to it on
        // purpose, as the challenge names it.
        let realm_origin = realm.split('?').next().unwrap_or(realm);
        let response = self
            .transport
            .get(Method::GET, &url, basic.as_ref(), None)
            .await
            .map_err(|source| Error::Transport {
                registry: self.endpoint.host.clone(),
                what: format!("requesting a token from {realm_origin}"),
                source,
            })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let detail = error_detail(response).await;
            return Err(self.unauthorized(format!(
                "token service {realm_origin} refused the {}: {status} ({detail})",
                if basic.is_some() {
                    "configured credentials"
                } else {
                    "anonymous request"
                }
            )));
        }
        if !status.is_success() {
            let detail = error_detail(response).await;
            return Err(self.unauthorized(format!(
                "token service {realm_origin} answered {status} ({detail})"
            )));
        }
        let body = read_body(response.into_body(), MAX_SMALL_BODY)
            .await
            .map_err(|e| self.read_error(e, "token response", MAX_SMALL_BODY))?;
        auth::parse_token_response(&body).ok_or_else(|| {
            self.unauthorized(format!("token service {realm_origin} returned no token"))
        })
    }

    async fn send(
        &self,
        url: &str,
        authorization: Option<&HeaderValue>,
        accept: Option<&str>,
        what: &str,
    ) -> Result<Response<Incoming>> {
        tracing::debug!(url, "registry request");
        self.transport
            .get(Method::GET, url, authorization, accept)
            .await
            .map_err(|source| Error::Transport {
                registry: self.endpoint.host.clone(),
                what: format!("fetching {what}"),
                source,
            })
    }

    async fn check_status(
        &self,
        response: Response<Incoming>,
        what: &str,
    ) -> Result<Response<Incoming>> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let detail = error_detail(response).await;
        if status == StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                registry: self.endpoint.host.clone(),
                what: format!("{what} ({detail})"),
            });
        }
        if status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(format!("{what}: {status} ({detail})")));
        }
        Err(Error::Registry {
            registry: self.endpoint.host.clone(),
            message: format!("fetching {what}: {status} ({detail})"),
        })
    }

    fn unauthorized(&self, message: String) -> Error {
        Error::Unauthorized {
            registry: self.endpoint.host.clone(),
            message,
        }
    }

    fn read_error(&self, e: ReadError, what: &str, limit: u64) -> Error {
        match e {
            ReadError::TooLarge => Error::TooLarge {
                what: format!("{what} from {}", self.endpoint.host),
                limit,
            },
            other => Error::Transport {
                registry: self.endpoint.host.clone(),
                what: format!("reading {what}"),
                source: Box::new(other),
            },
        }
    }
}

fn header_value(s: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(s).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// A short description of an error response: the distribution error codes and messages when
/// the body has them, else the start of the body.
async fn error_detail(response: Response<Incoming>) -> String {
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
    let status = response.status();
    let body = match read_body(response.into_body(), MAX_SMALL_BODY).await {
        Ok(body) => body,
        Err(_) => return format!("HTTP {status}"),
    };
    if let Ok(errors) = serde_json::from_slice::<Errors>(&body) {
        let parts: Vec<String> = errors
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    if text.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        text.trim().to_string()
    }
}
