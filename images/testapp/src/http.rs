//! The HTTP/1.1 wire format, as much of it as probes, `curl` and kube-proxy'd clients use:
//! request heads parsed from bytes, responses encoded to bytes. Pure; `serve.rs` does the IO.

use std::fmt;

/// The longest request head accepted (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 << 10;

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, still percent-encoded.
    pub path: String,
    /// What follows `?`, still percent-encoded; empty without one.
    pub query: String,
    /// The minor version: `HTTP/1.0` is 0, `HTTP/1.1` is 1.
    pub minor_version: u8,
    /// Header names lowercased, values trimmed, in order.
    pub headers: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    BadRequest(&'static str),
    /// A request body sent chunked: nothing here takes bodies, so nothing decodes them.
    ChunkedBody,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadRequest(why) => write!(f, "bad request: {why}"),
            HttpError::ChunkedBody => f.write_str("chunked request bodies are not supported"),
        }
    }
}

impl Request {
    /// The first value of a header (`name` lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless the client
    /// says `close`, HTTP/1.0 only when it asks for `keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let connection = self
            .header("connection")
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let has = |token: &str| connection.split(',').any(|t| t.trim() == token);
        if self.minor_version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// The body's length, to read and discard it.
    pub fn content_length(&self) -> Result<u64, HttpError> {
        if self
            .header("transfer-encoding")
            .is_some_and(|te| !te.eq_ignore_ascii_case("identity"))
        {
            return Err(HttpError::ChunkedBody);
        }
        match self.header("content-length") {
            None => Ok(0),
            Some(n) => n
                .parse()
                .map_err(|_| HttpError::BadRequest("invalid Content-Length")),
        }
    }

    /// A query parameter, percent-decoded (`+` is a space, as forms send it).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// Parses a request head: everything up to and including the blank line.
pub fn parse_head(head: &[u8]) -> Result<Request, HttpError> {
    let head = std::str::from_utf8(head).map_err(|_| HttpError::BadRequest("head is not UTF-8"))?;
    let mut lines = head.split("\r\n").flat_map(|l| l.split('\n'));
    let request_line = lines.next().ok_or(HttpError::BadRequest("empty request"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HttpError::BadRequest("malformed method"));
    }
    let minor_version = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(HttpError::BadRequest("unsupported HTTP version")),
    };
    // Absolute-form targets (`GET http://host/path`, as proxies send) keep only the path.
    let target = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    if !target.starts_with('/') {
        return Err(HttpError::BadRequest("request target must be a path"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::BadRequest("malformed header"))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(HttpError::BadRequest("malformed header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        minor_version,
        headers,
    })
}

/// `%XX` escapes decoded, `+` as a space; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// A response: status and a plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            body: body.into(),
        }
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "",
    }
}

/// The response's bytes. `head_only` answers a HEAD: the headers a GET would get, no body.
pub fn encode(response: &Response, keep_alive: bool, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(response.body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_request_parses() {
        let r = parse_head(
            b"GET /healthz?x=1 HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/healthz");
        assert_eq!(r.query, "x=1");
        assert_eq!(r.header("user-agent"), Some("kube-probe/1.32"));
        assert!(!r.keep_alive());
        assert_eq!(r.content_length(), Ok(0));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        let parse = |s: &str| parse_head(s.as_bytes()).unwrap();
        assert!(parse("GET / HTTP/1.1\r\n\r\n").keep_alive());
        assert!(!parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    }

    #[test]
    fn bare_newlines_and_absolute_targets_are_accepted() {
        let r = parse_head(b"GET http://svc.ns:80/echo?msg=a HTTP/1.1\nHost: svc\n\n").unwrap();
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/echo", "msg=a"));
        assert_eq!(r.header("host"), Some("svc"));
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        for bad in [
            &b""[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET relative HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n\xff: x\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bodies_are_sized_by_content_length_and_chunked_ones_refused() {
        let r = parse_head(b"POST /fail HTTP/1.1\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(r.content_length(), Ok(5));
        let r = parse_head(b"POST /fail HTTP/1.1\r\nContent-Length: x\r\n\r\n").unwrap();
        assert!(r.content_length().is_err());
        let r = parse_head(b"POST /fail HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(r.content_length(), Err(HttpError::ChunkedBody));
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        let r = parse_head(b"GET /echo?a=1&msg=hello%20there+you%2&b HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r.query_param("msg").as_deref(), Some("hello there you%2"));
        assert_eq!(r.query_param("b").as_deref(), Some(""));
        assert_eq!(r.query_param("c"), None);
        assert_eq!(percent_decode("%e2%9c%93%"), "\u{2713}%");
        assert_eq!(percent_decode("%\u{e9}x%4"), "%\u{e9}x%4");
    }

    #[test]
    fn responses_carry_length_and_connection() {
        let bytes = encode(&Response::text(500, "failing\n"), false, false);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 8\r\nConnection: close\r\n\r\nfailing\n"
        );
        let head = String::from_utf8(encode(&Response::text(200, "ok"), true, true)).unwrap();
        assert!(head.ends_with("Content-Length: 2\r\nConnection: keep-alive\r\n\r\n"));
    }
}
