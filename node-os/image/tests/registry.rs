//! Pulls from a real registry: Debian's `docker-registry` (distribution 2.8), started by each
//! test on a free 127.0.0.1 port with its own storage, holding images the test builds and
//! pushes itself (layers, configs, manifests and indexes written here). Covers OCI and Docker
//! media types, an index with two platforms, shared layers, gzip, zstd and plain layers,
//! whiteouts, corruption, hostile layers, basic auth, the bearer-token flow, TLS with a
//! configured CA, and a mirror for docker.io.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::layers::{gzip, tar, zstd, Entry::*};
use common::registry::{htpasswd, make_tls, Auth, Registry, TokenServer};
use node_image::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX,
    OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST,
};
use node_image::unpack::running_as_root;
use node_image::{
    flatten_image, prepare_snapshots, pull_image, Credentials, Digest, Error, PullOptions,
    Reference, RegistryConfig, RegistryHost, Store,
};
use serde_json::json;

/// A pushed blob.
#[derive(Clone)]
struct Blob {
    digest: Digest,
    size: usize,
    media_type: &'static str,
}

fn push(reg: &Registry, repo: &str, bytes: &[u8], media_type: &'static str) -> Blob {
    Blob {
        digest: reg.push_blob(repo, bytes),
        size: bytes.len(),
        media_type,
    }
}

fn descriptor(b: &Blob) -> serde_json::Value {
    json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size})
}

fn config_json(arch: &str, diff_ids: &[&[u8]]) -> Vec<u8> {
    let ids: Vec<String> = diff_ids.iter().map(|t| Digest::of(t).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "config": {
            "Entrypoint": ["/bin/app"], "Cmd": ["--serve"],
            "Env": ["PATH=/usr/bin:/bin", "MODE=test"],
            "WorkingDir": "/srv", "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}}
        },
        "rootfs": {"type": "layers", "diff_ids": ids},
        "history": [{"created_by": "node-image test"}]
    }))
    .unwrap()
}

/// Pushes an image manifest; `reference` is a tag, or None to push by digest only.
fn push_image(
    reg: &Registry,
    repo: &str,
    reference: Option<&str>,
    manifest_type: &str,
    config: &Blob,
    layers: &[Blob],
) -> (Digest, usize) {
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": descriptor(config),
        "layers": layers.iter().map(descriptor).collect::<Vec<_>>()
    }))
    .unwrap();
    let digest = Digest::of(&body);
    let reference = reference.map_or(digest.to_string(), str::to_string);
    reg.push_manifest(repo, &reference, manifest_type, &body);
    (digest, body.len())
}

fn push_index(
    reg: &Registry,
    repo: &str,
    tag: &str,
    index_type: &str,
    entries: &[(&str, &str, Digest, usize)],
) -> Digest {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(media_type, arch, digest, size)| {
            json!({"mediaType": media_type, "digest": digest.to_string(), "size": size,
                   "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    let body = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": index_type, "manifests": manifests}),
    )
    .unwrap();
    reg.push_manifest(repo, tag, index_type, &body)
}

fn base_tar() -> Vec<u8> {
    tar(&[
        Dir("etc/", 0o755),
        File("etc/os-release", b"base\n", 0o644),
        File("etc/removed", b"deleted by app1\n", 0o644),
        Dir("var/", 0o755),
        Dir("var/cache/", 0o755),
        File("var/cache/old", b"hidden by app1\n", 0o644),
        Dir("bin/", 0o755),
        File("bin/app", b"#!/bin/true\n", 0o755),
    ])
}

fn app1_tar() -> Vec<u8> {
    tar(&[
        File("etc/.wh.removed", b"", 0o644),
        Dir("var/cache/", 0o755),
        File("var/cache/.wh..wh..opq", b"", 0o644),
        File("var/cache/fresh", b"app1\n", 0o644),
        File("etc/app1.conf", b"one\n", 0o644),
    ])
}

fn app2_tar() -> Vec<u8> {
    tar(&[File("etc/app2.conf", b"two\n", 0o644)])
}

/// What a fixture pushed.
struct Pushed {
    base: Blob,
    app1_top: Blob,
    app2_top: Blob,
    app1_index: Digest,
    app1_amd64: Digest,
    app2_manifest: Digest,
    app2_list: Digest,
}

