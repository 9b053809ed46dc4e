//! Port-forward over a SPDY session (plain, or tunnelled in WebSocket), as the kubelet's
//! `portforward/httpstream.go` serves it. For each local connection client-go opens two
//! streams with the same `port` and `requestid` headers: `streamtype: error` first (which it
//! half-closes at once and reads to its end) and then `streamtype: data`. Once both are there,
//! the data stream is spliced to a TCP connection to the port inside the pod; a failure is
//! written as text on the error stream. The error stream is closed when the forwarding ends,
//! which is what the client waits for before it forgets the pair.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::backend::KubeletBackend;
use super::remotecommand::STREAM_CREATION_TIMEOUT;
use super::spdy::{header, IncomingStream, Stream};

/// The pod whose ports are forwarded.
#[derive(Clone, Debug)]
pub struct PortForwardTarget {
    pub namespace: String,
    pub pod: String,
    pub uid: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    Error,
    Data,
}

/// Checks a new stream's headers as the kubelet's `httpStreamReceived` does: a port in
/// 1..=65535 and a stream type of `error` or `data`.
pub fn check_stream(headers: &super::spdy::Headers) -> Result<(u16, StreamType), String> {
    let port = header(headers, "port").unwrap_or("");
    if port.is_empty() {
        return Err("\"port\" header is required".into());
    }
    let port: u16 = port
        .parse()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port \"{port}\" must be > 0"));
    }
    match header(headers, "streamtype").unwrap_or("") {
        "" => Err("\"streamtype\" header is required".into()),
        "error" => Ok((port, StreamType::Error)),
        "data" => Ok((port, StreamType::Data)),
        other => Err(format!("invalid stream type {other:?}")),
    }
}

/// The request a stream belongs to: its `requestid` header, or for clients too old to send
/// one, a pseudo id from the stream id (the error stream's id; the data stream follows it).
pub fn request_id(headers: &super::spdy::Headers, stream_id: u32, kind: StreamType) -> String {
    match header(headers, "requestid") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => match kind {
            StreamType::Error => stream_id.to_string(),
            StreamType::Data => stream_id.saturating_sub(2).to_string(),
        },
    }
}

struct Pair {
    port: u16,
    error: Option<Stream>,
    data: Option<Stream>,
    since: Instant,
}

/// Serves one port-forward session until the client closes it.
pub async fn serve<B: KubeletBackend>(
    backend: Arc<B>,
    target: PortForwardTarget,
    mut incoming: mpsc::Receiver<IncomingStream>,
) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut sweep = tokio::time::interval(Duration::from_secs(5));
    loop {
        let s = tokio::select! {
            s = incoming.recv() => match s {
                Some(s) => s,
                None => return,
            },
            _ = sweep.tick() => {
                let expired: Vec<String> = pairs
                    .iter()
                    .filter(|(_, p)| p.since.elapsed() > STREAM_CREATION_TIMEOUT)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    if let Some(p) = pairs.remove(&id) {
                        if let Some(e) = p.error {
                            let msg = format!("(request={id}) timed out waiting for streams");
                            tracing::warn!(pod = %target.pod, "port-forward {msg}");
                            let _ = e.writer.write(Bytes::from(msg)).await;
                            let _ = e.writer.close().await;
                        }
                        if let Some(d) = p.data {
                            d.writer.reset().await;
                        }
                    }
                }
                continue;
            }
        };
        let (port, kind) = match check_stream(&s.headers) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(pod = %target.pod, "refusing a port-forward stream: {e}");
                s.refuse().await;
                continue;
            }
        };
        let id = request_id(&s.headers, s.id, kind);
        let Ok(stream) = s.accept().await else { return };
        let pair = pairs.entry(id.clone()).or_insert_with(|| Pair {
            port,
            error: None,
            data: None,
            since: Instant::now(),
        });
        let slot = match kind {
            StreamType::Error => &mut pair.error,
            StreamType::Data => &mut pair.data,
        };
        if slot.is_some() {
            let what = if kind == StreamType::Error {
                "error"
            } else {
                "data"
            };
            let msg =
                format!("error processing stream for request {id}: {what} stream already assigned");
            tracing::warn!(pod = %target.pod, "port-forward {msg}");
            if let Some(e) = &pair.error {
                let _ = e.writer.write(Bytes::from(msg)).await;
            }
            stream.writer.reset().await;
            continue;
        }
        *slot = Some(stream);
        if pair.error.is_some() && pair.data.is_some() {
            let p = pairs.remove(&id).expect("present");
            let (Some(error), Some(data)) = (p.error, p.data) else {
                unreachable!("both checked above")
            };
            tokio::spawn(forward(
                backend.clone(),
                target.clone(),
                p.port,
                error,
                data,
            ));
        }
    }
}

/// Splices one forwarded connection, then closes the error stream (with a message first if
/// the port could not be reached).
async fn forward<B: KubeletBackend>(
    backend: Arc<B>,
    target: PortForwardTarget,
    port: u16,
    error: Stream,
    data: Stream,
) {
    let tcp = match backend
        .port_forward(&target.namespace, &target.pod, target.uid.as_deref(), port)
        .await
    {
        Ok(tcp) => tcp,
        Err(e) => {
            let msg = format!(
                "error forwarding port {port} to pod {}, uid {}: {e}",
                target.pod,
                target.uid.as_deref().unwrap_or("")
            );
            tracing::info!("{msg}");
            let _ = error.writer.write(Bytes::from(msg)).await;
            let _ = error.writer.close().await;
            let _ = data.writer.close().await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut from_pod, mut to_pod) = tcp.into_split();
    let Stream {
        incoming: mut from_client,
        writer: to_client,
        ..
    } = data;
    let up = async {
        while let Some(chunk) = from_client.recv().await {
            if to_pod.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // The client's FIN (its local connection closed): the pod reads EOF.
        let _ = to_pod.shutdown().await;
    };
    let down_writer = to_client.clone();
    let down = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from_pod.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if down_writer
                        .write(Bytes::copy_from_slice(&buf[..n]))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = down_writer.close().await;
    };
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        tokio::select! {
            _ = &mut up, if !up_done => {
                up_done = true;
                // A reset (not a FIN) means the client gave up on this connection.
                if to_client.is_gone() {
                    break;
                }
            }
            _ = &mut down, if !down_done => down_done = true,
        }
    }
    let _ = error.writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> super::super::spdy::Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn streams_need_a_port_and_a_known_type() {
        assert_eq!(
            check_stream(&h(&[("port", "8080"), ("streamtype", "data")])),
            Ok((8080, StreamType::Data))
        );
        assert_eq!(
            check_stream(&h(&[("streamtype", "data")])),
            Err("\"port\" header is required".into())
        );
        assert!(check_stream(&h(&[("port", "0"), ("streamtype", "data")]))
            .unwrap_err()
            .contains("must be > 0"));
        assert!(
            check_stream(&h(&[("port", "70000"), ("streamtype", "data")]))
                .unwrap_err()
                .starts_with("unable to parse \"70000\" as a port")
        );
        assert_eq!(
            check_stream(&h(&[("port", "80"), ("streamtype", "stdin")])),
            Err("invalid stream type \"stdin\"".into())
        );
    }

    #[test]
    fn pairs_are_matched_by_request_id_or_stream_id() {
        let with = h(&[("requestid", "7")]);
        assert_eq!(request_id(&with, 9, StreamType::Data), "7");
        let without = h(&[]);
        assert_eq!(request_id(&without, 1, StreamType::Error), "1");
        assert_eq!(request_id(&without, 3, StreamType::Data), "1");
    }
}
