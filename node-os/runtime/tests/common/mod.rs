//! Setup shared by the integration tests: a busybox root filesystem as the only image layer,
//! a runtime on a temporary run dir with the crate's test binary as its helper, and the
//! checks that a removed sandbox left nothing behind.

// Each test file uses its own subset.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use node_runtime::cgroup;
use node_runtime::log::{parse_record, Stream, Tag};
use node_runtime::{ContainerConfig, QosClass, Runtime, RuntimeConfig, SandboxConfig};

/// A root filesystem holding busybox and its applet links (Debian's `busybox-static`).
pub fn busybox_rootfs() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists())
            .expect("busybox-static is installed (see .ci/run)");
        remove_stale_rootfs();
        let root =
            std::env::temp_dir().join(format!("node-runtime-busybox-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::copy(busybox, root.join("bin/busybox")).unwrap();
        let list = std::process::Command::new(busybox)
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
            }
        }
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        root
    })
    .clone()
}

/// Each test binary makes its own busybox root and nothing removes it when the binary ends:
/// removes those of test processes that are gone.
fn remove_stale_rootfs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("node-runtime-busybox-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

pub struct Harness {
    pub rt: Runtime,
    pub dir: tempfile::TempDir,
    pub cgroup_root: String,
}

pub fn harness() -> Harness {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests create containers and must run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RuntimeConfig::new(dir.path().join("run"));
    cfg.helper_exe = PathBuf::from(env!("CARGO_BIN_EXE_runtime-test-helper"));
    cfg.cgroup_root = format!("node-runtime-test-{}", uuid_like());
    let cgroup_root = cfg.cgroup_root.clone();
    Harness {
        rt: Runtime::new(cfg).unwrap(),
        dir,
        cgroup_root,
    }
}

pub fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", std::process::id(), t)
}

impl Harness {
    pub fn sandbox_config(&self, hostname: &str) -> SandboxConfig {
        SandboxConfig {
            pod_uid: uuid_like(),
            hostname: hostname.into(),
            qos: QosClass::Guaranteed,
            host_network: false,
            host_ipc: false,
            shm_size: None,
        }
    }

    pub fn container(&self, name: &str, script: &str) -> ContainerConfig {
        let log = self.dir.path().join("logs").join(format!("{name}.log"));
        ContainerConfig::new(
            name,
            vec![busybox_rootfs()],
            vec!["/bin/sh".into(), "-c".into(), script.into()],
            log,
        )
    }

    pub async fn run(&self, sandbox: &str, cfg: ContainerConfig) -> String {
        let id = self.rt.create_container(sandbox, cfg).await.unwrap();
        self.rt.start_container(&id).await.unwrap();
        id
    }

    /// Lines of a container's log (content only), checking every record's format.
    pub fn log_lines(&self, name: &str, stream: Stream) -> Vec<String> {
        let bytes =
            fs::read(self.dir.path().join("logs").join(format!("{name}.log"))).unwrap_or_default();
        bytes
            .split_inclusive(|b| *b == b'\n')
            .map(|l| {
                parse_record(l).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(l)))
            })
            .filter(|r| r.stream == stream)
            .map(|r| {
                assert_eq!(r.tag, Tag::Full);
                String::from_utf8(r.content).unwrap()
            })
            .collect()
    }

    /// Removes the sandbox and checks that no mount, cgroup or process of it is left.
    pub async fn remove_and_check_clean(&self, sandbox: &str, containers: &[(String, i32)]) {
        let pod_cgroup = self.rt.sandbox(sandbox).unwrap().cgroup;
        self.rt.remove_pod_sandbox(sandbox).await.unwrap();
        let run = self.dir.path().join("run");
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mountinfo.contains(run.to_str().unwrap()),
            "mounts left under {}:\n{mountinfo}",
            run.display()
        );
        let mode = self.rt.cgroup_mode();
        for dir in cgroup::pod::cgroup_dirs(mode, &pod_cgroup).unwrap() {
            assert!(!dir.exists(), "cgroup {} left", dir.display());
        }
        for (id, pid) in containers {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists() || is_zombie_free_gone(*pid),
                "process {pid} of {id} left"
            );
            assert!(!run.join("containers").join(id).exists());
            assert!(!run.join("libcontainer").join(id).exists());
        }
        assert!(!run.join("sandboxes").join(sandbox).exists());
        cgroup::pod::remove(mode, Path::new(&format!("/{}", self.cgroup_root))).unwrap();
    }
}

/// A test that fails leaves its containers running, their roots and namespaces mounted and
/// their cgroups in place, on a host other tests share: kill whatever is in this test's
/// cgroups, unmount everything under its run dir and remove its cgroups. After a test that
/// cleaned up itself, there is nothing to do.
impl Drop for Harness {
    fn drop(&mut self) {
        let base = Path::new(cgroup::CGROUP_MOUNT);
        let roots: Vec<PathBuf> = match self.rt.cgroup_mode() {
            cgroup::CgroupMode::V2 => vec![base.join(&self.cgroup_root)],
            cgroup::CgroupMode::V1 => fs::read_dir(base)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path().join(&self.cgroup_root))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut dirs = Vec::new();
        for root in &roots {
            collect_dirs(root, &mut dirs);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let mut alive = false;
            for d in &dirs {
                for pid in fs::read_to_string(d.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    alive = true;
                    // SAFETY: kill(2) on a pid read from this test's own cgroups.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            if !alive || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let under = self.dir.path().to_string_lossy().into_owned();
        let mut mounts: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&under))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = rustix::mount::unmount(m.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
        // Deepest first: a cgroup directory goes only once it has no children.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

pub fn is_zombie_free_gone(pid: i32) -> bool {
    node_runtime::state::proc_start_ticks(pid).is_none()
}
