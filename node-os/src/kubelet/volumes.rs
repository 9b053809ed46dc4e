//! Pod volumes as kubelet materializes them: where each lives on the node
//! (`<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`), what a hostPath's type demands,
//! and for configMap, secret, downwardAPI and projected volumes the files to write (keys or
//! items, modes, defaultMode) and how to swap them in atomically with the `..data` symlink
//! layout of kubelet's `AtomicWriter` (pkg/volume/util/atomic_writer.go), so a container
//! reading the volume never sees half of an update. Deciding is pure; [`apply`] performs the
//! steps on a directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, Volume,
};
use thiserror::Error;

use super::env::{field_value, resource_value, EnvSources};
use super::quantity::parse_units;

/// kubelet's default file mode for projected content (0644).
pub const DEFAULT_MODE: i32 = 0o644;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VolumeError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("configmap references non-existent config key: {0}")]
    ConfigMapKey(String),
    #[error("secret references non-existent secret key: {0}")]
    SecretKey(String),
    #[error("invalid path {0:?}: must be relative, without '..' elements")]
    Path(String),
    #[error("{0}")]
    Downward(String),
    #[error("volume {0:?} has a source this node does not support yet")]
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Disk,
    /// tmpfs, counted against the pod's memory.
    Memory,
}

/// What a hostPath's `type` requires of the path before the pod may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPathType {
    /// `""`: no check.
    Unchecked,
    DirectoryOrCreate,
    Directory,
    FileOrCreate,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

/// One file of a projected payload, relative to the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFile {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// A service account token to request (TokenRequest) and write at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenProjection {
    pub path: String,
    pub audience: Option<String>,
    pub expiration_seconds: i64,
    /// The projected volume's defaultMode (0644 unless set).
    pub mode: u32,
}

/// What to make for one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumePlan {
    EmptyDir {
        dir: PathBuf,
        medium: Medium,
        size_limit: Option<u64>,
    },
    HostPath {
        path: PathBuf,
        kind: HostPathType,
    },
    /// configMap, secret, downwardAPI, projected: a directory written atomically.
    Files {
        dir: PathBuf,
        payload: BTreeMap<String, PayloadFile>,
        tokens: Vec<TokenProjection>,
        /// Secrets (and projected volumes) live on tmpfs so they never reach the disk.
        tmpfs: bool,
    },
}

/// The directory of a pod's volume of `plugin` (`empty-dir`, `configmap`, ...).
pub fn volume_dir(root: &Path, pod_uid: &str, plugin: &str, name: &str) -> PathBuf {
    root.join("pods")
        .join(pod_uid)
        .join("volumes")
        .join(format!("kubernetes.io~{plugin}"))
        .join(name)
}

/// Checks a payload path as the AtomicWriter does: relative, no `..` element, not starting
/// with `..` (reserved for the writer's own entries), no empty elements.
pub fn validate_path(p: &str) -> Result<(), VolumeError> {
    let bad = || VolumeError::Path(p.to_string());
    if p.is_empty() || p.starts_with("..") || p.len() > 4096 {
        return Err(bad());
    }
    let path = Path::new(p);
    if path.is_absolute() {
        return Err(bad());
    }
    for c in path.components() {
        match c {
            Component::Normal(s) if s.len() <= 255 => {}
            _ => return Err(bad()),
        }
    }
    if p.split('/').any(str::is_empty) {
        return Err(bad());
    }
    Ok(())
}

fn mode_of(item: Option<i32>, default: Option<i32>) -> u32 {
    (item.or(default).unwrap_or(DEFAULT_MODE) & 0o7777) as u32
}

/// Keys and values of a ConfigMap or Secret, mapped through `items` when given. A missing key
/// named in `items` is an error unless the source is optional.
fn key_payload(
    all: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    missing_key: impl Fn(String) -> VolumeError,
    out: &mut BTreeMap<String, PayloadFile>,
) -> Result<(), VolumeError> {
    match items {
        Some(items) if !items.is_empty() => {
            for it in items {
                match all.get(&it.key) {
                    Some(v) => {
                        validate_path(&it.path)?;
                        out.insert(
                            it.path.clone(),
                            PayloadFile {
                                data: v.clone(),
                                mode: mode_of(it.mode, default_mode),
                            },
                        );
                    }
                    None if optional => {}
                    None => return Err(missing_key(it.key.clone())),
                }
            }
        }
        _ => {
            for (k, v) in all {
                validate_path(k)?;
                out.insert(
                    k.clone(),
                    PayloadFile {
                        data: v.clone(),
                        mode: mode_of(None, default_mode),
                    },
                );
            }
        }
    }
    Ok(())
}

fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut m: BTreeMap<String, Vec<u8>> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    m.extend(
        cm.binary_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone())),
    );
    m
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

fn downward_payload(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
    sources: &EnvSources<'_>,
    out: &mut BTreeMap<String, PayloadFile>,
) -> Result<(), VolumeError> {
    for it in items {
        validate_path(&it.path)?;
        let value = if let Some(f) = &it.field_ref {
            field_value(pod, &f.field_path, true)
                .map_err(|e| VolumeError::Downward(e.to_string()))?
        } else if let Some(r) = &it.resource_field_ref {
            let spec = pod.spec.as_ref();
            let c = spec
                .into_iter()
                .flat_map(|s| s.containers.iter())
                .find(|c| Some(c.name.as_str()) == r.container_name.as_deref())
                .ok_or_else(|| {
                    VolumeError::Downward(format!(
                        "container {:?} not found for resourceFieldRef",
                        r.container_name.as_deref().unwrap_or("")
                    ))
                })?;
            resource_value(
                c,
                &r.resource,
                r.divisor.as_ref().map(|d| d.0.as_str()),
                sources,
            )
            .map_err(|e| VolumeError::Downward(e.to_string()))?
        } else {
            continue;
        };
        out.insert(
            it.path.clone(),
            PayloadFile {
                data: value.into_bytes(),
                mode: mode_of(it.mode, default_mode),
            },
        );
    }
    Ok(())
}

/// Decides what to make for `volume` of `pod`, with `root` the kubelet's directory.
pub fn plan(
    root: &Path,
    pod: &Pod,
    volume: &Volume,
    sources: &EnvSources<'_>,
) -> Result<VolumePlan, VolumeError> {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    let name = &volume.name;
    if let Some(e) = &volume.empty_dir {
        let medium = if e.medium.as_deref() == Some("Memory") {
            Medium::Memory
        } else {
            Medium::Disk
        };
        return Ok(VolumePlan::EmptyDir {
            dir: volume_dir(root, uid, "empty-dir", name),
            medium,
            size_limit: e
                .size_limit
                .as_ref()
                .and_then(|q| parse_units(&q.0).ok())
                .map(|v| v.max(0) as u64),
        });
    }
    if let Some(h) = &volume.host_path {
        let kind = match h.type_.as_deref().unwrap_or("") {
            "DirectoryOrCreate" => HostPathType::DirectoryOrCreate,
            "Directory" => HostPathType::Directory,
            "FileOrCreate" => HostPathType::FileOrCreate,
            "File" => HostPathType::File,
            "Socket" => HostPathType::Socket,
            "CharDevice" => HostPathType::CharDevice,
            "BlockDevice" => HostPathType::BlockDevice,
            _ => HostPathType::Unchecked,
        };
        return Ok(VolumePlan::HostPath {
            path: PathBuf::from(&h.path),
            kind,
        });
    }
    let mut payload = BTreeMap::new();
    let mut tokens = Vec::new();
    let (plugin, tmpfs) = if let Some(c) = &volume.config_map {
        let optional = c.optional == Some(true);
        match sources.config_maps.get(&c.name) {
            Some(cm) => key_payload(
                &config_map_data(cm),
                c.items.as_ref(),
                c.default_mode,
                optional,
                VolumeError::ConfigMapKey,
                &mut payload,
            )?,
            None if optional => {}
            None => return Err(VolumeError::ConfigMapNotFound(c.name.clone())),
        }
        ("configmap", false)
    } else if let Some(s) = &volume.secret {
        let optional = s.optional == Some(true);
        let sname = s.secret_name.clone().unwrap_or_default();
        match sources.secrets.get(&sname) {
            Some(sec) => key_payload(
                &secret_data(sec),
                s.items.as_ref(),
                s.default_mode,
                optional,
                VolumeError::SecretKey,
                &mut payload,
            )?,
            None if optional => {}
            None => return Err(VolumeError::SecretNotFound(sname)),
        }
        ("secret", true)
    } else if let Some(d) = &volume.downward_api {
        downward_payload(
            pod,
            d.items.as_deref().unwrap_or_default(),
            d.default_mode,
            sources,
            &mut payload,
        )?;
        ("downward-api", false)
    } else if let Some(p) = &volume.projected {
        for src in p.sources.iter().flatten() {
            if let Some(c) = &src.config_map {
                let optional = c.optional == Some(true);
                match sources.config_maps.get(&c.name) {
                    Some(cm) => key_payload(
                        &config_map_data(cm),
                        c.items.as_ref(),
                        p.default_mode,
                        optional,
                        VolumeError::ConfigMapKey,
                        &mut payload,
                    )?,
                    None if optional => {}
                    None => return Err(VolumeError::ConfigMapNotFound(c.name.clone())),
                }
            }
            if let Some(s) = &src.secret {
                let optional = s.optional == Some(true);
                match sources.secrets.get(&s.name) {
                    Some(sec) => key_payload(
                        &secret_data(sec),
                        s.items.as_ref(),
                        p.default_mode,
                        optional,
                        VolumeError::SecretKey,
                        &mut payload,
                    )?,
                    None if optional => {}
                    None => return Err(VolumeError::SecretNotFound(s.name.clone())),
                }
            }
            if let Some(d) = &src.downward_api {
                downward_payload(
                    pod,
                    d.items.as_deref().unwrap_or_default(),
                    p.default_mode,
                    sources,
                    &mut payload,
                )?;
            }
            if let Some(t) = &src.service_account_token {
                validate_path(&t.path)?;
                tokens.push(TokenProjection {
                    path: t.path.clone(),
                    audience: t.audience.clone().filter(|a| !a.is_empty()),
                    expiration_seconds: t.expiration_seconds.unwrap_or(3600),
                    mode: p.default_mode.map_or(0o644, |m| m as u32),
                });
            }
        }
        ("projected", true)
    } else {
        return Err(VolumeError::Unsupported(name.clone()));
    };
    Ok(VolumePlan::Files {
        dir: volume_dir(root, uid, plugin, name),
        payload,
        tokens,
        tmpfs,
    })
}

