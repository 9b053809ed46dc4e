//! SPDY/3.1 as kubectl's client-go speaks it (through moby/spdystream) for `exec`, `attach` and
//! `port-forward`: [`frame`] is the wire format (pure), [`session`] runs a connection. No
//! maintained crate implements it; this is the subset spdystream uses, with nothing of
//! SPDY's HTTP semantics (no server push, no request/response mapping).

pub mod dictionary;
pub mod frame;
pub mod session;

pub use frame::{header, Headers};
pub use session::{Gone, IncomingStream, Role, Session, Stream, StreamWriter};
