//! A SPDY session over any byte stream (a hijacked HTTP/1.1 connection, or the byte stream a
//! WebSocket tunnel carries): one task reads and dispatches frames, one writes them, and
//! streams are handed out as channel ends and writers.
//!
//! What the peer does, as kubectl's spdystream does it: it opens streams with SYN_STREAM and
//! waits for each SYN_REPLY before opening the next; half-closes with an empty DATA frame
//! carrying FIN; resets with RST_STREAM; pings every few seconds and expects the PING echoed;
//! and stops reading at GOAWAY (so nothing may follow ours).
//!
//! Flow control: spdystream neither sends WINDOW_UPDATE nor honours windows, so a sender that
//! waited for its window to reopen would stall every stream after 64 KiB. Windows are therefore
//! tracked from the start but enforced only once the peer shows it takes part, by sending
//! SETTINGS or WINDOW_UPDATE. Received data is acknowledged with WINDOW_UPDATE (per stream and,
//! for 3.1, for the session) as it is handed on, which spdystream ignores and others need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use super::frame::{
    Decoder, Encoder, Frame, Headers, DEFAULT_WINDOW, RST_CANCEL, RST_PROTOCOL_ERROR,
    RST_REFUSED_STREAM, SETTINGS_INITIAL_WINDOW_SIZE,
};

/// The largest DATA frame sent (the size of Go's `io.Copy` buffer).
const MAX_CHUNK: usize = 32 * 1024;
/// Received bytes acknowledged in one WINDOW_UPDATE, at the latest.
const ACK_EVERY: u32 = DEFAULT_WINDOW / 2;
/// DATA frames buffered per stream before reading the connection waits for its consumer.
const STREAM_BUFFER: usize = 64;
/// How long [`Session::go_away`] waits for buffered frames to be written.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Which end of the session this is: servers open even-numbered streams, clients odd ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

impl Role {
    fn owns(self, stream_id: u32) -> bool {
        stream_id.is_multiple_of(2) == (self == Role::Server)
    }
}

/// The session or the stream has ended: nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the SPDY stream is closed")]
pub struct Gone;

enum Cmd {
    Frame(Frame),
    /// Write everything queued, then shut the write side down.
    Shutdown(oneshot::Sender<()>),
}

struct StreamState {
    /// Where the peer's data goes; None once the peer has finished (FIN or RST).
    tx: Option<mpsc::Sender<Bytes>>,
    /// Received bytes not yet acknowledged with WINDOW_UPDATE.
    unacked: u32,
    /// How much may still be sent.
    window: i64,
    /// We sent FIN or RST.
    local_done: bool,
    /// The peer reset the stream.
    reset: bool,
    /// For streams we opened: told when the SYN_REPLY comes.
    replied: Option<oneshot::Sender<()>>,
}

impl StreamState {
    fn new(window: i64) -> StreamState {
        StreamState {
            tx: None,
            unacked: 0,
            window,
            local_done: false,
            reset: false,
            replied: None,
        }
    }
}

struct State {
    streams: HashMap<u32, StreamState>,
    /// Flow control enforced: the peer has sent SETTINGS or WINDOW_UPDATE.
    enforced: bool,
    initial_window: i64,
    session_window: i64,
    session_unacked: u32,
    /// The highest stream id the peer opened.
    last_peer_stream: u32,
    next_own_stream: u32,
    /// Reading has ended: the peer closed the connection (or broke it).
    closed: bool,
    /// We sent GOAWAY: new streams are refused.
    going_away: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Woken when windows grow, streams are reset, or the session ends.
    changed: Notify,
    cmd: mpsc::Sender<Cmd>,
    closed: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets a stream both ends have finished.
    fn reap(state: &mut State, id: u32) {
        if let Some(s) = state.streams.get(&id) {
            if s.tx.is_none() && (s.local_done || s.reset) && s.replied.is_none() {
                state.streams.remove(&id);
            }
        }
    }
}

/// A stream the peer opened, not yet answered.
pub struct IncomingStream {
    pub id: u32,
    pub headers: Headers,
    incoming: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
}

