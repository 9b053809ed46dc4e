//! The network side of probes: one HTTP(S) GET, or one gRPC health check, against a pod.
//! As kubelet's prober, HTTPS probes do not verify the pod's certificate (a probe checks
//! that the container answers, not who it is; pods serve self-signed certificates), and a
//! gRPC probe calls `grpc.health.v1.Health/Check` over cleartext HTTP/2.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The request line and headers kubelet sends (`User-Agent: kube-probe/<minor>`).
pub fn http_request(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> String {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// The status code of an HTTP/1.x status line.
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, req: &str) -> Option<u16> {
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < buf.len() {
        let got = s.read(&mut buf[n..]).await.ok()?;
        if got == 0 || buf[..n + got].contains(&b'\n') {
            n += got;
            break;
        }
        n += got;
    }
    status_code(&buf[..n])
}

/// One probe GET over HTTP or HTTPS; the status code, or None when nothing answered.
pub async fn http_get(
    scheme: &str,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Option<u16> {
    let tcp = tokio::net::TcpStream::connect((host, port)).await.ok()?;
    let req = http_request(host, port, path, headers);
    if scheme != "https" {
        return exchange(tcp, &req).await;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(NoVerification))
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.to_string()).ok()?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .ok()?;
    exchange(tls, &req).await
}

/// A `grpc.health.v1.HealthCheckRequest` with `service` set (protobuf field 1, a string),
/// framed as one uncompressed gRPC message.
pub fn grpc_health_request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a);
        let mut len = service.len();
        while len >= 0x80 {
            msg.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        msg.push(len as u8);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    framed.extend_from_slice(&msg);
    framed
}

/// Whether a gRPC health response says SERVING (field 1, enum value 1).
pub fn grpc_serving(body: &[u8]) -> bool {
    body.len() >= 5 && body[0] == 0 && body[5..].windows(2).any(|w| w == [0x08, 0x01])
}

/// One gRPC health check; true when the server answers SERVING.
pub async fn grpc_check(host: &str, port: u16, service: &str) -> bool {
    let run = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            TokioIo::new(tcp),
        )
        .await
        .ok()?;
        tokio::spawn(conn);
        let req = http::Request::post(format!("http://{host}:{port}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("user-agent", "kube-probe/1.32")
            .body(Full::new(Bytes::from(grpc_health_request(service))))
            .ok()?;
        let resp = send.send_request(req).await.ok()?;
        if !resp.status().is_success() {
            return Some(false);
        }
        let body = resp.into_body().collect().await.ok()?;
        let grpc_ok = body
            .trailers()
            .and_then(|t| t.get("grpc-status"))
            .is_none_or(|s| s == "0");
        Some(grpc_ok && grpc_serving(&body.to_bytes()))
    };
    run.await.unwrap_or(false)
}

#[derive(Debug)]
struct NoVerification;

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_status_lines_are_read_as_kubelet_does() {
        let r = http_request("10.0.0.5", 8080, "/healthz", &[("X-A".into(), "b".into())]);
        assert!(r.starts_with("GET /healthz HTTP/1.1\r\nHost: 10.0.0.5:8080\r\n"));
        assert!(r.contains("User-Agent: kube-probe/1.32\r\n"));
        assert!(r.ends_with("X-A: b\r\n\r\n"));
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status_code(b"HTTP/1.0 500 x"), Some(500));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH"), None);
    }

    #[test]
    fn grpc_health_messages_are_framed_protobuf() {
        assert_eq!(grpc_health_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            grpc_health_request("db"),
            vec![0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        assert!(grpc_serving(&[0, 0, 0, 0, 2, 0x08, 0x01]));
        assert!(!grpc_serving(&[0, 0, 0, 0, 2, 0x08, 0x02]));
        assert!(!grpc_serving(&[0, 0, 0, 0, 0]));
    }

    #[tokio::test]
    async fn https_probes_accept_self_signed_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut buf = [0u8; 512];
            let _ = tls.read(&mut buf).await.unwrap();
            tls.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            tls.shutdown().await.unwrap();
        });
        assert_eq!(
            http_get("https", "127.0.0.1", port, "/healthz", &[]).await,
            Some(503)
        );
    }
}
