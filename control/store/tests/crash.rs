//! kill -9 at random moments: every write the store acknowledged before the
//! kill must be there, with its value, after reopening.
//!
//! The test re-executes its own binary as the child writer (selected by an
//! environment variable). The child writes from many tasks as fast as it can
//! and prints `ack <key> <revision>` after each acknowledged txn; the parent
//! reads for a random while, SIGKILLs it (`Child::kill`), drains what was
//! already printed, reopens the store and checks every acknowledged write.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use control_store::{Store, StoreOptions};

const CHILD_DIR_VAR: &str = "CONTROL_STORE_CRASH_CHILD_DIR";
const CHILD_ROUND_VAR: &str = "CONTROL_STORE_CRASH_CHILD_ROUND";
const VALUE_BYTES: usize = 1024;

/// Small segments and frequent snapshots, so that kills also land during
/// rotations, snapshot writes and segment deletions.
fn crash_opts() -> StoreOptions {
    StoreOptions {
        segment_bytes: 512 << 10,
        snapshot_every_entries: 3000,
        ..opts()
    }
}

/// The child writer. A no-op unless the parent selected it.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let round: u32 = std::env::var(CHILD_ROUND_VAR).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::open(Path::new(&dir), crash_opts()).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    // Mostly fresh keys, some overwrites of a per-task key.
                    let key = if i % 4 == 3 {
                        format!("/crash/{round}/hot/{t}")
                    } else {
                        format!("/crash/{round}/{t}/{i}")
                    };
                    let value = value_for(&format!("{key}#{i}"), VALUE_BYTES);
                    let resp = put(&store, &key, value).await;
                    let rev = put_revision(&resp);
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {key} {rev} {i}").unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

struct Ack {
    key: String,
    revision: i64,
    seq: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    let key = parts.next()?.to_string();
    let revision = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some(Ack { key, revision, seq })
}

fn pseudo_random_millis(lo: u64, hi: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    lo + (nanos.wrapping_mul(6364136223846793005) >> 11) % (hi - lo)
}

/// Runs the child until `run_for` after its first ack, kills it, and
/// returns every ack it printed.
fn run_child_and_kill(dir: &Path, round: u32, run_for: Duration) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir)
        .env(CHILD_ROUND_VAR, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    let started = Instant::now();
    let mut kill_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if kill_at.is_some_and(|k| now >= k) {
            break;
        }
        assert!(
            now - started < Duration::from_secs(60),
            "child produced no acks within 60s"
        );
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(line) => {
                if let Some(ack) = parse_ack(&line) {
                    kill_at.get_or_insert_with(|| Instant::now() + run_for);
                    acks.push(ack);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("child exited on its own"),
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Everything already in the pipe was acknowledged before the kill.
    reader.join().unwrap();
    acks.extend(rx.try_iter().filter_map(|l| parse_ack(&l)));
    acks
}

#[test]
fn acknowledged_writes_survive_kill_9_at_random_moments() {
    if std::env::var(CHILD_DIR_VAR).is_ok() {
        return; // we are the child running the whole suite by mistake
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut total = 0;
    for round in 0..4u32 {
        let run_for = Duration::from_millis(pseudo_random_millis(50, 700));
        let acks = run_child_and_kill(dir.path(), round, run_for);
        assert!(!acks.is_empty());
        total += acks.len();
        rt.block_on(async {
            let store = Store::open(dir.path(), crash_opts())
                .await
                .unwrap_or_else(|e| panic!("round {round}: reopen after kill -9 failed: {e}"));
            // The latest acknowledged write of each key must be present
            // (overwritten "hot" keys are checked at their newest ack).
            let mut newest = std::collections::HashMap::new();
            for ack in &acks {
                let e = newest.entry(ack.key.as_str()).or_insert(ack);
                if ack.revision > e.revision {
                    *e = ack;
                }
            }
            for ack in newest.values() {
                let kv = store.get(&ack.key).unwrap_or_else(|| {
                    panic!(
                        "round {round}: acknowledged {} @{} is missing",
                        ack.key, ack.revision
                    )
                });
                assert!(
                    kv.mod_revision >= ack.revision,
                    "round {round}: {} went back from {} to {}",
                    ack.key,
                    ack.revision,
                    kv.mod_revision
                );
                if kv.mod_revision == ack.revision {
                    assert_eq!(
                        kv.value,
                        value_for(&format!("{}#{}", ack.key, ack.seq), VALUE_BYTES),
                        "round {round}: wrong value for {}",
                        ack.key
                    );
                }
            }
            let max_ack = acks.iter().map(|a| a.revision).max().unwrap();
            assert!(store.revision() >= max_ack);
            // The recovered store takes writes again.
            put(&store, &format!("/crash/{round}/after"), "ok").await;
            store.close().await.unwrap();
        });
    }
    eprintln!("crash test: {total} acknowledged writes checked over 4 kills");
}
