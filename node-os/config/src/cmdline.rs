//! The kernel command line as PID 1 reads it (`/proc/cmdline`): words separated by spaces,
//! double quotes grouping a value with spaces, `key=value` or a bare flag. The options this
//! project reads:
//!
//! - `nodeos.config=<source>`: where the machine config is (see [`crate::source`]);
//! - `nodeos.log=<filter>`: console log filter, over the config's `logLevel`;
//! - `ip=...`: the kernel's own static-address syntax
//!   (`<client>:<server>:<gateway>:<netmask>:<hostname>:<device>:<autoconf>`) or `ip=dhcp`,
//!   applied before the config is read (for a config fetched over the network).

use std::net::Ipv4Addr;

/// The words of a command line, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    words: Vec<(String, Option<String>)>,
}

impl Cmdline {
    pub fn parse(text: &str) -> Cmdline {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut any = false;
        for ch in text.chars() {
            match ch {
                '"' => {
                    quoted = !quoted;
                    any = true;
                }
                c if c.is_whitespace() && !quoted => {
                    if any {
                        words.push(std::mem::take(&mut cur));
                        any = false;
                    }
                }
                c => {
                    cur.push(c);
                    any = true;
                }
            }
        }
        if any {
            words.push(cur);
        }
        Cmdline {
            words: words
                .into_iter()
                .map(|w| match w.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (w, None),
                })
                .collect(),
        }
    }

    /// The value of the last `key=value` (the kernel's rule: later words win).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.words
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has_flag(&self, key: &str) -> bool {
        self.words.iter().any(|(k, v)| k == key && v.is_none())
    }

    /// The `ip=` option, if given and understood.
    pub fn ip(&self) -> Option<Result<IpOption, String>> {
        self.get("ip").map(IpOption::parse)
    }
}

/// The kernel's `ip=` option (Documentation/admin-guide/nfs/nfsroot.rst).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpOption {
    Dhcp {
        device: Option<String>,
    },
    Static {
        address: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
        hostname: Option<String>,
        device: Option<String>,
        dns: Vec<Ipv4Addr>,
    },
}

fn netmask_len(m: Ipv4Addr) -> Option<u8> {
    let v = u32::from(m);
    let len = v.leading_ones();
    (v.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

impl IpOption {
    pub fn parse(v: &str) -> Result<IpOption, String> {
        if matches!(v, "dhcp" | "on" | "any" | "both") {
            return Ok(IpOption::Dhcp { device: None });
        }
        let f: Vec<&str> = v.split(':').collect();
        let field = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
        let autoconf = field(6).unwrap_or("off");
        if field(0).is_none() || matches!(autoconf, "dhcp" | "on" | "any") {
            return Ok(IpOption::Dhcp {
                device: field(5).map(String::from),
            });
        }
        let ip = |i: usize, what: &str| -> Result<Option<Ipv4Addr>, String> {
            field(i)
                .map(|s| {
                    s.parse()
                        .map_err(|_| format!("ip=: {what} {s:?} is not an IPv4 address"))
                })
                .transpose()
        };
        let address = ip(0, "client address")?.expect("checked above");
        let prefix_len = match ip(3, "netmask")? {
            Some(m) => {
                netmask_len(m).ok_or_else(|| format!("ip=: netmask {m} is not contiguous"))?
            }
            None => 24,
        };
        Ok(IpOption::Static {
            address,
            prefix_len,
            gateway: ip(2, "gateway")?,
            hostname: field(4).map(String::from),
            device: field(5).map(String::from),
            dns: [ip(7, "dns0")?, ip(8, "dns1")?]
                .into_iter()
                .flatten()
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_later_values_win() {
        let c = Cmdline::parse(
            "console=ttyS0 quiet nodeos.log=\"node_os=debug,info\" nodeos.config=fwcfg nodeos.config=b64:eA==\n",
        );
        assert_eq!(c.get("console"), Some("ttyS0"));
        assert!(c.has_flag("quiet"));
        assert_eq!(c.get("nodeos.log"), Some("node_os=debug,info"));
        assert_eq!(c.get("nodeos.config"), Some("b64:eA=="));
        assert_eq!(c.get("missing"), None);
    }

    #[test]
    fn the_kernel_ip_option_in_its_static_and_dhcp_forms() {
        assert_eq!(
            IpOption::parse("10.10.0.5::10.10.0.1:255.255.255.0:w1:eth0:off:10.10.0.1").unwrap(),
            IpOption::Static {
                address: "10.10.0.5".parse().unwrap(),
                prefix_len: 24,
                gateway: Some("10.10.0.1".parse().unwrap()),
                hostname: Some("w1".into()),
                device: Some("eth0".into()),
                dns: vec!["10.10.0.1".parse().unwrap()],
            }
        );
        assert_eq!(
            IpOption::parse("dhcp").unwrap(),
            IpOption::Dhcp { device: None }
        );
        assert_eq!(
            IpOption::parse(":::::eth1:dhcp").unwrap(),
            IpOption::Dhcp {
                device: Some("eth1".into())
            }
        );
        assert!(IpOption::parse("10.0.0.300").is_err());
        assert!(IpOption::parse("10.0.0.3::10.0.0.1:255.0.255.0::eth0:off").is_err());
    }
}
