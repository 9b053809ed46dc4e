//! DHCPv4 messages on the wire (RFC 2131 section 2, options from RFC 2132): the fixed BOOTP
//! header, the magic cookie, then type-length-value options. Only the options a node needs
//! are decoded into fields; the rest are skipped.

use std::net::Ipv4Addr;

/// BOOTP operation codes.
pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;
/// The flag asking servers to broadcast their replies: the client has no address yet, so a
/// reply unicast to the offered address would be dropped by the kernel before it reaches the
/// client's socket.
pub const FLAG_BROADCAST: u16 = 0x8000;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// op .. file, before the cookie.
const FIXED_LEN: usize = 236;

mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_LIST: u8 = 55;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

impl MessageType {
    fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
        }
    }

    fn from_code(c: u8) -> Option<MessageType> {
        Some(match c {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }
}

/// One DHCP message, with the options this client reads or writes as fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub op: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    pub message_type: Option<MessageType>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub hostname: Option<String>,
    pub requested_ip: Option<Ipv4Addr>,
    pub lease_seconds: Option<u32>,
    pub server_id: Option<Ipv4Addr>,
    pub renewal_seconds: Option<u32>,
    pub rebinding_seconds: Option<u32>,
    /// Option 55, sent by clients.
    pub parameter_list: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("DHCP message too short ({0} bytes)")]
    TooShort(usize),
    #[error("not a DHCP message (no magic cookie)")]
    NoCookie,
    #[error("DHCP option {0} runs past the end of the message")]
    Truncated(u8),
}

