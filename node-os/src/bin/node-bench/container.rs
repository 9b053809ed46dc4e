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
    let state = work.join("crun-state");
    // crun refuses cgroup v1/v2 hybrid hosts (as dev hosts are) unless told not to manage
    // cgroups; then it is timed without them.
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified").exists();
    let mut times = Vec::with_capacity(starts);
    for i in 0..starts {
        let id = format!("node-bench-{}-{i}", std::process::id());
        let t0 = Instant::now();
        let mut cmd = Command::new("crun");
        if hybrid {
            cmd.arg("--cgroup-manager=disabled");
        }
        let out = cmd
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .output()?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            bail!("crun run: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(median(times))
}
