//! Image references as Pod specs write them (`nginx`, `nginx:1.25`,
//! `docker.io/library/nginx:1.25`, `localhost:5000/x/y@sha256:...`), normalized the way Docker
//! and the kubelet normalize them: no registry means `docker.io`, and a one-component Docker
//! Hub name gets `library/`. Pure parsing; no IO.

use std::fmt;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The registry images without a registry come from.
pub const DOCKER_HUB: &str = "docker.io";

/// The longest repository name (registry included) distribution accepts.
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes a reference. A reference with neither tag nor digest gets the tag
    /// `latest`, as `docker pull` and the kubelet do.
    pub fn parse(input: &str) -> Result<Reference> {
        let invalid = |reason: &str| Error::InvalidReference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(invalid("empty reference"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(Digest::parse(digest).map_err(|e| invalid(&e.to_string()))?),
            ),
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(invalid(
                    "tag must be 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                ));
            }
        }
        let (registry, remote) = match name.split_once('/') {
            Some((first, remote)) if looks_like_registry(first) => (first, remote),
            _ => (DOCKER_HUB, name),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        if !valid_registry(registry) {
            return Err(invalid("invalid registry host"));
        }
        let repository = if registry == DOCKER_HUB && !remote.contains('/') {
            format!("library/{remote}")
        } else {
            remote.to_string()
        };
        if remote.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("repository name must be lowercase"));
        }
        if !repository.split('/').all(valid_path_component) {
            return Err(invalid(
                "repository path components must be [a-z0-9] separated by '.', '_', '__' or '-'",
            ));
        }
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(invalid("repository name longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry as named in the reference (`docker.io`, `localhost:5000`), before any
    /// endpoint or mirror mapping.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository inside the registry (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository` (`docker.io/library/nginx`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one (it pins
    /// the content), else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The image ID as Kubernetes shows it in `status.containerStatuses[].imageID`:
    /// `docker.io/library/nginx@sha256:<manifest digest>`.
    pub fn image_id(&self, manifest_digest: &Digest) -> String {
        format!("{}@{}", self.name(), manifest_digest)
    }

    /// The same reference pinned to a digest (keeps the tag, as `name:tag@digest`).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

/// The fully qualified form: `docker.io/library/nginx:1.25`, `registry/x@sha256:...`, or
/// `name:tag@sha256:...` when both were given.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Docker's rule: the first component names a registry when it has a '.' or a ':', is
/// `localhost`, or has an uppercase letter (which a repository cannot have).
fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn valid_registry(registry: &str) -> bool {
    // An IPv6 literal is bracketed; otherwise the port follows the only ':'.
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, tail)) => {
                if inner.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match tail.strip_prefix(':') {
                    Some(port) => ("", Some(port)),
                    None if tail.is_empty() => ("", None),
                    None => return false,
                }
            }
            None => return false,
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if registry.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn valid_tag(tag: &str) -> bool {
    let first_ok = tag
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+` runs joined by exactly one of `.`, `_`, `__` or a run of `-`.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn short_docker_hub_names_get_the_registry_library_prefix_and_latest() {
        let r = parse("nginx");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/nginx");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.to_string(), "docker.io/library/nginx:latest");
    }

    #[test]
    fn tags_registries_and_digests_parse_into_their_parts() {
        assert_eq!(
            parse("nginx:1.25").to_string(),
            "docker.io/library/nginx:1.25"
        );
        assert_eq!(
            parse("docker.io/library/nginx:1.25"),
            parse("nginx:1.25"),
            "explicit and implicit Docker Hub names are the same image"
        );
        assert_eq!(
            parse("index.docker.io/library/nginx").registry(),
            "docker.io"
        );
        assert_eq!(parse("bitnami/redis:7").repository(), "bitnami/redis");
        let r = parse(&format!("localhost:5000/x/y@sha256:{HEX}"));
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "x/y");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().hex(), HEX);
        assert_eq!(r.manifest_reference(), format!("sha256:{HEX}"));
        let both = parse(&format!("127.0.0.1:5000/app:v1@sha256:{HEX}"));
        assert_eq!(both.tag(), Some("v1"));
        assert_eq!(both.manifest_reference(), format!("sha256:{HEX}"));
        assert_eq!(parse("localhost/app").registry(), "localhost");
        assert_eq!(parse("quay.io/a/b/c:t").repository(), "a/b/c");
        assert_eq!(parse("[::1]:5000/app:v1").registry(), "[::1]:5000");
        assert_eq!(parse("[::1]/app").registry(), "[::1]");
    }

    #[test]
    fn image_id_is_the_name_at_the_manifest_digest() {
        let digest = Digest::from_hex(HEX).unwrap();
        assert_eq!(
            parse("nginx:1.25").image_id(&digest),
            format!("docker.io/library/nginx@sha256:{HEX}")
        );
    }

    #[test]
    fn malformed_references_are_refused_with_a_reason() {
        for bad in [
            "",
            "Nginx",
            "docker.io/Library/nginx",
            "nginx:",
            "nginx:-x",
            "nginx:.x",
            "nginx@sha256:abc",
            "nginx@md5:0123",
            "a//b",
            "a/b/",
            "a..b",
            "a-",
            "_a",
            "localhost:port/x",
            "host:5000:6000/x",
            "nginx:a/b",
            &format!("x/{}", "a".repeat(300)),
            &format!("nginx:{}", "t".repeat(129)),
        ] {
            let err = Reference::parse(bad).expect_err(bad);
            assert!(
                err.to_string().contains("invalid image reference"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn path_component_separators_follow_the_distribution_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "a0"] {
            assert!(valid_path_component(ok), "{ok}");
        }
        for bad in ["a___b", "a._b", "a-", ".a", "a..b", "A"] {
            assert!(!valid_path_component(bad), "{bad}");
        }
    }
}
