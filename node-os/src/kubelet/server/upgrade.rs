//! Which streaming protocol an upgrade request asks for, and the answer to it (pure). Clients
//! name the protocols they speak in order of preference: `Sec-WebSocket-Protocol` for
//! WebSocket, `X-Stream-Protocol-Version` for SPDY; the first one the server also speaks wins,
//! as apimachinery's `httpstream.Handshake` and `wsstream`'s handshake pick.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

/// Exec and attach over WebSocket, best first (only the order of the client's offer counts).
pub const WS_REMOTECOMMAND: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];
/// Exec and attach over SPDY (`remotecommand` v4 to v1).
pub const SPDY_REMOTECOMMAND: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// Port-forward over SPDY.
pub const PORT_FORWARD: &str = "portforward.k8s.io";
/// The WebSocket subprotocol prefix of SPDY tunnelled in WebSocket (kubectl 1.31+).
pub const TUNNEL_PREFIX: &str = "SPDY/3.1+";

pub const HEADER_STREAM_PROTOCOL: &str = "X-Stream-Protocol-Version";
pub const HEADER_ACCEPTED_PROTOCOLS: &str = "X-Accepted-Stream-Protocol-Versions";

/// The kind of upgrade a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    /// `Upgrade: websocket` with the offered subprotocols.
    WebSocket(Vec<String>),
    /// `Upgrade: SPDY/3.1` with the offered stream protocols.
    Spdy(Vec<String>),
    None,
}

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    values(headers, name.as_str())
        .iter()
        .any(|v| v.eq_ignore_ascii_case(token))
}

/// Reads the upgrade a request asks for.
pub fn requested(headers: &HeaderMap) -> Requested {
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Requested::None;
    }
    if has_token(headers, header::UPGRADE, "websocket") {
        Requested::WebSocket(values(headers, "sec-websocket-protocol"))
    } else if has_token(headers, header::UPGRADE, "spdy/3.1") {
        Requested::Spdy(values(headers, HEADER_STREAM_PROTOCOL))
    } else {
        Requested::None
    }
}

/// The first offered protocol that is supported.
pub fn negotiate(offered: &[String], supported: &[&'static str]) -> Option<&'static str> {
    offered
        .iter()
        .find_map(|o| supported.iter().find(|s| **s == o).copied())
}

/// A refusal to upgrade, with its status and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// For SPDY: the protocols we would have accepted (`X-Accepted-Stream-Protocol-Versions`).
    pub accepted: Vec<&'static str>,
}

impl Refusal {
    pub fn new(status: StatusCode, message: String) -> Refusal {
        Refusal {
            status,
            message,
            accepted: Vec::new(),
        }
    }
}

/// How an exec or attach session will be carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteCommandTransport {
    /// The subprotocol ("" when the client offered none: binary channels, text errors).
    WebSocket(&'static str),
    Spdy(&'static str),
}

/// Chooses the transport of an exec or attach request.
pub fn remotecommand_transport(headers: &HeaderMap) -> Result<RemoteCommandTransport, Refusal> {
    match requested(headers) {
        Requested::WebSocket(offered) if offered.is_empty() => Ok(RemoteCommandTransport::WebSocket("")),
        Requested::WebSocket(offered) => negotiate(&offered, WS_REMOTECOMMAND)
            .map(RemoteCommandTransport::WebSocket)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "requested protocol(s) are not supported: {offered:?}; supports {WS_REMOTECOMMAND:?}"
                    ),
                )
            }),
        Requested::Spdy(offered) => spdy_protocol(&offered, SPDY_REMOTECOMMAND).map(RemoteCommandTransport::Spdy),
        Requested::None => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "Upgrade request required".into(),
        )),
    }
}

/// How a port-forward session will be carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortForwardTransport {
    /// SPDY inside WebSocket binary messages, with this subprotocol.
    Tunnel(String),
    Spdy,
}

/// Chooses the transport of a port-forward request.
pub fn port_forward_transport(headers: &HeaderMap) -> Result<PortForwardTransport, Refusal> {
    match requested(headers) {
        Requested::WebSocket(offered) => {
            let tunnelled: Vec<&String> = offered
                .iter()
                .filter(|p| p.starts_with(TUNNEL_PREFIX))
                .collect();
            if tunnelled.is_empty() {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unable to upgrade: port-forward over WebSocket needs SPDY tunnelling \
                         ({TUNNEL_PREFIX}{PORT_FORWARD}); offered {offered:?}"
                    ),
                ));
            }
            tunnelled
                .iter()
                .find(|p| p.strip_prefix(TUNNEL_PREFIX) == Some(PORT_FORWARD))
                .map(|p| PortForwardTransport::Tunnel(p.to_string()))
                .ok_or_else(|| {
                    Refusal::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts [\"{TUNNEL_PREFIX}{PORT_FORWARD}\"]"
                        ),
                    )
                })
        }
        Requested::Spdy(offered) => {
            spdy_protocol(&offered, &[PORT_FORWARD]).map(|_| PortForwardTransport::Spdy)
        }
        Requested::None => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "Upgrade request required".into(),
        )),
    }
}

