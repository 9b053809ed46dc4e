//! The node's own network: which kernel link each configured interface is (by MAC, else by
//! name), and what to put on it (MTU, static addresses, routes, DHCP). The plan is pure
//! ([`plan_config`], [`plan_ip_option`]); [`apply`] programs it over netlink.

use std::io;
use std::net::Ipv4Addr;

use node_config::cmdline::IpOption;
use node_config::{Interface, Network};

use crate::network::netlink::{Link, Netlink};

/// What to do to one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    pub link: Link,
    pub mtu: Option<u32>,
    pub addresses: Vec<(Ipv4Addr, u8)>,
    /// (destination, prefix length, gateway).
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    pub dhcp: bool,
}

/// `52:54:00:12:34:56` (any case) as bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    <[u8; 6]>::try_from(parts).ok()
}

/// The link a configured interface means: by hardware address when it gives one (names
/// depend on probe order and renaming), else by name.
pub fn match_link<'a>(ifc: &Interface, links: &'a [Link]) -> Option<&'a Link> {
    if let Some(mac) = ifc.mac.as_deref().and_then(parse_mac) {
        return links.iter().find(|l| l.mac == Some(mac));
    }
    let name = ifc.name.as_deref()?;
    links.iter().find(|l| l.name == name)
}

fn cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    node_config::parse_cidr(s)
}

/// The plan for the machine config's interfaces, and the interfaces (by index in the
/// config) that match no link yet.
pub fn plan_config(net: &Network, links: &[Link]) -> (Vec<LinkPlan>, Vec<usize>) {
    let mut plans = Vec::new();
    let mut missing = Vec::new();
    for (i, ifc) in net.interfaces.iter().enumerate() {
        let Some(link) = match_link(ifc, links) else {
            missing.push(i);
            continue;
        };
        plans.push(LinkPlan {
            link: link.clone(),
            mtu: ifc.mtu,
            // The config was validated: every address and route parses.
            addresses: ifc.addresses.iter().filter_map(|a| cidr(a)).collect(),
            routes: ifc
                .routes
                .iter()
                .filter_map(|r| cidr(&r.to).map(|(d, p)| (d, p, r.via)))
                .collect(),
            dhcp: ifc.dhcp,
        });
    }
    (plans, missing)
}

/// The plan for the kernel's `ip=` option: the named device, else the first link with a
/// hardware address (the kernel's own autoconfiguration also takes the first it finds).
pub fn plan_ip_option(ip: &IpOption, links: &[Link]) -> Option<LinkPlan> {
    let device = match ip {
        IpOption::Dhcp { device } | IpOption::Static { device, .. } => device.as_deref(),
    };
    let link = match device {
        Some(d) => links.iter().find(|l| l.name == d)?,
        None => links.iter().find(|l| !l.loopback && l.mac.is_some())?,
    };
    Some(match ip {
        IpOption::Dhcp { .. } => LinkPlan {
            link: link.clone(),
            mtu: None,
            addresses: Vec::new(),
            routes: Vec::new(),
            dhcp: true,
        },
        IpOption::Static {
            address,
            prefix_len,
            gateway,
            ..
        } => LinkPlan {
            link: link.clone(),
            mtu: None,
            addresses: vec![(*address, *prefix_len)],
            routes: gateway
                .iter()
                .map(|g| (Ipv4Addr::UNSPECIFIED, 0, *g))
                .collect(),
            dhcp: false,
        },
    })
}

/// The first static address of the plans: the node's InternalIP when it has one.
pub fn first_static_address(plans: &[LinkPlan]) -> Option<Ipv4Addr> {
    plans.iter().flat_map(|p| &p.addresses).map(|a| a.0).next()
}

/// Brings up loopback (the API server's own clients and the agent's join on a control machine
/// go through 127.0.0.1).
pub fn loopback_up(nl: &mut Netlink) -> io::Result<()> {
    let lo = nl
        .link_index("lo")?
        .ok_or_else(|| io::Error::other("there is no lo interface"))?;
    // The kernel adds 127.0.0.1/8 itself when lo comes up.
    nl.set_up(lo, None)
}

