//! Log commands: every mutation of the store is a `Command`, appended to the
//! log under a log index and then applied to the state machine. This module
//! holds the command type and its binary encoding.
//!
//! The encoding is the contract between the log on disk (and, later, raft
//! followers) and the state machine, so it is explicit, versioned by a tag
//! byte per command, and decoded defensively.
//!
//! ```text
//! command  := TAG_TXN txn | TAG_COMPACT i64(revision)
//! txn      := u32 n, n × compare, u32 n, n × op (success), u32 n, n × op (failure)
//! compare  := u8 kind, str key, i64 equals
//! op       := OP_PUT str key, bytes value | OP_DELETE str key | OP_GET str key
//! str/bytes:= u32 len, len bytes
//! ```

use std::collections::HashSet;

use bytes::Bytes;

use crate::codec::{self, DecodeError, DecodeResult, Reader};
use crate::error::{Error, Result};
use crate::kv::Revision;
use crate::txn::{Compare, Op, Txn, TxnResponse};

/// Largest encoded command accepted. Kubernetes objects are capped at 1.5 MiB
/// by etcd's default request limit; this leaves generous room for multi-op
/// transactions while keeping every log record far below the u32 frame limit.
pub const MAX_COMMAND_BYTES: usize = 32 << 20;

const TAG_TXN: u8 = 1;
const TAG_COMPACT: u8 = 2;

const CMP_MOD_REVISION: u8 = 1;
const CMP_VERSION: u8 = 2;

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_GET: u8 = 3;

/// A state machine command, as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Txn(Txn),
    /// Drop history at or below `revision` (keeping each key's latest live
    /// version). A log command so that every replica compacts identically.
    Compact {
        revision: Revision,
    },
}

/// What applying a command answered.
#[derive(Debug)]
pub enum CommandResponse {
    /// The txn's answer, or why it was refused (a malformed txn is refused
    /// identically on every replica, without changing state).
    Txn(Result<TxnResponse>),
    /// Compaction either happened or was refused (already compacted, or a
    /// future revision). Refusals are deterministic: every replica refuses.
    Compact(Result<()>),
}

impl Command {
    /// Exact number of bytes `encode` appends.
    pub fn encoded_len(&self) -> usize {
        match self {
            Command::Compact { .. } => 1 + 8,
            Command::Txn(txn) => {
                let ops = |ops: &[Op]| -> usize {
                    ops.iter()
                        .map(|op| match op {
                            Op::Put { key, value } => {
                                1 + codec::bytes_len(key.as_bytes()) + codec::bytes_len(value)
                            }
                            Op::Delete { key } | Op::Get { key } => {
                                1 + codec::bytes_len(key.as_bytes())
                            }
                        })
                        .sum()
                };
                let compares: usize = txn
                    .compares
                    .iter()
                    .map(|c| 1 + codec::bytes_len(c.key().as_bytes()) + 8)
                    .sum();
                1 + 4 + compares + 4 + ops(&txn.success) + 4 + ops(&txn.failure)
            }
        }
    }

    /// Appends the binary encoding to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Command::Compact { revision } => {
                codec::put_u8(buf, TAG_COMPACT);
                codec::put_i64(buf, *revision);
            }
            Command::Txn(txn) => {
                codec::put_u8(buf, TAG_TXN);
                codec::put_u32(buf, txn.compares.len() as u32);
                for c in &txn.compares {
                    match c {
                        Compare::ModRevision { key, equals } => {
                            codec::put_u8(buf, CMP_MOD_REVISION);
                            codec::put_str(buf, key);
                            codec::put_i64(buf, *equals);
                        }
                        Compare::Version { key, equals } => {
                            codec::put_u8(buf, CMP_VERSION);
                            codec::put_str(buf, key);
                            codec::put_i64(buf, *equals);
                        }
                    }
                }
                encode_ops(buf, &txn.success);
                encode_ops(buf, &txn.failure);
            }
        }
    }

    /// Decodes one command that must span all of `bytes`. Values are copied
    /// out so that a replayed command does not pin the whole log segment.
    pub fn decode(bytes: &[u8]) -> DecodeResult<Command> {
        let mut r = Reader::new(bytes);
        let cmd = match r.u8("command tag")? {
            TAG_COMPACT => Command::Compact {
                revision: r.i64("compact revision")?,
            },
            TAG_TXN => {
                let n = r.count(1 + 4 + 8, "compare count")?;
                let mut compares = Vec::with_capacity(n);
                for _ in 0..n {
                    let kind = r.u8("compare kind")?;
                    let key = r.str("compare key")?.to_owned();
                    let equals = r.i64("compare value")?;
                    compares.push(match kind {
                        CMP_MOD_REVISION => Compare::ModRevision { key, equals },
                        CMP_VERSION => Compare::Version { key, equals },
                        _ => return Err(bad(&r, "unknown compare kind")),
                    });
                }
                let success = decode_ops(&mut r)?;
                let failure = decode_ops(&mut r)?;
                Command::Txn(Txn {
                    compares,
                    success,
                    failure,
                })
            }
            _ => return Err(bad(&r, "unknown command tag")),
        };
        if !r.is_empty() {
            return Err(bad(&r, "trailing bytes after command"));
        }
        Ok(cmd)
    }
}

