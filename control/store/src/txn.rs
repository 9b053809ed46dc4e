//! Transactions: the single mutation request shape (etcd's `Txn`: compares,
//! then the success or failure branch of operations), and its response.

use bytes::Bytes;

use crate::kv::{KeyValue, Revision};

/// A conditional batch of operations, applied atomically at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    /// All must hold for `success` to run; otherwise `failure` runs.
    pub compares: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

/// A condition on the current state of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The key's `mod_revision` equals `equals`; 0 means "the key does not exist".
    ModRevision { key: String, equals: Revision },
    /// The key's `version` equals `equals`; 0 means "the key does not exist".
    Version { key: String, equals: i64 },
}

/// One operation of a transaction branch. Operations run in order, so a `Get`
/// after a `Put` of the same key sees the new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put { key: String, value: Bytes },
    Delete { key: String },
    Get { key: String },
}

/// The outcome of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether the compares held (and so the success branch ran).
    pub succeeded: bool,
    /// The store revision after this transaction.
    pub revision: Revision,
    /// One result per operation of the branch that ran.
    pub results: Vec<OpResult>,
}

/// The result of one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Put {
        prev: Option<KeyValue>,
        kv: KeyValue,
    },
    Delete {
        prev: Option<KeyValue>,
    },
    Get(Option<KeyValue>),
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } | Op::Get { key } => key,
        }
    }
}

impl Compare {
    pub fn key(&self) -> &str {
        match self {
            Compare::ModRevision { key, .. } | Compare::Version { key, .. } => key,
        }
    }
}
