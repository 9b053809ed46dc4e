//! The testapp image built from this workspace and pushed into a real registry (Debian's
//! `docker-registry`), read back by tag and by digest, pulled by the node's own image client,
//! and run. Also: pushes are idempotent, builds reproducible, and basic auth refusals clear.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::registry::{get, htpasswd, Registry};
use images::testapp::{build, BuildOptions, BuiltImage};
use images::{Error, PushOptions, PushTarget};
use node_image::manifest::OCI_MANIFEST;
use node_image::{
    Credentials, Digest, PullOptions, Reference, RegistryConfig, RegistryHost, Store,
};

async fn build_image() -> BuiltImage {
    tokio::task::spawn_blocking(|| build(&BuildOptions::default()))
        .await
        .unwrap()
        .unwrap()
}

fn target(registry: &Registry, repo_tag: &str) -> PushTarget {
    PushTarget::parse(&format!("{}/{repo_tag}", registry.addr)).unwrap()
}

#[tokio::test]
async fn the_pushed_image_is_served_back_by_tag_with_the_same_digests() {
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(work.path(), None);
    let built = build_image().await;
    let image = &built.image;

    let pushed = images::push(
        image,
        &target(&registry, "testapp:v1"),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        pushed.reference,
        format!("{}/testapp:v1@{}", registry.addr, image.manifest.digest)
    );
    assert_eq!(pushed.blobs.len(), 2, "config and one layer");
    assert!(pushed.blobs.iter().all(|b| b.uploaded));

    let manifest = get(
        &registry.addr,
        "/v2/testapp/manifests/v1",
        &[("Accept", OCI_MANIFEST)],
    )
    .unwrap();
    assert_eq!(manifest.status, 200);
    assert_eq!(manifest.body, image.manifest.data.to_vec());
    assert_eq!(
        manifest.header("docker-content-digest"),
        Some(image.manifest.digest.to_string().as_str())
    );
    assert_eq!(manifest.header("content-type"), Some(OCI_MANIFEST));

    let layer = &image.layers[0];
    let blob = get(
        &registry.addr,
        &format!("/v2/testapp/blobs/{}", layer.digest),
        &[],
    )
    .unwrap();
    assert_eq!(blob.status, 200);
    assert_eq!(Digest::of(&blob.body), layer.digest);
    assert_eq!(blob.body.len() as u64, layer.size());

    // Again: every blob is there, so nothing is uploaded, and the tag resolves the same.
    let again = images::push(
        image,
        &target(&registry, "testapp:v1"),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(again.reference, pushed.reference);
    assert!(again.blobs.iter().all(|b| !b.uploaded), "{:?}", again.blobs);
}

#[tokio::test]
async fn the_node_pulls_the_pushed_image_and_its_binary_runs() {
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(work.path(), None);
    let reference = images::build_and_push(&registry.addr, "tools/testapp:pull")
        .await
        .unwrap();
    assert!(
        reference.starts_with(&format!("{}/tools/testapp:pull@sha256:", registry.addr)),
        "{reference}"
    );

    let mut config = RegistryConfig::default();
    config.hosts.insert(
        registry.addr.clone(),
        RegistryHost {
            insecure: true,
            ..Default::default()
        },
    );
    let store = Arc::new(Store::open(work.path().join("store")).unwrap());
    let pulled = node_image::pull_image(
        &store,
        &config,
        &Reference::parse(&reference).unwrap(),
        &PullOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(pulled.image.config.entrypoint, ["/testapp"]);
    assert_eq!(pulled.image.config.cmd, ["serve"]);

    let rootfs = work.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    node_image::flatten_image(&store, &pulled.image, &rootfs)
        .await
        .unwrap();
    let out = Command::new(rootfs.join("testapp"))
        .args(["print", "2", "from the image"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line 1 from the image\nline 2 from the image\n"
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    assert!(rootfs.join("tmp").is_dir());
}

#[tokio::test]
async fn building_twice_gives_the_same_digests() {
    let first = build_image().await;
    let second = build_image().await;
    assert_eq!(first.image.manifest.digest, second.image.manifest.digest);
    assert_eq!(first.image, second.image);
}

#[tokio::test]
async fn basic_auth_refuses_a_wrong_password_clearly_and_accepts_the_right_one() {
    let work = tempfile::tempdir().unwrap();
    let passwords = work.path().join("htpasswd");
    htpasswd(&passwords, "pusher", "right-password");
    let registry = Registry::start(work.path(), Some(&passwords));
    let built = build_image().await;
    let target = target(&registry, "private/testapp:v1");
    let with = |password: &str| PushOptions {
        credentials: Some(Credentials {
            username: "pusher".into(),
            password: password.into(),
        }),
        ..PushOptions::default()
    };

    let anonymous = images::push(&built.image, &target, &PushOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&anonymous, Error::Unauthorized { message, .. } if message.contains("requires a username and password")),
        "{anonymous}"
    );

    let wrong = images::push(&built.image, &target, &with("wrong-password"))
        .await
        .unwrap_err();
    let message = wrong.to_string();
    assert!(matches!(wrong, Error::Unauthorized { .. }), "{message}");
    assert!(
        message.contains("authentication failed") && message.contains("\"pusher\" rejected"),
        "{message}"
    );
    assert!(
        !message.contains("wrong-password"),
        "no password in errors: {message}"
    );

    let pushed = images::push(&built.image, &target, &with("right-password"))
        .await
        .unwrap();
    assert!(pushed.blobs.iter().all(|b| b.uploaded));
    let unauthenticated = get(&registry.addr, "/v2/private/testapp/manifests/v1", &[]).unwrap();
    assert_eq!(unauthenticated.status, 401, "the registry really checks");
}

#[tokio::test]
async fn the_cli_pushes_with_registry_auth_and_writes_a_layout() {
    let work = tempfile::tempdir().unwrap();
    let passwords = work.path().join("htpasswd");
    htpasswd(&passwords, "ci", "s3cret");
    let registry = Registry::start(work.path(), Some(&passwords));
    let layout = work.path().join("layout");
    let reference = format!("{}/cli/testapp:v2", registry.addr);
    let run = |auth: &str| {
        let (reference, layout, auth) = (reference.clone(), layout.clone(), auth.to_string());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_images"))
                .args(["testapp", "--push", &reference, "--out"])
                .arg(&layout)
                .env("REGISTRY_AUTH", auth)
                .output()
                .unwrap()
        })
    };

    let refused = run("ci:nope").await.unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("authentication failed"), "{stderr}");

    let out = run("ci:s3cret").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pushed_line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pushed "))
        .unwrap_or_else(|| panic!("no `pushed` line: {stdout}"));
    assert!(
        pushed_line.starts_with(&format!("{reference}@sha256:")),
        "{pushed_line}"
    );
    let digest = pushed_line.rsplit('@').next().unwrap();
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(index.contains(digest), "{index}");
    assert!(
        index.contains("\"org.opencontainers.image.ref.name\":\"v2\""),
        "{index}"
    );
}