/// Pushes test/app1:v1 (an OCI index: amd64 and arm64; base gzip + zstd top with
/// whiteouts), test/app2:v1 (a Docker schema 2 manifest: the same base + a plain tar top)
/// and test/app2:list (a Docker manifest list of it).
fn push_test_images(reg: &Registry) -> Pushed {
    let (base, t1, t2) = (base_tar(), app1_tar(), app2_tar());
    let base_oci = push(reg, "test/app1", &gzip(&base), OCI_LAYER_GZIP);
    let app1_top = push(reg, "test/app1", &zstd(&t1), OCI_LAYER_ZSTD);
    let cfg1 = config_json("amd64", &[&base, &t1]);
    let cfg1 = push(reg, "test/app1", &cfg1, OCI_CONFIG);
    let cfg1_arm = config_json("arm64", &[&base, &t1]);
    let cfg1_arm = push(reg, "test/app1", &cfg1_arm, OCI_CONFIG);
    let layers1 = [base_oci.clone(), app1_top.clone()];
    let (amd64, amd64_size) = push_image(reg, "test/app1", None, OCI_MANIFEST, &cfg1, &layers1);
    let (arm64, arm64_size) = push_image(reg, "test/app1", None, OCI_MANIFEST, &cfg1_arm, &layers1);
    let app1_index = push_index(
        reg,
        "test/app1",
        "v1",
        OCI_INDEX,
        &[
            (OCI_MANIFEST, "arm64", arm64, arm64_size),
            (OCI_MANIFEST, "amd64", amd64.clone(), amd64_size),
        ],
    );

    let mut base_docker = push(reg, "test/app2", &gzip(&base), DOCKER_LAYER_GZIP);
    base_docker.media_type = DOCKER_LAYER_GZIP;
    let app2_top = push(reg, "test/app2", &t2, OCI_LAYER_TAR);
    let cfg2 = push(
        reg,
        "test/app2",
        &config_json("amd64", &[&base, &t2]),
        DOCKER_CONFIG,
    );
    let (app2_manifest, app2_size) = push_image(
        reg,
        "test/app2",
        Some("v1"),
        DOCKER_MANIFEST,
        &cfg2,
        &[base_docker, app2_top.clone()],
    );
    let app2_list = push_index(
        reg,
        "test/app2",
        "list",
        DOCKER_MANIFEST_LIST,
        &[(DOCKER_MANIFEST, "amd64", app2_manifest.clone(), app2_size)],
    );
    Pushed {
        base: base_oci,
        app1_top,
        app2_top,
        app1_index,
        app1_amd64: amd64,
        app2_manifest,
        app2_list,
    }
}

fn insecure(addr: &str) -> RegistryConfig {
    let mut c = RegistryConfig::default();
    c.hosts.insert(
        addr.to_string(),
        RegistryHost {
            insecure: true,
            ..Default::default()
        },
    );
    c
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn store_in(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open(dir.join("store")).unwrap())
}

