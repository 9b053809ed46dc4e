//! The testapp image: `images/testapp` built as a static executable (`+crt-static`, for the
//! host target given explicitly so that only this build sees the flag and its output has its
//! own folder in the shared target directory), checked to be static, and packed as a
//! one-layer OCI image with `/testapp`, `/tmp` and a minimal `/etc/passwd` and `/etc/group`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::layer::{self, Entry, Layer};
use crate::oci::{Image, ImageSettings};
use crate::push::{PushOptions, Pushed};
use crate::reference::PushTarget;

/// The Rust target the image's binary is built for (the image is linux/amd64).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The port `testapp serve` listens on by default.
pub const PORT: u16 = 8080;

const PASSWD: &str =
    "root:x:0:0:root:/:/testapp\nnobody:x:65534:65534:nobody:/nonexistent:/testapp\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";

/// How to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The workspace's `Cargo.toml`.
    pub workspace_manifest: PathBuf,
    /// Show cargo's output (the CLI does; tests keep it, and show it only on failure).
    pub show_cargo_output: bool,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            workspace_manifest: workspace_manifest(),
            show_cargo_output: false,
        }
    }
}

/// The workspace's `Cargo.toml`. Found from the package cargo is running now (its
/// `CARGO_MANIFEST_DIR` at run time, walking up to the `[workspace]` manifest), because the
/// compile-time path is that of whichever clone built this crate into the shared target
/// directory, which may be gone; `images/` at the workspace root otherwise.
fn workspace_manifest() -> PathBuf {
    let runtime = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    for start in runtime.iter() {
        for dir in start.ancestors() {
            let manifest = dir.join("Cargo.toml");
            if std::fs::read_to_string(&manifest).is_ok_and(|t| t.contains("[workspace]")) {
                return manifest;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."))
        .join("Cargo.toml")
}

/// A built testapp image.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub binary: PathBuf,
    pub binary_size: u64,
    /// The layer's uncompressed tar size.
    pub uncompressed_layer_size: u64,
    pub image: Image,
}

/// Builds testapp with cargo and assembles its image.
pub fn build(options: &BuildOptions) -> Result<BuiltImage> {
    let binary = build_binary(options)?;
    let bytes = std::fs::read(&binary).map_err(Error::io("reading", &binary))?;
    let (image, layer) = assemble(&bytes).map_err(|e| match e {
        Error::NotStatic { reason, .. } => Error::NotStatic {
            path: binary.clone(),
            reason,
        },
        other => other,
    })?;
    Ok(BuiltImage {
        binary,
        binary_size: bytes.len() as u64,
        uncompressed_layer_size: layer.uncompressed_size,
        image,
    })
}

/// The image of a testapp executable: checks that it is static, builds the layer and the
/// config and manifest. The same bytes give the same digests.
pub fn assemble(binary: &[u8]) -> Result<(Image, Layer)> {
    let architecture = crate::elf::check_static(binary).map_err(|reason| Error::NotStatic {
        path: PathBuf::from("testapp"),
        reason,
    })?;
    let layer = layer::build(&[
        Entry::dir("etc", 0o755),
        Entry::file("etc/group", 0o644, GROUP),
        Entry::file("etc/passwd", 0o644, PASSWD),
        Entry::file("testapp", 0o755, binary),
        Entry::dir("tmp", 0o1777),
    ])
    .map_err(|e| Error::Build {
        what: "the testapp layer".into(),
        message: e.to_string(),
    })?;
    let settings = ImageSettings {
        architecture: architecture.to_string(),
        entrypoint: vec!["/testapp".into()],
        cmd: vec!["serve".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        exposed_ports: vec![format!("{PORT}/tcp")],
        working_dir: "/".into(),
    };
    let image = Image::assemble(&settings, std::slice::from_ref(&layer), "images testapp");
    Ok((image, layer))
}

/// Runs `cargo build --release -p testapp --target x86_64-unknown-linux-gnu` with
/// `+crt-static` and returns the executable's path.
pub fn build_binary(options: &BuildOptions) -> Result<PathBuf> {
    let manifest = &options.workspace_manifest;
    // cargo finds `.cargo/config.toml` (the shared target dir) from its working directory.
    let workspace = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let target_dir = target_dir(&workspace, manifest)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--release", "-p", "testapp", "--target", TARGET])
        .arg("--manifest-path")
        .arg(manifest)
        // Debug info is most of the size; symbols stay, for backtraces.
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C strip=debuginfo",
        )
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null());
    tracing::info!(?command, "building testapp");
    let failed = |message: String| Error::Build {
        what: "testapp".into(),
        message,
    };
    let status = if options.show_cargo_output {
        command
            .status()
            .map_err(|e| failed(format!("running {cargo:?}: {e}")))?
            .success()
            .then_some(())
            .ok_or_else(|| failed("cargo build failed (its output is above)".into()))
    } else {
        let output = command
            .output()
            .map_err(|e| failed(format!("running {cargo:?}: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(failed(format!(
                "cargo build failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    };
    status?;
    let binary = target_dir.join(TARGET).join("release").join("testapp");
    if !binary.is_file() {
        return Err(failed(format!(
            "cargo succeeded but {} is missing",
            binary.display()
        )));
    }
    Ok(binary)
}

/// The target directory: `CARGO_TARGET_DIR`, else what `cargo metadata` says (the workspace's
/// `.cargo/config.toml` sets it).
fn target_dir(workspace: &Path, manifest: &Path) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(workspace.join(dir));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let failed = |message: String| Error::Build {
        what: "testapp (finding the target directory)".into(),
        message,
    };
    let output = Command::new(&cargo)
        .current_dir(workspace)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed(format!("running {cargo:?} metadata: {e}")))?;
    if !output.status.success() {
        return Err(failed(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| failed(format!("cargo metadata printed no JSON: {e}")))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| failed("cargo metadata has no target_directory".into()))
}

/// Builds once per process, for tests that push the image to several registries.
fn build_cached() -> Result<Arc<BuiltImage>> {
    static BUILT: Mutex<Option<Arc<BuiltImage>>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(image) = built.as_ref() {
        return Ok(image.clone());
    }
    let image = Arc::new(build(&BuildOptions::default())?);
    *built = Some(image.clone());
    Ok(image)
}

/// For tests: builds the testapp image (once per process) and pushes it to
/// `registry_host_port` (`127.0.0.1:5000`) as `repo_tag` (`testapp:v1`), plain HTTP for
/// loopback registries. Returns the pushed reference pinned to its digest
/// (`127.0.0.1:5000/testapp:v1@sha256:...`), what a pod spec should name.
pub async fn build_and_push(registry_host_port: &str, repo_tag: &str) -> Result<String> {
    let target = PushTarget::parse(&format!("{registry_host_port}/{repo_tag}"))?;
    let built = tokio::task::spawn_blocking(build_cached)
        .await
        .map_err(|e| Error::Build {
            what: "testapp".into(),
            message: e.to_string(),
        })??;
    let pushed: Pushed = crate::push::push(&built.image, &target, &PushOptions::default()).await?;
    Ok(pushed.reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::fake_elf;

    #[test]
    fn the_same_binary_gives_the_same_image() {
        let binary = fake_elf(&[(1, b"code")]);
        let (a, _) = assemble(&binary).unwrap();
        let (b, _) = assemble(&binary).unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest);
        assert_eq!(a, b);
    }

    #[test]
    fn the_layer_holds_testapp_tmp_and_etc() {
        let binary = fake_elf(&[(1, b"code")]);
        let (image, _) = assemble(&binary).unwrap();
        let mut tar = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&image.layers[0].data[..]),
            &mut tar,
        )
        .unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    String::from_utf8(e.header().path_bytes().into_owned()).unwrap(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("etc/".to_string(), 0o755),
                ("etc/group".to_string(), 0o644),
                ("etc/passwd".to_string(), 0o644),
                ("testapp".to_string(), 0o755),
                ("tmp/".to_string(), 0o1777),
            ]
        );
        let config = node_image::ImageConfig::parse(&image.config.data).unwrap();
        assert_eq!(config.entrypoint, ["/testapp"]);
        assert_eq!(config.cmd, ["serve"]);
    }

    #[test]
    fn a_dynamically_linked_binary_is_refused() {
        let binary = fake_elf(&[(3, b"/lib64/ld-linux-x86-64.so.2\0")]);
        let err = assemble(&binary).unwrap_err();
        assert!(matches!(err, Error::NotStatic { .. }), "{err}");
    }
}