/// What is in a volume directory now, as the atomic writer needs to know it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    /// Where `..data` points (the timestamped directory's name), if anywhere.
    pub data_target: Option<String>,
    /// The files under that directory, relative, with contents and modes.
    pub files: BTreeMap<String, PayloadFile>,
    /// The user-visible top-level entries (names not starting with `..`).
    pub visible: BTreeSet<String>,
}

/// One filesystem step of an atomic write, relative to the volume directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsOp {
    Mkdir(String),
    Write {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        link: String,
        target: String,
    },
    Rename {
        from: String,
        to: String,
    },
    RemoveAll(String),
}

/// The steps that make the volume show `payload`, in the AtomicWriter's order: write the new
/// content into a fresh timestamped directory, point `..data_tmp` at it and rename that over
/// `..data` (the one atomic switch), add the top-level symlinks `name -> ..data/name`, then
/// remove the entries and the old directory that the new payload no longer has. An unchanged
/// payload needs no step. `new_dir` is the timestamped directory's name
/// (`..YYYY_MM_DD_HH_MM_SS.<random>`).
pub fn atomic_write_plan(
    payload: &BTreeMap<String, PayloadFile>,
    existing: &Existing,
    new_dir: &str,
) -> Vec<FsOp> {
    if existing.data_target.is_some() && existing.files == *payload {
        return Vec::new();
    }
    let mut ops = vec![FsOp::Mkdir(new_dir.to_string())];
    let mut dirs = BTreeSet::new();
    for p in payload.keys() {
        let mut acc = String::new();
        let parts: Vec<&str> = p.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if dirs.insert(acc.clone()) {
                ops.push(FsOp::Mkdir(format!("{new_dir}/{acc}")));
            }
        }
    }
    for (p, f) in payload {
        ops.push(FsOp::Write {
            path: format!("{new_dir}/{p}"),
            data: f.data.clone(),
            mode: f.mode,
        });
    }
    ops.push(FsOp::Symlink {
        link: "..data_tmp".into(),
        target: new_dir.to_string(),
    });
    ops.push(FsOp::Rename {
        from: "..data_tmp".into(),
        to: "..data".into(),
    });
    let top: BTreeSet<String> = payload
        .keys()
        .map(|p| p.split('/').next().unwrap_or(p).to_string())
        .collect();
    for t in &top {
        if !existing.visible.contains(t) {
            ops.push(FsOp::Symlink {
                link: t.clone(),
                target: format!("..data/{t}"),
            });
        }
    }
    for old in existing.visible.difference(&top) {
        ops.push(FsOp::RemoveAll(old.clone()));
    }
    if let Some(old) = &existing.data_target {
        if old != new_dir {
            ops.push(FsOp::RemoveAll(old.clone()));
        }
    }
    ops
}