impl Message {
    /// A client request with everything but the addresses and options empty.
    pub fn request(xid: u32, chaddr: [u8; 6], message_type: MessageType) -> Message {
        Message {
            op: BOOTREQUEST,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            message_type: Some(message_type),
            subnet_mask: None,
            routers: Vec::new(),
            dns: Vec::new(),
            hostname: None,
            requested_ip: None,
            lease_seconds: None,
            server_id: None,
            renewal_seconds: None,
            rebinding_seconds: None,
            parameter_list: Vec::new(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(300);
        b.extend_from_slice(&[self.op, 1, 6, 0]); // htype Ethernet, hlen 6, hops 0
        b.extend_from_slice(&self.xid.to_be_bytes());
        b.extend_from_slice(&self.secs.to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            b.extend_from_slice(&a.octets());
        }
        b.extend_from_slice(&self.chaddr);
        b.resize(FIXED_LEN, 0); // chaddr padding, sname, file
        b.extend_from_slice(&MAGIC_COOKIE);
        let mut put = |code: u8, value: &[u8]| {
            // Values here are at most a few addresses; longer would need splitting (RFC 3396).
            debug_assert!(value.len() <= 255);
            b.push(code);
            b.push(value.len() as u8);
            b.extend_from_slice(value);
        };
        if let Some(t) = self.message_type {
            put(opt::MESSAGE_TYPE, &[t.code()]);
        }
        if self.op == BOOTREQUEST {
            // Client identifier: hardware type 1 and the MAC, as most clients send it.
            let mut id = vec![1];
            id.extend_from_slice(&self.chaddr);
            put(opt::CLIENT_ID, &id);
            put(opt::MAX_MESSAGE_SIZE, &1500u16.to_be_bytes());
        }
        if let Some(a) = self.requested_ip {
            put(opt::REQUESTED_IP, &a.octets());
        }
        if let Some(a) = self.server_id {
            put(opt::SERVER_ID, &a.octets());
        }
        if let Some(m) = self.subnet_mask {
            put(opt::SUBNET_MASK, &m.octets());
        }
        for (code, list) in [(opt::ROUTER, &self.routers), (opt::DNS, &self.dns)] {
            if !list.is_empty() {
                let v: Vec<u8> = list.iter().flat_map(|a| a.octets()).collect();
                put(code, &v);
            }
        }
        for (code, v) in [
            (opt::LEASE_TIME, self.lease_seconds),
            (opt::RENEWAL_TIME, self.renewal_seconds),
            (opt::REBINDING_TIME, self.rebinding_seconds),
        ] {
            if let Some(v) = v {
                put(code, &v.to_be_bytes());
            }
        }
        if let Some(h) = &self.hostname {
            put(opt::HOSTNAME, h.as_bytes());
        }
        if !self.parameter_list.is_empty() {
            put(opt::PARAMETER_LIST, &self.parameter_list);
        }
        b.push(opt::END);
        // Some relays drop BOOTP messages under the historical minimum of 300 bytes.
        if b.len() < 300 {
            b.resize(300, opt::PAD);
        }
        b
    }

    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        if b.len() < FIXED_LEN + 4 {
            return Err(DecodeError::TooShort(b.len()));
        }
        if b[FIXED_LEN..FIXED_LEN + 4] != MAGIC_COOKIE {
            return Err(DecodeError::NoCookie);
        }
        let addr = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        let mut m = Message {
            op: b[0],
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            secs: u16::from_be_bytes([b[8], b[9]]),
            flags: u16::from_be_bytes([b[10], b[11]]),
            ciaddr: addr(12),
            yiaddr: addr(16),
            siaddr: addr(20),
            giaddr: addr(24),
            chaddr: [b[28], b[29], b[30], b[31], b[32], b[33]],
            ..Message::request(0, [0; 6], MessageType::Discover)
        };
        m.message_type = None;
        let mut i = FIXED_LEN + 4;
        while i < b.len() {
            let code = b[i];
            match code {
                opt::PAD => {
                    i += 1;
                    continue;
                }
                opt::END => break,
                _ => {}
            }
            let len = *b.get(i + 1).ok_or(DecodeError::Truncated(code))? as usize;
            let v = b
                .get(i + 2..i + 2 + len)
                .ok_or(DecodeError::Truncated(code))?;
            let one_addr = || (v.len() >= 4).then(|| Ipv4Addr::new(v[0], v[1], v[2], v[3]));
            let addrs = || {
                v.chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect::<Vec<_>>()
            };
            let secs = || (v.len() >= 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
            match code {
                opt::MESSAGE_TYPE => {
                    m.message_type = v.first().and_then(|&c| MessageType::from_code(c))
                }
                opt::SUBNET_MASK => m.subnet_mask = one_addr(),
                opt::ROUTER => m.routers = addrs(),
                opt::DNS => m.dns = addrs(),
                opt::HOSTNAME => m.hostname = std::str::from_utf8(v).ok().map(str::to_string),
                opt::REQUESTED_IP => m.requested_ip = one_addr(),
                opt::LEASE_TIME => m.lease_seconds = secs(),
                opt::SERVER_ID => m.server_id = one_addr(),
                opt::RENEWAL_TIME => m.renewal_seconds = secs(),
                opt::REBINDING_TIME => m.rebinding_seconds = secs(),
                opt::PARAMETER_LIST => m.parameter_list = v.to_vec(),
                _ => {}
            }
            i += 2 + len;
        }
        Ok(m)
    }

    /// The prefix length of the subnet mask, if the mask is contiguous.
    pub fn prefix_len(&self) -> Option<u8> {
        let v = u32::from(self.subnet_mask?);
        let len = v.leading_ones();
        (v.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
    }
}

/// The options a node asks for: mask, routers, resolvers, lease times.
pub const PARAMETERS: &[u8] = &[
    opt::SUBNET_MASK,
    opt::ROUTER,
    opt::DNS,
    opt::LEASE_TIME,
    opt::RENEWAL_TIME,
    opt::REBINDING_TIME,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_encodes_and_decodes_back_to_itself() {
        let mut m = Message::request(0xdead_beef, [0x52, 0x54, 0, 1, 2, 3], MessageType::Request);
        m.flags = FLAG_BROADCAST;
        m.requested_ip = Some(Ipv4Addr::new(10, 0, 2, 15));
        m.server_id = Some(Ipv4Addr::new(10, 0, 2, 2));
        m.hostname = Some("worker-1".into());
        m.parameter_list = PARAMETERS.to_vec();
        let bytes = m.encode();
        assert!(bytes.len() >= 300);
        assert_eq!(&bytes[236..240], &[99, 130, 83, 99]);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn an_offer_from_a_server_is_read_field_by_field() {
        // A reply as QEMU's user-mode network sends it, built by hand.
        let mut b = vec![0u8; 236];
        b[0] = BOOTREPLY;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&7u32.to_be_bytes());
        b[16..20].copy_from_slice(&[10, 0, 2, 15]);
        b[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        b.extend_from_slice(&[99, 130, 83, 99]);
        b.extend_from_slice(&[53, 1, 2]); // OFFER
        b.extend_from_slice(&[0, 0]); // padding in the middle
        b.extend_from_slice(&[54, 4, 10, 0, 2, 2]);
        b.extend_from_slice(&[51, 4, 0, 1, 0x51, 0x80]); // 86400 s
        b.extend_from_slice(&[1, 4, 255, 255, 255, 0]);
        b.extend_from_slice(&[3, 4, 10, 0, 2, 2]);
        b.extend_from_slice(&[6, 8, 10, 0, 2, 3, 10, 0, 2, 4]);
        b.extend_from_slice(&[250, 2, 1, 2]); // unknown option, skipped
        b.push(255);
        let m = Message::decode(&b).unwrap();
        assert_eq!(m.op, BOOTREPLY);
        assert_eq!(m.xid, 7);
        assert_eq!(m.message_type, Some(MessageType::Offer));
        assert_eq!(m.yiaddr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(m.server_id, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(m.lease_seconds, Some(86400));
        assert_eq!(m.prefix_len(), Some(24));
        assert_eq!(m.routers, [Ipv4Addr::new(10, 0, 2, 2)]);
        assert_eq!(
            m.dns,
            [Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(10, 0, 2, 4)]
        );
    }

    #[test]
    fn malformed_messages_are_refused_not_misread() {
        assert_eq!(Message::decode(&[0; 10]), Err(DecodeError::TooShort(10)));
        assert_eq!(Message::decode(&[0; 300]), Err(DecodeError::NoCookie));
        let mut b = vec![0u8; 236];
        b.extend_from_slice(&[99, 130, 83, 99, 6, 8, 1, 2]);
        assert_eq!(Message::decode(&b), Err(DecodeError::Truncated(6)));
    }
}
