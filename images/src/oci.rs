//! OCI images as this crate makes them: blobs named by digest, the image config, the image
//! manifest, and the OCI image layout on disk (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`). The JSON has no timestamps and a fixed key order, so the digests
//! depend only on the layers and the settings. Everything but [`write_layout`] is pure.

use std::path::Path;

use bytes::Bytes;
use node_image::manifest::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use node_image::Digest;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::layer::Layer;

/// Content named by its digest, with the media type a descriptor gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub media_type: &'static str,
    pub digest: Digest,
    pub data: Bytes,
}

impl Blob {
    pub fn new(media_type: &'static str, data: impl Into<Bytes>) -> Blob {
        let data = data.into();
        Blob {
            media_type,
            digest: Digest::of(&data),
            data,
        }
    }

    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// The OCI descriptor pointing at this blob.
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest.to_string(),
            "size": self.size(),
        })
    }
}

/// What the image config says about the container process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSettings {
    /// `amd64`, `arm64`.
    pub architecture: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// `8080/tcp`.
    pub exposed_ports: Vec<String>,
    pub working_dir: String,
}

/// An image: its manifest, config and layers, all as blobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

impl Image {
    /// Assembles the config and the manifest over `layers` (base first).
    pub fn assemble(settings: &ImageSettings, layers: &[Layer], created_by: &str) -> Image {
        let diff_ids: Vec<&Digest> = layers.iter().map(|l| &l.diff_id).collect();
        let config = Blob::new(OCI_CONFIG, config_json(settings, &diff_ids, created_by));
        let layers: Vec<Blob> = layers
            .iter()
            .map(|l| Blob::new(OCI_LAYER_GZIP, l.gzip.clone()))
            .collect();
        let manifest = Blob::new(OCI_MANIFEST, manifest_json(&config, &layers));
        Image {
            manifest,
            config,
            layers,
        }
    }

    /// The blobs a manifest references: config first, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// Config, layers and manifest together, in bytes.
    pub fn total_size(&self) -> u64 {
        self.blobs().map(Blob::size).sum::<u64>() + self.manifest.size()
    }
}

/// The image config blob (`application/vnd.oci.image.config.v1+json`).
pub fn config_json(settings: &ImageSettings, diff_ids: &[&Digest], created_by: &str) -> Vec<u8> {
    let exposed: serde_json::Map<String, Value> = settings
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), json!({})))
        .collect();
    let config = json!({
        "architecture": settings.architecture,
        "os": "linux",
        "config": {
            "Env": settings.env,
            "Entrypoint": settings.entrypoint,
            "Cmd": settings.cmd,
            "ExposedPorts": exposed,
            "WorkingDir": settings.working_dir,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        },
        "history": diff_ids.iter().map(|_| json!({"created_by": created_by})).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&config).expect("JSON values serialize")
}

/// The image manifest blob (`application/vnd.oci.image.manifest.v1+json`).
pub fn manifest_json(config: &Blob, layers: &[Blob]) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&manifest).expect("JSON values serialize")
}

/// The `index.json` of an OCI layout holding one image, tagged `ref_name`.
pub fn index_json(manifest: &Blob, ref_name: &str) -> Vec<u8> {
    let mut descriptor = manifest.descriptor();
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": ref_name});
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor],
    });
    serde_json::to_vec(&index).expect("JSON values serialize")
}

/// Writes `image` as an OCI image layout in `dir` (created if missing). Blobs already there
/// are kept; `index.json` is replaced, so the layout names this one image.
pub fn write_layout(dir: &Path, image: &Image, ref_name: &str) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(Error::io("creating", &blobs))?;
    for blob in image.blobs().chain([&image.manifest]) {
        let path = blobs.join(blob.digest.hex());
        if std::fs::read(&path).is_ok_and(|old| Digest::of(&old) == blob.digest) {
            continue;
        }
        write_file(&path, &blob.data)?;
    }
    write_file(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    write_file(
        &dir.join("index.json"),
        &index_json(&image.manifest, ref_name),
    )
}

/// Writes through a temporary name and renames, so that a reader never sees half a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(Error::io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("renaming into place", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{self, Entry};

    fn settings() -> ImageSettings {
        ImageSettings {
            architecture: "amd64".into(),
            entrypoint: vec!["/app".into()],
            cmd: vec!["serve".into()],
            env: vec!["PATH=/".into()],
            exposed_ports: vec!["8080/tcp".into()],
            working_dir: "/".into(),
        }
    }

    fn image() -> Image {
        let layer = layer::build(&[Entry::file("app", 0o755, "x")]).unwrap();
        Image::assemble(&settings(), &[layer], "test")
    }

    #[test]
    fn the_config_is_what_node_image_reads_back() {
        let image = image();
        let parsed = node_image::ImageConfig::parse(&image.config.data).unwrap();
        assert_eq!(
            (parsed.os.as_str(), parsed.architecture.as_str()),
            ("linux", "amd64")
        );
        assert_eq!(parsed.entrypoint, ["/app"]);
        assert_eq!(parsed.cmd, ["serve"]);
        assert_eq!(parsed.env, [("PATH".to_string(), "/".to_string())]);
        assert_eq!(parsed.exposed_ports.len(), 1);
        assert_eq!(parsed.diff_ids.len(), 1);
        let text = String::from_utf8(image.config.data.to_vec()).unwrap();
        assert!(!text.contains("created\""), "no timestamps: {text}");
    }

    #[test]
    fn the_manifest_points_at_config_and_layers_by_digest_and_size() {
        let image = image();
        let manifest =
            node_image::manifest::parse_manifest(Some(OCI_MANIFEST), &image.manifest.data, "test")
                .unwrap();
        let node_image::manifest::Manifest::Image(m) = manifest else {
            panic!("not an image manifest: {manifest:?}");
        };
        assert_eq!(m.config.digest, image.config.digest);
        assert_eq!(m.config.size, image.config.size());
        assert_eq!(m.layers[0].digest, image.layers[0].digest);
        assert_eq!(m.layers[0].media_type, OCI_LAYER_GZIP);
    }

    #[test]
    fn assembling_twice_gives_the_same_digests() {
        assert_eq!(image(), image());
    }

    #[test]
    fn the_layout_holds_every_blob_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let image = image();
        write_layout(dir.path(), &image, "latest").unwrap();
        write_layout(dir.path(), &image, "v2").unwrap();
        for blob in image.blobs().chain([&image.manifest]) {
            let bytes =
                std::fs::read(dir.path().join("blobs/sha256").join(blob.digest.hex())).unwrap();
            assert_eq!(Digest::of(&bytes), blob.digest);
        }
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(
            index["manifests"][0]["digest"],
            image.manifest.digest.to_string()
        );
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "v2"
        );
        assert!(dir.path().join("oci-layout").exists());
        let leftovers = std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some())
            .count();
        assert_eq!(leftovers, 0, "no temporary files left");
    }
}
