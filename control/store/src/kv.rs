//! The values the store hands out: revisions, key-value records and watch
//! events. Shapes follow etcd's `mvccpb.KeyValue` and `mvccpb.Event`.

use bytes::Bytes;

/// The store's global logical clock. Every mutating transaction bumps it by
/// exactly one; an empty store is at revision 1, like etcd.
pub type Revision = i64;

/// One version of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    /// Shared, reference-counted bytes: handing a value out never copies it.
    pub value: Bytes,
    /// Revision at which the key was (last) created.
    pub create_revision: Revision,
    /// Revision of the last modification of this key.
    pub mod_revision: Revision,
    /// Number of modifications since creation (1 for a fresh key); resets
    /// when the key is deleted.
    pub version: i64,
}

/// What happened to a key at a revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change delivered to a watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    /// For `Put`, the new version. For `Delete`, the key with an empty value,
    /// `mod_revision` = the delete's revision and zero create/version (as etcd
    /// reports tombstones).
    pub kv: KeyValue,
    /// The version this event replaced, if the key existed before.
    pub prev_kv: Option<KeyValue>,
}
