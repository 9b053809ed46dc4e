//! `exec` and `attach` sessions, whatever carries them. A transport ([`super::websocket`] or
//! SPDY, set up here by [`open_spdy`]) yields [`ClientStreams`]: what the client sends on stdin
//! and resize as channel ends, and [`Out`] writers for stdout, stderr and the error stream.
//! [`run_exec`] and [`run_attach`] move bytes between those and the container; the outcome is
//! written on the error stream as client-go's `remotecommand` expects: a `metav1.Status` for
//! protocols v4 and v5 (exit codes as a `NonZeroExitCode` cause), plain text before.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::backend::{ExecSession, KubeletBackend};
use super::logs::{read_blocking, ContainerRef, LogFiles, FOLLOW_POLL};
use super::routes::Query;
use super::spdy::{header, Gone, Role, Session, StreamWriter};
use super::websocket::WsOut;
use node_runtime::log::{Stream as LogStream, Tag};

/// How long the client has to open its streams after the upgrade (the kubelet's
/// `streamCreationTimeout`).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// After the process exits, output still coming is forwarded until its pipes have been quiet
/// this long (a background child may hold them open forever).
const DRAIN_IDLE: Duration = Duration::from_secs(1);
/// How long the client may take to close its end once the session is over.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Which streams the client asked for (`stdin=1&stdout=1&stderr=1&tty=1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl StreamOptions {
    /// As the kubelet's `NewOptions`: a flag is on only when it is `1`; with a tty there is
    /// no separate stderr.
    pub fn parse(q: &Query) -> Result<StreamOptions, String> {
        let on = |k| q.get(k) == Some("1");
        let tty = on("tty");
        let opts = StreamOptions {
            stdin: on("stdin"),
            stdout: on("stdout"),
            stderr: on("stderr") && !tty,
            tty,
        };
        if !opts.stdin && !opts.stdout && !opts.stderr {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(opts)
    }
}

/// How a session ended, as written on the error stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The process exited with this non-zero code.
    Exited {
        code: i32,
        command: Vec<String>,
    },
    /// The session failed (an internal error).
    Failed(String),
}

/// The error stream's format for the negotiated protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    /// A `metav1.Status` (v4, v5).
    Json,
    /// The error's text, nothing on success (v1 to v3).
    Text,
}

/// The bytes written on the error stream for an outcome (nothing for text-format success).
pub fn status_bytes(outcome: &Outcome, format: StatusFormat) -> Vec<u8> {
    let (status, message) = match outcome {
        Outcome::Success => (json!({"metadata": {}, "status": "Success"}), None),
        Outcome::Exited { code, command } => {
            // client-go parses the cause as a uint8.
            let code = code.rem_euclid(256);
            let message = format!(
                "command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"
            );
            (
                json!({
                    "metadata": {},
                    "status": "Failure",
                    "message": message,
                    "reason": "NonZeroExitCode",
                    "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
                }),
                Some(message),
            )
        }
        Outcome::Failed(err) => {
            let message = format!("Internal error occurred: {err}");
            (
                json!({
                    "metadata": {},
                    "status": "Failure",
                    "message": message,
                    "reason": "InternalError",
                    "details": {"causes": [{"message": err}]},
                    "code": 500,
                }),
                Some(message),
            )
        }
    };
    match format {
        StatusFormat::Json => status.to_string().into_bytes(),
        StatusFormat::Text => message.map(String::into_bytes).unwrap_or_default(),
    }
}

/// `remotecommand.TerminalSize` as client-go encodes it on the resize stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// Splits the resize stream (JSON objects, one after another, however the transport cut
/// them) into sizes.
#[derive(Default)]
pub struct ResizeDecoder {
    buf: Vec<u8>,
}

