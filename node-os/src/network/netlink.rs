//! A small synchronous rtnetlink client: the handful of link, address and route requests the
//! pod network needs, over `netlink-sys` with messages from `netlink-packet-route`. It is
//! synchronous on purpose: requests that must run inside a pod's network namespace are made
//! from a thread that has entered it ([`in_netns`]), and a netlink socket belongs to the
//! namespace it was opened in.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;
use std::path::Path;

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::Socket;

pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// A network interface as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The hardware address, for links that have one (not loopback or tunnels).
    pub mac: Option<[u8; 6]>,
    pub loopback: bool,
}

fn eexist(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EEXIST)
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and collects the answers until the kernel's ACK, `DONE` or error.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0u8; req.header.length as usize];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut out = Vec::new();
        loop {
            let (bytes, _) = self.socket.recv_from_full()?;
            let mut off = 0;
            while off < bytes.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[off..])
                    .map_err(|e| io::Error::other(format!("bad netlink answer: {e}")))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq {
                    match msg.payload {
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(out),
                                Some(_) => Err(e.to_io()),
                            }
                        }
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::InnerMessage(m) => {
                            out.push(m);
                            // A dump ends with DONE, an acknowledged request with its ACK;
                            // anything else is answered by this one message.
                            if flags & (NLM_F_ACK | NLM_F_DUMP) == 0 {
                                return Ok(out);
                            }
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// The index of the link named `name`, None when there is none.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link of this network namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let msgs = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .filter_map(|l| {
                let name = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })?;
                let mac = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Address(b) if b.len() == 6 => <[u8; 6]>::try_from(&b[..]).ok(),
                    _ => None,
                });
                Some(Link {
                    index: l.header.index,
                    name,
                    mac: mac.filter(|m| m.iter().any(|&b| b != 0)),
                    loopback: l.header.link_layer_type == LinkLayerType::Loopback,
                })
            })
            .collect())
    }

    /// Sets a link's MTU.
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::Mtu(mtu));
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(drop)
    }

    /// Creates a bridge unless it exists; returns its index.
    pub fn ensure_bridge(&mut self, name: &str) -> io::Result<u32> {
        if let Some(i) = self.link_index(name)? {
            return Ok(i);
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => {}
            Err(e) if eexist(&e) => {}
            Err(e) => return Err(e),
        }
        self.link_index(name)?
            .ok_or_else(|| io::Error::other(format!("bridge {name} vanished after creation")))
    }

    /// Creates a veth pair whose `peer` end is created directly in the network namespace
    /// open at `netns_fd`.
    pub fn add_veth(&mut self, host: &str, peer: &str, netns_fd: RawFd) -> io::Result<u32> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::NetNsFd(netns_fd));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )?;
        self.link_index(host)?
            .ok_or_else(|| io::Error::other(format!("veth {host} vanished after creation")))
    }

    /// Sets a link up, and attaches it to a bridge when `controller` is given.
    pub fn set_up(&mut self, index: u32, controller: Option<u32>) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags |= LinkFlags::Up;
        m.header.change_mask |= LinkFlags::Up;
        if let Some(c) = controller {
            m.attributes.push(LinkAttribute::Controller(c));
        }
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(drop)
    }

    /// Deletes a link by name; a missing link is not an error.
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let Some(index) = self.link_index(name)? else {
            return Ok(());
        };
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(m), NLM_F_ACK) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Adds an IPv4 address with its prefix length; an address already there is fine.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if eexist(&e) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Removes an IPv4 address; one already gone is fine.
    pub fn delete_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        match self.request(RouteNetlinkMessage::DelAddress(m), NLM_F_ACK) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Adds the default route via `gateway` out of link `oif`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, oif: u32) -> io::Result<()> {
        self.add_route(Ipv4Addr::UNSPECIFIED, 0, gateway, oif)
    }

    /// Adds a route to `dest/prefix` via `gateway` out of link `oif`; an existing one is fine.
    pub fn add_route(
        &mut self,
        dest: Ipv4Addr,
        prefix: u8,
        gateway: Ipv4Addr,
        oif: u32,
    ) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.destination_prefix_length = prefix;
        if prefix > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(dest)));
        }
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(oif));
        match self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if eexist(&e) => Ok(()),
            r => r.map(drop),
        }
    }
}

/// Runs `f` on a fresh thread that has entered the network namespace pinned at `netns`, so
/// the caller's threads never change namespace. The thread ends with `f`.
pub fn in_netns<T: Send + 'static>(
    netns: &Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = std::fs::File::open(netns)?;
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(io::Error::from)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?
}