/// The name of a new timestamped directory, as the AtomicWriter names them.
pub fn timestamped_dir(now: jiff::Timestamp, random: u32) -> String {
    format!("..{}.{random:09}", now.strftime("%Y_%m_%d_%H_%M_%S"))
}

/// Reads what a volume directory holds (empty if it does not exist yet).
pub fn read_existing(dir: &Path) -> std::io::Result<Existing> {
    let mut ex = Existing::default();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(ex);
    };
    for e in rd {
        let name = e?.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") {
            ex.visible.insert(name);
        }
    }
    if let Ok(t) = std::fs::read_link(dir.join("..data")) {
        let t = t.to_string_lossy().into_owned();
        fn walk(
            base: &Path,
            rel: &str,
            out: &mut BTreeMap<String, PayloadFile>,
        ) -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            for e in std::fs::read_dir(base.join(rel))? {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                let r = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let md = e.metadata()?;
                if md.is_dir() {
                    walk(base, &r, out)?;
                } else {
                    out.insert(
                        r.clone(),
                        PayloadFile {
                            data: std::fs::read(base.join(&r))?,
                            mode: md.permissions().mode() & 0o7777,
                        },
                    );
                }
            }
            Ok(())
        }
        walk(&dir.join(&t), "", &mut ex.files)?;
        ex.data_target = Some(t);
    }
    Ok(ex)
}

/// Performs the steps of [`atomic_write_plan`] in `dir`.
pub fn apply(dir: &Path, ops: &[FsOp]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    for op in ops {
        match op {
            FsOp::Mkdir(p) => std::fs::create_dir_all(dir.join(p))?,
            FsOp::Write { path, data, mode } => {
                std::fs::write(dir.join(path), data)?;
                std::fs::set_permissions(dir.join(path), std::fs::Permissions::from_mode(*mode))?;
            }
            FsOp::Symlink { link, target } => {
                let l = dir.join(link);
                let _ = std::fs::remove_file(&l);
                std::os::unix::fs::symlink(target, l)?;
            }
            FsOp::Rename { from, to } => std::fs::rename(dir.join(from), dir.join(to))?,
            FsOp::RemoveAll(p) => {
                let p = dir.join(p);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => std::fs::remove_dir_all(p)?,
                    Ok(_) => std::fs::remove_file(p)?,
                    Err(_) => {}
                }
            }
        }
    }
    Ok(())
}