impl IncomingStream {
    /// Answers with SYN_REPLY; the peer's `CreateStream` returns on it.
    pub async fn accept(self) -> Result<Stream, Gone> {
        self.shared
            .cmd
            .send(Cmd::Frame(Frame::SynReply {
                stream_id: self.id,
                fin: false,
                headers: Headers::new(),
            }))
            .await
            .map_err(|_| Gone)?;
        Ok(Stream {
            id: self.id,
            headers: self.headers,
            incoming: self.incoming,
            writer: StreamWriter {
                id: self.id,
                shared: self.shared,
            },
        })
    }

    /// Refuses the stream with RST_STREAM (CANCEL, as the kubelet's `stream.Reset()`).
    pub async fn refuse(self) {
        let writer = StreamWriter {
            id: self.id,
            shared: self.shared,
        };
        writer.reset().await;
    }
}

/// An open stream: what the peer sends arrives on `incoming` (which ends at its FIN or RST);
/// `writer` sends.
pub struct Stream {
    pub id: u32,
    pub headers: Headers,
    pub incoming: mpsc::Receiver<Bytes>,
    pub writer: StreamWriter,
}

/// The sending half of a stream; cheap to clone.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
}

impl StreamWriter {
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Sends `data` in DATA frames, within the peer's window when it keeps one.
    pub async fn write(&self, mut data: Bytes) -> Result<(), Gone> {
        while !data.is_empty() {
            let n = self.acquire(data.len().min(MAX_CHUNK)).await?;
            let chunk = data.split_to(n);
            self.send(Frame::Data {
                stream_id: self.id,
                fin: false,
                data: chunk,
            })
            .await?;
        }
        Ok(())
    }

    /// Half-closes: an empty DATA frame with FIN. Later writes fail.
    pub async fn close(&self) -> Result<(), Gone> {
        if !self.finish_locally()? {
            return Ok(());
        }
        self.send(Frame::Data {
            stream_id: self.id,
            fin: true,
            data: Bytes::new(),
        })
        .await
    }

    /// Aborts the stream in both directions with RST_STREAM (CANCEL).
    pub async fn reset(&self) {
        if let Ok(true) = self.finish_locally() {
            let _ = self
                .send(Frame::RstStream {
                    stream_id: self.id,
                    status: RST_CANCEL,
                })
                .await;
        }
    }

    /// Whether the peer has reset this stream or the session has ended.
    pub fn is_gone(&self) -> bool {
        let st = self.shared.lock();
        st.closed || st.streams.get(&self.id).is_none_or(|s| s.reset)
    }

    /// Marks the stream finished on our side; false if it already was.
    fn finish_locally(&self) -> Result<bool, Gone> {
        let mut st = self.shared.lock();
        let Some(s) = st.streams.get_mut(&self.id) else {
            return Err(Gone);
        };
        if s.local_done || s.reset {
            return Ok(false);
        }
        s.local_done = true;
        Shared::reap(&mut st, self.id);
        Ok(true)
    }

    async fn send(&self, frame: Frame) -> Result<(), Gone> {
        self.shared
            .cmd
            .send(Cmd::Frame(frame))
            .await
            .map_err(|_| Gone)
    }

    /// Waits until up to `want` bytes may be sent and takes them from the windows.
    async fn acquire(&self, want: usize) -> Result<usize, Gone> {
        loop {
            let changed = self.shared.changed.notified();
            {
                let mut st = self.shared.lock();
                if st.closed {
                    return Err(Gone);
                }
                let enforced = st.enforced;
                let session_window = st.session_window;
                let Some(s) = st.streams.get_mut(&self.id) else {
                    return Err(Gone);
                };
                if s.reset || s.local_done {
                    return Err(Gone);
                }
                let allowed = if enforced {
                    s.window.min(session_window).max(0) as usize
                } else {
                    want
                };
                if allowed > 0 {
                    let n = want.min(allowed);
                    s.window -= n as i64;
                    st.session_window -= n as i64;
                    return Ok(n);
                }
            }
            changed.await;
        }
    }
}

