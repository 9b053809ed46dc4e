//! `serve`: the HTTP server's IO. A thread per connection (probes, `curl` and Service tests
//! open a handful), keep-alive honoured, one log line per request on stdout so that
//! `kubectl logs` shows the traffic. What each path answers is decided in `routes.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::ServeOptions;
use crate::http::{self, HttpError, Request, Response};
use crate::routes::{self, Effect, Facts};

/// How long an idle keep-alive connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the connections share.
pub struct State {
    pub facts: Facts,
    pub failing: AtomicBool,
}

impl State {
    pub fn new(facts: Facts) -> State {
        State {
            facts,
            failing: AtomicBool::new(false),
        }
    }
}

pub fn serve(options: &ServeOptions) -> i32 {
    let listener = match TcpListener::bind(("0.0.0.0", options.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("serve: listening on :{}: {e}", options.port);
            return 1;
        }
    };
    let port = listener.local_addr().map_or(options.port, |a| a.port());
    log(&format!("serving on :{port}"));
    let state = Arc::new(State::new(crate::pod::facts()));
    if let Some(after) = options.fail_after {
        let state = state.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            state.failing.store(true, Ordering::SeqCst);
            log(&format!(
                "/healthz fails from now on (--fail-after {after:?})"
            ));
        });
    }
    run(listener, state);
    0
}

/// Accepts connections until the listener fails.
pub fn run(listener: TcpListener, state: Arc<State>) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = connection(stream, &state);
                });
            }
            // Out of file descriptors or the like: keep serving the connections that exist.
            Err(e) => {
                eprintln!("serve: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn connection(stream: TcpStream, state: &State) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let head = match read_head(&mut reader)? {
            Head::Complete(head) => head,
            Head::Closed => return Ok(()),
            Head::TooLarge => {
                let response = Response::text(431, "request head too large\n");
                writer.write_all(&http::encode(&response, false, false))?;
                return Ok(());
            }
        };
        let request = match http::parse_head(&head) {
            Ok(r) => r,
            Err(e) => {
                let response = Response::text(400, format!("{e}\n"));
                writer.write_all(&http::encode(&response, false, false))?;
                log(&format!("{peer} {e}"));
                return Ok(());
            }
        };
        let body_length = match request.content_length() {
            Ok(n) => n,
            Err(e) => {
                let status = if e == HttpError::ChunkedBody {
                    411
                } else {
                    400
                };
                let response = Response::text(status, format!("{e}\n"));
                writer.write_all(&http::encode(&response, false, false))?;
                log_request(peer, &request, status);
                return Ok(());
            }
        };
        // Nothing here reads bodies; drop it so the next request on the connection parses.
        std::io::copy(&mut (&mut reader).take(body_length), &mut std::io::sink())?;

        let keep_alive = request.keep_alive();
        let (response, effect) =
            routes::route(&request, &state.facts, state.failing.load(Ordering::SeqCst));
        writer.write_all(&http::encode(
            &response,
            keep_alive,
            request.method == "HEAD",
        ))?;
        log_request(peer, &request, response.status);
        match effect {
            Effect::None => {}
            Effect::Fail => state.failing.store(true, Ordering::SeqCst),
            Effect::Recover => state.failing.store(false, Ordering::SeqCst),
            Effect::Exit(code) => {
                let _ = writer.flush();
                log(&format!("exiting with status {code} as asked"));
                std::process::exit(code);
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

enum Head {
    Complete(Vec<u8>),
    /// The client closed (or went idle) between requests.
    Closed,
    TooLarge,
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<Head> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        match reader.read_until(b'\n', &mut head) {
            Ok(0) => return Ok(Head::Closed),
            Ok(_) => {}
            Err(e)
                if head.is_empty()
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
            {
                return Ok(Head::Closed)
            }
            Err(e) => return Err(e),
        }
        // Blank lines before a request line are allowed (RFC 9112 §2.2).
        if head.len() - before <= 2 && head[before..].iter().all(|b| *b == b'\r' || *b == b'\n') {
            if before == 0 {
                head.clear();
                continue;
            }
            return Ok(Head::Complete(head));
        }
        if head.len() > http::MAX_HEAD_BYTES {
            return Ok(Head::TooLarge);
        }
    }
}

fn log_request(peer: SocketAddr, request: &Request, status: u16) {
    let query = if request.query.is_empty() {
        String::new()
    } else {
        format!("?{}", request.query)
    };
    log(&format!(
        "{peer} {} {}{query} {status}",
        request.method, request.path
    ));
}

/// One line to stdout. A closed stdout is no reason to stop serving.
fn log(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::new(Facts {
            hostname: "testapp-0".into(),
            pod_ip: "10.1.2.3".into(),
            env: vec![("GREETING".into(), "hello".into())],
        }));
        std::thread::spawn(move || run(listener, state));
        addr
    }

    /// One request on its own connection; returns the status and the body.
    fn request(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    #[test]
    fn serves_root_and_healthz_and_fails_on_demand_over_loopback() {
        let addr = start();
        let (status, body) = request(addr, "GET", "/");
        assert_eq!(status, 200);
        assert_eq!(
            body,
            "hostname=testapp-0\npod_ip=10.1.2.3\nGREETING=hello\n"
        );

        assert_eq!(request(addr, "GET", "/healthz"), (200, "ok".into()));
        assert_eq!(request(addr, "POST", "/fail").0, 200);
        assert_eq!(request(addr, "GET", "/healthz"), (500, "failing".into()));
        assert_eq!(request(addr, "GET", "/recover").0, 200);
        assert_eq!(request(addr, "GET", "/healthz").0, 200);
        assert_eq!(request(addr, "GET", "/echo?msg=hi%21"), (200, "hi!".into()));
    }

    #[test]
    fn a_keep_alive_connection_answers_several_requests_bodies_skipped() {
        let addr = start();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(
                b"POST /fail HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
                  GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n\
                  GET /hostname HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let statuses: Vec<&str> = raw.split("HTTP/1.1 ").skip(1).map(|r| &r[..3]).collect();
        assert_eq!(statuses, ["200", "500", "200"]);
        assert!(raw.ends_with("testapp-0\n"));
    }

    #[test]
    fn garbage_gets_a_400_and_the_connection_closes() {
        let addr = start();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"HELLO\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        assert!(raw.starts_with("HTTP/1.1 400 "), "{raw}");
    }
}
