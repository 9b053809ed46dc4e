//! The DHCPv4 client's state machine (RFC 2131 section 4.4, figure 5), without sockets or
//! clocks: messages and the current time go in, messages to send and lease changes come out.
//! INIT → SELECTING (DISCOVER) → REQUESTING (REQUEST for the first OFFER) → BOUND; at T1
//! RENEWING (unicast REQUEST to the server), at T2 REBINDING (broadcast), at expiry back to
//! INIT with the lease lost. A NAK at any point also starts over.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::codec::{Message, MessageType, BOOTREPLY, FLAG_BROADCAST, PARAMETERS};

/// An address the server leased to us, with what came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub server_id: Ipv4Addr,
    pub duration: Duration,
    /// When to start renewing (T1) and rebinding (T2), from `acquired`.
    pub renew_after: Duration,
    pub rebind_after: Duration,
    pub acquired: Instant,
}

impl Lease {
    fn renew_at(&self) -> Instant {
        self.acquired + self.renew_after
    }
    fn rebind_at(&self) -> Instant {
        self.acquired + self.rebind_after
    }
    fn expires_at(&self) -> Instant {
        self.acquired + self.duration
    }
}

/// Where a message goes: broadcast while we have no usable lease, unicast to the server when
/// renewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Broadcast,
    Server(Ipv4Addr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send(Message, Dest),
    /// A lease was acquired or renewed: apply it (idempotently).
    Bound(Lease),
    /// The lease is gone (expired or refused): remove its address and routes.
    Lost(Lease),
}

#[derive(Debug, Clone)]
enum State {
    Init,
    Selecting {
        xid: u32,
        attempt: u32,
        resend_at: Instant,
    },
    Requesting {
        xid: u32,
        offer: Message,
        attempt: u32,
        resend_at: Instant,
    },
    Bound {
        lease: Lease,
    },
    Renewing {
        lease: Lease,
        xid: u32,
        resend_at: Instant,
    },
    Rebinding {
        lease: Lease,
        xid: u32,
        resend_at: Instant,
    },
}

/// How many REQUESTs for an offer go unanswered before the client starts over.
const REQUEST_ATTEMPTS: u32 = 4;

/// Retransmission delay while acquiring: 1, 2, 4, 8, then 16 s (RFC 2131 suggests starting at
/// 4 s; a booting node is better served by trying sooner on a lost first packet).
pub fn retransmit_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(4))
}

/// Renewal retransmission (RFC 2131 4.4.5): half the time left to `until`, at least 10 s.
fn renew_delay(now: Instant, until: Instant) -> Duration {
    (until.saturating_duration_since(now) / 2).max(Duration::from_secs(10))
}

pub struct Client {
    mac: [u8; 6],
    hostname: Option<String>,
    state: State,
    next_xid: u32,
}

impl Client {
    /// `xid_seed` should be random, so that clients on one segment do not take each other's
    /// answers.
    pub fn new(mac: [u8; 6], hostname: Option<String>, xid_seed: u32) -> Client {
        Client {
            mac,
            hostname,
            state: State::Init,
            next_xid: xid_seed,
        }
    }

    fn xid(&mut self) -> u32 {
        self.next_xid = self.next_xid.wrapping_add(1);
        self.next_xid
    }

    fn message(&self, xid: u32, t: MessageType) -> Message {
        let mut m = Message::request(xid, self.mac, t);
        m.hostname = self.hostname.clone();
        m.parameter_list = PARAMETERS.to_vec();
        m
    }

