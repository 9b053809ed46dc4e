//! Container start, ours beside crun's, for the same root filesystem and command
//! (`/testapp true`): each is timed from "create" to "exited", the whole life of a
//! short container, with the sandbox (ours) made once beforehand, as a pod's is.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use node_runtime::{ContainerConfig, QosClass, Runtime, RuntimeConfig, SandboxConfig};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median milliseconds for our runtime, and for crun (or why crun could not be timed).
pub async fn compare(rootfs: &Path, starts: usize) -> Result<(f64, Result<f64>)> {
    let work = rootfs
        .parent()
        .context("the rootfs's directory")?
        .join("containers");
    std::fs::create_dir_all(&work)?;
    let ours = ours(rootfs, &work, starts).await?;
    let crun = match Command::new("crun").arg("--version").output() {
        Ok(o) if o.status.success() => crun(rootfs, &work, starts),
        _ => Err(anyhow::anyhow!(
            "crun is not installed (apt-get install crun)"
        )),
    };
    Ok((ours, crun))
}

async fn ours(rootfs: &Path, work: &Path, starts: usize) -> Result<f64> {
    let rt = Runtime::new(RuntimeConfig::new(work.join("run")))?;
    let sandbox = rt
        .run_pod_sandbox(SandboxConfig {
            pod_uid: format!("node-bench-{}", std::process::id()),
            hostname: "bench".into(),
            qos: QosClass::BestEffort,
            host_network: false,
            host_ipc: false,
            shm_size: None,
        })
        .await?;
    let mut times = Vec::with_capacity(starts);
    let result = async {
        for i in 0..starts {
            let cfg = ContainerConfig::new(
                "bench",
                vec![rootfs.to_path_buf()],
                vec!["/testapp".into(), "true".into()],
                work.join(format!("logs/{i}.log")),
            );
            let t0 = Instant::now();
            let id = rt.create_container(&sandbox, cfg).await?;
            rt.start_container(&id).await?;
            let exit = rt.wait_container(&id, Duration::from_secs(30)).await?;
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            rt.remove_container(&id).await?;
            match exit {
                Some(e) if e.exit_code == 0 => {}
                other => bail!("the benchmark container ended with {other:?}"),
            }
        }
        anyhow::Ok(())
    }
    .await;
    rt.remove_pod_sandbox(&sandbox).await?;
    result?;
    Ok(median(times))
}

fn crun(rootfs: &Path, work: &Path, starts: usize) -> Result<f64> {
    let bundle = work.join("crun-bundle");
    std::fs::create_dir_all(&bundle)?;
    let spec = Command::new("crun")
        .args(["spec", "--rootless=false"])
        .current_dir(&bundle)
        .output()?;
    if !spec.status.success() {
        // Older crun has no --rootless flag.
        let plain = Command::new("crun")
            .arg("spec")
            .current_dir(&bundle)
            .output()?;
        if !plain.status.success() {
            bail!("crun spec: {}", String::from_utf8_lossy(&plain.stderr));
        }
    }
    let path = bundle.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    cfg["process"]["args"] = serde_json::json!(["/testapp", "true"]);
    cfg["process"]["terminal"] = serde_json::json!(false);
    cfg["root"]["path"] = serde_json::json!(rootfs);
    cfg["root"]["readonly"] = serde_json::json!(true);
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg)?)?;
    // crun refuses cgroup v1/v2 hybrid hosts (as dev hosts are). There it runs in a mount
    // namespace of its own whose /sys/fs/cgroup is the (controller-less) v2 hierarchy, with
    // cgroup management off: timed without cgroups, where ours sets up v1 ones.
    if std::path::Path::new("/sys/fs/cgroup/unified").exists() {
        let out = Command::new(std::env::current_exe()?)
            .arg("crun-timer")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--state")
            .arg(work.join("crun-state"))
            .arg("--starts")
            .arg(starts.to_string())
            .output()?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
        }
        return String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("the crun timer's output");
    }
    time_crun(&bundle, &work.join("crun-state"), starts, false)
}

/// `node-bench crun-timer`: on a hybrid host, moves into a private mount namespace with the
/// cgroup v2 hierarchy on /sys/fs/cgroup, times crun there and prints the median.
pub fn crun_timer(bundle: &Path, state: &Path, starts: usize) -> Result<f64> {
    use rustix::mount::{mount, mount_change, MountFlags, MountPropagationFlags};
    // SAFETY: only a new mount namespace, in a process that has no other threads yet (this
    // subcommand runs before any runtime starts); no file descriptors or memory are affected.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .context("unshare(CLONE_NEWNS)")?;
    mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .context("making / private")?;
    mount(
        "none",
        "/sys/fs/cgroup",
        "cgroup2",
        MountFlags::empty(),
        None,
    )
    .context("mounting cgroup2 on /sys/fs/cgroup")?;
    time_crun(bundle, state, starts, true)
}

fn time_crun(bundle: &Path, state: &Path, starts: usize, no_cgroups: bool) -> Result<f64> {
    let mut times = Vec::with_capacity(starts);
    for i in 0..starts {
        let id = format!("node-bench-{}-{i}", std::process::id());
        let t0 = Instant::now();
        let mut cmd = Command::new("crun");
        if no_cgroups {
            cmd.arg("--cgroup-manager=disabled");
        }
        let out = cmd
            .arg("--root")
            .arg(state)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(&id)
            .output()?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            bail!("crun run: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(median(times))
}
