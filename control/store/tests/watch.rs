//! Watches through the public API: resuming after a reopen, compaction,
//! ordering under concurrent writers, and many watchers at once.

mod common;

use std::time::Duration;

use common::*;
use control_store::{Error, EventKind, Store, StoreOptions, WatchEvent, Watcher};

async fn next(w: &mut Watcher) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("watch event within 10s")
        .expect("watch still open")
        .expect("no watch error")
}

#[tokio::test]
async fn a_watch_resumes_from_a_revision_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    for i in 0..10 {
        put(&store, &format!("/w/{i}"), format!("v{i}")).await;
    }
    delete(&store, "/w/3").await; // revision 12
    store.close().await.unwrap();

    let store = Store::open(dir.path(), opts()).await.unwrap();
    let mut w = store.watch("/w/", 8).unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        let e = next(&mut w).await;
        got.push((e.kv.mod_revision, e.kind, e.kv.key.clone()));
        if e.kind == EventKind::Delete {
            assert!(e.kv.value.is_empty());
            assert_eq!(e.prev_kv.as_ref().unwrap().key, "/w/3");
            assert_eq!(e.prev_kv.as_ref().unwrap().mod_revision, 5);
        }
    }
    // Revisions 8..=12 from history, then a live one.
    assert_eq!(
        got,
        vec![
            (8, EventKind::Put, "/w/6".to_string()),
            (9, EventKind::Put, "/w/7".to_string()),
            (10, EventKind::Put, "/w/8".to_string()),
            (11, EventKind::Put, "/w/9".to_string()),
            (12, EventKind::Delete, "/w/3".to_string()),
        ]
    );
    put(&store, "/w/live", "x").await;
    put(&store, "/other", "not watched").await;
    put(&store, "/w/live2", "y").await;
    assert_eq!(next(&mut w).await.kv.mod_revision, 13);
    assert_eq!(next(&mut w).await.kv.mod_revision, 15);
    store.close().await.unwrap();
}

#[tokio::test]
async fn watching_at_or_below_the_compacted_revision_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    for i in 0..5 {
        put(&store, "/k", format!("v{i}")).await;
    }
    store.compact(4).await.unwrap();
    match store.watch("/", 4) {
        Err(Error::Compacted { compacted_revision }) => assert_eq!(compacted_revision, 4),
        other => panic!("unexpected {other:?}"),
    }
    let mut w = store.watch("/", 5).unwrap();
    assert_eq!(next(&mut w).await.kv.mod_revision, 5);
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_idle_watcher_overtaken_by_compaction_is_told_it_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    let mut w = store.watch("/", 0).unwrap();
    for i in 0..5 {
        put(&store, "/k", format!("v{i}")).await;
    }
    // The watcher reads nothing while far more batches than the live
    // buffer holds go by, then the history it would need is compacted: the
    // hole must be reported, never skipped.
    for i in 0..2000 {
        put(&store, "/k", format!("w{i}")).await;
    }
    store.compact(store.revision()).await.unwrap();
    let mut seen = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .unwrap()
        {
            Some(Ok(_)) => seen += 1,
            Some(Err(Error::Compacted { .. })) => break,
            other => panic!("unexpected {other:?} after {seen} events"),
        }
    }
    assert!(seen < 2005, "a gap must be reported, not skipped");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_revision_order_without_gaps_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    let mut w = store.watch("/c/", 0).unwrap();
    let start = store.revision();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                put(&store, &format!("/c/{t}/{i}"), "v").await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for expected in start + 1..=start + 800 {
        assert_eq!(next(&mut w).await.kv.mod_revision, expected);
    }
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_watchers_each_see_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            fsync: false, // this test is about fan-out, not the disk
            ..opts()
        },
    )
    .await
    .unwrap();
    let mut handles = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(1000);
    for i in 0..1000 {
        let mut w = store.watch(&format!("/m/{}", i % 2), 0).unwrap();
        let ready = ready_tx.clone();
        handles.push(tokio::spawn(async move {
            ready.send(()).await.unwrap();
            let mut last = 0;
            for _ in 0..100 {
                let e = next(&mut w).await;
                assert!(e.kv.mod_revision > last);
                last = e.kv.mod_revision;
            }
            last
        }));
    }
    for _ in 0..1000 {
        ready_rx.recv().await.unwrap();
    }
    for i in 0..200 {
        put(&store, &format!("/m/{}/{i}", i % 2), "v").await;
    }
    let final_revision = store.revision();
    for (i, h) in handles.into_iter().enumerate() {
        let last = h.await.unwrap();
        // Watchers on /m/1 see the final put; /m/0 the one before it.
        assert_eq!(last, final_revision - 1 + (i as i64 % 2));
    }
    store.close().await.unwrap();
}
