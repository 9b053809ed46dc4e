//! Registry configuration: which endpoints serve a registry (Docker Hub's API host, mirrors),
//! whether an endpoint speaks plain HTTP, which credentials and extra CAs it takes. Resolving
//! a registry name to endpoints is pure.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::reference::DOCKER_HUB;

/// Where Docker Hub's registry API is served (`docker.io` itself is only a name).
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// How the node reaches registries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryConfig {
    /// Per endpoint host (`host` or `host:port`, as in the reference or the mirror list):
    /// plain HTTP, credentials, extra CAs.
    #[serde(default)]
    pub hosts: BTreeMap<String, RegistryHost>,
    /// Per registry name (`docker.io`, `quay.io`): the endpoints to pull from instead, tried
    /// in order. They *replace* the registry, so an air-gapped node never reaches out; list
    /// the registry's own host last to fall back to it. An entry may carry a scheme
    /// (`http://127.0.0.1:5000`), which is the same as `insecure` for that host.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<String>>,
}

/// Settings of one endpoint host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryHost {
    /// Speak plain HTTP (no TLS) to this host.
    #[serde(default)]
    pub insecure: bool,
    /// Username and password for basic auth, or for the bearer-token service.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// PEM files of CAs trusted for this host besides the system's.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
}

/// A username and password. `Debug` never shows the password, so a config can be logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One place a registry's API is served, with what it takes to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// `host` or `host:port`.
    pub host: String,
    pub credentials: Option<Credentials>,
    pub ca_files: Vec<PathBuf>,
}

impl Endpoint {
    /// `https://host:port`, the base of every API URL.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.host)
    }
}

impl RegistryConfig {
    /// The endpoints to try for `registry` (as named in a reference), in order.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let default_host = if registry == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            registry
        };
        let hosts: Vec<(Option<Scheme>, String)> = match self.mirrors.get(registry) {
            Some(mirrors) if !mirrors.is_empty() => {
                mirrors.iter().map(|m| split_scheme(m)).collect()
            }
            _ => vec![(None, default_host.to_string())],
        };
        hosts
            .into_iter()
            .map(|(scheme, host)| {
                // Settings are looked up by endpoint host; Docker Hub's API host also takes
                // settings written under `docker.io`, the name users know.
                let settings = self.hosts.get(&host).or_else(|| {
                    (host == default_host)
                        .then(|| self.hosts.get(registry))
                        .flatten()
                });
                let insecure = settings.is_some_and(|s| s.insecure);
                let scheme = scheme.unwrap_or(if insecure {
                    Scheme::Http
                } else {
                    Scheme::Https
                });
                Endpoint {
                    scheme,
                    host,
                    credentials: settings.and_then(|s| s.credentials.clone()),
                    ca_files: settings.map(|s| s.ca_files.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }
}

fn split_scheme(endpoint: &str) -> (Option<Scheme>, String) {
    let trimmed = endpoint.trim_end_matches('/');
    if let Some(host) = trimmed.strip_prefix("http://") {
        (Some(Scheme::Http), host.to_string())
    } else if let Some(host) = trimmed.strip_prefix("https://") {
        (Some(Scheme::Https), host.to_string())
    } else {
        (None, trimmed.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        }
    }

    #[test]
    fn docker_hub_resolves_to_its_api_host_over_https() {
        let e = RegistryConfig::default().endpoints("docker.io");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].base_url(), "https://registry-1.docker.io");
        assert_eq!(e[0].credentials, None);
    }

    #[test]
    fn insecure_hosts_use_http_and_carry_their_credentials() {
        let mut c = RegistryConfig::default();
        c.hosts.insert(
            "127.0.0.1:5000".into(),
            RegistryHost {
                insecure: true,
                credentials: Some(creds()),
                ca_files: vec![],
            },
        );
        let e = c.endpoints("127.0.0.1:5000");
        assert_eq!(e[0].base_url(), "http://127.0.0.1:5000");
        assert_eq!(e[0].credentials, Some(creds()));
        assert_eq!(c.endpoints("127.0.0.1:5001")[0].scheme, Scheme::Https);
    }

    #[test]
    fn mirrors_replace_the_registry_in_order_with_their_own_settings() {
        let mut c = RegistryConfig::default();
        c.mirrors.insert(
            "docker.io".into(),
            vec!["http://127.0.0.1:5000/".into(), "mirror.local".into()],
        );
        c.hosts.insert(
            "docker.io".into(),
            RegistryHost {
                credentials: Some(creds()),
                ..Default::default()
            },
        );
        let e = c.endpoints("docker.io");
        let urls: Vec<String> = e.iter().map(Endpoint::base_url).collect();
        assert_eq!(urls, ["http://127.0.0.1:5000", "https://mirror.local"]);
        assert!(
            e.iter().all(|e| e.credentials.is_none()),
            "Docker Hub credentials are not sent to mirrors"
        );
        let hub = RegistryConfig {
            hosts: c.hosts.clone(),
            ..Default::default()
        };
        assert_eq!(hub.endpoints("docker.io")[0].credentials, Some(creds()));
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let shown = format!("{:?}", creds());
        assert!(
            shown.contains("\"u\"") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
