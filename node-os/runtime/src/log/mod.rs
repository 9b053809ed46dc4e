//! Container logs in the CRI format the kubelet reads (`<RFC3339Nano> <stream> <P|F> <text>`).
//! The runtime's helper writes them, never the container, so a container cannot forge lines
//! or escape rotation. [`format`] formats and parses lines (pure); [`writer`] appends and
//! rotates files.

pub mod format;
pub mod writer;

pub use format::{format_record, parse_record, select, LogOptions, LogRecord, Stream, Tag};
pub use writer::{LogWriter, RotationPolicy};