fn bad(r: &Reader<'_>, what: &'static str) -> DecodeError {
    DecodeError {
        offset: r.position(),
        what,
    }
}

fn encode_ops(buf: &mut Vec<u8>, ops: &[Op]) {
    codec::put_u32(buf, ops.len() as u32);
    for op in ops {
        match op {
            Op::Put { key, value } => {
                codec::put_u8(buf, OP_PUT);
                codec::put_str(buf, key);
                codec::put_bytes(buf, value);
            }
            Op::Delete { key } => {
                codec::put_u8(buf, OP_DELETE);
                codec::put_str(buf, key);
            }
            Op::Get { key } => {
                codec::put_u8(buf, OP_GET);
                codec::put_str(buf, key);
            }
        }
    }
}

fn decode_ops(r: &mut Reader<'_>) -> DecodeResult<Vec<Op>> {
    let n = r.count(1 + 4, "op count")?;
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        let kind = r.u8("op kind")?;
        let key = r.str("op key")?.to_owned();
        ops.push(match kind {
            OP_PUT => Op::Put {
                key,
                value: Bytes::copy_from_slice(r.bytes("put value")?),
            },
            OP_DELETE => Op::Delete { key },
            OP_GET => Op::Get { key },
            _ => return Err(bad(r, "unknown op kind")),
        });
    }
    Ok(ops)
}

/// Checks a transaction before it is logged, so that the state machine only
/// ever sees well-formed commands: keys are non-empty, and no key is written
/// twice in one branch (every write in a txn shares one revision, so two
/// writes of one key would be ambiguous; etcd refuses them too).
pub(crate) fn validate_txn(txn: &Txn) -> Result<()> {
    for c in &txn.compares {
        if c.key().is_empty() {
            return Err(Error::InvalidRequest("compare with an empty key".into()));
        }
    }
    for branch in [&txn.success, &txn.failure] {
        let mut written = HashSet::new();
        for op in branch {
            if op.key().is_empty() {
                return Err(Error::InvalidRequest("operation with an empty key".into()));
            }
            if matches!(op, Op::Put { .. } | Op::Delete { .. }) && !written.insert(op.key()) {
                return Err(Error::InvalidRequest(format!(
                    "duplicate key {:?} written twice in one transaction branch",
                    op.key()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Command {
        Command::Txn(Txn {
            compares: vec![
                Compare::ModRevision {
                    key: "/a".into(),
                    equals: 7,
                },
                Compare::Version {
                    key: "/b".into(),
                    equals: 0,
                },
            ],
            success: vec![
                Op::Put {
                    key: "/a".into(),
                    value: Bytes::from_static(b"{\"kind\":\"Pod\"}"),
                },
                Op::Delete { key: "/b".into() },
            ],
            failure: vec![Op::Get { key: "/a".into() }],
        })
    }

    #[test]
    fn commands_round_trip_and_encoded_len_is_exact() {
        for cmd in [
            sample(),
            Command::Compact { revision: 42 },
            Command::Txn(Txn::default()),
        ] {
            let mut buf = Vec::new();
            cmd.encode(&mut buf);
            assert_eq!(buf.len(), cmd.encoded_len());
            assert_eq!(Command::decode(&buf).unwrap(), cmd);
        }
    }

    #[test]
    fn every_truncation_and_bad_tag_is_a_decode_error() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        for cut in 0..buf.len() {
            assert!(Command::decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = buf.clone();
        trailing.push(0);
        assert!(Command::decode(&trailing).is_err());
        let mut bad_tag = buf;
        bad_tag[0] = 99;
        assert!(Command::decode(&bad_tag).is_err());
    }

    #[test]
    fn validation_rejects_empty_and_duplicate_keys() {
        let put = |k: &str| Op::Put {
            key: k.into(),
            value: Bytes::new(),
        };
        let dup = Txn {
            success: vec![put("/a"), Op::Delete { key: "/a".into() }],
            ..Txn::default()
        };
        assert!(matches!(validate_txn(&dup), Err(Error::InvalidRequest(_))));
        let empty = Txn {
            failure: vec![put("")],
            ..Txn::default()
        };
        assert!(matches!(
            validate_txn(&empty),
            Err(Error::InvalidRequest(_))
        ));
        let ok = Txn {
            success: vec![put("/a"), Op::Get { key: "/a".into() }],
            failure: vec![put("/a")],
            ..Txn::default()
        };
        assert!(validate_txn(&ok).is_ok());
    }
}
