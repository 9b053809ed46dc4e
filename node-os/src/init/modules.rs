//! Kernel modules: PID 1 loads the modules the image lists in `/etc/nodeos/modules`, in that
//! order, with `finit_module`. The list is built ordered (dependencies first) from
//! `modules.dep`; [`check_order`] verifies that at boot, so a broken image is reported by name
//! rather than failing with a bare "unknown symbol". A module that fails to load is logged,
//! not fatal: a machine without, say, its virtio-net driver still reaches maintenance mode.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Where the image lists the modules to load.
pub const LIST: &str = "/etc/nodeos/modules";

/// Module names from the list file: one a line, `#` comments and blank lines skipped.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(normalize)
        .collect()
}

/// Module names are spelt with `-` or `_` interchangeably; the kernel uses `_`.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// A module's name from its path in modules.dep (`kernel/fs/ext4/ext4.ko` → `ext4`).
fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    normalize(file.split(".ko").next().unwrap_or(file))
}

/// One module from modules.dep: its file (relative to the modules directory) and the
/// modules it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepEntry {
    pub path: String,
    pub needs: Vec<String>,
}

/// `modules.dep`: `path: dep-path dep-path ...` per line.
pub fn parse_dep(text: &str) -> HashMap<String, DepEntry> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(path, deps)| {
            let path = path.trim().to_string();
            (
                name_of(&path),
                DepEntry {
                    needs: deps.split_whitespace().map(name_of).collect(),
                    path,
                },
            )
        })
        .collect()
}

/// Problems with the list's order: a module listed before a module it needs, or needing one
/// the list does not hold (it would be missing at load time unless built in, and a built-in
/// module never appears in modules.dep as a dependency).
pub fn check_order(list: &[String], dep: &HashMap<String, DepEntry>) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let Some(entry) = dep.get(m) else { continue };
        for need in &entry.needs {
            match list.iter().position(|x| x == need) {
                Some(j) if j < i => {}
                Some(_) => problems.push(format!("{m} is listed before {need}, which it needs")),
                None => problems.push(format!("{m} needs {need}, which is not listed")),
            }
        }
    }
    problems
}

/// What happened to one module.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    Loaded,
    AlreadyThere,
    /// Not in modules.dep: built into the kernel, or absent from the image.
    NotAModule,
}

fn load_one(dir: &Path, name: &str, dep: &HashMap<String, DepEntry>) -> io::Result<Loaded> {
    let Some(entry) = dep.get(name) else {
        return Ok(Loaded::NotAModule);
    };
    let path: PathBuf = dir.join(&entry.path);
    let file = std::fs::File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
    match rustix::system::finit_module(&file, c"", 0) {
        Ok(()) => Ok(Loaded::Loaded),
        Err(rustix::io::Errno::EXIST) => Ok(Loaded::AlreadyThere),
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("loading {}: {e}", path.display()),
        )),
    }
}

/// Loads every listed module from `/lib/modules/<release>`; returns how many loaded.
pub fn load_all() -> usize {
    let list = match std::fs::read_to_string(LIST) {
        Ok(t) => parse_list(&t),
        Err(e) => {
            tracing::warn!("no module list at {LIST} ({e}); loading no modules");
            return 0;
        }
    };
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let dir = PathBuf::from("/lib/modules").join(&release);
    let dep = match std::fs::read_to_string(dir.join("modules.dep")) {
        Ok(t) => parse_dep(&t),
        Err(e) => {
            tracing::error!(
                "reading {}/modules.dep: {e}; the image was built for another kernel?",
                dir.display()
            );
            return 0;
        }
    };
    for p in check_order(&list, &dep) {
        tracing::warn!("module list: {p}");
    }
    let mut n = 0;
    for m in &list {
        match load_one(&dir, m, &dep) {
            Ok(Loaded::Loaded) => {
                tracing::debug!(module = %m, "loaded");
                n += 1;
            }
            Ok(Loaded::AlreadyThere) => {}
            Ok(Loaded::NotAModule) => {
                tracing::debug!(module = %m, "not in modules.dep (built in?)")
            }
            Err(e) => tracing::error!(module = %m, "{e}"),
        }
    }
    tracing::info!(loaded = n, listed = list.len(), kernel = %release, "kernel modules");
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str =
        "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko\n\
kernel/fs/jbd2/jbd2.ko:\n\
kernel/fs/mbcache.ko:\n\
kernel/lib/crc16.ko:\n\
kernel/drivers/firmware/qemu_fw_cfg.ko:\n\
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko\n\
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n\
kernel/net/core/failover.ko:\n";

    #[test]
    fn the_list_skips_comments_and_spells_names_as_the_kernel_does() {
        assert_eq!(
            parse_list("# storage\njbd2\n\nqemu-fw-cfg  # for the config\n"),
            ["jbd2", "qemu_fw_cfg"]
        );
    }

    #[test]
    fn modules_dep_maps_names_to_files_and_dependencies() {
        let d = parse_dep(DEP);
        assert_eq!(d["ext4"].path, "kernel/fs/ext4/ext4.ko");
        assert_eq!(d["ext4"].needs, ["jbd2", "mbcache", "crc16"]);
        assert!(d["qemu_fw_cfg"].needs.is_empty());
    }

    #[test]
    fn a_list_in_dependency_order_passes_the_check() {
        let list =
            parse_list("crc16\nmbcache\njbd2\next4\nfailover\nnet_failover\nvirtio_net\nbutton\n");
        assert!(check_order(&list, &parse_dep(DEP)).is_empty());
    }

    #[test]
    fn a_module_before_its_dependency_or_without_it_is_reported() {
        let list = parse_list("ext4\ncrc16\nmbcache\njbd2\nvirtio_net\n");
        let p = check_order(&list, &parse_dep(DEP));
        assert_eq!(
            p,
            [
                "ext4 is listed before jbd2, which it needs",
                "ext4 is listed before mbcache, which it needs",
                "ext4 is listed before crc16, which it needs",
                "virtio_net needs net_failover, which is not listed",
            ]
        );
    }
}
