//! The image config (the blob a manifest's `config` points at), reduced to what the kubelet
//! needs to build a container process: entrypoint and command, environment, working directory,
//! user, exposed ports, and the layers' `diff_ids`. Pure parsing; no IO.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The most config bytes read into memory; real configs are a few KiB (history included).
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;

/// What the kubelet reads from an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub os: String,
    pub architecture: String,
    /// `Entrypoint`: the executable and its first arguments.
    pub entrypoint: Vec<String>,
    /// `Cmd`: default arguments (or the command, without an entrypoint).
    pub cmd: Vec<String>,
    /// `Env`, in order, split at the first `=`.
    pub env: Vec<(String, String)>,
    /// `WorkingDir`, when set and non-empty.
    pub working_dir: Option<String>,
    /// `User`, when set and non-empty.
    pub user: Option<ImageUser>,
    /// `ExposedPorts`, sorted.
    pub exposed_ports: Vec<ExposedPort>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    /// The digests of the uncompressed layer tars, base first.
    pub diff_ids: Vec<Digest>,
}

/// A port from `ExposedPorts` (`"80/tcp"`, `"53/udp"`; no protocol means tcp).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExposedPort {
    pub port: u16,
    pub protocol: String,
}

/// The `User` field: a user by name or uid, and optionally a group by name or gid. Names are
/// resolved against the container's own `/etc/passwd` and `/etc/group` by the runtime, which
/// has the root filesystem; this only parses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUser {
    pub user: UserId,
    pub group: Option<UserId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserId {
    Id(u32),
    Name(String),
}

impl ImageUser {
    /// Parses `user`, `uid`, `user:group`, `uid:gid` (and mixtures).
    pub fn parse(s: &str) -> Result<ImageUser> {
        let id = |part: &str| -> Result<UserId> {
            if part.is_empty() || part.contains(['/', '\0']) {
                return Err(Error::Config {
                    what: "User".into(),
                    reason: format!("invalid user or group {s:?}"),
                });
            }
            Ok(match part.parse::<u32>() {
                Ok(n) => UserId::Id(n),
                Err(_) => UserId::Name(part.to_string()),
            })
        };
        match s.split_once(':') {
            Some((user, group)) => Ok(ImageUser {
                user: id(user)?,
                group: Some(id(group)?),
            }),
            None => Ok(ImageUser {
                user: id(s)?,
                group: None,
            }),
        }
    }
}

impl ImageConfig {
    /// Parses a config blob (OCI and Docker configs share this shape).
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig> {
        let bad = |reason: String| Error::Config {
            what: "blob".into(),
            reason,
        };
        let raw: RawImage =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let rootfs = raw.rootfs.ok_or_else(|| bad("no \"rootfs\"".into()))?;
        if rootfs.kind != "layers" {
            return Err(bad(format!(
                "rootfs type {:?} is not \"layers\"",
                rootfs.kind
            )));
        }
        let c = raw.config.unwrap_or_default();
        let env = c
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect();
        let mut exposed_ports = Vec::new();
        for key in c.exposed_ports.unwrap_or_default().into_keys() {
            let (port, protocol) = key.split_once('/').unwrap_or((&key, "tcp"));
            let port = port
                .parse::<u16>()
                .map_err(|_| bad(format!("exposed port {key:?} is not a port number")))?;
            exposed_ports.push(ExposedPort {
                port,
                protocol: protocol.to_ascii_lowercase(),
            });
        }
        exposed_ports.sort();
        let user = match c.user.as_deref() {
            None | Some("") => None,
            Some(u) => Some(ImageUser::parse(u)?),
        };
        Ok(ImageConfig {
            os: raw.os.unwrap_or_default(),
            architecture: raw.architecture.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env,
            working_dir: c.working_dir.filter(|w| !w.is_empty()),
            user,
            exposed_ports,
            labels: c.labels.unwrap_or_default(),
            stop_signal: c.stop_signal.filter(|s| !s.is_empty()),
            diff_ids: rootfs.diff_ids,
        })
    }

    /// The process arguments for a container, as the kubelet combines a container's `command`
    /// and `args` with the image: `command` replaces the entrypoint (and drops the image's
    /// `Cmd`); `args` replaces `Cmd`. Variable expansion (`$(VAR)`) is the kubelet's, not this.
    pub fn argv(&self, command: &[String], args: &[String]) -> Vec<String> {
        let (entry, rest): (&[String], &[String]) = match (command.is_empty(), args.is_empty()) {
            (false, _) => (command, args),
            (true, false) => (&self.entrypoint, args),
            (true, true) => (&self.entrypoint, &self.cmd),
        };
        entry.iter().chain(rest).cloned().collect()
    }
}