fn spdy_protocol(offered: &[String], supported: &[&'static str]) -> Result<&'static str, Refusal> {
    if offered.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("unable to upgrade: {HEADER_STREAM_PROTOCOL} is required"),
        ));
    }
    negotiate(offered, supported).ok_or_else(|| Refusal {
        status: StatusCode::FORBIDDEN,
        message: format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {supported:?}"
        ),
        accepted: supported.to_vec(),
    })
}

/// The 101 answer to a SPDY upgrade, naming the chosen protocol.
pub fn spdy_response<B: Default>(protocol: &str) -> Response<B> {
    let mut r = Response::new(B::default());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    if let Ok(v) = HeaderValue::from_str(protocol) {
        h.insert(HEADER_STREAM_PROTOCOL, v);
    }
    r
}

/// The 101 answer to a WebSocket upgrade (RFC 6455 section 4.2.2).
pub fn websocket_response<B: Default>(
    headers: &HeaderMap,
    protocol: &str,
) -> Result<Response<B>, Refusal> {
    let bad = |m: &str| Refusal::new(StatusCode::BAD_REQUEST, m.to_string());
    if headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(bad(
            "unsupported or missing Sec-WebSocket-Version (13 is supported)",
        ));
    }
    let key = headers
        .get("sec-websocket-key")
        .ok_or_else(|| bad("missing Sec-WebSocket-Key"))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut r = Response::new(B::default());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        "sec-websocket-accept",
        HeaderValue::from_str(&accept).map_err(|_| bad("bad key"))?,
    );
    if !protocol.is_empty() {
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(protocol).map_err(|_| bad("bad protocol"))?,
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn kubectl_websocket_exec_gets_v5() {
        let h = headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            (
                "Sec-WebSocket-Protocol",
                "v5.channel.k8s.io, v4.channel.k8s.io",
            ),
        ]);
        assert_eq!(
            remotecommand_transport(&h),
            Ok(RemoteCommandTransport::WebSocket("v5.channel.k8s.io"))
        );
    }

    #[test]
    fn spdy_exec_takes_the_clients_first_supported_protocol() {
        // client-go sends one header line per protocol.
        let h = headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "SPDY/3.1"),
            ("X-Stream-Protocol-Version", "v4.channel.k8s.io"),
            ("X-Stream-Protocol-Version", "v3.channel.k8s.io"),
        ]);
        assert_eq!(
            remotecommand_transport(&h),
            Ok(RemoteCommandTransport::Spdy("v4.channel.k8s.io"))
        );
        let h = headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "SPDY/3.1"),
            ("X-Stream-Protocol-Version", "v9.channel.k8s.io"),
        ]);
        let r = remotecommand_transport(&h).unwrap_err();
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.accepted, SPDY_REMOTECOMMAND.to_vec());
        let h = headers(&[("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")]);
        assert_eq!(
            remotecommand_transport(&h).unwrap_err().message,
            "unable to upgrade: X-Stream-Protocol-Version is required"
        );
    }

    #[test]
    fn plain_requests_are_refused() {
        assert_eq!(
            remotecommand_transport(&HeaderMap::new())
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn port_forward_accepts_the_tunnel_and_plain_spdy() {
        let h = headers(&[
            ("Connection", "keep-alive, Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io"),
        ]);
        assert_eq!(
            port_forward_transport(&h),
            Ok(PortForwardTransport::Tunnel(
                "SPDY/3.1+portforward.k8s.io".into()
            ))
        );
        let h = headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "SPDY/3.1"),
            ("X-Stream-Protocol-Version", "portforward.k8s.io"),
        ]);
        assert_eq!(port_forward_transport(&h), Ok(PortForwardTransport::Spdy));
        let h = headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Protocol", "v4.channel.k8s.io"),
        ]);
        assert_eq!(
            port_forward_transport(&h).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn websocket_answer_carries_the_accept_key_of_rfc_6455() {
        let h = headers(&[
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        let r: Response<()> = websocket_response(&h, "v5.channel.k8s.io").unwrap();
        assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            r.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(r.headers()["sec-websocket-protocol"], "v5.channel.k8s.io");
    }
}
