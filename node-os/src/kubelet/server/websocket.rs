//! WebSocket transports. Exec and attach use the channel protocols of apimachinery's `wsstream`:
//! every binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error,
//! 4 resize) and the `base64.` variants send text messages of `'0' + channel` and base64. `v5`
//! adds the client's half-close `[255, channel]` (stdin EOF). Port-forward (kubectl 1.31+)
//! carries a SPDY session as a plain byte stream in binary messages ([`WsBytes`]): message
//! boundaries mean nothing, Go writes a frame in several messages.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use base64::Engine;
use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::remotecommand::{ClientStreams, Connection, Finish, Out, StatusFormat, StreamOptions};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5's stream-close signal.
pub const CLOSE: u8 = 255;

/// How a channel protocol frames messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelProtocol {
    /// Text messages with a `'0' + channel` prefix and base64 payloads.
    pub base64: bool,
    /// `[255, channel]` from the client closes that channel (v5).
    pub close_signal: bool,
    /// The error channel carries a `metav1.Status` (v4, v5) rather than text.
    pub status_json: bool,
}

/// The framing of a negotiated subprotocol ("" is binary channels with text errors).
pub fn channel_protocol(name: &str) -> ChannelProtocol {
    ChannelProtocol {
        base64: name.contains("base64."),
        close_signal: name == "v5.channel.k8s.io",
        status_json: name.starts_with("v4.") || name.starts_with("v5."),
    }
}

/// A message from the client, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromClient {
    Data {
        channel: u8,
        data: Bytes,
    },
    /// The client will send nothing more on this channel (v5).
    Closed {
        channel: u8,
    },
    /// The client closed the WebSocket.
    Disconnect,
    /// Pings, pongs, empty or malformed messages.
    Nothing,
}

pub fn decode_message(p: ChannelProtocol, msg: Message) -> FromClient {
    let raw: Bytes = match msg {
        Message::Binary(b) if !p.base64 => b,
        Message::Text(t) if p.base64 => Bytes::copy_from_slice(t.as_bytes()),
        Message::Close(_) => return FromClient::Disconnect,
        _ => return FromClient::Nothing,
    };
    if raw.is_empty() {
        return FromClient::Nothing;
    }
    if p.close_signal && raw[0] == CLOSE {
        return match raw.get(1) {
            Some(&channel) if raw.len() == 2 => FromClient::Closed { channel },
            _ => FromClient::Nothing,
        };
    }
    if p.base64 {
        let channel = raw[0].wrapping_sub(b'0');
        match base64::engine::general_purpose::STANDARD.decode(&raw[1..]) {
            Ok(data) => FromClient::Data {
                channel,
                data: data.into(),
            },
            Err(_) => FromClient::Nothing,
        }
    } else {
        FromClient::Data {
            channel: raw[0],
            data: raw.slice(1..),
        }
    }
}

pub fn encode_message(p: ChannelProtocol, channel: u8, data: &[u8]) -> Message {
    if p.base64 {
        let mut text = String::with_capacity(1 + data.len() * 4 / 3 + 4);
        text.push(char::from(b'0' + channel));
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut text);
        Message::text(text)
    } else {
        let mut frame = Vec::with_capacity(1 + data.len());
        frame.push(channel);
        frame.extend_from_slice(data);
        Message::binary(frame)
    }
}

/// What the session sends through the WebSocket writer.
pub enum WsOut {
    Data(u8, Bytes),
    /// A normal close (1000): the client's readers then end with EOF.
    Close,
}

/// Opens the channels of an exec or attach session on an upgraded connection.
pub async fn open_channels<IO>(io: IO, protocol: &'static str, opts: StreamOptions) -> Connection
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let p = channel_protocol(protocol);
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (sink, stream) = ws.split();
    let (out_tx, out_rx) = mpsc::channel::<WsOut>(32);
    let (gone_tx, gone_rx) = watch::channel(false);
    let (stdin_tx, stdin_rx) = if opts.stdin {
        let (t, r) = mpsc::channel(32);
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let (resize_tx, resize_rx) = if opts.tty {
        let (t, r) = mpsc::channel(8);
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let writer = tokio::spawn(write_loop(sink, out_rx, p));
    let reader = tokio::spawn(read_loop(stream, p, stdin_tx, resize_tx, gone_tx));
    // An empty message on the lowest channel the client reads tells it the streams are up,
    // as the kubelet's `createWebSocketStreams` does.
    let first = if opts.stdout {
        STDOUT
    } else if opts.stderr {
        STDERR
    } else {
        ERROR
    };
    let _ = out_tx.send(WsOut::Data(first, Bytes::new())).await;
    let out = |channel: u8| Out::Ws {
        channel,
        tx: out_tx.clone(),
    };
    Connection {
        streams: ClientStreams {
            stdin: stdin_rx,
            resize: resize_rx,
            stdout: opts.stdout.then(|| out(STDOUT)),
            stderr: opts.stderr.then(|| out(STDERR)),
            error: out(ERROR),
            gone: gone_rx,
        },
        status: if p.status_json {
            StatusFormat::Json
        } else {
            StatusFormat::Text
        },
        finish: Finish::WebSocket {
            tx: out_tx,
            writer,
            reader,
        },
    }
}

async fn write_loop<S>(mut sink: S, mut rx: mpsc::Receiver<WsOut>, p: ChannelProtocol)
where
    S: Sink<Message> + Unpin,
{
    while let Some(out) = rx.recv().await {
        let msg = match out {
            WsOut::Data(channel, data) => encode_message(p, channel, &data),
            WsOut::Close => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    })))
                    .await;
                return;
            }
        };
        if sink.send(msg).await.is_err() {
            return;
        }
    }
}

