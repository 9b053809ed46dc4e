//! Makes a pod's volumes exist on the node: emptyDir directories (tmpfs for the Memory
//! medium), hostPath type checks, and the atomically written files of configMap, secret,
//! downwardAPI and projected volumes.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use super::super::volumes::{self, VolumePlan};

/// Makes a volume exist on the node and returns the host path to bind.
pub(super) fn materialize(plan: &VolumePlan) -> Result<PathBuf> {
    match plan {
        VolumePlan::EmptyDir {
            dir,
            medium,
            size_limit,
        } => {
            let fresh = !dir.exists();
            std::fs::create_dir_all(dir)?;
            if fresh && *medium == volumes::Medium::Memory {
                mount_tmpfs(dir, *size_limit)?;
            }
            Ok(dir.clone())
        }
        VolumePlan::HostPath { path, kind } => {
            use volumes::HostPathType as T;
            match kind {
                T::DirectoryOrCreate => std::fs::create_dir_all(path)?,
                T::FileOrCreate if !path.exists() => {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?;
                }
                T::Directory => anyhow::ensure!(
                    path.is_dir(),
                    "hostPath type check failed: {} is not a directory",
                    path.display()
                ),
                T::File => anyhow::ensure!(
                    path.is_file(),
                    "hostPath type check failed: {} is not a file",
                    path.display()
                ),
                _ => {}
            }
            Ok(path.clone())
        }
        VolumePlan::Files {
            dir,
            payload,
            tokens,
            tmpfs,
        } => {
            // The pod worker resolves tokens (an API call) into the payload before this.
            anyhow::ensure!(
                tokens.is_empty(),
                "serviceAccountToken projections were not resolved into files"
            );
            let fresh = !dir.exists();
            std::fs::create_dir_all(dir)?;
            if fresh && *tmpfs {
                mount_tmpfs(dir, None)?;
            }
            let existing = volumes::read_existing(dir)?;
            let name = volumes::timestamped_dir(
                Timestamp::now(),
                std::process::id() ^ Timestamp::now().subsec_nanosecond() as u32,
            );
            volumes::apply(dir, &volumes::atomic_write_plan(payload, &existing, &name))?;
            Ok(dir.clone())
        }
    }
}

fn mount_tmpfs(dir: &std::path::Path, size: Option<u64>) -> Result<()> {
    let opts = std::ffi::CString::new(size.map(|s| format!("size={s}")).unwrap_or_default())?;
    rustix::mount::mount(
        "tmpfs",
        dir,
        "tmpfs",
        rustix::mount::MountFlags::NODEV | rustix::mount::MountFlags::NOSUID,
        Some(opts.as_c_str()),
    )
    .with_context(|| format!("mounting tmpfs on {}", dir.display()))?;
    Ok(())
}
