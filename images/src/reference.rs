//! Where a push goes: `HOST[:PORT]/REPOSITORY[:TAG]`. The registry must be named (a push never
//! falls back to Docker Hub) and the tag defaults to `latest`; a digest makes no sense for a
//! push, whose digest is the result. Names are checked with `node_image::Reference`, the
//! grammar the node uses when it pulls them back. Pure.

use std::fmt;
use std::net::IpAddr;

use node_image::Reference;

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushTarget {
    /// `host` or `host:port`, as written.
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl PushTarget {
    pub fn parse(input: &str) -> Result<PushTarget> {
        let invalid = |reason: &str| Error::InvalidTarget {
            target: input.to_string(),
            reason: reason.to_string(),
        };
        if input.contains('@') {
            return Err(invalid(
                "a push names a tag, not a digest (the digest is what the push reports)",
            ));
        }
        let reference = Reference::parse(input).map_err(|e| invalid(&e.to_string()))?;
        // `testapp:v1` would parse as Docker Hub's; a push must say where it goes.
        if !input.starts_with(&format!("{}/", reference.registry())) {
            return Err(invalid(
                "name the registry: HOST[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/testapp:v1",
            ));
        }
        Ok(PushTarget {
            registry: reference.registry().to_string(),
            repository: reference.repository().to_string(),
            tag: reference.tag().unwrap_or("latest").to_string(),
        })
    }

    /// The registry's host without the port (and without IPv6 brackets).
    pub fn host(&self) -> &str {
        let host = match self.registry.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => self.registry.split(':').next().unwrap_or(&self.registry),
        };
        host
    }

    /// Whether the registry is on this machine: the only place plain HTTP is used without
    /// being asked for.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// `registry/repository:tag@digest`, the reference a pod spec can pin.
    pub fn with_digest(&self, digest: &node_image::Digest) -> String {
        format!("{self}@{digest}")
    }
}

impl fmt::Display for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> PushTarget {
        PushTarget::parse(s).unwrap()
    }

    #[test]
    fn host_port_repository_and_tag_are_taken_apart() {
        assert_eq!(
            t("127.0.0.1:5000/testapp:v1"),
            PushTarget {
                registry: "127.0.0.1:5000".into(),
                repository: "testapp".into(),
                tag: "v1".into()
            }
        );
        let nested = t("registry.example.com/team/tools/testapp");
        assert_eq!(nested.repository, "team/tools/testapp");
        assert_eq!(nested.tag, "latest");
        assert_eq!(
            nested.to_string(),
            "registry.example.com/team/tools/testapp:latest"
        );
        assert_eq!(t("localhost:5000/a:b").host(), "localhost");
        assert_eq!(t("[::1]:5000/a:b").host(), "::1");
    }

    #[test]
    fn a_registry_must_be_named_and_digests_are_refused() {
        for bad in [
            "testapp:v1",
            "library/testapp",
            "127.0.0.1:5000/testapp@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "127.0.0.1:5000/TestApp:v1",
            "127.0.0.1:5000/testapp:-v1",
            "",
        ] {
            assert!(PushTarget::parse(bad).is_err(), "{bad}");
        }
        let err = PushTarget::parse("testapp:v1").unwrap_err().to_string();
        assert!(err.contains("name the registry"), "{err}");
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for local in [
            "127.0.0.1:5000/a",
            "127.1.2.3/a",
            "localhost/a",
            "[::1]:80/a",
        ] {
            assert!(t(local).is_loopback(), "{local}");
        }
        for remote in [
            "10.0.0.1:5000/a",
            "registry.example.com/a",
            "localhost.example.com/a",
        ] {
            assert!(!t(remote).is_loopback(), "{remote}");
        }
    }

    #[test]
    fn the_pinned_reference_keeps_the_tag() {
        let digest = node_image::Digest::of(b"x");
        assert_eq!(
            t("127.0.0.1:5000/testapp:v1").with_digest(&digest),
            format!("127.0.0.1:5000/testapp:v1@{digest}")
        );
    }
}
