//! Manifests and indexes in both dialects registries serve: OCI (`application/vnd.oci.image.*`)
//! and Docker's v2 schema 2 (`application/vnd.docker.distribution.manifest.*`), which differ
//! in media types only. Parsing and platform selection are pure; fetching lives in
//! [`crate::registry`].

use std::fmt;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, Result};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `Accept` header of a manifest request: every dialect this crate reads.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The most manifest bytes read into memory. The distribution spec lets registries refuse
/// manifests over 4 MiB, so nothing legitimate is larger.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// A descriptor: what a manifest says about a blob or a child manifest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// An OS/architecture pair, as in an index's `platform` field.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform the node runs: linux/amd64.
    pub fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A single-platform image manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageManifest {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// What a manifest endpoint answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manifest {
    /// An OCI index or Docker manifest list: one manifest per platform.
    Index(Vec<Descriptor>),
    Image(ImageManifest),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Parses a manifest body. The media type comes from the response's `Content-Type` when it is
/// one this crate knows, else from the body's `mediaType`, else from its shape (OCI made
/// `mediaType` optional, and some registries answer `application/json`).
pub fn parse_manifest(content_type: Option<&str>, body: &[u8], what: &str) -> Result<Manifest> {
    let bad = |reason: String| Error::Manifest {
        what: what.to_string(),
        reason,
    };
    let raw: Raw = serde_json::from_slice(body).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(bad(format!(
            "schemaVersion {:?} is not supported (only 2; Docker's schema 1 is deprecated)",
            raw.schema_version
        )));
    }
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| is_known_manifest_type(c));
    let media_type = match (header, raw.media_type.as_deref()) {
        (Some(h), _) => h.to_string(),
        (None, Some(m)) if is_known_manifest_type(m) => m.to_string(),
        (None, Some(m)) => return Err(bad(format!("unsupported media type {m:?}"))),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let manifests = raw
                .manifests
                .ok_or_else(|| bad("index without \"manifests\"".into()))?;
            Ok(Manifest::Index(manifests))
        }
        _ => {
            let config = raw
                .config
                .ok_or_else(|| bad("manifest without \"config\"".into()))?;
            if !matches!(config.media_type.as_str(), OCI_CONFIG | DOCKER_CONFIG) {
                return Err(bad(format!(
                    "config media type {:?} is not a container image config (not a container image?)",
                    config.media_type
                )));
            }
            let layers = raw
                .layers
                .ok_or_else(|| bad("manifest without \"layers\"".into()))?;
            for layer in &layers {
                if LayerCompression::from_media_type(&layer.media_type).is_none() {
                    return Err(bad(format!(
                        "layer {} has unsupported media type {:?}",
                        layer.digest, layer.media_type
                    )));
                }
            }
            Ok(Manifest::Image(ImageManifest {
                media_type,
                config,
                layers,
            }))
        }
    }
}

fn is_known_manifest_type(t: &str) -> bool {
    matches!(
        t,
        OCI_INDEX | OCI_MANIFEST | DOCKER_MANIFEST_LIST | DOCKER_MANIFEST
    )
}

/// How a layer blob is compressed, as its media type says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

impl LayerCompression {
    /// The compression a layer media type declares; `None` for anything that is not a layer
    /// (Helm charts, WASM modules, attestations) so such artifacts are refused early.
    /// Non-distributable ("foreign") layers are accepted: registries serve them like others.
    pub fn from_media_type(media_type: &str) -> Option<LayerCompression> {
        match media_type {
            OCI_LAYER_TAR
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(LayerCompression::None),
            OCI_LAYER_GZIP
            | DOCKER_LAYER_GZIP
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(LayerCompression::Gzip)
            }
            OCI_LAYER_ZSTD | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(LayerCompression::Zstd)
            }
            _ => None,
        }
    }
}

/// Picks the manifest for `platform` from an index. An entry without a variant matches any
/// variant asked for; an exact variant match wins over it. Entries that are not image
/// manifests (attestations carry `unknown/unknown`) never match.
pub fn select_platform<'a>(
    manifests: &'a [Descriptor],
    platform: &Platform,
) -> Option<&'a Descriptor> {
    let candidates = manifests.iter().filter(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == platform.os && p.architecture == platform.architecture)
            && matches!(
                d.media_type.as_str(),
                OCI_MANIFEST | DOCKER_MANIFEST | OCI_INDEX | DOCKER_MANIFEST_LIST
            )
    });
    let mut fallback = None;
    for d in candidates {
        let variant = d.platform.as_ref().and_then(|p| p.variant.as_deref());
        if variant == platform.variant.as_deref() {
            return Some(d);
        }
        if fallback.is_none() && (variant.is_none() || platform.variant.is_none()) {
            fallback = Some(d);
        }
    }
    fallback
}

