//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use control_store::{Op, OpResult, RangeRequest, Store, StoreOptions, Txn, TxnResponse};

/// Durable options without the background compaction timer, so tests decide
/// when history goes away.
pub fn opts() -> StoreOptions {
    StoreOptions {
        compaction_interval: None,
        ..StoreOptions::default()
    }
}

pub fn value_for(key: &str, size: usize) -> Bytes {
    key.bytes()
        .chain(b"|".iter().copied())
        .cycle()
        .take(size)
        .collect::<Vec<u8>>()
        .into()
}

pub async fn put(store: &Store, key: &str, value: impl Into<Bytes>) -> TxnResponse {
    store
        .txn(Txn {
            success: vec![Op::Put {
                key: key.into(),
                value: value.into(),
            }],
            ..Txn::default()
        })
        .await
        .unwrap()
}

pub async fn delete(store: &Store, key: &str) -> TxnResponse {
    store
        .txn(Txn {
            success: vec![Op::Delete { key: key.into() }],
            ..Txn::default()
        })
        .await
        .unwrap()
}

pub fn put_revision(resp: &TxnResponse) -> i64 {
    match &resp.results[0] {
        OpResult::Put { kv, .. } => kv.mod_revision,
        other => panic!("not a put result: {other:?}"),
    }
}

/// `key=value@mod_revision` for every key under `prefix` at `revision`.
pub fn dump(store: &Store, prefix: &str, revision: i64) -> Vec<String> {
    let resp = store
        .range(&RangeRequest {
            revision,
            ..RangeRequest::prefix(prefix)
        })
        .unwrap();
    resp.kvs
        .iter()
        .map(|kv| {
            format!(
                "{}={}@{}/{}/{}",
                kv.key,
                String::from_utf8_lossy(&kv.value),
                kv.mod_revision,
                kv.create_revision,
                kv.version
            )
        })
        .collect()
}

fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && !n.ends_with(".tmp"))
        })
        .collect();
    out.sort();
    out
}

/// Log segment files, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    files_with_prefix(dir, "wal-")
}

/// Snapshot files, oldest first.
pub fn snapshots(dir: &Path) -> Vec<PathBuf> {
    files_with_prefix(dir, "snap-")
}
