//! Pod address management inside the node's podCIDR, as CNI's host-local plugin does it:
//! one file per allocated address, named by the address and holding the owner (the sandbox
//! id), so allocations survive agent restarts and a crash never hands one address out twice.
//! Choosing the next address is pure ([`next_free`]); the files are the only state.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CidrError {
    #[error("invalid IPv4 CIDR {0:?}")]
    Invalid(String),
    #[error("CIDR {0} is too small for pods (needs at least a /30)")]
    TooSmall(String),
}

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError::Invalid(s.to_string());
        let (ip, len) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let mask = Self::mask_of(prefix);
        let c = Cidr {
            network: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        };
        if prefix > 30 {
            return Err(CidrError::TooSmall(s.to_string()));
        }
        Ok(c)
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix) == u32::from(self.network)
    }

    /// The bridge's address, the first in the range: pods' default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// The addresses pods may get: all but the network, gateway and broadcast addresses.
    fn pod_range(&self) -> (u32, u32) {
        let first = u32::from(self.network) + 2;
        let last = u32::from(self.network) | !Self::mask_of(self.prefix);
        (first, last - 1)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The next free address after `last` (round robin, so a just-released address is not handed
/// out again at once), or None when the range is full.
pub fn next_free(
    cidr: &Cidr,
    used: &BTreeSet<Ipv4Addr>,
    last: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let (first, end) = cidr.pod_range();
    let start = last
        .map(u32::from)
        .filter(|l| (first..=end).contains(l))
        .map_or(first, |l| if l >= end { first } else { l + 1 });
    (start..=end)
        .chain(first..start)
        .map(Ipv4Addr::from)
        .find(|ip| !used.contains(ip))
}

/// The allocations of one podCIDR under a directory.
pub struct Ipam {
    pub dir: PathBuf,
    pub cidr: Cidr,
}

impl Ipam {
    pub fn open(dir: PathBuf, cidr: Cidr) -> io::Result<Ipam> {
        std::fs::create_dir_all(&dir)?;
        Ok(Ipam { dir, cidr })
    }

    /// (address, owner) of every allocation.
    pub fn allocations(&self) -> io::Result<Vec<(Ipv4Addr, String)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let Some(ip) = e.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            out.push((ip, std::fs::read_to_string(e.path())?.trim().to_string()));
        }
        Ok(out)
    }

    /// Allocates an address to `owner`, or returns the one it already has.
    pub fn allocate(&self, owner: &str) -> io::Result<Ipv4Addr> {
        let current = self.allocations()?;
        if let Some((ip, _)) = current
            .iter()
            .find(|(ip, o)| o == owner && self.cidr.contains(*ip))
        {
            return Ok(*ip);
        }
        let used: BTreeSet<Ipv4Addr> = current.iter().map(|(ip, _)| *ip).collect();
        let last_file = self.dir.join("last_reserved_ip");
        let last = std::fs::read_to_string(&last_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let mut tried = used;
        loop {
            let ip = next_free(&self.cidr, &tried, last).ok_or_else(|| {
                io::Error::other(format!("no free address left in podCIDR {}", self.cidr))
            })?;
            // create_new makes a concurrent allocation of the same address fail here.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.dir.join(ip.to_string()))
            {
                Ok(mut f) => {
                    f.write_all(owner.as_bytes())?;
                    f.sync_all()?;
                    std::fs::write(&last_file, ip.to_string())?;
                    return Ok(ip);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    tried.insert(ip);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Releases every address held by `owner`.
    pub fn release(&self, owner: &str) -> io::Result<()> {
        for (ip, o) in self.allocations()? {
            if o == owner {
                match std::fs::remove_file(self.dir.join(ip.to_string())) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_normalized_and_small_ones_refused() {
        let c = Cidr::parse("10.244.1.7/24").unwrap();
        assert_eq!(c.to_string(), "10.244.1.0/24");
        assert_eq!(c.gateway(), Ipv4Addr::new(10, 244, 1, 1));
        assert!(c.contains(Ipv4Addr::new(10, 244, 1, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 244, 2, 0)));
        assert!(matches!(
            Cidr::parse("10.0.0.0/31"),
            Err(CidrError::TooSmall(_))
        ));
        assert!(matches!(
            Cidr::parse("10.0.0/24"),
            Err(CidrError::Invalid(_))
        ));
        assert!(matches!(
            Cidr::parse("10.0.0.0/33"),
            Err(CidrError::Invalid(_))
        ));
    }

    #[test]
    fn addresses_go_round_robin_and_skip_gateway_broadcast_and_used_ones() {
        let c = Cidr::parse("10.0.0.0/29").unwrap(); // .2 ..= .6 for pods
        let ip = |n| Ipv4Addr::new(10, 0, 0, n);
        let mut used = BTreeSet::new();
        assert_eq!(next_free(&c, &used, None), Some(ip(2)));
        used.insert(ip(2));
        assert_eq!(next_free(&c, &used, Some(ip(2))), Some(ip(3)));
        assert_eq!(next_free(&c, &used, Some(ip(6))), Some(ip(3)));
        for n in 3..=6 {
            used.insert(ip(n));
        }
        assert_eq!(next_free(&c, &used, Some(ip(4))), None);
        used.remove(&ip(2));
        assert_eq!(next_free(&c, &used, Some(ip(4))), Some(ip(2)));
    }

    #[test]
    fn allocations_persist_per_owner_and_are_released() {
        let dir = tempfile::tempdir().unwrap();
        let ipam =
            Ipam::open(dir.path().join("ipam"), Cidr::parse("10.9.0.0/30").unwrap()).unwrap();
        let a = ipam.allocate("sandbox-a").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(
            ipam.allocate("sandbox-a").unwrap(),
            a,
            "idempotent per owner"
        );
        let err = ipam.allocate("sandbox-b").unwrap_err();
        assert!(err
            .to_string()
            .contains("no free address left in podCIDR 10.9.0.0/30"));
        ipam.release("sandbox-a").unwrap();
        assert_eq!(ipam.allocate("sandbox-b").unwrap(), a);
        let again = Ipam::open(dir.path().join("ipam"), ipam.cidr).unwrap();
        assert_eq!(
            again.allocations().unwrap(),
            vec![(a, "sandbox-b".to_string())]
        );
    }
}
