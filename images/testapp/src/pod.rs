//! What the process can learn about its pod: hostname, IP and environment. The pod IP comes
//! from `POD_IP` (the downward API) when set, else from the kernel's table of local addresses
//! in `/proc/net/fib_trie`; nothing is sent on the network to find it.

use std::net::Ipv4Addr;

use crate::routes::Facts;

pub fn facts() -> Facts {
    Facts {
        hostname: hostname(),
        pod_ip: pod_ip().unwrap_or_else(|| "unknown".to_string()),
        env: sorted_env(),
    }
}

/// The UTS hostname (the pod name, in a pod).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

pub fn pod_ip() -> Option<String> {
    if let Some(ip) = std::env::var("POD_IP").ok().filter(|ip| !ip.is_empty()) {
        return Some(ip);
    }
    let trie = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    local_ipv4_addresses(&trie)
        .into_iter()
        .find(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string())
}

/// The local addresses in a `/proc/net/fib_trie` dump, in the order first listed: each is a
/// `|-- a.b.c.d` leaf followed by a `/32 host LOCAL` line.
pub fn local_ipv4_addresses(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            leaf = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = leaf {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// The environment, sorted by name; names or values that are not UTF-8 are shown lossily.
pub fn sorted_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    // As a pod's network namespace shows it: loopback, and the pod's veth with its /24.
    const FIB_TRIE: &str = "\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.244.1.0/24 2 0 2
        +-- 10.244.1.0/28 2 0 2
           |-- 10.244.1.0
              /24 link UNICAST
           |-- 10.244.1.7
              /32 host LOCAL
        |-- 10.244.1.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.244.1.7
        /32 host LOCAL
     |-- 127.0.0.1
        /32 host LOCAL
";

    #[test]
    fn local_addresses_come_from_host_local_leaves_once_each() {
        assert_eq!(
            local_ipv4_addresses(FIB_TRIE),
            vec![Ipv4Addr::new(10, 244, 1, 7), Ipv4Addr::new(127, 0, 0, 1)]
        );
        assert!(local_ipv4_addresses("").is_empty());
    }

    #[test]
    fn the_environment_is_sorted() {
        let env = sorted_env();
        assert!(env.windows(2).all(|w| w[0] <= w[1]));
    }
}