impl ResizeDecoder {
    pub fn push(&mut self, data: &[u8]) -> Vec<TerminalSize> {
        self.buf.extend_from_slice(data);
        let mut sizes = Vec::new();
        let mut consumed = 0;
        let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<TerminalSize>();
        loop {
            match it.next() {
                Some(Ok(size)) => {
                    sizes.push(size);
                    consumed = it.byte_offset();
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => {
                    // Not a size: drop what was buffered and resynchronise on what follows.
                    consumed = self.buf.len();
                    break;
                }
                None => {
                    consumed = self.buf.len();
                    break;
                }
            }
        }
        self.buf.drain(..consumed);
        sizes
    }
}

/// A writer towards the client on one stream.
#[derive(Clone)]
pub enum Out {
    Ws {
        channel: u8,
        tx: mpsc::Sender<WsOut>,
    },
    Spdy(StreamWriter),
}

impl Out {
    pub async fn write(&self, data: Bytes) -> Result<(), Gone> {
        match self {
            Out::Ws { channel, tx } => tx.send(WsOut::Data(*channel, data)).await.map_err(|_| Gone),
            Out::Spdy(w) => w.write(data).await,
        }
    }
}

/// The client's side of a session.
pub struct ClientStreams {
    /// What the client types; ends when it closes stdin.
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    /// Terminal sizes as JSON.
    pub resize: Option<mpsc::Receiver<Bytes>>,
    pub stdout: Option<Out>,
    pub stderr: Option<Out>,
    pub error: Out,
    /// Turns true when the client's connection has ended.
    pub gone: watch::Receiver<bool>,
}

/// How the transport is closed once the outcome is written.
pub enum Finish {
    WebSocket {
        tx: mpsc::Sender<WsOut>,
        writer: JoinHandle<()>,
        reader: JoinHandle<()>,
    },
    Spdy {
        session: Session,
        writers: Vec<StreamWriter>,
    },
}

/// An upgraded exec or attach connection.
pub struct Connection {
    pub streams: ClientStreams,
    pub status: StatusFormat,
    pub finish: Finish,
}

impl Connection {
    /// Writes the outcome (if the client is still there to read it) and closes the
    /// connection: every stream's end before the WebSocket close or the SPDY GOAWAY, after
    /// which the client reads nothing.
    pub async fn close(self, outcome: Option<Outcome>) {
        if let Some(outcome) = outcome {
            let status = status_bytes(&outcome, self.status);
            if !status.is_empty() {
                let _ = self.streams.error.write(Bytes::from(status)).await;
            }
        }
        let mut gone = self.streams.gone.clone();
        drop(self.streams);
        match self.finish {
            Finish::WebSocket { tx, writer, reader } => {
                let _ = tx.send(WsOut::Close).await;
                drop(tx);
                let _ = writer.await;
                // The client answers the close; then its connection ends.
                let _ = tokio::time::timeout(CLOSE_WAIT, gone.wait_for(|g| *g)).await;
                reader.abort();
            }
            Finish::Spdy { session, writers } => {
                for w in &writers {
                    let _ = w.close().await;
                }
                session.go_away().await;
                let _ = tokio::time::timeout(CLOSE_WAIT, session.closed()).await;
            }
        }
    }
}

/// Sets up an exec or attach session over SPDY: waits (at most
/// [`STREAM_CREATION_TIMEOUT`]) for the streams the options call for, each identified by its
/// `streamtype` header and answered with SYN_REPLY as it comes, as client-go opens them one
/// at a time (error, stdin, stdout, stderr, resize).
pub async fn open_spdy<IO>(
    io: IO,
    protocol: &str,
    opts: StreamOptions,
) -> Result<Connection, String>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (session, mut incoming) = Session::start(io, Role::Server);
    let resizable = protocol == "v4.channel.k8s.io" || protocol == "v3.channel.k8s.io";
    let expected = 1
        + usize::from(opts.stdin)
        + usize::from(opts.stdout)
        + usize::from(opts.stderr)
        + usize::from(opts.tty && resizable);
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    let (mut error, mut stdin, mut stdout, mut stderr, mut resize) = (None, None, None, None, None);
    let mut received = 0;
    while received < expected {
        let s = tokio::select! {
            s = incoming.recv() => s.ok_or("the client closed the connection before creating its streams")?,
            _ = tokio::time::sleep_until(deadline) => return Err("timed out waiting for client to create streams".into()),
        };
        let kind = header(&s.headers, "streamtype").unwrap_or("").to_string();
        let stream = s.accept().await.map_err(|e| e.to_string())?;
        let slot = match kind.as_str() {
            "error" => &mut error,
            "stdin" => &mut stdin,
            "stdout" => &mut stdout,
            "stderr" => &mut stderr,
            "resize" => &mut resize,
            other => {
                tracing::warn!("ignoring an exec stream of unexpected type {other:?}");
                continue;
            }
        };
        *slot = Some(stream);
        received += 1;
    }
    let error = error.ok_or("the client created no error stream")?;
    let mut writers = vec![error.writer.clone()];
    let mut out = |s: Option<super::spdy::Stream>| {
        s.map(|s| {
            writers.push(s.writer.clone());
            Out::Spdy(s.writer)
        })
    };
    let stdout = out(stdout);
    let stderr = out(stderr);
    // Closing our side of stdin at the end tells client-go's stdin copier to stop.
    let stdin = stdin.map(|s| {
        writers.push(s.writer);
        s.incoming
    });
    let resize = resize.map(|s| s.incoming);
    let gone_rx = session.closed_watch();
    Ok(Connection {
        streams: ClientStreams {
            stdin,
            resize,
            stdout,
            stderr,
            error: Out::Spdy(error.writer),
            gone: gone_rx,
        },
        status: if protocol == "v4.channel.k8s.io" {
            StatusFormat::Json
        } else {
            StatusFormat::Text
        },
        finish: Finish::Spdy { session, writers },
    })
}

