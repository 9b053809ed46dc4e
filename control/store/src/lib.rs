//! An embedded, durable, etcd-shaped MVCC revision store: the API server's
//! only storage.
//!
//! Every mutation is a `Command` appended to a log under
//! a monotonically increasing log index, then applied deterministically to a
//! pure state machine (`mvcc`). The IO (log segments, snapshots, the writer
//! thread) is kept apart from the state machine so that a consensus layer
//! (openraft) can drive the same state machine later.
//!
//! Module map:
//! - [`kv`], [`txn`], [`range`]: the request and response types.
//! - `command`: the log command type and its binary encoding.
//! - `mvcc`: the state machine (key index, revisions, compaction, history).
//! - `wal`: log segments, framing, fsync, replay, torn-tail repair.
//! - `snapshot`: snapshot files.
//! - `lock`: the exclusive lock on the data directory.
//! - [`watch`](mod@watch): watchers.
//! - [`store`](mod@store): the async [`Store`] handle tying it all together.

mod codec;
mod command;
mod error;
pub mod kv;
mod lock;
mod mvcc;
pub mod range;
mod snapshot;
pub mod store;
pub mod txn;
mod wal;
pub mod watch;

pub use command::MAX_COMMAND_BYTES;
pub use error::{Error, Result};
pub use kv::{EventKind, KeyValue, Revision, WatchEvent};
pub use range::{RangeEnd, RangeRequest, RangeResponse};
pub use store::{Store, StoreOptions};
pub use txn::{Compare, Op, OpResult, Txn, TxnResponse};
pub use watch::Watcher;