/// Programs one link's static part (MTU, up, addresses, routes); DHCP is the caller's.
pub fn apply(nl: &mut Netlink, p: &LinkPlan) -> io::Result<()> {
    let name = &p.link.name;
    let ctx = |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    if let Some(mtu) = p.mtu {
        nl.set_mtu(p.link.index, mtu)
            .map_err(ctx(format!("setting the MTU of {name} to {mtu}")))?;
    }
    nl.set_up(p.link.index, None)
        .map_err(ctx(format!("setting {name} up")))?;
    for (a, len) in &p.addresses {
        nl.add_address(p.link.index, *a, *len)
            .map_err(ctx(format!("adding {a}/{len} to {name}")))?;
    }
    for (d, len, via) in &p.routes {
        nl.add_route(*d, *len, *via, p.link.index)
            .map_err(ctx(format!(
                "adding the route to {d}/{len} via {via} on {name}"
            )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use node_config::Route;

    fn links() -> Vec<Link> {
        vec![
            Link {
                index: 1,
                name: "lo".into(),
                mac: None,
                loopback: true,
            },
            Link {
                index: 2,
                name: "eth0".into(),
                mac: Some([0x52, 0x54, 0, 0, 0, 0x11]),
                loopback: false,
            },
            Link {
                index: 3,
                name: "eth1".into(),
                mac: Some([0x52, 0x54, 0, 0, 0, 0x12]),
                loopback: false,
            },
        ]
    }

    #[test]
    fn interfaces_match_by_mac_before_name_and_mac_case_does_not_matter() {
        let l = links();
        let by_mac = Interface {
            mac: Some("52:54:00:00:00:12".into()),
            name: Some("eth0".into()),
            ..Default::default()
        };
        assert_eq!(match_link(&by_mac, &l).unwrap().name, "eth1");
        let upper = Interface {
            mac: Some("52:54:00:00:00:1A".into()),
            ..Default::default()
        };
        assert_eq!(match_link(&upper, &l), None);
        assert_eq!(
            parse_mac("52:54:00:00:00:1A"),
            Some([0x52, 0x54, 0, 0, 0, 0x1a])
        );
        let by_name = Interface {
            name: Some("eth0".into()),
            ..Default::default()
        };
        assert_eq!(match_link(&by_name, &l).unwrap().index, 2);
    }

    #[test]
    fn the_config_plan_carries_addresses_routes_and_reports_unmatched_interfaces() {
        let net = Network {
            interfaces: vec![
                Interface {
                    mac: Some("52:54:00:00:00:11".into()),
                    addresses: vec!["10.10.0.11/24".into()],
                    routes: vec![Route {
                        to: "0.0.0.0/0".into(),
                        via: "10.10.0.1".parse().unwrap(),
                    }],
                    mtu: Some(1400),
                    ..Default::default()
                },
                Interface {
                    name: Some("eth9".into()),
                    dhcp: true,
                    ..Default::default()
                },
            ],
            nameservers: vec![],
        };
        let (plans, missing) = plan_config(&net, &links());
        assert_eq!(missing, [1]);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].link.name, "eth0");
        assert_eq!(plans[0].mtu, Some(1400));
        assert_eq!(plans[0].addresses, [("10.10.0.11".parse().unwrap(), 24)]);
        assert_eq!(
            plans[0].routes,
            [(Ipv4Addr::UNSPECIFIED, 0, "10.10.0.1".parse().unwrap())]
        );
        assert_eq!(
            first_static_address(&plans),
            Some("10.10.0.11".parse().unwrap())
        );
    }

    #[test]
    fn the_ip_option_picks_its_device_or_the_first_ethernet_link() {
        let l = links();
        let p = plan_ip_option(&IpOption::Dhcp { device: None }, &l).unwrap();
        assert_eq!((p.link.name.as_str(), p.dhcp), ("eth0", true));
        let st = IpOption::parse("10.0.0.5::10.0.0.1:255.255.255.0::eth1:off").unwrap();
        let p = plan_ip_option(&st, &l).unwrap();
        assert_eq!(p.link.name, "eth1");
        assert_eq!(p.addresses, [("10.0.0.5".parse().unwrap(), 24)]);
        assert_eq!(p.routes[0].2, "10.0.0.1".parse::<Ipv4Addr>().unwrap());
        let absent = IpOption::Dhcp {
            device: Some("eth7".into()),
        };
        assert_eq!(plan_ip_option(&absent, &l), None);
    }
}