/// Copies what the client sends on stdin into `w`, closing it when the client closes stdin.
fn pump_stdin(
    w: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    rx: Option<mpsc::Receiver<Bytes>>,
) -> Option<JoinHandle<()>> {
    match (w, rx) {
        (Some(mut w), Some(mut rx)) => Some(tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if w.write_all(&data).await.is_err() || w.flush().await.is_err() {
                    break;
                }
            }
            let _ = w.shutdown().await;
        })),
        // Nothing will come: the process sees EOF at once.
        (Some(w), None) => {
            drop(w);
            None
        }
        // Nowhere to put it: read and drop, so that the transport is not held up.
        (None, Some(mut rx)) => Some(tokio::spawn(
            async move { while rx.recv().await.is_some() {} },
        )),
        (None, None) => None,
    }
}

/// Copies a process's output to the client until EOF, or once the process has exited, until
/// the pipe has been quiet for [`DRAIN_IDLE`]. Without a client stream it is read and
/// dropped, so that the process never blocks on a full pipe.
async fn pump_output(
    mut r: Box<dyn AsyncRead + Send + Unpin>,
    out: Option<Out>,
    exited: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut exited = exited.clone();
        let quiet_after_exit = async move {
            let _ = exited.wait_for(|e| *e).await;
            tokio::time::sleep(DRAIN_IDLE).await;
        };
        let n = tokio::select! {
            biased;
            r = r.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = quiet_after_exit => return,
        };
        if let Some(out) = &out {
            if out.write(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                return;
            }
        }
    }
}

/// Runs an exec session to its end. Returns None if the client went away first (the process
/// is then cancelled).
pub async fn run_exec(
    session: ExecSession,
    streams: &mut ClientStreams,
    command: Vec<String>,
) -> Option<Outcome> {
    let ExecSession {
        stdin,
        stdout,
        stderr,
        exit,
        resize,
        cancel,
    } = session;
    let mut helpers: Vec<JoinHandle<()>> = Vec::new();
    helpers.extend(pump_stdin(stdin, streams.stdin.take()));
    if let Some(mut rx) = streams.resize.take() {
        helpers.push(tokio::spawn(async move {
            let mut dec = ResizeDecoder::default();
            while let Some(data) = rx.recv().await {
                for size in dec.push(&data) {
                    if let Some(resize) = &resize {
                        resize(size.width, size.height);
                    }
                }
            }
        }));
    }
    let (exited_tx, exited_rx) = watch::channel(false);
    let mut outputs: Vec<JoinHandle<()>> = Vec::new();
    for (pipe, out) in [
        (stdout, streams.stdout.clone()),
        (stderr, streams.stderr.clone()),
    ] {
        if let Some(pipe) = pipe {
            outputs.push(tokio::spawn(pump_output(pipe, out, exited_rx.clone())));
        }
    }
    let mut gone = streams.gone.clone();
    let outcome = tokio::select! {
        code = exit => code,
        _ = gone.wait_for(|g| *g) => {
            if let Some(cancel) = cancel {
                cancel();
            }
            for t in helpers.iter().chain(&outputs) {
                t.abort();
            }
            return None;
        }
    };
    let _ = exited_tx.send(true);
    for t in outputs {
        let _ = t.await;
    }
    for t in helpers {
        t.abort();
    }
    Some(match outcome {
        Ok(0) => Outcome::Success,
        Ok(code) => Outcome::Exited { code, command },
        Err(e) => Outcome::Failed(format!("error executing command in container: {e}")),
    })
}