/// One end of a SPDY session. Dropping it stops its tasks (and so closes the connection);
/// writers and streams handed out then report [`Gone`].
pub struct Session {
    shared: Arc<Shared>,
    closed: watch::Receiver<bool>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Session {
    /// Starts the session on `io`; streams the peer opens arrive on the receiver.
    pub fn start<IO>(io: IO, role: Role) -> (Session, mpsc::Receiver<IncomingStream>)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(io);
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (closed_tx, closed_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                streams: HashMap::new(),
                enforced: false,
                initial_window: i64::from(DEFAULT_WINDOW),
                session_window: i64::from(DEFAULT_WINDOW),
                session_unacked: 0,
                last_peer_stream: 0,
                next_own_stream: if role == Role::Server { 2 } else { 1 },
                closed: false,
                going_away: false,
            }),
            changed: Notify::new(),
            cmd: cmd_tx,
            closed: closed_tx,
        });
        let (new_tx, new_rx) = mpsc::channel(16);
        let reader = tokio::spawn(read_loop(read, role, shared.clone(), new_tx));
        let writer = tokio::spawn(write_loop(write, cmd_rx));
        (
            Session {
                shared,
                closed: closed_rx,
                tasks: [reader, writer],
            },
            new_rx,
        )
    }

    /// Opens a stream and waits for the peer's SYN_REPLY, as spdystream's `CreateStream`
    /// followed by `Wait` does.
    pub async fn open_stream(&self, headers: Headers) -> Result<Stream, Gone> {
        let (tx, incoming) = mpsc::channel(STREAM_BUFFER);
        let (replied_tx, replied_rx) = oneshot::channel();
        // The id is taken and the SYN_STREAM queued under one lock: ids must rise on the wire.
        let id = {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(Gone);
            }
            let id = st.next_own_stream;
            st.next_own_stream += 2;
            let mut s = StreamState::new(st.initial_window);
            s.tx = Some(tx);
            s.replied = Some(replied_tx);
            st.streams.insert(id, s);
            self.shared
                .cmd
                .try_send(Cmd::Frame(Frame::SynStream {
                    stream_id: id,
                    associated_to: 0,
                    priority: 0,
                    fin: false,
                    unidirectional: false,
                    headers: headers.clone(),
                }))
                .map_err(|_| Gone)?;
            id
        };
        replied_rx.await.map_err(|_| Gone)?;
        Ok(Stream {
            id,
            headers,
            incoming,
            writer: StreamWriter {
                id,
                shared: self.shared.clone(),
            },
        })
    }

    /// Sends PING `id` (peers echo it).
    pub async fn ping(&self, id: u32) -> Result<(), Gone> {
        self.shared
            .cmd
            .send(Cmd::Frame(Frame::Ping { id }))
            .await
            .map_err(|_| Gone)
    }

    /// Ends the session from our side: GOAWAY after everything already queued, then the
    /// connection's write side is shut. The peer stops reading at GOAWAY, so every stream's
    /// last bytes must have been written (awaited) before this is called.
    pub async fn go_away(&self) {
        let last_good = {
            let mut st = self.shared.lock();
            st.going_away = true;
            st.last_peer_stream
        };
        let _ = self
            .shared
            .cmd
            .send(Cmd::Frame(Frame::GoAway {
                last_good_stream_id: last_good,
                status: 0,
            }))
            .await;
        let (done_tx, done_rx) = oneshot::channel();
        if self.shared.cmd.send(Cmd::Shutdown(done_tx)).await.is_ok() {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, done_rx).await;
        }
    }

    /// Resolves when the peer has closed the connection (or it broke).
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        let _ = rx.wait_for(|c| *c).await;
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// A watch that turns true when the peer has closed the connection.
    pub fn closed_watch(&self) -> watch::Receiver<bool> {
        self.closed.clone()
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<Cmd>) {
    let mut enc = Encoder::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while let Some(cmd) = rx.recv().await {
        let mut next = Some(cmd);
        let mut shutdown = None;
        // Everything already queued goes out in one write.
        while let Some(cmd) = next.take() {
            match cmd {
                Cmd::Frame(f) => {
                    if let Err(e) = enc.encode(&f, &mut buf) {
                        tracing::warn!("dropping a SPDY frame that cannot be encoded: {e}");
                    }
                }
                Cmd::Shutdown(done) => {
                    shutdown = Some(done);
                    break;
                }
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        let written = async {
            w.write_all(&buf).await?;
            w.flush().await
        }
        .await;
        buf.clear();
        if let Err(e) = written {
            tracing::debug!("SPDY connection write failed: {e}");
            return;
        }
        if let Some(done) = shutdown {
            let _ = w.shutdown().await;
            let _ = done.send(());
            return;
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    role: Role,
    shared: Arc<Shared>,
    new_streams: mpsc::Sender<IncomingStream>,
) {
    let mut dec = Decoder::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'read: loop {
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if !handle(frame, role, &shared, &new_streams).await {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("SPDY protocol error, closing the session: {e}");
                    break 'read;
                }
            }
        }
        match r.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("SPDY connection read failed: {e}");
                break;
            }
        }
    }
    {
        let mut st = shared.lock();
        st.closed = true;
        for s in st.streams.values_mut() {
            s.tx = None;
            s.replied = None;
        }
    }
    shared.changed.notify_waiters();
    let _ = shared.closed.send(true);
}