/// The platforms an index offers, for the error message when none matches.
pub fn platforms(manifests: &[Descriptor]) -> String {
    let names: Vec<String> = manifests
        .iter()
        .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn index_json(media_type: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":10,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":11,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":12,"platform":{{"os":"unknown","architecture":"unknown"}}}}
            ]}}"#,
            digest(1),
            digest(2),
            digest(3)
        )
    }

    #[test]
    fn both_index_dialects_parse_and_select_linux_amd64() {
        for media_type in [OCI_INDEX, DOCKER_MANIFEST_LIST] {
            let m =
                parse_manifest(Some(media_type), index_json(media_type).as_bytes(), "t").unwrap();
            let Manifest::Index(entries) = m else {
                panic!("{media_type}: expected an index")
            };
            let chosen = select_platform(&entries, &Platform::linux_amd64()).unwrap();
            assert_eq!(chosen.digest.to_string(), digest(2));
            assert_eq!(chosen.size, 11);
        }
    }

    #[test]
    fn a_missing_platform_names_what_is_available() {
        let Manifest::Index(entries) =
            parse_manifest(None, index_json(OCI_INDEX).as_bytes(), "t").unwrap()
        else {
            panic!()
        };
        let s390x = Platform {
            os: "linux".into(),
            architecture: "s390x".into(),
            variant: None,
        };
        assert!(select_platform(&entries, &s390x).is_none());
        assert_eq!(
            platforms(&entries),
            "linux/arm64/v8, linux/amd64, unknown/unknown"
        );
    }

    #[test]
    fn variants_prefer_an_exact_match_over_an_unspecified_one() {
        let d = |n: u8, variant: Option<&str>| Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::parse(&digest(n)).unwrap(),
            size: 1,
            platform: Some(Platform {
                os: "linux".into(),
                architecture: "arm".into(),
                variant: variant.map(Into::into),
            }),
        };
        let entries = [d(1, None), d(2, Some("v7")), d(3, Some("v6"))];
        let want = |v: Option<&str>| Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: v.map(Into::into),
        };
        assert_eq!(
            select_platform(&entries, &want(Some("v7"))).unwrap().digest,
            entries[1].digest
        );
        assert_eq!(
            select_platform(&entries, &want(Some("v5"))).unwrap().digest,
            entries[0].digest
        );
        assert_eq!(
            select_platform(&entries, &want(None)).unwrap().digest,
            entries[0].digest
        );
    }

    #[test]
    fn image_manifests_parse_in_both_dialects_and_by_shape() {
        for (ct, config_type, layer_type) in [
            (Some(OCI_MANIFEST), OCI_CONFIG, OCI_LAYER_ZSTD),
            (Some(DOCKER_MANIFEST), DOCKER_CONFIG, DOCKER_LAYER_GZIP),
            (Some("application/json"), OCI_CONFIG, OCI_LAYER_TAR),
            (None, OCI_CONFIG, OCI_LAYER_GZIP),
        ] {
            let body = format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"{config_type}","digest":"{}","size":5}},
                   "layers":[{{"mediaType":"{layer_type}","digest":"{}","size":7}}]}}"#,
                digest(4),
                digest(5)
            );
            let Manifest::Image(m) = parse_manifest(ct, body.as_bytes(), "t").unwrap() else {
                panic!("{ct:?}: expected an image manifest")
            };
            assert_eq!(m.config.size, 5);
            assert_eq!(m.layers.len(), 1);
            assert_eq!(m.layers[0].digest.to_string(), digest(5));
        }
    }

    #[test]
    fn non_images_and_schema_one_are_refused_with_a_reason() {
        let helm = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{}","size":5}},"layers":[]}}"#,
            digest(4)
        );
        let err = parse_manifest(Some(OCI_MANIFEST), helm.as_bytes(), "t").unwrap_err();
        assert!(err.to_string().contains("not a container image"), "{err}");
        let v1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let err = parse_manifest(None, v1, "t").unwrap_err();
        assert!(err.to_string().contains("schemaVersion"), "{err}");
        let err = parse_manifest(None, b"{", "t").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let wasm = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":5}},"layers":[{{"mediaType":"application/wasm","digest":"{}","size":1}}]}}"#,
            digest(4),
            digest(5)
        );
        let err = parse_manifest(None, wasm.as_bytes(), "t").unwrap_err();
        assert!(err.to_string().contains("unsupported media type"), "{err}");
    }
}