/// The JSON shape, with Docker's `null`s for empty lists and maps.
#[derive(Deserialize)]
struct RawImage {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    rootfs: Option<RawRootfs>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    stop_signal: Option<String>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX_LIKE: &str = r#"{
      "architecture": "amd64", "os": "linux",
      "config": {
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8080": {}},
        "Env": ["PATH=/usr/local/sbin:/usr/bin", "NGINX_VERSION=1.25.3", "EMPTY=", "BARE"],
        "Entrypoint": ["/docker-entrypoint.sh"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "WorkingDir": "/srv",
        "User": "101:nginx",
        "Labels": {"maintainer": "x"},
        "StopSignal": "SIGQUIT"
      },
      "rootfs": {"type": "layers", "diff_ids": [
        "sha256:0101010101010101010101010101010101010101010101010101010101010101"]},
      "history": [{"created_by": "x"}]
    }"#;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn an_nginx_like_config_parses_every_field_the_kubelet_uses() {
        let c = ImageConfig::parse(NGINX_LIKE.as_bytes()).unwrap();
        assert_eq!(c.os, "linux");
        assert_eq!(c.entrypoint, s(&["/docker-entrypoint.sh"]));
        assert_eq!(c.cmd, s(&["nginx", "-g", "daemon off;"]));
        assert_eq!(
            c.env,
            vec![
                ("PATH".into(), "/usr/local/sbin:/usr/bin".into()),
                ("NGINX_VERSION".into(), "1.25.3".into()),
                ("EMPTY".into(), "".into()),
                ("BARE".into(), "".into()),
            ]
        );
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            c.user,
            Some(ImageUser {
                user: UserId::Id(101),
                group: Some(UserId::Name("nginx".into()))
            })
        );
        let ports: Vec<(u16, &str)> = c
            .exposed_ports
            .iter()
            .map(|p| (p.port, p.protocol.as_str()))
            .collect();
        assert_eq!(ports, vec![(53, "udp"), (80, "tcp"), (8080, "tcp")]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.diff_ids.len(), 1);
    }

    #[test]
    fn docker_nulls_and_empty_strings_mean_unset() {
        let c = ImageConfig::parse(
            br#"{"config":{"Entrypoint":null,"Cmd":null,"Env":null,"User":"","WorkingDir":"","ExposedPorts":null},
                 "rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        assert!(c.entrypoint.is_empty() && c.cmd.is_empty() && c.env.is_empty());
        assert_eq!(c.user, None);
        assert_eq!(c.working_dir, None);
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        for (body, needle) in [
            (r#"{"config":{}}"#, "rootfs"),
            (
                r#"{"rootfs":{"type":"other","diff_ids":[]}}"#,
                "not \"layers\"",
            ),
            (
                r#"{"config":{"ExposedPorts":{"http/tcp":{}}},"rootfs":{"type":"layers"}}"#,
                "not a port",
            ),
            (
                r#"{"rootfs":{"type":"layers","diff_ids":["md5:00"]}}"#,
                "not valid JSON",
            ),
            (
                r#"{"config":{"User":":x"},"rootfs":{"type":"layers"}}"#,
                "invalid user",
            ),
        ] {
            let err = ImageConfig::parse(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn argv_follows_the_kubelet_rules_for_command_and_args() {
        let c = ImageConfig::parse(NGINX_LIKE.as_bytes()).unwrap();
        assert_eq!(
            c.argv(&[], &[]),
            s(&["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"])
        );
        assert_eq!(
            c.argv(&[], &s(&["-v"])),
            s(&["/docker-entrypoint.sh", "-v"])
        );
        assert_eq!(c.argv(&s(&["sh", "-c"]), &[]), s(&["sh", "-c"]));
        assert_eq!(
            c.argv(&s(&["sh", "-c"]), &s(&["echo hi"])),
            s(&["sh", "-c", "echo hi"])
        );
    }

    #[test]
    fn user_forms_parse() {
        assert_eq!(
            ImageUser::parse("nobody").unwrap(),
            ImageUser {
                user: UserId::Name("nobody".into()),
                group: None
            }
        );
        assert_eq!(
            ImageUser::parse("0:0").unwrap(),
            ImageUser {
                user: UserId::Id(0),
                group: Some(UserId::Id(0))
            }
        );
        assert!(ImageUser::parse("a:").is_err());
    }
}