fn count(dir: PathBuf) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test]
async fn pulls_by_tag_and_digest_share_layers_and_unpack_with_whiteouts_honoured() {
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start(work.path(), &work.path().join("storage"), Auth::None, None);
    let p = push_test_images(&reg);
    let store = store_in(work.path());
    let config = insecure(&reg.addr);
    let opts = PullOptions::default();

    // Two pulls of the same image at once: both succeed, each blob is downloaded once.
    let app1_ref = r(&format!("{}/test/app1:v1", reg.addr));
    let (a, b) = tokio::join!(
        pull_image(&store, &config, &app1_ref, &opts),
        pull_image(&store, &config, &app1_ref, &opts)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.image, b.image);
    let mut fetched: Vec<Digest> = a.fetched.iter().chain(&b.fetched).cloned().collect();
    fetched.sort();
    let before_dedup = fetched.len();
    fetched.dedup();
    assert_eq!(
        before_dedup,
        fetched.len(),
        "no blob downloaded by both pulls"
    );
    assert!(fetched.contains(&p.base.digest) && fetched.contains(&p.app1_top.digest));

    let app1 = a.image;
    assert_eq!(app1.resolved_digest, p.app1_index);
    assert_eq!(
        app1.manifest_digest, p.app1_amd64,
        "linux/amd64 chosen from the index"
    );
    assert_eq!(
        app1.image_id(),
        format!("{}/test/app1@{}", reg.addr, p.app1_index)
    );
    assert_eq!(app1.config.architecture, "amd64");
    assert_eq!(app1.config.entrypoint, ["/bin/app"]);
    assert_eq!(app1.config.cmd, ["--serve"]);
    assert_eq!(app1.config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(app1.config.exposed_ports[0].port, 8080);
    assert_eq!(app1.config.env[1], ("MODE".to_string(), "test".to_string()));

    // app2 shares the base layer: it is reused, not downloaded or stored again.
    let app2 = pull_image(
        &store,
        &config,
        &r(&format!("{}/test/app2:v1", reg.addr)),
        &opts,
    )
    .await
    .unwrap();
    assert!(app2.reused.contains(&p.base.digest), "{:?}", app2.reused);
    assert!(!app2.fetched.contains(&p.base.digest));
    assert!(app2.fetched.contains(&p.app2_top.digest));
    assert_eq!(app2.image.manifest_digest, p.app2_manifest);
    assert_eq!(app2.image.manifest_media_type, DOCKER_MANIFEST);
    // Blobs: 2 manifests + index + 2 configs + 3 layers.
    assert_eq!(count(store.root().join("blobs/sha256")), 8);
    assert_eq!(count(store.root().join("ingest")), 0);

    // By digest, and through a Docker manifest list.
    let by_digest = r(&format!("{}/test/app2@{}", reg.addr, p.app2_manifest));
    let again = pull_image(&store, &config, &by_digest, &opts)
        .await
        .unwrap();
    assert!(
        again.fetched.is_empty(),
        "everything was present: {:?}",
        again.fetched
    );
    assert_eq!(
        again.image.image_id(),
        format!("{}/test/app2@{}", reg.addr, p.app2_manifest)
    );
    let listed = r(&format!("{}/test/app2:list", reg.addr));
    let from_list = pull_image(&store, &config, &listed, &opts).await.unwrap();
    assert_eq!(from_list.image.resolved_digest, p.app2_list);
    assert_eq!(from_list.image.manifest_digest, p.app2_manifest);
    assert_eq!(store.get_image(&listed).unwrap().unwrap(), from_list.image);

    // A platform the index lacks.
    let s390x = PullOptions {
        platform: node_image::Platform {
            os: "linux".into(),
            architecture: "s390x".into(),
            variant: None,
        },
    };
    let err = pull_image(&store, &config, &app1_ref, &s390x)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("linux/arm64, linux/amd64"),
        "names what is available: {err}"
    );

    // Flattened: whiteout and opaque directory honoured.
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    flatten_image(&store, &app1, &rootfs).await.unwrap();
    assert!(!rootfs.join("etc/removed").exists());
    assert!(!rootfs.join("var/cache/old").exists());
    assert_eq!(
        std::fs::read(rootfs.join("var/cache/fresh")).unwrap(),
        b"app1\n"
    );
    assert_eq!(
        std::fs::read(rootfs.join("etc/os-release")).unwrap(),
        b"base\n"
    );
    assert_eq!(
        std::fs::read(rootfs.join("etc/app1.conf")).unwrap(),
        b"one\n"
    );

    // Layered: one snapshot per chain ID, the base shared by both images.
    if running_as_root() {
        let s1 = prepare_snapshots(&store, &app1).await.unwrap();
        let s2 = prepare_snapshots(&store, &app2.image).await.unwrap();
        assert_eq!(s1.lowerdirs.len(), 2);
        assert_eq!(s1.lowerdirs[1], s2.lowerdirs[1], "base snapshot shared");
        assert_ne!(s1.lowerdirs[0], s2.lowerdirs[0]);
        let top = &s1.lowerdirs[0];
        let wh = std::fs::symlink_metadata(top.join("etc/removed")).unwrap();
        assert!(wh.file_type().is_char_device(), "overlay whiteout");
        let mut buf = [0u8; 2];
        let n = rustix::fs::getxattr(top.join("var/cache"), "trusted.overlay.opaque", &mut buf)
            .unwrap();
        assert_eq!(&buf[..n], b"y");
        assert!(s1.lowerdirs[1].join("var/cache/old").is_file());
        assert_eq!(count(store.root().join("snapshots/sha256")), 3);
        assert_eq!(count(store.root().join("snapshots/tmp")), 0);
    }

    // Removing app1 and collecting garbage frees its own blobs and snapshot only.
    assert!(store.remove_image(&app1_ref).unwrap());
    let report = store.garbage_collect().await.unwrap();
    assert!(report.removed_blobs.contains(&p.app1_top.digest));
    assert!(report.removed_blobs.contains(&p.app1_index));
    assert!(!report.removed_blobs.contains(&p.base.digest));
    assert!(store.has_blob(&p.base.digest) && store.has_blob(&p.app2_top.digest));
    if running_as_root() {
        assert_eq!(
            report.removed_snapshots,
            vec![app1.layers[1].chain_id.clone()]
        );
        assert!(store.snapshot_dir(&app1.layers[0].chain_id).is_dir());
    }
}

