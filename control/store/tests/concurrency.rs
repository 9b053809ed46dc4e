//! Many concurrent writers: every acknowledged write is present, and the
//! revisions handed out are unique and dense.

mod common;

use std::collections::BTreeSet;

use common::*;
use control_store::{Compare, Op, OpResult, Store, Txn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_writers_get_unique_dense_revisions_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    let start = store.revision();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..40 {
                let key = format!("/registry/configmaps/ns{t}/cm{i}");
                let resp = put(&store, &key, value_for(&key, 1024)).await;
                acked.push((key, put_revision(&resp)));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let revisions: BTreeSet<i64> = acked.iter().map(|(_, r)| *r).collect();
    assert_eq!(revisions.len(), acked.len(), "revisions are unique");
    assert_eq!(
        revisions.iter().copied().collect::<Vec<_>>(),
        (start + 1..=start + acked.len() as i64).collect::<Vec<_>>(),
        "revisions are dense"
    );
    let check = |store: &Store| {
        for (key, rev) in &acked {
            let kv = store.get(key).unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(kv.mod_revision, *rev);
            assert_eq!(kv.value, value_for(key, 1024));
        }
    };
    check(&store);
    store.close().await.unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    check(&store);
    assert_eq!(store.revision(), start + acked.len() as i64);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_compare_and_swap_increments_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).await.unwrap();
    put(&store, "/counter", "0").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < 10 {
                let kv = store.get("/counter").unwrap();
                let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                let resp = store
                    .txn(Txn {
                        compares: vec![Compare::ModRevision {
                            key: "/counter".into(),
                            equals: kv.mod_revision,
                        }],
                        success: vec![Op::Put {
                            key: "/counter".into(),
                            value: (n + 1).to_string().into(),
                        }],
                        failure: vec![Op::Get {
                            key: "/counter".into(),
                        }],
                    })
                    .await
                    .unwrap();
                if resp.succeeded {
                    assert!(matches!(resp.results[0], OpResult::Put { .. }));
                    done += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let kv = store.get("/counter").unwrap();
    assert_eq!(&kv.value[..], b"160");
    assert_eq!(kv.version, 161);
    store.close().await.unwrap();
}
