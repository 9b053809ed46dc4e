//! Watchers: ordered, gap-free streams of changes under a key prefix.
//!
//! Live events reach watchers through one bounded broadcast channel carrying
//! `Arc`ed batches (one message per group commit), so the writer never waits
//! for a watcher and fan-out copies nothing. Each watcher tracks the next
//! revision it owes its consumer. Because revisions are dense (every mutating
//! revision has an entry), any hole — a lagged receiver, a batch that was
//! applied but not yet broadcast, a watch that starts in the past — shows up
//! as "the next revision I see is not the one I expect", and the watcher
//! re-reads exactly the missing revisions from the state machine's retained
//! history. If that history was compacted away the watcher ends with
//! `Error::Compacted`.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::error::{Error, Result};
use crate::kv::{Revision, WatchEvent};
use crate::mvcc::{Mvcc, RevisionEvents};

/// One group commit's worth of revisions, shared by all watchers.
pub(crate) type EventBatch = Arc<Vec<Arc<RevisionEvents>>>;

/// Capacity of the live broadcast, in batches. A watcher that falls further
/// behind catches up from history instead of holding the writer back.
pub(crate) const BROADCAST_CAPACITY: usize = 1024;

/// Revisions read from history per catch-up step, bounding how long one
/// watcher holds the state machine's read lock.
const CATCH_UP_REVISIONS: usize = 512;

/// A stream of changes to keys under a prefix, in revision order.
pub struct Watcher {
    prefix: String,
    /// The next revision this watcher has not yet looked at.
    next_revision: Revision,
    state: Arc<RwLock<Mvcc>>,
    live: broadcast::Receiver<EventBatch>,
    pending: VecDeque<WatchEvent>,
    finished: bool,
}

impl Watcher {
    pub(crate) fn new(
        prefix: &str,
        next_revision: Revision,
        state: Arc<RwLock<Mvcc>>,
        live: broadcast::Receiver<EventBatch>,
    ) -> Self {
        Watcher {
            prefix: prefix.to_owned(),
            next_revision,
            state,
            live,
            pending: VecDeque::new(),
            finished: false,
        }
    }

    /// The next event, ordered by revision with no gap or duplicate.
    /// `Some(Err(Error::Compacted { .. }))` if the watcher fell so far behind
    /// that the events it needs were compacted (after which it ends), `None`
    /// once the store is gone and every event has been delivered.
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            // Take whatever was already broadcast, without waiting.
            let mut closed = false;
            loop {
                match self.live.try_recv() {
                    Ok(batch) => self.take_live(&batch),
                    // The receiver skipped ahead; the gap is filled from
                    // history below.
                    Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => {
                        closed = true;
                        break;
                    }
                }
            }
            if !self.pending.is_empty() {
                continue;
            }
            match self.catch_up() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
            if closed {
                self.finished = true;
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => self.take_live(&batch),
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {}
            }
        }
    }

    /// The revision the watcher will look at next (one past the last
    /// revision it has fully processed).
    pub fn next_revision(&self) -> Revision {
        self.next_revision
    }

    fn take(&mut self, entry: &RevisionEvents) {
        for event in &entry.events {
            if event.kv.key.starts_with(self.prefix.as_str()) {
                self.pending.push_back(event.clone());
            }
        }
        self.next_revision = entry.revision + 1;
    }

    fn take_live(&mut self, batch: &[Arc<RevisionEvents>]) {
        for entry in batch {
            if entry.revision < self.next_revision {
                continue; // already delivered (from history)
            }
            if entry.revision > self.next_revision {
                // A hole: leave the rest to `catch_up`, which reads history
                // in order from `next_revision`.
                return;
            }
            self.take(entry);
        }
    }

    /// Reads revisions the watcher is missing from the retained history.
    /// Returns whether it advanced.
    fn catch_up(&mut self) -> Result<bool> {
        let entries = {
            let state = self.state.read();
            if self.next_revision > state.revision() {
                return Ok(false);
            }
            let entries = state.events_since(self.next_revision, CATCH_UP_REVISIONS)?;
            if entries.is_empty() {
                // Only possible when the current revision has no events at
                // all (the initial revision 1): nothing to deliver.
                self.next_revision = state.revision() + 1;
                return Ok(false);
            }
            entries
        };
        for entry in &entries {
            self.take(entry);
        }
        Ok(true)
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("prefix", &self.prefix)
            .field("next_revision", &self.next_revision)
            .field("pending", &self.pending.len())
            .field("finished", &self.finished)
            .finish()
    }
}