/// The ConfigMaps and Secrets a pod's volumes and environment refer to, so the caller fetches
/// just those (as the Node authorizer will allow).
pub fn referenced_objects(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = &pod.spec else {
        return (cms, secrets);
    };
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            cms.insert(c.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.insert(s);
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &src.config_map {
                cms.insert(c.name.clone());
            }
            if let Some(s) = &src.secret {
                secrets.insert(s.name.clone());
            }
        }
    }
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in containers {
        for f in c.env_from.iter().flatten() {
            if let Some(r) = &f.config_map_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &f.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
        for e in c.env.iter().flatten() {
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|v| v.config_map_key_ref.as_ref())
            {
                cms.insert(r.name.clone());
            }
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            {
                secrets.insert(r.name.clone());
            }
        }
    }
    (cms, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"a": "1"}},
            "spec": {"containers": [{"name": "c", "image": "x",
                "resources": {"limits": {"memory": "64Mi"}}}], "volumes": volumes},
        }))
        .unwrap()
    }

    fn plan_of(p: &Pod, sources: &EnvSources<'_>) -> Result<VolumePlan, VolumeError> {
        plan(
            Path::new("/var/lib/node-os"),
            p,
            &p.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0],
            sources,
        )
    }

    fn files(p: VolumePlan) -> BTreeMap<String, (String, u32)> {
        let VolumePlan::Files { payload, .. } = p else {
            panic!("not files: {p:?}")
        };
        payload
            .into_iter()
            .map(|(k, f)| (k, (String::from_utf8(f.data).unwrap(), f.mode)))
            .collect()
    }

    #[test]
    fn empty_dirs_and_host_paths() {
        let p = pod(
            json!([{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]),
        );
        assert_eq!(
            plan_of(&p, &EnvSources::default()).unwrap(),
            VolumePlan::EmptyDir {
                dir: "/var/lib/node-os/pods/u1/volumes/kubernetes.io~empty-dir/scratch".into(),
                medium: Medium::Memory,
                size_limit: Some(64 << 20),
            }
        );
        let p = pod(
            json!([{"name": "h", "hostPath": {"path": "/var/log", "type": "DirectoryOrCreate"}}]),
        );
        assert_eq!(
            plan_of(&p, &EnvSources::default()).unwrap(),
            VolumePlan::HostPath {
                path: "/var/log".into(),
                kind: HostPathType::DirectoryOrCreate
            }
        );
    }

    #[test]
    fn config_maps_project_all_keys_or_the_items_with_their_modes() {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cfg"},
            "data": {"a.conf": "A", "b.conf": "B"}, "binaryData": {"bin": "AAE="}}))
        .unwrap();
        let sources = EnvSources {
            config_maps: HashMap::from([("cfg".into(), &cm)]),
            ..Default::default()
        };
        let p = pod(json!([{"name": "v", "configMap": {"name": "cfg", "defaultMode": 0o600}}]));
        let f = files(plan_of(&p, &sources).unwrap());
        assert_eq!(f["a.conf"], ("A".into(), 0o600));
        assert_eq!(f.len(), 3);
        let p = pod(json!([{"name": "v", "configMap": {"name": "cfg",
            "items": [{"key": "a.conf", "path": "etc/app.conf", "mode": 0o400}, {"key": "b.conf", "path": "b"}]}}]));
        let f = files(plan_of(&p, &sources).unwrap());
        assert_eq!(f.len(), 2);
        assert_eq!(f["etc/app.conf"], ("A".into(), 0o400));
        assert_eq!(f["b"], ("B".into(), 0o644));
        let p = pod(
            json!([{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}}]),
        );
        assert_eq!(
            plan_of(&p, &sources).unwrap_err().to_string(),
            "configmap references non-existent config key: zz"
        );
        let p = pod(json!([{"name": "v", "configMap": {"name": "gone"}}]));
        assert_eq!(
            plan_of(&p, &sources).unwrap_err(),
            VolumeError::ConfigMapNotFound("gone".into())
        );
        let p = pod(json!([{"name": "v", "configMap": {"name": "gone", "optional": true}}]));
        assert!(files(plan_of(&p, &sources).unwrap()).is_empty());
        let p = pod(
            json!([{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "../escape"}]}}]),
        );
        assert!(matches!(plan_of(&p, &sources), Err(VolumeError::Path(_))));
    }

    #[test]
    fn secrets_go_to_tmpfs_and_projected_volumes_merge_sources() {
        let sec: Secret =
            serde_json::from_value(json!({"metadata": {"name": "s"}, "data": {"token": "dG9r"}}))
                .unwrap();
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "CA"}}),
        )
        .unwrap();
        let sources = EnvSources {
            config_maps: HashMap::from([("kube-root-ca.crt".into(), &cm)]),
            secrets: HashMap::from([("s".into(), &sec)]),
            ..Default::default()
        };
        let p = pod(json!([{"name": "v", "secret": {"secretName": "s"}}]));
        let plan = plan_of(&p, &sources).unwrap();
        assert!(
            matches!(&plan, VolumePlan::Files { tmpfs: true, dir, .. } if dir.ends_with("kubernetes.io~secret/v"))
        );
        assert_eq!(files(plan)["token"], ("tok".into(), 0o644));
        let p = pod(
            json!([{"name": "kube-api-access", "projected": {"defaultMode": 0o444, "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ]}}]),
        );
        let plan = plan_of(&p, &sources).unwrap();
        let VolumePlan::Files { tokens, .. } = &plan else {
            panic!()
        };
        assert_eq!(
            tokens,
            &[TokenProjection {
                path: "token".into(),
                audience: None,
                expiration_seconds: 3607,
                mode: 0o444,
            }]
        );
        let f = files(plan);
        assert_eq!(f["ca.crt"], ("CA".into(), 0o444));
        assert_eq!(f["namespace"], ("ns".into(), 0o444));
    }

    #[test]
    fn downward_api_volumes_render_fields_and_resources() {
        let p = pod(json!([{"name": "d", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}, "mode": 0o400},
        ]}}]));
        let f = files(plan_of(&p, &EnvSources::default()).unwrap());
        assert_eq!(f["labels"], ("a=\"1\"".into(), 0o644));
        assert_eq!(f["mem"], ("64".into(), 0o400));
    }

    fn payload(entries: &[(&str, &str)]) -> BTreeMap<String, PayloadFile> {
        entries
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    PayloadFile {
                        data: v.as_bytes().to_vec(),
                        mode: 0o644,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_atomic_writer_swaps_data_by_one_rename() {
        let ops = atomic_write_plan(
            &payload(&[("a", "1"), ("d/b", "2")]),
            &Existing::default(),
            "..t1",
        );
        assert_eq!(
            ops,
            vec![
                FsOp::Mkdir("..t1".into()),
                FsOp::Mkdir("..t1/d".into()),
                FsOp::Write {
                    path: "..t1/a".into(),
                    data: b"1".to_vec(),
                    mode: 0o644
                },
                FsOp::Write {
                    path: "..t1/d/b".into(),
                    data: b"2".to_vec(),
                    mode: 0o644
                },
                FsOp::Symlink {
                    link: "..data_tmp".into(),
                    target: "..t1".into()
                },
                FsOp::Rename {
                    from: "..data_tmp".into(),
                    to: "..data".into()
                },
                FsOp::Symlink {
                    link: "a".into(),
                    target: "..data/a".into()
                },
                FsOp::Symlink {
                    link: "d".into(),
                    target: "..data/d".into()
                },
            ]
        );
    }

    #[test]
    fn updates_on_disk_keep_the_layout_and_drop_what_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("vol");
        let first = payload(&[("a", "1"), ("d/b", "2")]);
        apply(
            &v,
            &atomic_write_plan(&first, &read_existing(&v).unwrap(), "..t1"),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(v.join("d/b")).unwrap(), "2");
        assert_eq!(
            std::fs::read_link(v.join("..data")).unwrap(),
            Path::new("..t1")
        );
        assert_eq!(
            std::fs::read_link(v.join("a")).unwrap(),
            Path::new("..data/a")
        );
        let ex = read_existing(&v).unwrap();
        assert_eq!(ex.files, first);
        // The same payload again: nothing to do.
        assert!(atomic_write_plan(&first, &ex, "..t2").is_empty());
        // A new payload: `a` changes, `d` goes, `c` comes; the old directory is removed.
        let second = payload(&[("a", "9"), ("c", "3")]);
        apply(&v, &atomic_write_plan(&second, &ex, "..t2")).unwrap();
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "9");
        assert_eq!(std::fs::read_to_string(v.join("c")).unwrap(), "3");
        assert!(std::fs::symlink_metadata(v.join("d")).is_err());
        assert!(!v.join("..t1").exists());
        let mut names: Vec<String> = std::fs::read_dir(&v)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["..data", "..t2", "a", "c"]);
    }

    #[test]
    fn payload_paths_are_validated() {
        for ok in ["a", "a/b", "a..b", "x/.hidden"] {
            assert!(validate_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "..data",
            "a/../b",
            "a//b",
            "..",
            "a/",
            &"x".repeat(256),
        ] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamped_directories_are_named_like_kubelets() {
        let t: jiff::Timestamp = "2026-03-04T05:06:07Z".parse().unwrap();
        assert_eq!(timestamped_dir(t, 42), "..2026_03_04_05_06_07.000000042");
    }

    #[test]
    fn referenced_objects_cover_volumes_and_env() {
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {
            "volumes": [{"name": "a", "configMap": {"name": "c1"}}, {"name": "b", "secret": {"secretName": "s1"}}],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s2"}}]}],
            "containers": [{"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c2", "key": "k"}}}]}],
        }})).unwrap();
        let (cms, secrets) = referenced_objects(&p);
        assert_eq!(cms.into_iter().collect::<Vec<_>>(), ["c1", "c2"]);
        assert_eq!(secrets.into_iter().collect::<Vec<_>>(), ["s1", "s2"]);
    }
}
