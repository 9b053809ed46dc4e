//! Response bodies (whole and streamed) and reading request bodies under the size limit.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;

use super::status::{ApiError, ApiResult};

/// Every response body: a whole buffer or a stream of frames (watches).
pub type Body = BoxBody<Bytes, Infallible>;

/// Largest request body accepted, as kube-apiserver's 3 MiB limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    raw_json_response(code, serde_json::to_vec(value).unwrap_or_default())
}

pub fn raw_json_response(code: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
    with_content_type(code, "application/json", bytes)
}

pub fn with_content_type(
    code: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(bytes));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// How much of an oversized body is read and discarded so the client can read the 413 answer;
/// beyond this the connection is simply closed.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads the whole request body, refusing more than [`MAX_BODY`] bytes with 413.
pub async fn read(mut body: Incoming) -> ApiResult<Bytes> {
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > MAX_BODY {
            // Keep reading (and dropping) so that an HTTP/1.1 client that is still sending gets
            // to see the Status instead of a reset connection.
            if seen > DRAIN_LIMIT {
                break;
            }
            buf.clear();
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if seen > MAX_BODY {
        return Err(ApiError::TooLarge { limit: MAX_BODY });
    }
    Ok(buf.freeze())
}

/// Parses a JSON request body into a value; a malformed body is a 400 as in Kubernetes.
pub fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the object provided is unrecognized (must be of type JSON object): {e}"
        ))
    })
}