    /// The lease held now (also while renewing or rebinding it).
    pub fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound { lease }
            | State::Renewing { lease, .. }
            | State::Rebinding { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// When [`Client::tick`] next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Init => None,
            State::Selecting { resend_at, .. } | State::Requesting { resend_at, .. } => {
                Some(*resend_at)
            }
            State::Bound { lease } => Some(lease.renew_at()),
            State::Renewing {
                lease, resend_at, ..
            } => Some((*resend_at).min(lease.rebind_at())),
            State::Rebinding {
                lease, resend_at, ..
            } => Some((*resend_at).min(lease.expires_at())),
        }
    }

    /// Starts acquiring a lease (from INIT): a broadcast DISCOVER.
    pub fn start(&mut self, now: Instant) -> Vec<Output> {
        let xid = self.xid();
        self.state = State::Selecting {
            xid,
            attempt: 0,
            resend_at: now + retransmit_delay(0),
        };
        vec![self.discover(xid)]
    }

    fn discover(&self, xid: u32) -> Output {
        let mut m = self.message(xid, MessageType::Discover);
        m.flags = FLAG_BROADCAST;
        Output::Send(m, Dest::Broadcast)
    }

    fn select_request(&self, xid: u32, offer: &Message) -> Output {
        let mut m = self.message(xid, MessageType::Request);
        m.flags = FLAG_BROADCAST;
        m.requested_ip = Some(offer.yiaddr);
        m.server_id = offer.server_id;
        Output::Send(m, Dest::Broadcast)
    }

    fn renew_request(&self, xid: u32, lease: &Lease, dest: Dest) -> Output {
        // RENEWING and REBINDING: ciaddr carries the address, no requested IP or server id.
        let mut m = self.message(xid, MessageType::Request);
        m.ciaddr = lease.address;
        Output::Send(m, dest)
    }

    /// Handles an incoming message; messages for other transactions or clients are ignored.
    pub fn handle(&mut self, msg: &Message, now: Instant) -> Vec<Output> {
        if msg.op != BOOTREPLY || msg.chaddr != self.mac {
            return Vec::new();
        }
        let state = std::mem::replace(&mut self.state, State::Init);
        let (state, out) = self.transition(state, msg, now);
        self.state = state;
        out
    }

    fn transition(&mut self, state: State, msg: &Message, now: Instant) -> (State, Vec<Output>) {
        match (state, msg.message_type) {
            (State::Selecting { xid, .. }, Some(MessageType::Offer))
                if msg.xid == xid && !msg.yiaddr.is_unspecified() && msg.server_id.is_some() =>
            {
                let out = self.select_request(xid, msg);
                (
                    State::Requesting {
                        xid,
                        offer: msg.clone(),
                        attempt: 0,
                        resend_at: now + retransmit_delay(0),
                    },
                    vec![out],
                )
            }
            (State::Requesting { xid, offer, .. }, Some(MessageType::Ack))
                if msg.xid == xid && msg.yiaddr == offer.yiaddr =>
            {
                let lease = lease_from_ack(msg, offer.server_id, now);
                (
                    State::Bound {
                        lease: lease.clone(),
                    },
                    vec![Output::Bound(lease)],
                )
            }
            (
                State::Renewing {
                    lease: old, xid, ..
                }
                | State::Rebinding {
                    lease: old, xid, ..
                },
                Some(MessageType::Ack),
            ) if msg.xid == xid => {
                let lease = lease_from_ack(msg, Some(old.server_id), now);
                let mut out = Vec::new();
                if lease.address != old.address || lease.prefix_len != old.prefix_len {
                    out.push(Output::Lost(old));
                }
                out.push(Output::Bound(lease.clone()));
                (State::Bound { lease }, out)
            }
            (State::Requesting { xid, .. }, Some(MessageType::Nak)) if msg.xid == xid => {
                self.restart(None, now)
            }
            (
                State::Renewing { lease, xid, .. } | State::Rebinding { lease, xid, .. },
                Some(MessageType::Nak),
            ) if msg.xid == xid => self.restart(Some(lease), now),
            (state, _) => (state, Vec::new()),
        }
    }

    /// Drops any lease and starts a new DISCOVER; returns the SELECTING state for the
    /// caller to store.
    fn restart(&mut self, lost: Option<Lease>, now: Instant) -> (State, Vec<Output>) {
        let mut out: Vec<Output> = lost.into_iter().map(Output::Lost).collect();
        out.extend(self.start(now));
        (std::mem::replace(&mut self.state, State::Init), out)
    }

    /// Acts on timers: retransmissions, T1, T2 and expiry.
    pub fn tick(&mut self, now: Instant) -> Vec<Output> {
        if self.deadline().is_none_or(|d| now < d) {
            return Vec::new();
        }
        let state = std::mem::replace(&mut self.state, State::Init);
        match state {
            State::Init => Vec::new(),
            State::Selecting { xid, attempt, .. } => {
                let attempt = attempt + 1;
                self.state = State::Selecting {
                    xid,
                    attempt,
                    resend_at: now + retransmit_delay(attempt),
                };
                vec![self.discover(xid)]
            }
            State::Requesting {
                xid,
                offer,
                attempt,
                ..
            } => {
                let attempt = attempt + 1;
                if attempt >= REQUEST_ATTEMPTS {
                    return self.start(now);
                }
                let out = self.select_request(xid, &offer);
                self.state = State::Requesting {
                    xid,
                    offer,
                    attempt,
                    resend_at: now + retransmit_delay(attempt),
                };
                vec![out]
            }
            State::Bound { lease } => {
                let xid = self.xid();
                let out = self.renew_request(xid, &lease, Dest::Server(lease.server_id));
                self.state = State::Renewing {
                    resend_at: now + renew_delay(now, lease.rebind_at()),
                    lease,
                    xid,
                };
                vec![out]
            }
            State::Renewing { lease, xid, .. } => {
                if now >= lease.rebind_at() {
                    let xid = self.xid();
                    let out = self.renew_request(xid, &lease, Dest::Broadcast);
                    self.state = State::Rebinding {
                        resend_at: now + renew_delay(now, lease.expires_at()),
                        lease,
                        xid,
                    };
                    vec![out]
                } else {
                    let out = self.renew_request(xid, &lease, Dest::Server(lease.server_id));
                    self.state = State::Renewing {
                        resend_at: now + renew_delay(now, lease.rebind_at()),
                        lease,
                        xid,
                    };
                    vec![out]
                }
            }
            State::Rebinding { lease, xid, .. } => {
                if now >= lease.expires_at() {
                    let mut out = vec![Output::Lost(lease)];
                    out.extend(self.start(now));
                    out
                } else {
                    let out = self.renew_request(xid, &lease, Dest::Broadcast);
                    self.state = State::Rebinding {
                        resend_at: now + renew_delay(now, lease.expires_at()),
                        lease,
                        xid,
                    };
                    vec![out]
                }
            }
        }
    }
}