/// Handles one frame from the peer; false ends the session.
async fn handle(
    frame: Frame,
    role: Role,
    shared: &Arc<Shared>,
    new_streams: &mpsc::Sender<IncomingStream>,
) -> bool {
    let queue = |f: Frame| {
        let cmd = shared.cmd.clone();
        async move { cmd.send(Cmd::Frame(f)).await.is_ok() }
    };
    match frame {
        Frame::SynStream {
            stream_id,
            fin,
            headers,
            ..
        } => {
            let (tx, incoming) = mpsc::channel(STREAM_BUFFER);
            let refuse = {
                let mut st = shared.lock();
                if role.owns(stream_id) || stream_id <= st.last_peer_stream {
                    Some(RST_PROTOCOL_ERROR)
                } else if st.going_away {
                    Some(RST_REFUSED_STREAM)
                } else {
                    st.last_peer_stream = stream_id;
                    let mut s = StreamState::new(st.initial_window);
                    if !fin {
                        s.tx = Some(tx);
                    }
                    st.streams.insert(stream_id, s);
                    None
                }
            };
            if let Some(status) = refuse {
                return queue(Frame::RstStream { stream_id, status }).await;
            }
            let stream = IncomingStream {
                id: stream_id,
                headers,
                incoming,
                shared: shared.clone(),
            };
            if new_streams.send(stream).await.is_err() {
                return queue(Frame::RstStream {
                    stream_id,
                    status: RST_REFUSED_STREAM,
                })
                .await;
            }
        }
        Frame::SynReply { stream_id, fin, .. } => {
            let mut st = shared.lock();
            if let Some(s) = st.streams.get_mut(&stream_id) {
                if let Some(replied) = s.replied.take() {
                    let _ = replied.send(());
                }
                if fin {
                    s.tx = None;
                }
                Shared::reap(&mut st, stream_id);
            }
        }
        Frame::Data {
            stream_id,
            fin,
            data,
        } => {
            let len = data.len() as u32;
            let tx = shared
                .lock()
                .streams
                .get(&stream_id)
                .and_then(|s| s.tx.clone());
            if let Some(tx) = tx {
                // Waits while the consumer is behind: the connection is read no further.
                if !data.is_empty() && tx.send(data).await.is_err() {
                    // The consumer dropped its end: the data is not wanted.
                }
            }
            let mut acks = Vec::new();
            {
                let mut st = shared.lock();
                st.session_unacked += len;
                if st.session_unacked >= ACK_EVERY {
                    acks.push((0, std::mem::take(&mut st.session_unacked)));
                }
                if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.unacked += len;
                    if fin {
                        s.tx = None;
                    } else if s.unacked >= ACK_EVERY {
                        acks.push((stream_id, std::mem::take(&mut s.unacked)));
                    }
                    Shared::reap(&mut st, stream_id);
                }
            }
            for (stream_id, delta) in acks {
                if !queue(Frame::WindowUpdate { stream_id, delta }).await {
                    return false;
                }
            }
        }
        Frame::RstStream { stream_id, .. } => {
            {
                let mut st = shared.lock();
                if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.tx = None;
                    s.reset = true;
                    s.replied = None;
                    Shared::reap(&mut st, stream_id);
                }
            }
            shared.changed.notify_waiters();
        }
        Frame::Headers { stream_id, fin, .. } => {
            if fin {
                let mut st = shared.lock();
                if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.tx = None;
                    Shared::reap(&mut st, stream_id);
                }
            }
        }
        Frame::Settings { entries } => {
            {
                let mut st = shared.lock();
                st.enforced = true;
                for e in entries {
                    if e.id == SETTINGS_INITIAL_WINDOW_SIZE {
                        let delta = i64::from(e.value) - st.initial_window;
                        st.initial_window = i64::from(e.value);
                        for s in st.streams.values_mut() {
                            s.window += delta;
                        }
                    }
                }
            }
            shared.changed.notify_waiters();
        }
        Frame::WindowUpdate { stream_id, delta } => {
            {
                let mut st = shared.lock();
                st.enforced = true;
                if stream_id == 0 {
                    st.session_window += i64::from(delta);
                } else if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.window += i64::from(delta);
                }
            }
            shared.changed.notify_waiters();
        }
        Frame::Ping { id } => {
            // Echo the peer's pings; ours (same parity as our streams) come back as replies.
            if !role.owns(id) {
                return queue(Frame::Ping { id }).await;
            }
        }
        // The peer opens no more streams; those open go on until it closes the connection.
        Frame::GoAway { .. } => {}
        Frame::Unknown { frame_type } => {
            tracing::debug!("ignoring SPDY control frame of type {frame_type}");
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::server::spdy::frame::{header, Setting};

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn streams_carry_data_both_ways_and_fin_ends_them() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (server, mut incoming) = Session::start(a, Role::Server);
        let (client, _) = Session::start(b, Role::Client);

        let serve = tokio::spawn(async move {
            let s = incoming.recv().await.unwrap();
            assert_eq!(header(&s.headers, "streamtype"), Some("stdout"));
            let mut s = s.accept().await.unwrap();
            let got = s.incoming.recv().await.unwrap();
            s.writer.write(got).await.unwrap();
            // The client's FIN ends the incoming data.
            assert!(s.incoming.recv().await.is_none());
            s.writer.close().await.unwrap();
            server
        });
        let mut c = client
            .open_stream(headers(&[("streamtype", "stdout")]))
            .await
            .unwrap();
        assert_eq!(c.id, 1);
        c.writer
            .write(Bytes::from_static(b"echo me"))
            .await
            .unwrap();
        assert_eq!(c.incoming.recv().await.unwrap(), "echo me");
        c.writer.close().await.unwrap();
        assert!(c.incoming.recv().await.is_none());
        let server = serve.await.unwrap();
        server.go_away().await;
        client.closed().await;
    }

    #[tokio::test]
    async fn a_reset_ends_the_stream_for_the_other_side() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_server, mut incoming) = Session::start(a, Role::Server);
        let (client, _) = Session::start(b, Role::Client);
        let serve = tokio::spawn(async move {
            let mut s = incoming.recv().await.unwrap().accept().await.unwrap();
            assert!(s.incoming.recv().await.is_none());
            // Give the reader a moment to mark the reset.
            for _ in 0..100 {
                if s.writer.is_gone() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(s.writer.write(Bytes::from_static(b"x")).await, Err(Gone));
        });
        let c = client.open_stream(Headers::new()).await.unwrap();
        c.writer.reset().await;
        serve.await.unwrap();
    }

    /// Writes a SYN_STREAM for stream 1 as a raw peer, returning its encoder.
    async fn open_raw(raw: &mut tokio::io::DuplexStream) -> Encoder {
        let mut enc = Encoder::new();
        let mut out = BytesMut::new();
        enc.encode(
            &Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: Headers::new(),
            },
            &mut out,
        )
        .unwrap();
        raw.write_all(&out).await.unwrap();
        enc
    }

    #[tokio::test]
    async fn a_peer_without_flow_control_gets_everything_without_window_updates() {
        let (a, mut raw) = tokio::io::duplex(1 << 16);
        let (_server, mut incoming) = Session::start(a, Role::Server);
        let _enc = open_raw(&mut raw).await;
        let serve = tokio::spawn(async move {
            let s = incoming.recv().await.unwrap().accept().await.unwrap();
            s.writer
                .write(Bytes::from(vec![7u8; 1 << 20]))
                .await
                .unwrap();
            s.writer.close().await.unwrap();
        });
        // Like spdystream: read everything, never send WINDOW_UPDATE.
        let mut dec = Decoder::new();
        let mut buf = BytesMut::new();
        let mut total = 0;
        'outer: loop {
            raw.read_buf(&mut buf).await.unwrap();
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                if let Frame::Data { data, fin, .. } = f {
                    total += data.len();
                    if fin {
                        break 'outer;
                    }
                }
            }
        }
        assert_eq!(total, 1 << 20);
        serve.await.unwrap();
    }

    #[tokio::test]
    async fn a_peer_that_keeps_windows_is_respected() {
        let (a, mut raw) = tokio::io::duplex(1 << 20);
        let (_server, mut incoming) = Session::start(a, Role::Server);
        let mut enc = Encoder::new();
        let mut out = BytesMut::new();
        // Announce flow control with a 10-byte initial window, then open stream 1.
        enc.encode(
            &Frame::Settings {
                entries: vec![Setting {
                    flags: 0,
                    id: SETTINGS_INITIAL_WINDOW_SIZE,
                    value: 10,
                }],
            },
            &mut out,
        )
        .unwrap();
        enc.encode(
            &Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: Headers::new(),
            },
            &mut out,
        )
        .unwrap();
        raw.write_all(&out).await.unwrap();
        let s = incoming.recv().await.unwrap().accept().await.unwrap();
        let writer = s.writer.clone();
        let sent = tokio::spawn(async move { writer.write(Bytes::from(vec![1u8; 25])).await });

        let mut dec = Decoder::new();
        let mut buf = BytesMut::new();
        let mut data = 0;
        let mut frames = Vec::new();
        // Only 10 bytes may come before a WINDOW_UPDATE.
        while data < 10 {
            raw.read_buf(&mut buf).await.unwrap();
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                if let Frame::Data { data: d, .. } = &f {
                    data += d.len();
                }
                frames.push(f);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(dec.decode(&mut buf).unwrap().is_none());
        assert!(!sent.is_finished());
        out.clear();
        enc.encode(
            &Frame::WindowUpdate {
                stream_id: 1,
                delta: 100,
            },
            &mut out,
        )
        .unwrap();
        raw.write_all(&out).await.unwrap();
        sent.await.unwrap().unwrap();
        assert!(matches!(frames[0], Frame::SynReply { stream_id: 1, .. }));
    }

    #[tokio::test]
    async fn pings_from_the_peer_are_echoed() {
        let (a, mut raw) = tokio::io::duplex(1 << 16);
        let (_server, _incoming) = Session::start(a, Role::Server);
        let mut out = BytesMut::new();
        Encoder::new()
            .encode(&Frame::Ping { id: 1 }, &mut out)
            .unwrap();
        raw.write_all(&out).await.unwrap();
        let mut dec = Decoder::new();
        let mut buf = BytesMut::new();
        loop {
            raw.read_buf(&mut buf).await.unwrap();
            if let Some(f) = dec.decode(&mut buf).unwrap() {
                assert_eq!(f, Frame::Ping { id: 1 });
                break;
            }
        }
    }
}