/// Resolves a watch's start revision: 0 = changes after now, N = from N.
pub(crate) fn start_revision(state: &Mvcc, requested: Revision) -> Result<Revision> {
    if requested < 0 {
        return Err(Error::InvalidRequest(format!(
            "negative watch start revision {requested}"
        )));
    }
    if requested == 0 {
        return Ok(state.revision() + 1);
    }
    if requested <= state.compacted_revision() {
        return Err(Error::Compacted {
            compacted_revision: state.compacted_revision(),
        });
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::kv::EventKind;
    use crate::txn::{Op, Txn};
    use bytes::Bytes;

    struct Harness {
        state: Arc<RwLock<Mvcc>>,
        tx: broadcast::Sender<EventBatch>,
        index: u64,
    }

    impl Harness {
        fn new(capacity: usize) -> Self {
            Harness {
                state: Arc::new(RwLock::new(Mvcc::new())),
                tx: broadcast::channel(capacity).0,
                index: 0,
            }
        }

        /// Applies puts as one batch; broadcasts it only if `publish`.
        fn put_batch(&mut self, keys: &[&str], publish: bool) {
            let mut batch = Vec::new();
            {
                let mut state = self.state.write();
                for key in keys {
                    self.index += 1;
                    let applied = state.apply(
                        self.index,
                        &Command::Txn(Txn {
                            success: vec![Op::Put {
                                key: (*key).into(),
                                value: Bytes::from_static(b"v"),
                            }],
                            ..Txn::default()
                        }),
                    );
                    batch.extend(applied.events);
                }
            }
            if publish {
                let _ = self.tx.send(Arc::new(batch));
            }
        }

        fn watch(&self, prefix: &str, from: Revision) -> Result<Watcher> {
            let rx = self.tx.subscribe();
            let next = start_revision(&self.state.read(), from)?;
            Ok(Watcher::new(prefix, next, self.state.clone(), rx))
        }
    }

    async fn collect(w: &mut Watcher, n: usize) -> Vec<(Revision, String)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let e = w.next().await.unwrap().unwrap();
            assert_eq!(e.kind, EventKind::Put);
            out.push((e.kv.mod_revision, e.kv.key));
        }
        out
    }

    #[tokio::test]
    async fn a_watch_from_the_past_replays_history_then_follows_live_events() {
        let mut h = Harness::new(16);
        h.put_batch(&["/a/1", "/b/1", "/a/2"], true); // revisions 2, 3, 4
        let mut w = h.watch("/a/", 2).unwrap();
        h.put_batch(&["/a/3", "/b/2"], true); // 5, 6
        h.put_batch(&["/a/4"], true); // 7
        let got = collect(&mut w, 4).await;
        assert_eq!(
            got,
            vec![
                (2, "/a/1".into()),
                (4, "/a/2".into()),
                (5, "/a/3".into()),
                (7, "/a/4".into())
            ]
        );
    }

    #[tokio::test]
    async fn a_watch_from_zero_sees_only_later_changes() {
        let mut h = Harness::new(16);
        h.put_batch(&["/a/1"], true);
        let mut w = h.watch("/a/", 0).unwrap();
        h.put_batch(&["/a/2"], true);
        assert_eq!(collect(&mut w, 1).await, vec![(3, "/a/2".into())]);
    }

    #[tokio::test]
    async fn a_lagging_watcher_catches_up_from_history_without_gaps_or_duplicates() {
        let mut h = Harness::new(2);
        let mut w = h.watch("/", 0).unwrap();
        let keys: Vec<String> = (0..50).map(|i| format!("/k/{i}")).collect();
        for chunk in keys.chunks(5) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            h.put_batch(&refs, true);
        }
        // Some batches applied but never broadcast (the writer is between
        // apply and publish) must also be found.
        h.put_batch(&["/k/unpublished"], false);
        h.put_batch(&["/k/last"], true);
        let got = collect(&mut w, 52).await;
        let revisions: Vec<Revision> = got.iter().map(|(r, _)| *r).collect();
        assert_eq!(revisions, (2..54).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_watcher_behind_a_compaction_gets_compacted_and_ends() {
        let mut h = Harness::new(1);
        let mut w = h.watch("/", 0).unwrap();
        for i in 0..5 {
            h.put_batch(&[&format!("/k/{i}")], true);
        }
        h.index += 1;
        h.state
            .write()
            .apply(h.index, &Command::Compact { revision: 4 });
        match w.next().await {
            Some(Err(Error::Compacted { compacted_revision })) => assert_eq!(compacted_revision, 4),
            other => panic!("unexpected {other:?}"),
        }
        assert!(w.next().await.is_none());
        assert!(matches!(
            h.watch("/", 4),
            Err(Error::Compacted {
                compacted_revision: 4
            })
        ));
        assert!(h.watch("/", 5).is_ok());
    }

    #[tokio::test]
    async fn a_watcher_ends_when_the_store_goes_away_after_delivering_everything() {
        let mut h = Harness::new(16);
        let mut w = h.watch("/", 1).unwrap();
        h.put_batch(&["/x"], true);
        drop(h.tx);
        assert_eq!(collect(&mut w, 1).await, vec![(2, "/x".into())]);
        assert!(w.next().await.is_none());
    }
}
