//! DHCPv4 for the interfaces the machine config marks `dhcp: true` (and `ip=dhcp`). The
//! message format ([`codec`]) and the client's state machine ([`client`]) are pure; this file
//! is the thin IO: a UDP socket bound to port 68 on one interface, and netlink to apply or
//! remove the lease's address and default route.
//!
//! A plain UDP socket suffices because every request sets the BROADCAST flag, so servers
//! answer to 255.255.255.255, which the kernel delivers to a socket bound to the interface
//! even before it holds an address (QEMU's user network always broadcasts its replies).

pub mod client;
pub mod codec;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

use client::{Client, Dest, Lease, Output};
use codec::Message;

use crate::network::netlink::{Link, Netlink};

const CLIENT_PORT: u16 = 68;
const SERVER_PORT: u16 = 67;

/// A UDP socket on port 68 of one interface, allowed to broadcast. Several interfaces may
/// each have one (SO_REUSEADDR), since SO_BINDTODEVICE keeps their traffic apart.
fn open_socket(ifname: &str) -> io::Result<UdpSocket> {
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: socket(2) takes no pointers; the returned descriptor is owned by the UdpSocket
    // made from it below (or closed on the error paths by that same UdpSocket's drop).
    let fd = check(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_UDP,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let sock = unsafe { UdpSocket::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    for opt in [libc::SO_REUSEADDR, libc::SO_BROADCAST] {
        // SAFETY: the option value points at a live c_int and its size is passed with it.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
    }
    // SAFETY: the value is the interface name's bytes, and its exact length is passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_ptr().cast(),
            ifname.len() as libc::socklen_t,
        )
    })
    .map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("binding the DHCP socket to {ifname}: {e}"),
        )
    })?;
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: CLIENT_PORT.to_be(),
        sin_addr: libc::in_addr { s_addr: 0 },
        sin_zero: [0; 8],
    };
    // SAFETY: `addr` is a valid sockaddr_in and its size is passed with it.
    check(unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })
    .map_err(|e| io::Error::new(e.kind(), format!("binding 0.0.0.0:68 on {ifname}: {e}")))?;
    Ok(sock)
}

fn random_u32() -> u32 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    // A failing system RNG leaves the seed at zero: transaction ids then only risk clashing
    // with another such client, which the MAC check still tells apart.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u32::from_be_bytes(b)
}

/// One interface's DHCP client with its socket.
pub struct Dhcp {
    link: Link,
    client: Client,
    socket: UdpSocket,
}

impl Dhcp {
    pub fn new(link: Link, hostname: Option<String>) -> io::Result<Dhcp> {
        let mac = link.mac.ok_or_else(|| {
            io::Error::other(format!("{} has no hardware address for DHCP", link.name))
        })?;
        let socket = open_socket(&link.name)?;
        Ok(Dhcp {
            client: Client::new(mac, hostname, random_u32()),
            link,
            socket,
        })
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Runs the client until it holds a lease (applied to the interface) or `timeout` passes.
    pub fn acquire(&mut self, timeout: Duration) -> io::Result<Lease> {
        let give_up = Instant::now() + timeout;
        let out = self.client.start(Instant::now());
        self.act(out)?;
        loop {
            if let Some(l) = self.client.lease() {
                return Ok(l.clone());
            }
            if Instant::now() >= give_up {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no DHCP lease on {} within {timeout:?}", self.link.name),
                ));
            }
            self.step(Some(give_up))?;
        }
    }

    /// Keeps the lease renewed for as long as the machine runs (on its own thread).
    pub fn maintain(mut self) {
        loop {
            if self.client.deadline().is_none() {
                let out = self.client.start(Instant::now());
                if let Err(e) = self.act(out) {
                    tracing::warn!(interface = %self.link.name, "DHCP: {e}");
                }
            }
            if let Err(e) = self.step(None) {
                tracing::warn!(interface = %self.link.name, "DHCP: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }

    /// Waits for one message or the client's next deadline (or `limit`), then acts.
    fn step(&mut self, limit: Option<Instant>) -> io::Result<()> {
        let now = Instant::now();
        let wake = match (self.client.deadline(), limit) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(now + Duration::from_secs(60)),
        };
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(10));
        self.socket.set_read_timeout(Some(wait))?;
        let mut buf = [0u8; 1500];
        let out = match self.socket.recv_from(&mut buf) {
            Ok((n, _)) => match Message::decode(&buf[..n]) {
                Ok(m) => self.client.handle(&m, Instant::now()),
                Err(e) => {
                    tracing::debug!(interface = %self.link.name, "DHCP: ignoring a packet: {e}");
                    Vec::new()
                }
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.client.tick(Instant::now())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Vec::new(),
            Err(e) => return Err(e),
        };
        self.act(out)
    }

    fn act(&mut self, out: Vec<Output>) -> io::Result<()> {
        for o in out {
            match o {
                Output::Send(m, dest) => {
                    let to = match dest {
                        Dest::Broadcast => Ipv4Addr::BROADCAST,
                        Dest::Server(ip) => ip,
                    };
                    self.socket
                        .send_to(&m.encode(), SocketAddrV4::new(to, SERVER_PORT))
                        .map_err(|e| {
                            io::Error::new(
                                e.kind(),
                                format!("sending a DHCP message on {}: {e}", self.link.name),
                            )
                        })?;
                }
                Output::Bound(l) => {
                    apply(&self.link, &l)?;
                    tracing::info!(
                        interface = %self.link.name, address = %l.address, prefix = l.prefix_len,
                        lease_seconds = l.duration.as_secs(), "DHCP lease bound"
                    );
                }
                Output::Lost(l) => {
                    tracing::warn!(interface = %self.link.name, address = %l.address, "DHCP lease lost");
                    Netlink::open()?.delete_address(self.link.index, l.address, l.prefix_len)?;
                }
            }
        }
        Ok(())
    }
}

/// Puts a lease's address and default route on the interface (both idempotent).
fn apply(link: &Link, l: &Lease) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    nl.add_address(link.index, l.address, l.prefix_len)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "adding {}/{} to {}: {e}",
                    l.address, l.prefix_len, link.name
                ),
            )
        })?;
    if let Some(gw) = l.routers.first() {
        nl.add_default_route(*gw, link.index).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("adding the default route via {gw} on {}: {e}", link.name),
            )
        })?;
    }
    Ok(())
}
