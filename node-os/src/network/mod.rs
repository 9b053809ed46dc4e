//! The node's pod network, local half: a bridge holding the first address of the node's
//! podCIDR, and per pod sandbox a veth pair whose inner end is the pod's `eth0` with an
//! address from the podCIDR ([`ipam`]) and a default route via the bridge. Everything is
//! programmed over netlink ([`netlink`]); nothing shells out, since the node image has no
//! `ip` command. Routing between nodes, Services and DNS build on this (routing issue).

pub mod ipam;
pub mod netlink;

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipam::{Cidr, Ipam};
use netlink::Netlink;

/// The bridge's default name, as the `bridge` CNI plugin's `cni0`.
pub const DEFAULT_BRIDGE: &str = "nodeos0";

/// The host end of a sandbox's veth pair: `veth` + the start of the sandbox id, within
/// IFNAMSIZ (15 characters), so it can be found again from the id alone after a restart.
pub fn host_veth_name(sandbox_id: &str) -> String {
    let tail: String = sandbox_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(11)
        .collect();
    format!("veth{tail}")
}

pub struct PodNetwork {
    pub bridge: String,
    pub cidr: Cidr,
    ipam: Ipam,
}

impl PodNetwork {
    /// Makes sure the bridge exists, holds the gateway address and is up. Blocking.
    pub fn setup(bridge: &str, cidr: Cidr, state_dir: PathBuf) -> io::Result<PodNetwork> {
        let ipam = Ipam::open(state_dir.join(cidr.to_string().replace('/', "_")), cidr)?;
        let mut nl = Netlink::open()?;
        let index = nl.ensure_bridge(bridge)?;
        nl.add_address(index, cidr.gateway(), cidr.prefix)?;
        nl.set_up(index, None)?;
        Ok(PodNetwork {
            bridge: bridge.to_string(),
            cidr,
            ipam,
        })
    }

    /// Gives the sandbox whose network namespace is pinned at `netns` its `eth0`, address and
    /// default route. Idempotent per sandbox id (a retried attach replaces a half-made one).
    /// Blocking.
    pub fn attach(&self, sandbox_id: &str, netns: &Path) -> io::Result<Ipv4Addr> {
        let result = self.attach_inner(sandbox_id, netns);
        if result.is_err() {
            let _ = self.detach(sandbox_id);
        }
        result
    }

    fn attach_inner(&self, sandbox_id: &str, netns: &Path) -> io::Result<Ipv4Addr> {
        let ip = self.ipam.allocate(sandbox_id)?;
        let host = host_veth_name(sandbox_id);
        let mut nl = Netlink::open()?;
        nl.delete_link(&host)?;
        let ns = std::fs::File::open(netns)?;
        let host_index = nl.add_veth(&host, "eth0", std::os::fd::AsRawFd::as_raw_fd(&ns))?;
        let bridge = nl
            .link_index(&self.bridge)?
            .ok_or_else(|| io::Error::other(format!("bridge {} is gone", self.bridge)))?;
        nl.set_up(host_index, Some(bridge))?;
        let (gateway, prefix) = (self.cidr.gateway(), self.cidr.prefix);
        netlink::in_netns(netns, move || {
            let mut nl = Netlink::open()?;
            let eth0 = nl
                .link_index("eth0")?
                .ok_or_else(|| io::Error::other("eth0 missing in the pod's namespace"))?;
            nl.add_address(eth0, ip, prefix)?;
            nl.set_up(eth0, None)?;
            nl.add_default_route(gateway, eth0)
        })?;
        Ok(ip)
    }

    /// Removes the sandbox's veth pair and releases its address. Idempotent. Blocking.
    pub fn detach(&self, sandbox_id: &str) -> io::Result<()> {
        Netlink::open()?.delete_link(&host_veth_name(sandbox_id))?;
        self.ipam.release(sandbox_id)
    }

    /// Releases addresses whose sandbox is gone (owners not in `live`), e.g. after a crash
    /// between a sandbox's removal and its address's release.
    pub fn release_all_but(&self, live: &std::collections::BTreeSet<String>) -> io::Result<()> {
        for (_, owner) in self.ipam.allocations()? {
            if !live.contains(&owner) {
                self.detach(&owner)?;
            }
        }
        Ok(())
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.cidr.gateway()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_fit_ifnamsiz_and_follow_the_sandbox_id() {
        let n = host_veth_name("0123456789abcdef0123456789abcdef");
        assert_eq!(n, "veth0123456789a");
        assert!(n.len() <= 15);
        assert_eq!(host_veth_name("ab-cd"), "vethabcd");
    }
}