#[tokio::test]
async fn a_blob_corrupted_in_the_registry_fails_the_pull_and_leaves_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start(work.path(), &work.path().join("storage"), Auth::None, None);
    let p = push_test_images(&reg);
    let data = reg.blob_data_path(&p.app1_top.digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let store = store_in(work.path());
    let reference = r(&format!("{}/test/app1:v1", reg.addr));
    let err = pull_image(
        &store,
        &insecure(&reg.addr),
        &reference,
        &PullOptions::default(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &p.app1_top.digest);
            assert_eq!(actual, &Digest::of(&bytes));
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&p.app1_top.digest.to_string())
            && message.contains(&Digest::of(&bytes).to_string()),
        "{message}"
    );
    assert!(!store.has_blob(&p.app1_top.digest));
    assert_eq!(count(store.root().join("ingest")), 0, "no partial blob");
    assert!(
        store.get_image(&reference).unwrap().is_none(),
        "no image recorded"
    );
}

#[tokio::test]
async fn hostile_layers_from_a_registry_are_refused_when_unpacked() {
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start(work.path(), &work.path().join("storage"), Auth::None, None);
    let store = store_in(work.path());
    let config = insecure(&reg.addr);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "hostile/dotdot",
            tar(&[File("../evil", b"x", 0o644)]),
            "'..'",
        ),
        (
            "hostile/absolute",
            tar(&[File("/tmp/evil", b"x", 0o644)]),
            "absolute",
        ),
        (
            "hostile/symlink",
            tar(&[
                Symlink("link", "../../../.."),
                File("link/evil", b"x", 0o644),
            ]),
            "outside the root",
        ),
    ];
    for (repo, layer, reason) in cases {
        let blob = push(&reg, repo, &gzip(&layer), OCI_LAYER_GZIP);
        let cfg = push(&reg, repo, &config_json("amd64", &[&layer]), OCI_CONFIG);
        push_image(&reg, repo, Some("v1"), OCI_MANIFEST, &cfg, &[blob]);
        let reference = r(&format!("{}/{repo}:v1", reg.addr));
        let image = pull_image(&store, &config, &reference, &PullOptions::default())
            .await
            .unwrap()
            .image;
        let err = prepare_snapshots(&store, &image).await.unwrap_err();
        assert!(
            matches!(err, Error::UnsafeLayerEntry { .. }) && err.to_string().contains(reason),
            "{repo}: {err}"
        );
        assert!(!store.snapshot_dir(&image.layers[0].chain_id).exists());
        assert_eq!(
            count(store.root().join("snapshots/tmp")),
            0,
            "{repo}: temp dir left"
        );
        let rootfs = work
            .path()
            .join(format!("rootfs-{}", repo.replace('/', "-")));
        std::fs::create_dir(&rootfs).unwrap();
        let err = flatten_image(&store, &image, &rootfs).await.unwrap_err();
        assert!(
            matches!(err, Error::UnsafeLayerEntry { .. }),
            "{repo}: {err}"
        );
    }
    let found: Vec<PathBuf> = walk(work.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "evil"))
        .collect();
    assert_eq!(
        found,
        Vec::<PathBuf>::new(),
        "no hostile entry was written anywhere"
    );
    assert!(!Path::new("/tmp/evil").exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let is_dir = std::fs::symlink_metadata(&p).unwrap().is_dir();
        out.push(p.clone());
        if is_dir {
            out.extend(walk(&p));
        }
    }
    out
}

fn with_credentials(addr: &str, user: &str, password: &str, insecure_http: bool) -> RegistryConfig {
    let mut c = RegistryConfig::default();
    c.hosts.insert(
        addr.to_string(),
        RegistryHost {
            insecure: insecure_http,
            credentials: Some(Credentials {
                username: user.into(),
                password: password.into(),
            }),
            ca_files: vec![],
        },
    );
    c
}