async fn read_loop<S>(
    mut stream: S,
    p: ChannelProtocol,
    mut stdin: Option<mpsc::Sender<Bytes>>,
    mut resize: Option<mpsc::Sender<Bytes>>,
    gone: watch::Sender<bool>,
) where
    S: Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    // Reading also answers the client's pings (client-go pings every 5 s).
    while let Some(Ok(msg)) = stream.next().await {
        match decode_message(p, msg) {
            FromClient::Data { channel, data } => {
                let target = match channel {
                    STDIN => &stdin,
                    RESIZE => &resize,
                    _ => continue,
                };
                if let Some(tx) = target {
                    // A consumer that went away just means the data is not wanted.
                    let _ = tx.send(data).await;
                }
            }
            FromClient::Closed { channel: STDIN } => stdin = None,
            FromClient::Closed { channel: RESIZE } => resize = None,
            FromClient::Closed { .. } | FromClient::Nothing => {}
            FromClient::Disconnect => break,
        }
    }
    let _ = gone.send(true);
}

/// A WebSocket as a byte stream: reads return binary messages' bytes, each write sends one
/// binary message, shutdown sends a normal close. For SPDY tunnelled in WebSocket.
pub struct WsBytes<S> {
    ws: WebSocketStream<S>,
    pending: Bytes,
    eof: bool,
}

impl<S> WsBytes<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Takes over an upgraded connection as the server end.
    pub async fn accept(io: S) -> WsBytes<S> {
        WsBytes::new(WebSocketStream::from_raw_socket(io, Role::Server, None).await)
    }

    /// Wraps a WebSocket whose handshake is done (either end).
    pub fn new(ws: WebSocketStream<S>) -> WsBytes<S> {
        WsBytes {
            ws,
            pending: Bytes::new(),
            eof: false,
        }
    }
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(e)
}

impl<S> AsyncRead for WsBytes<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                let chunk = self.pending.split_to(n);
                buf.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(b))) => self.pending = b,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text message in a SPDY tunnel",
                    )))
                }
                Some(Ok(Message::Close(_))) | None => self.eof = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(ws_error(e))),
            }
        }
    }
}

impl<S> AsyncWrite for WsBytes<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(ws_error)?;
        Pin::new(&mut self.ws)
            .start_send(Message::binary(Bytes::copy_from_slice(buf)))
            .map_err(ws_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(ws_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.ws).poll_close(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            // Already closed by the peer: nothing left to say.
            Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(ws_error(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V5: ChannelProtocol = ChannelProtocol {
        base64: false,
        close_signal: true,
        status_json: true,
    };

    #[test]
    fn protocols_are_read_from_their_names() {
        assert_eq!(channel_protocol("v5.channel.k8s.io"), V5);
        let v4b = channel_protocol("v4.base64.channel.k8s.io");
        assert!(v4b.base64 && v4b.status_json && !v4b.close_signal);
        let v1 = channel_protocol("channel.k8s.io");
        assert!(!v1.base64 && !v1.status_json && !v1.close_signal);
        assert!(!channel_protocol("").status_json);
    }

    #[test]
    fn binary_channels_prefix_the_channel_byte() {
        assert_eq!(
            encode_message(V5, STDOUT, b"hi"),
            Message::binary(vec![1u8, b'h', b'i'])
        );
        assert_eq!(
            decode_message(V5, Message::binary(vec![0u8, b'l', b's', b'\n'])),
            FromClient::Data {
                channel: STDIN,
                data: Bytes::from_static(b"ls\n")
            }
        );
        // The v5 close signal; in v4 the same bytes are data on channel 255 (ignored).
        assert_eq!(
            decode_message(V5, Message::binary(vec![255u8, 0])),
            FromClient::Closed { channel: STDIN }
        );
        let v4 = channel_protocol("v4.channel.k8s.io");
        assert_eq!(
            decode_message(v4, Message::binary(vec![255u8, 0])),
            FromClient::Data {
                channel: 255,
                data: Bytes::from_static(&[0])
            }
        );
        assert_eq!(
            decode_message(V5, Message::binary(Vec::<u8>::new())),
            FromClient::Nothing
        );
        assert_eq!(
            decode_message(V5, Message::Close(None)),
            FromClient::Disconnect
        );
    }

    #[test]
    fn base64_channels_use_text_and_a_digit() {
        let p = channel_protocol("base64.channel.k8s.io");
        assert_eq!(encode_message(p, STDOUT, b"\n"), Message::text("1Cg=="));
        assert_eq!(
            decode_message(p, Message::text("0Zm9vCg==")),
            FromClient::Data {
                channel: STDIN,
                data: Bytes::from_static(b"foo\n")
            }
        );
    }

    #[tokio::test]
    async fn ws_bytes_joins_messages_into_a_stream() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = WsBytes::accept(a).await;
            let mut got = vec![0u8; 6];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(b"pong").await.unwrap();
            s.shutdown().await.unwrap();
            got
        });
        let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
        client.send(Message::binary(b"pi".to_vec())).await.unwrap();
        client
            .send(Message::binary(b"ng!!".to_vec()))
            .await
            .unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::binary(b"pong".to_vec())
        );
        assert!(matches!(
            client.next().await.unwrap().unwrap(),
            Message::Close(_)
        ));
        assert_eq!(server.await.unwrap(), b"ping!!");
    }
}
