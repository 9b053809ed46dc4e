//! Durability: reopening, torn tails, mid-log corruption, snapshots,
//! compaction across restarts, and shutdown paths.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use control_store::{Compare, Error, Op, RangeRequest, Store, StoreOptions, Txn};

#[tokio::test]
async fn reopen_keeps_every_key_revision_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    assert_eq!(store.revision(), 1);
    for i in 0..20 {
        put(
            &store,
            &format!("/registry/pods/default/p{}", i % 6),
            format!("v{i}"),
        )
        .await;
    }
    delete(&store, "/registry/pods/default/p2").await;
    let before = dump(&store, "/", 0);
    let before_past = dump(&store, "/", 10);
    let revision = store.revision();
    assert_eq!(revision, 22);
    store.close().await.unwrap();

    let store = Store::open(dir.path(), opts()).await.unwrap();
    assert_eq!(store.revision(), revision);
    assert_eq!(dump(&store, "/", 0), before);
    assert_eq!(dump(&store, "/", 10), before_past);
    // And it keeps going from where it was.
    assert_eq!(put(&store, "/x", "y").await.revision, revision + 1);
    store.close().await.unwrap();
}

/// Writes `n` puts one at a time (so each is its own log frame) and closes.
async fn write_sequential(dir: &std::path::Path, n: usize) {
    let store = Store::open(dir, opts()).await.unwrap();
    for i in 0..n {
        put(
            &store,
            &format!("/k/{i:03}"),
            value_for(&format!("/k/{i:03}"), 300),
        )
        .await;
    }
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_truncated_last_record_is_dropped_and_everything_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    write_sequential(dir.path(), 10).await;
    let seg = segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    // Cut the last frame in half: as if the machine died mid-write of the
    // 10th put, before it was acknowledged.
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 150)
        .unwrap();

    let store = Store::open(dir.path(), opts()).await.unwrap();
    assert_eq!(store.revision(), 10, "9 puts survive");
    for i in 0..9 {
        let key = format!("/k/{i:03}");
        assert_eq!(store.get(&key).unwrap().value, value_for(&key, 300));
    }
    assert_eq!(store.get("/k/009"), None);
    // The repaired log accepts new writes, which survive another reopen.
    put(&store, "/after", "repair").await;
    store.close().await.unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    assert_eq!(store.revision(), 11);
    assert_eq!(
        store.get("/after").unwrap().value,
        Bytes::from_static(b"repair")
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn garbage_or_zeros_after_the_last_record_are_truncated_on_open() {
    for tail in [
        b"\x13\x00\x00\x00garbage that is not a frame".to_vec(),
        vec![0u8; 4096],
        vec![0xffu8; 3],
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_sequential(dir.path(), 10).await;
        let seg = segments(dir.path()).pop().unwrap();
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        let store = Store::open(dir.path(), opts()).await.unwrap();
        assert_eq!(store.revision(), 11, "all 10 acknowledged puts survive");
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            len,
            "the garbage was cut off"
        );
        put(&store, "/more", "x").await;
        store.close().await.unwrap();
        let store = Store::open(dir.path(), opts()).await.unwrap();
        assert_eq!(store.revision(), 12);
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_damaged_record_in_the_middle_of_the_log_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    write_sequential(dir.path(), 10).await;
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();
    match Store::open(dir.path(), opts()).await {
        Err(Error::Corrupt { reason, .. }) => {
            assert!(reason.contains("followed by a valid frame"), "{reason}")
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("opened a log whose middle is damaged"),
    }
    // Still refused on a second try: nothing was "repaired" away.
    assert!(matches!(
        Store::open(dir.path(), opts()).await,
        Err(Error::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_damaged_sealed_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let small = StoreOptions {
        segment_bytes: 4096,
        ..opts()
    };
    let store = Store::open(dir.path(), small.clone()).await.unwrap();
    for i in 0..40 {
        put(&store, &format!("/k/{i}"), value_for("v", 500)).await;
    }
    store.close().await.unwrap();
    let segs = segments(dir.path());
    assert!(segs.len() >= 3, "expected rotation, got {segs:?}");
    // Damage the very end of a sealed segment: looks like a torn tail, but
    // the segment is sealed and later segments exist.
    let sealed = &segs[1];
    let len = fs::metadata(sealed).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(sealed)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    assert!(matches!(
        Store::open(dir.path(), small).await,
        Err(Error::Corrupt { .. })
    ));
}

#[tokio::test]
async fn snapshots_drop_covered_segments_and_reopen_replays_snapshot_plus_log() {
    let dir = tempfile::tempdir().unwrap();
    let o = StoreOptions {
        snapshot_every_entries: 50,
        segment_bytes: 8 << 10,
        ..opts()
    };
    let store = Store::open(dir.path(), o.clone()).await.unwrap();
    for i in 0..230 {
        let key = format!("/s/{}", i % 37);
        if i % 9 == 4 {
            delete(&store, &key).await;
        } else {
            put(&store, &key, value_for(&format!("{key}#{i}"), 200)).await;
        }
        if i == 120 {
            store.compact(60).await.unwrap();
        }
    }
    let revision = store.revision();
    let current = dump(&store, "/", 0);
    let past = dump(&store, "/", 150);
    store.close().await.unwrap();

    let snaps = snapshots(dir.path());
    assert_eq!(snaps.len(), 1, "older snapshots are removed: {snaps:?}");
    let segs = segments(dir.path());
    let first_kept: u64 = segs[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches("wal-")
        .trim_end_matches(".log")
        .parse()
        .unwrap();
    assert!(
        first_kept > 150,
        "segments covered by the snapshot were deleted, first kept {first_kept}"
    );

    let store = Store::open(dir.path(), o).await.unwrap();
    assert_eq!(store.revision(), revision);
    assert_eq!(store.compacted_revision(), 60);
    assert_eq!(dump(&store, "/", 0), current);
    assert_eq!(dump(&store, "/", 150), past);
    // History from the snapshot serves watches: revision 61 onwards is kept.
    let mut w = store.watch("/", 61).unwrap();
    let first = w.next().await.unwrap().unwrap();
    assert_eq!(first.kv.mod_revision, 61);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_damaged_snapshot_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let o = StoreOptions {
        snapshot_every_entries: 10,
        ..opts()
    };
    let store = Store::open(dir.path(), o.clone()).await.unwrap();
    for i in 0..25 {
        put(&store, &format!("/k/{i}"), "v").await;
    }
    store.close().await.unwrap();
    let snap = snapshots(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&snap).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    fs::write(&snap, &bytes).unwrap();
    assert!(matches!(
        Store::open(dir.path(), o).await,
        Err(Error::Corrupt { .. })
    ));
}

#[tokio::test]
async fn compaction_survives_reopen_and_answers_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    for i in 0..10 {
        put(&store, "/k", format!("v{i}")).await;
    }
    store.compact(6).await.unwrap();
    assert!(matches!(
        store.compact(6).await,
        Err(Error::Compacted {
            compacted_revision: 6
        })
    ));
    assert!(matches!(
        store.compact(100).await,
        Err(Error::FutureRevision { .. })
    ));
    store.close().await.unwrap();

    let store = Store::open(dir.path(), opts()).await.unwrap();
    assert_eq!(store.compacted_revision(), 6);
    let at = |revision| {
        store.range(&RangeRequest {
            revision,
            ..RangeRequest::single("/k")
        })
    };
    assert!(matches!(
        at(5),
        Err(Error::Compacted {
            compacted_revision: 6
        })
    ));
    assert_eq!(at(6).unwrap().kvs[0].value, Bytes::from_static(b"v4"));
    assert_eq!(at(0).unwrap().kvs[0].value, Bytes::from_static(b"v9"));
    assert!(matches!(
        store.watch("/", 6),
        Err(Error::Compacted {
            compacted_revision: 6
        })
    ));
    assert!(matches!(at(12), Err(Error::FutureRevision { .. })));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_without_close_is_safe_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    let clone = store.clone();
    put(&store, "/a", "1").await;
    drop(store);
    put(&clone, "/b", "2").await;
    drop(clone);
    let store = Store::open(dir.path(), opts()).await.unwrap();
    assert_eq!(store.revision(), 3);
    assert!(store.get("/b").is_some());
}

#[tokio::test]
async fn a_closed_store_refuses_writes_but_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    let other = store.clone();
    put(&store, "/a", "1").await;
    store.close().await.unwrap();
    let err = other
        .txn(Txn {
            success: vec![Op::Put {
                key: "/b".into(),
                value: Bytes::new(),
            }],
            ..Txn::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err}");
    assert!(other.get("/a").is_some());
}

#[tokio::test]
async fn read_only_and_failed_txns_leave_the_revision_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    put(&store, "/a", "1").await;
    let r = store
        .txn(Txn {
            compares: vec![Compare::Version {
                key: "/a".into(),
                equals: 5,
            }],
            success: vec![Op::Delete { key: "/a".into() }],
            failure: vec![Op::Get { key: "/a".into() }],
        })
        .await
        .unwrap();
    assert!(!r.succeeded);
    assert_eq!(r.revision, 2);
    let r = store
        .txn(Txn {
            success: vec![Op::Get { key: "/a".into() }],
            ..Txn::default()
        })
        .await
        .unwrap();
    assert_eq!(r.revision, 2);
    assert_eq!(store.revision(), 2);
    store.close().await.unwrap();
}

#[tokio::test]
async fn automatic_compaction_compacts_to_the_revision_seen_one_interval_earlier() {
    let dir = tempfile::tempdir().unwrap();
    let o = StoreOptions {
        compaction_interval: Some(Duration::from_millis(150)),
        ..opts()
    };
    let store = Store::open(dir.path(), o).await.unwrap();
    for i in 0..10 {
        put(&store, "/k", format!("v{i}")).await;
    }
    assert_eq!(store.compacted_revision(), 0);
    // First tick records revision 11, the second compacts to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.compacted_revision() != 11 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no automatic compaction"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.get("/k").unwrap().value, Bytes::from_static(b"v9"));
    store.close().await.unwrap();
}

#[tokio::test]
async fn invalid_requests_are_refused_before_logging() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    let dup = Txn {
        success: vec![
            Op::Put {
                key: "/a".into(),
                value: Bytes::new(),
            },
            Op::Delete { key: "/a".into() },
        ],
        ..Txn::default()
    };
    assert!(matches!(
        store.txn(dup).await,
        Err(Error::InvalidRequest(_))
    ));
    let huge = Txn {
        success: vec![Op::Put {
            key: "/big".into(),
            value: Bytes::from(vec![0u8; control_store::MAX_COMMAND_BYTES + 1]),
        }],
        ..Txn::default()
    };
    assert!(matches!(
        store.txn(huge).await,
        Err(Error::RequestTooLarge { .. })
    ));
    assert!(matches!(
        store.watch("/", -1),
        Err(Error::InvalidRequest(_))
    ));
    assert_eq!(store.revision(), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_directory_in_use_by_an_open_store_cannot_be_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    let reader = store.clone();
    assert!(matches!(
        Store::open(dir.path(), opts()).await,
        Err(Error::Locked(_))
    ));
    put(&store, "/a", "1").await;
    store.close().await.unwrap();
    // Closed (even with a read-only clone still alive): free to reopen.
    let again = Store::open(dir.path(), opts()).await.unwrap();
    assert!(again.get("/a").is_some());
    assert!(reader.get("/a").is_some());
    again.close().await.unwrap();
}