#[tokio::test]
async fn basic_auth_pulls_with_the_right_password_and_says_why_otherwise() {
    let work = tempfile::tempdir().unwrap();
    let storage = work.path().join("storage");
    let open = Registry::start(work.path(), &storage, Auth::None, None);
    let p = push_test_images(&open);
    let passwd = work.path().join("htpasswd");
    htpasswd(&passwd, "alice", "correct horse");
    let reg = Registry::start(work.path(), &storage, Auth::Htpasswd(passwd), None);
    let reference = r(&format!("{}/test/app2:v1", reg.addr));
    let store = store_in(work.path());
    let opts = PullOptions::default();

    let ok = pull_image(
        &store,
        &with_credentials(&reg.addr, "alice", "correct horse", true),
        &reference,
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(ok.image.manifest_digest, p.app2_manifest);

    let wrong = "battery staple";
    let err = pull_image(
        &store,
        &with_credentials(&reg.addr, "alice", wrong, true),
        &reference,
        &opts,
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Unauthorized { .. }), "{message}");
    assert!(
        message.contains("authentication failed") && message.contains("credentials"),
        "{message}"
    );
    assert!(
        !message.contains(wrong),
        "the password never appears: {message}"
    );

    let err = pull_image(&store, &insecure(&reg.addr), &reference, &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { .. }) && err.to_string().contains("none is configured"),
        "{err}"
    );
}

#[tokio::test]
async fn the_bearer_token_flow_gets_a_token_from_the_realm_and_pulls() {
    let work = tempfile::tempdir().unwrap();
    let storage = work.path().join("storage");
    let open = Registry::start(work.path(), &storage, Auth::None, None);
    let p = push_test_images(&open);
    let tokens = TokenServer::start(work.path(), "bob", "token-pass");
    let reg = Registry::start(
        work.path(),
        &storage,
        Auth::Token {
            realm: tokens.realm.clone(),
            service: tokens.service.clone(),
            issuer: tokens.issuer.clone(),
            root_cert_bundle: tokens.bundle.clone(),
        },
        None,
    );
    let reference = r(&format!("{}/test/app1:v1", reg.addr));
    let store = store_in(work.path());
    let opts = PullOptions::default();

    let pulled = pull_image(
        &store,
        &with_credentials(&reg.addr, "bob", "token-pass", true),
        &reference,
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(pulled.image.resolved_digest, p.app1_index);
    let used = tokens.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!(used >= 1, "a token was requested");
    assert!(
        used <= 2,
        "the token is reused within a pull, not fetched per request: {used}"
    );

    let err = pull_image(
        &store,
        &with_credentials(&reg.addr, "bob", "nope", true),
        &reference,
        &opts,
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Unauthorized { .. }), "{message}");
    assert!(
        message.contains("token service") && message.contains("refused"),
        "{message}"
    );
    assert!(!message.contains("nope"), "{message}");
}

#[tokio::test]
async fn https_registries_are_trusted_through_a_configured_ca_only() {
    let work = tempfile::tempdir().unwrap();
    let storage = work.path().join("storage");
    let open = Registry::start(work.path(), &storage, Auth::None, None);
    let p = push_test_images(&open);
    let tls = make_tls(work.path());
    let reg = Registry::start(
        work.path(),
        &storage,
        Auth::None,
        Some((&tls.cert, &tls.key)),
    );
    let reference = r(&format!("{}/test/app2:v1", reg.addr));
    let store = store_in(work.path());

    let mut trusted = RegistryConfig::default();
    trusted.hosts.insert(
        reg.addr.clone(),
        RegistryHost {
            ca_files: vec![tls.ca.clone()],
            ..Default::default()
        },
    );
    let pulled = pull_image(&store, &trusted, &reference, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.image.manifest_digest, p.app2_manifest);

    let err = pull_image(
        &store,
        &RegistryConfig::default(),
        &reference,
        &PullOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Transport { .. }) && format!("{err}").contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn a_mirror_serves_docker_hub_names_without_reaching_docker_hub() {
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start(work.path(), &work.path().join("storage"), Auth::None, None);
    let p = push_test_images(&reg);
    let config = RegistryConfig {
        mirrors: BTreeMap::from([(
            "docker.io".to_string(),
            vec![format!("http://{}", reg.addr)],
        )]),
        ..Default::default()
    };
    let store = store_in(work.path());
    let pulled = pull_image(&store, &config, &r("test/app2:v1"), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.image.name, "docker.io/test/app2");
    assert_eq!(pulled.image.reference, "docker.io/test/app2:v1");
    assert_eq!(
        pulled.image.image_id(),
        format!("docker.io/test/app2@{}", p.app2_manifest)
    );
    assert!(store
        .get_image(&r("docker.io/test/app2:v1"))
        .unwrap()
        .is_some());
}
