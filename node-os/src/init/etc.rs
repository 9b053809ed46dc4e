//! The few files in `/etc` that programs and libraries read: resolv.conf, hosts, os-release
//! and machine-id. Their contents are rendered here from what PID 1 knows (pure); `/etc` is
//! part of the initramfs' tmpfs, so they are written fresh on every boot.

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::Path;

/// resolv.conf: the configured resolvers, then DHCP's, each once (glibc reads at most 3).
pub fn resolv_conf(configured: &[Ipv4Addr], from_dhcp: &[Ipv4Addr]) -> String {
    let mut seen: Vec<Ipv4Addr> = Vec::new();
    for a in configured.iter().chain(from_dhcp) {
        if !seen.contains(a) {
            seen.push(*a);
        }
    }
    let mut s = String::from("# written by node-os at boot\n");
    for a in seen {
        let _ = writeln!(s, "nameserver {a}");
    }
    s
}

/// hosts: localhost, and the hostname on the node's address (or loopback without one).
pub fn hosts(hostname: &str, node_ip: Option<Ipv4Addr>) -> String {
    let ip = node_ip.unwrap_or(Ipv4Addr::new(127, 0, 1, 1));
    format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{hostname}\n")
}

/// os-release, which the kubelet reports as the Node's osImage.
pub fn os_release(version: &str) -> String {
    format!(
        "NAME=\"node-os\"\nID=node-os\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"node-os {version}\"\n"
    )
}

/// A machine id (32 lowercase hex digits) from 16 random bytes.
pub fn machine_id(random: [u8; 16]) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_machine_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The machine id kept on the state disk (so it survives reboots), made on first boot.
pub fn ensure_machine_id(saved: &Path) -> std::io::Result<String> {
    if let Ok(s) = std::fs::read_to_string(saved) {
        if is_machine_id(s.trim()) {
            return Ok(s.trim().to_string());
        }
    }
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| std::io::Error::other("the kernel's random generator failed"))?;
    let id = machine_id(b);
    if let Some(d) = saved.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(saved, format!("{id}\n"))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_are_listed_once_configured_first() {
        let a: Ipv4Addr = "10.0.0.53".parse().unwrap();
        let b: Ipv4Addr = "10.0.2.3".parse().unwrap();
        assert_eq!(
            resolv_conf(&[a], &[b, a]),
            "# written by node-os at boot\nnameserver 10.0.0.53\nnameserver 10.0.2.3\n"
        );
    }

    #[test]
    fn hosts_names_the_machine_on_its_address() {
        let h = hosts("w1", Some("10.0.0.5".parse().unwrap()));
        assert!(h.contains("10.0.0.5\tw1\n"));
        assert!(hosts("w1", None).contains("127.0.1.1\tw1\n"));
    }

    #[test]
    fn machine_ids_are_32_lowercase_hex_digits() {
        let id = machine_id([0xab; 16]);
        assert_eq!(id.len(), 32);
        assert!(is_machine_id(&id));
        assert!(!is_machine_id("ABABABABABABABABABABABABABABABAB"));
        assert!(os_release("0.1.0").contains("PRETTY_NAME=\"node-os 0.1.0\""));
    }
}