/// The lease an ACK grants. Without a lease time the server means "infinite"; a day is used,
/// renewed like any other. Without T1/T2 the RFC's defaults apply (0.5 and 0.875).
fn lease_from_ack(ack: &Message, server_id: Option<Ipv4Addr>, now: Instant) -> Lease {
    let duration = Duration::from_secs(ack.lease_seconds.unwrap_or(86_400).max(10) as u64);
    let t1 = ack
        .renewal_seconds
        .map(|s| Duration::from_secs(s as u64))
        .filter(|t| *t < duration)
        .unwrap_or(duration / 2);
    let t2 = ack
        .rebinding_seconds
        .map(|s| Duration::from_secs(s as u64))
        .filter(|t| *t < duration && *t >= t1)
        .unwrap_or(duration * 7 / 8)
        .max(t1);
    Lease {
        address: ack.yiaddr,
        prefix_len: ack.prefix_len().unwrap_or(24),
        routers: ack.routers.clone(),
        dns: ack.dns.clone(),
        server_id: ack.server_id.or(server_id).unwrap_or(Ipv4Addr::UNSPECIFIED),
        duration,
        renew_after: t1,
        rebind_after: t2,
        acquired: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
    const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);

    fn reply(xid: u32, t: MessageType, yiaddr: Ipv4Addr, lease: u32) -> Message {
        let mut m = Message::request(xid, MAC, t);
        m.op = BOOTREPLY;
        m.yiaddr = yiaddr;
        m.server_id = Some(SERVER);
        m.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
        m.routers = vec![SERVER];
        m.dns = vec![Ipv4Addr::new(10, 0, 2, 3)];
        m.lease_seconds = Some(lease);
        m
    }

    fn sent(out: &[Output]) -> (&Message, Dest) {
        match out.last() {
            Some(Output::Send(m, d)) => (m, *d),
            other => panic!("expected a message to send, got {other:?}"),
        }
    }

    /// Runs DISCOVER/OFFER/REQUEST/ACK and returns the bound client and time.
    fn bound(lease_secs: u32) -> (Client, Instant) {
        let t0 = Instant::now();
        let mut c = Client::new(MAC, Some("w1".into()), 100);
        let out = c.start(t0);
        let (d, dest) = sent(&out);
        assert_eq!(d.message_type, Some(MessageType::Discover));
        assert_eq!(dest, Dest::Broadcast);
        assert_eq!(d.flags, FLAG_BROADCAST);
        let out = c.handle(&reply(d.xid, MessageType::Offer, ADDR, lease_secs), t0);
        let (r, _) = sent(&out);
        assert_eq!(r.message_type, Some(MessageType::Request));
        assert_eq!(r.requested_ip, Some(ADDR));
        assert_eq!(r.server_id, Some(SERVER));
        let out = c.handle(&reply(r.xid, MessageType::Ack, ADDR, lease_secs), t0);
        match &out[..] {
            [Output::Bound(l)] => {
                assert_eq!(l.address, ADDR);
                assert_eq!(l.prefix_len, 24);
                assert_eq!(l.routers, [SERVER]);
            }
            other => panic!("{other:?}"),
        }
        (c, t0)
    }

    #[test]
    fn discover_offer_request_ack_binds_the_offered_address() {
        let (c, t0) = bound(3600);
        assert_eq!(c.lease().unwrap().address, ADDR);
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(1800)));
    }

    #[test]
    fn replies_for_another_transaction_or_client_are_ignored() {
        let t0 = Instant::now();
        let mut c = Client::new(MAC, None, 5);
        let out = c.start(t0);
        let xid = sent(&out).0.xid;
        assert!(c
            .handle(&reply(xid + 1, MessageType::Offer, ADDR, 60), t0)
            .is_empty());
        let mut other = reply(xid, MessageType::Offer, ADDR, 60);
        other.chaddr = [1; 6];
        assert!(c.handle(&other, t0).is_empty());
        assert!(c.lease().is_none());
    }

    #[test]
    fn an_unanswered_discover_is_resent_with_growing_delays() {
        let t0 = Instant::now();
        let mut c = Client::new(MAC, None, 5);
        c.start(t0);
        let mut t = t0;
        let mut delays = Vec::new();
        for _ in 0..6 {
            let d = c.deadline().unwrap();
            delays.push((d - t).as_secs());
            t = d;
            let out = c.tick(t);
            assert_eq!(sent(&out).0.message_type, Some(MessageType::Discover));
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 16]);
        // Nothing happens before the deadline.
        assert!(c.tick(t).is_empty());
    }

    #[test]
    fn an_unanswered_request_starts_over_with_a_discover() {
        let t0 = Instant::now();
        let mut c = Client::new(MAC, None, 5);
        let out = c.start(t0);
        let xid = sent(&out).0.xid;
        c.handle(&reply(xid, MessageType::Offer, ADDR, 60), t0);
        let mut last = None;
        for _ in 0..REQUEST_ATTEMPTS {
            let out = c.tick(c.deadline().unwrap());
            last = Some(sent(&out).0.message_type);
        }
        assert_eq!(last, Some(Some(MessageType::Discover)));
    }

    #[test]
    fn a_bound_lease_is_renewed_by_unicast_at_t1_and_kept_on_ack() {
        let (mut c, t0) = bound(100);
        let t1 = t0 + Duration::from_secs(50);
        let out = c.tick(t1);
        let (m, dest) = sent(&out);
        assert_eq!(dest, Dest::Server(SERVER));
        assert_eq!(m.ciaddr, ADDR);
        assert_eq!(m.requested_ip, None);
        let out = c.handle(&reply(m.xid, MessageType::Ack, ADDR, 100), t1);
        assert!(matches!(&out[..], [Output::Bound(l)] if l.acquired == t1));
        assert_eq!(c.deadline(), Some(t1 + Duration::from_secs(50)));
    }

    #[test]
    fn an_unrenewed_lease_rebinds_by_broadcast_at_t2_and_is_lost_at_expiry() {
        let (mut c, t0) = bound(800);
        let out = c.tick(t0 + Duration::from_secs(400));
        assert_eq!(sent(&out).1, Dest::Server(SERVER));
        let out = c.tick(t0 + Duration::from_secs(700));
        assert_eq!(sent(&out).1, Dest::Broadcast);
        let out = c.tick(t0 + Duration::from_secs(800));
        assert!(matches!(&out[0], Output::Lost(l) if l.address == ADDR));
        assert_eq!(sent(&out).0.message_type, Some(MessageType::Discover));
        assert!(c.lease().is_none());
    }

    #[test]
    fn a_nak_while_renewing_drops_the_lease_and_starts_over() {
        let (mut c, t0) = bound(100);
        let out = c.tick(t0 + Duration::from_secs(50));
        let xid = sent(&out).0.xid;
        let out = c.handle(
            &reply(xid, MessageType::Nak, Ipv4Addr::UNSPECIFIED, 0),
            t0 + Duration::from_secs(51),
        );
        assert!(matches!(&out[0], Output::Lost(_)));
        assert_eq!(sent(&out).0.message_type, Some(MessageType::Discover));
        assert!(c.deadline().is_some(), "the new DISCOVER is retransmitted");
    }

    #[test]
    fn lease_times_default_to_the_rfc_fractions() {
        let mut ack = reply(1, MessageType::Ack, ADDR, 1000);
        let t = Instant::now();
        let l = lease_from_ack(&ack, None, t);
        assert_eq!(l.renew_after, Duration::from_secs(500));
        assert_eq!(l.rebind_after, Duration::from_secs(875));
        ack.renewal_seconds = Some(300);
        ack.rebinding_seconds = Some(600);
        let l = lease_from_ack(&ack, None, t);
        assert_eq!(
            (l.renew_after, l.rebind_after),
            (Duration::from_secs(300), Duration::from_secs(600))
        );
    }
}