/// Runs an attach session: stdin into the container, its output as it is written to the log,
/// until the container stops (or the client goes away: None).
pub async fn run_attach<B: KubeletBackend>(
    backend: Arc<B>,
    who: ContainerRef,
    files: LogFiles,
    stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    streams: &mut ClientStreams,
    tty: bool,
) -> Option<Outcome> {
    let stdin_task = pump_stdin(stdin, streams.stdin.take());
    // Attach has no way to resize the container's terminal here: sizes are read and dropped.
    let resize_task = streams
        .resize
        .take()
        .map(|mut rx| tokio::spawn(async move { while rx.recv().await.is_some() {} }));
    let stdout = streams.stdout.clone();
    let stderr = if tty { None } else { streams.stderr.clone() };
    let mut gone = streams.gone.clone();
    let follow = async {
        let mut files = files;
        loop {
            let running = backend
                .container_running(&who.namespace, &who.pod, &who.container)
                .await;
            let (back, read) = read_blocking(files).await;
            files = back;
            let records = match read {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(format!("reading the container's output: {e}")),
            };
            let idle = records.is_empty();
            for rec in records {
                let out = match (tty, rec.stream) {
                    (true, _) | (false, LogStream::Stdout) => &stdout,
                    (false, LogStream::Stderr) => &stderr,
                };
                let Some(out) = out else { continue };
                let mut data = rec.content;
                if rec.tag == Tag::Full {
                    data.push(b'\n');
                }
                if out.write(Bytes::from(data)).await.is_err() {
                    return Outcome::Success;
                }
            }
            if !running && idle {
                return Outcome::Success;
            }
            if idle {
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        }
    };
    let outcome = tokio::select! {
        o = follow => Some(o),
        _ = gone.wait_for(|g| *g) => None,
    };
    for t in stdin_task.into_iter().chain(resize_task) {
        t.abort();
    }
    outcome
}

/// The log files an attach session follows, opened at their end now (before the upgrade),
/// so that nothing written meanwhile is missed.
pub fn attach_files(files: Vec<PathBuf>) -> LogFiles {
    LogFiles::at_end(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_need_a_stream_and_tty_drops_stderr() {
        let q = |s| Query::parse(Some(s));
        assert_eq!(
            StreamOptions::parse(&q("stdin=1&stdout=1&stderr=1&tty=1")),
            Ok(StreamOptions {
                stdin: true,
                stdout: true,
                stderr: false,
                tty: true
            })
        );
        assert_eq!(
            StreamOptions::parse(&q("stdout=true")),
            Err("you must specify at least 1 of stdin, stdout, stderr".into())
        );
    }

    #[test]
    fn success_is_a_bare_status() {
        assert_eq!(
            status_bytes(&Outcome::Success, StatusFormat::Json),
            br#"{"metadata":{},"status":"Success"}"#
        );
        assert!(status_bytes(&Outcome::Success, StatusFormat::Text).is_empty());
    }

    #[test]
    fn exit_codes_are_a_non_zero_exit_code_cause() {
        let o = Outcome::Exited {
            code: 3,
            command: vec!["sh".into(), "-c".into(), "exit 3".into()],
        };
        let v: serde_json::Value =
            serde_json::from_slice(&status_bytes(&o, StatusFormat::Json)).unwrap();
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(v["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(v["details"]["causes"][0]["message"], "3");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with("command terminated with non-zero exit code: "));
        // Key order as Go marshals metav1.Status.
        let text = String::from_utf8(status_bytes(&o, StatusFormat::Json)).unwrap();
        assert!(text.starts_with(r#"{"metadata":{},"status":"Failure","message":"#));
        let text = String::from_utf8(status_bytes(&o, StatusFormat::Text)).unwrap();
        assert!(text.starts_with("command terminated with non-zero exit code: "));
    }

    #[test]
    fn failures_are_internal_errors() {
        let v: serde_json::Value = serde_json::from_slice(&status_bytes(
            &Outcome::Failed("boom".into()),
            StatusFormat::Json,
        ))
        .unwrap();
        assert_eq!(v["reason"], "InternalError");
        assert_eq!(v["code"], 500);
        assert_eq!(v["message"], "Internal error occurred: boom");
    }

    #[test]
    fn resize_messages_may_be_split_or_joined() {
        let mut d = ResizeDecoder::default();
        assert_eq!(d.push(br#"{"Width":80,"#), vec![]);
        assert_eq!(
            d.push(b"\"Height\":24}\n{\"Width\":100,\"Height\":40}\n"),
            vec![
                TerminalSize {
                    width: 80,
                    height: 24
                },
                TerminalSize {
                    width: 100,
                    height: 40
                }
            ]
        );
        assert_eq!(d.push(b"garbage}"), vec![]);
        assert_eq!(
            d.push(br#"{"Width":1,"Height":2}"#),
            vec![TerminalSize {
                width: 1,
                height: 2
            }]
        );
    }
}
