//! The per-pod files a container sees at `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf`, and resolving an image's `User` against the image's own `/etc/passwd`
//! and `/etc/group`. Pure text in, text out.

use node_image::config::UserId;
use node_image::ImageUser;

/// `/etc/hosts` as the kubelet writes it for a pod with its own network namespace: loopback
/// entries, then the pod's address with its hostname (and FQDN under a subdomain).
pub fn hosts_file(pod_ip: Option<&str>, hostname: &str, fqdn: Option<&str>) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = pod_ip {
        match fqdn {
            Some(f) => s.push_str(&format!("{ip}\t{f}\t{hostname}\n")),
            None => s.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    s
}

/// `/etc/resolv.conf` from the pod's DNS settings; without any, the node's own file.
pub fn resolv_conf(
    servers: &[String],
    searches: &[String],
    options: &[String],
    host: &str,
) -> String {
    if servers.is_empty() && searches.is_empty() && options.is_empty() {
        return host.to_string();
    }
    let mut s = String::new();
    if !searches.is_empty() {
        s.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for n in servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// Resolves an image user to (uid, gid). A numeric user without a group takes its primary
/// group from `/etc/passwd` when listed there, else gid 0, as runc does. A name that is not
/// in the image's files is an error the kubelet shows as `CreateContainerConfigError`.
pub fn resolve_user(user: &ImageUser, passwd: &str, group: &str) -> Result<(u32, u32), String> {
    let entries = |text: &str| -> Vec<(String, u32, u32)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some((
                    f.first()?.to_string(),
                    f.get(2)?.parse().ok()?,
                    f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
                ))
            })
            .collect()
    };
    let users = entries(passwd);
    let groups = entries(group);
    let (uid, primary) = match &user.user {
        UserId::Id(n) => (
            *n,
            users
                .iter()
                .find(|(_, u, _)| u == n)
                .map(|(_, _, g)| *g)
                .unwrap_or(0),
        ),
        UserId::Name(name) => users
            .iter()
            .find(|(u, _, _)| u == name)
            .map(|(_, u, g)| (*u, *g))
            .ok_or_else(|| {
                format!("unable to find user {name}: no matching entries in passwd file")
            })?,
    };
    let gid = match &user.group {
        None => primary,
        Some(UserId::Id(g)) => *g,
        Some(UserId::Name(name)) => groups
            .iter()
            .find(|(g, _, _)| g == name)
            .map(|(_, g, _)| *g)
            .ok_or_else(|| {
                format!("unable to find group {name}: no matching entries in group file")
            })?,
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_names_the_pod_after_the_loopback_entries() {
        let h = hosts_file(
            Some("10.1.0.5"),
            "web-0",
            Some("web-0.web.default.svc.cluster.local"),
        );
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.0.5\tweb-0.web.default.svc.cluster.local\tweb-0\n"));
        assert!(!hosts_file(None, "x", None).contains("\tx\n"));
    }

    #[test]
    fn resolv_conf_falls_back_to_the_node_file_without_pod_settings() {
        assert_eq!(
            resolv_conf(&[], &[], &[], "nameserver 1.2.3.4\n"),
            "nameserver 1.2.3.4\n"
        );
        let r = resolv_conf(
            &["10.96.0.10".into()],
            &[
                "default.svc.cluster.local".into(),
                "svc.cluster.local".into(),
            ],
            &["ndots:5".into()],
            "",
        );
        assert_eq!(
            r,
            "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn users_resolve_by_name_or_number_against_the_image_files() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
        let group = "root:x:0:\nnogroup:x:65534:\nstaff:x:50:\n";
        let p = |s: &str| resolve_user(&ImageUser::parse(s).unwrap(), passwd, group);
        assert_eq!(p("nobody"), Ok((65534, 65534)));
        assert_eq!(p("65534"), Ok((65534, 65534)));
        assert_eq!(p("1000"), Ok((1000, 0)));
        assert_eq!(p("nobody:staff"), Ok((65534, 50)));
        assert_eq!(p("0:7"), Ok((0, 7)));
        assert!(p("ghost")
            .unwrap_err()
            .contains("unable to find user ghost"));
        assert!(p("root:ghosts")
            .unwrap_err()
            .contains("unable to find group ghosts"));
    }
}
