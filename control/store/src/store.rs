//! The async handle that ties the pieces together: recovery on open
//! (snapshot, then log replay), the writer thread with its group commit
//! (drain the queue, write one frame, one fdatasync, apply, answer,
//! broadcast), background snapshots, the periodic compaction task, and the
//! read paths.
//!
//! The writer is a dedicated OS thread rather than a tokio task because it
//! spends its life in blocking `write`/`fdatasync` calls; keeping those off
//! the runtime's worker threads keeps request handling responsive. Reads
//! take the state machine's read lock directly and never wait for the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::command::{validate_txn, Command, CommandResponse, MAX_COMMAND_BYTES};
use crate::error::{Error, Result};
use crate::kv::{KeyValue, Revision};
use crate::lock::DirLock;
use crate::mvcc::Mvcc;
use crate::range::{RangeRequest, RangeResponse};
use crate::snapshot;
use crate::txn::{Txn, TxnResponse};
use crate::wal::{self, FrameBuilder, Wal};
use crate::watch::{self, EventBatch, Watcher};

/// Commands waiting for the writer; senders wait (backpressure) beyond this.
const QUEUE_CAPACITY: usize = 8192;
/// Most commands in one group commit.
const MAX_BATCH_COMMANDS: usize = 4096;
/// The writer stops draining once a frame reaches this size, bounding how
/// much one fsync has to flush and how long its callers wait.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// Tuning knobs for [`Store::open`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// fdatasync every group commit. Only tests and benchmarks that say so
    /// may turn this off: without it an acknowledged write can be lost.
    pub fsync: bool,
    /// Like kube-apiserver: every interval, compact to the revision seen one
    /// interval earlier, so watchers get at least one interval to catch up.
    /// `None` disables automatic compaction.
    pub compaction_interval: Option<Duration>,
    /// Write a snapshot (and drop the log segments it covers) after this
    /// many log entries. 0 disables snapshots.
    pub snapshot_every_entries: u64,
    /// Rotate to a new log segment once the current one would exceed this.
    pub segment_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fsync: true,
            compaction_interval: Some(Duration::from_secs(5 * 60)),
            snapshot_every_entries: 100_000,
            segment_bytes: 64 << 20,
        }
    }
}

/// A handle to an open store. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    state: Arc<RwLock<Mvcc>>,
    /// `Option` so that `Drop` can hang up on the writer before joining it.
    queue: Option<mpsc::Sender<WriterMsg>>,
    events: broadcast::Sender<EventBatch>,
    writer: Mutex<Option<JoinHandle<()>>>,
    compactor: Mutex<Option<tokio::task::AbortHandle>>,
    /// Released once the writer has stopped (by `close`, or when the last
    /// handle drops: fields drop after `Drop::drop` joined the writer).
    lock: Mutex<Option<DirLock>>,
}

enum WriterMsg {
    Command {
        command: Command,
        reply: oneshot::Sender<Result<CommandResponse>>,
    },
    /// Finish everything queued before this, then stop.
    Shutdown { done: oneshot::Sender<Result<()>> },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .field("revision", &self.revision())
            .finish()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`: loads the newest snapshot,
    /// replays the log after it (repairing a torn tail), then starts the
    /// writer thread and, if configured, the compaction task.
    pub async fn open(dir: &Path, opts: StoreOptions) -> Result<Store> {
        let dir = dir.to_owned();
        let recovery_dir = dir.clone();
        let recovery_opts = opts.clone();
        let (lock, mvcc, wal) =
            tokio::task::spawn_blocking(move || recover(&recovery_dir, &recovery_opts))
                .await
                .map_err(|e| Error::WriterFailed(format!("recovery task failed: {e}")))??;
        tracing::info!(
            dir = %dir.display(),
            revision = mvcc.revision(),
            compacted_revision = mvcc.compacted_revision(),
            log_index = mvcc.applied_index(),
            "store opened"
        );

        let last_snapshot_index = mvcc.applied_index();
        let state = Arc::new(RwLock::new(mvcc));
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (events, _) = broadcast::channel(watch::BROADCAST_CAPACITY);
        let writer = Writer {
            dir: dir.clone(),
            wal,
            state: state.clone(),
            events: events.clone(),
            rx,
            frame: FrameBuilder::new(),
            fsync: opts.fsync,
            snapshot_every: opts.snapshot_every_entries,
            last_snapshot_index,
            snapshotter: None,
            failed: None,
        };
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::io("starting the writer thread", e))?;
        let inner = Arc::new(Inner {
            dir,
            state,
            queue: Some(queue),
            events,
            writer: Mutex::new(Some(handle)),
            compactor: Mutex::new(None),
            lock: Mutex::new(Some(lock)),
        });
        if let Some(interval) = opts.compaction_interval.filter(|d| !d.is_zero()) {
            let task = tokio::spawn(compaction_loop(Arc::downgrade(&inner), interval));
            *inner.compactor.lock() = Some(task.abort_handle());
        }
        Ok(Store { inner })
    }

    /// The one mutation path: the txn is logged, made durable together with
    /// whatever else is waiting (group commit), applied, and answered.
    /// Read-only txns (only `Get`s in both branches) are answered from the
    /// state machine directly: they change nothing, so there is nothing to
    /// log, and the state only ever holds durable writes.
    pub async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        validate_txn(&txn)?;
        if let Some(response) = self.inner.state.read().read_only_txn(&txn) {
            return Ok(response);
        }
        let command = Command::Txn(txn);
        let size = command.encoded_len();
        if size > MAX_COMMAND_BYTES {
            return Err(Error::RequestTooLarge {
                size,
                limit: MAX_COMMAND_BYTES,
            });
        }
        match self.submit(command).await? {
            CommandResponse::Txn(response) => response,
            CommandResponse::Compact(_) => Err(Error::WriterFailed(
                "writer answered a txn with a compaction".into(),
            )),
        }
    }

    /// Compacts history at or below `revision`. Logged like any mutation so
    /// that every replica compacts at the same point of its log.
    pub async fn compact(&self, revision: Revision) -> Result<()> {
        {
            // Fail fast without logging a command that would be refused.
            let state = self.inner.state.read();
            if revision <= state.compacted_revision() {
                return Err(Error::Compacted {
                    compacted_revision: state.compacted_revision(),
                });
            }
            if revision > state.revision() {
                return Err(Error::FutureRevision {
                    requested: revision,
                    current: state.revision(),
                });
            }
        }
        match self.submit(Command::Compact { revision }).await? {
            CommandResponse::Compact(result) => result,
            CommandResponse::Txn(_) => Err(Error::WriterFailed(
                "writer answered a compaction with a txn".into(),
            )),
        }
    }

    async fn submit(&self, command: Command) -> Result<CommandResponse> {
        let queue = self.inner.queue.as_ref().ok_or(Error::Closed)?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(WriterMsg::Command { command, reply })
            .await
            .map_err(|_| Error::Closed)?;
        // A dropped reply means the writer stopped before answering.
        answer.await.map_err(|_| Error::Closed)?
    }

    /// The latest live version of `key`.
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.inner.state.read().get(key)
    }

    /// Reads a range at the current or a past revision.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        self.inner.state.read().range(req)
    }

    /// Watches keys starting with `prefix`. `start_revision` 0 delivers only
    /// changes after now; N delivers every event with revision >= N (from
    /// history, then live). `Error::Compacted` if N is at or below the
    /// compacted revision.
    pub fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watcher> {
        // Subscribe before reading the revision, so nothing published in
        // between is missed (the watcher would find it in history anyway).
        let live = self.inner.events.subscribe();
        let next = watch::start_revision(&self.inner.state.read(), start_revision)?;
        Ok(Watcher::new(prefix, next, self.inner.state.clone(), live))
    }

    /// The current (last applied, durable) revision.
    pub fn revision(&self) -> Revision {
        self.inner.state.read().revision()
    }

    pub fn compacted_revision(&self) -> Revision {
        self.inner.state.read().compacted_revision()
    }

    /// Finishes every queued write, waits for an in-flight snapshot, and
    /// stops the writer and compaction task. Other clones of this handle
    /// get `Error::Closed` for writes afterwards; reads keep working.
    /// Returns the writer's error if it had failed.
    pub async fn close(self) -> Result<()> {
        if let Some(task) = self.inner.compactor.lock().take() {
            task.abort();
        }
        let Some(queue) = self.inner.queue.as_ref() else {
            return Ok(());
        };
        let (done, finished) = oneshot::channel();
        if queue.send(WriterMsg::Shutdown { done }).await.is_err() {
            return Ok(()); // already stopped
        }
        let result = finished.await.unwrap_or(Ok(()));
        // Join the (now exiting) writer off the async runtime.
        let handle = self.inner.writer.lock().take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        // The writer is gone: the directory may be reopened even while other
        // clones of this (now read-only) handle live on.
        self.inner.lock.lock().take();
        result
    }
}

impl Drop for Inner {
    /// Dropping the last handle is safe: the writer finishes what is queued
    /// (all of it already acknowledged or about to be) and exits, and we wait
    /// for it so that the directory can be reopened right away.
    fn drop(&mut self) {
        if let Some(task) = self.compactor.get_mut().take() {
            task.abort();
        }
        drop(self.queue.take());
        if let Some(handle) = self.writer.get_mut().take() {
            let _ = handle.join();
        }
    }
}

/// Locks the directory, loads the snapshot and replays the log. Blocking.
fn recover(dir: &Path, opts: &StoreOptions) -> Result<(DirLock, Mvcc, Wal)> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let lock = DirLock::acquire(dir)?;
    let mut mvcc = snapshot::load_latest(dir)?.unwrap_or_default();
    let from = mvcc.applied_index();
    let wal = Wal::open(
        dir,
        from,
        opts.segment_bytes.max(1),
        opts.fsync,
        |index, command| {
            mvcc.apply(index, &command);
            Ok(())
        },
    )?;
    tracing::debug!(
        snapshot_index = from,
        replayed = mvcc.applied_index() - from,
        "log replayed"
    );
    Ok((lock, mvcc, wal))
}

/// One queued command and where its answer goes.
struct Pending {
    command: Command,
    reply: oneshot::Sender<Result<CommandResponse>>,
}

struct Writer {
    dir: PathBuf,
    wal: Wal,
    state: Arc<RwLock<Mvcc>>,
    events: broadcast::Sender<EventBatch>,
    rx: mpsc::Receiver<WriterMsg>,
    frame: FrameBuilder,
    fsync: bool,
    snapshot_every: u64,
    last_snapshot_index: u64,
    snapshotter: Option<JoinHandle<()>>,
    /// Set after a failed append or fsync; every later write is refused.
    failed: Option<String>,
}

impl Writer {
    fn run(mut self) {
        let mut batch: Vec<Pending> = Vec::new();
        let mut shutdown = None;
        while shutdown.is_none() {
            // Wait for work, then take everything else already waiting: the
            // commands that queued up during the previous fsync share the
            // next one.
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            self.frame.begin(self.wal.next_index());
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    WriterMsg::Command { command, reply } => {
                        self.frame.push(&command);
                        batch.push(Pending { command, reply });
                    }
                    WriterMsg::Shutdown { done } => {
                        shutdown = Some(done);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH_COMMANDS && self.frame.len() < MAX_BATCH_BYTES {
                    next = self.rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch);
            }
        }
        self.finish_snapshot(true);
        if let Some(done) = shutdown {
            let result = match &self.failed {
                Some(reason) => Err(Error::WriterFailed(reason.clone())),
                None => Ok(()),
            };
            let _ = done.send(result);
        }
        tracing::debug!(dir = %self.dir.display(), "store writer stopped");
    }

    /// Appends the batch as one frame, fsyncs once, applies, answers.
    fn commit(&mut self, batch: &mut Vec<Pending>) {
        if let Some(reason) = &self.failed {
            for p in batch.drain(..) {
                let _ = p.reply.send(Err(Error::WriterFailed(reason.clone())));
            }
            return;
        }
        let first_index = self.frame.first_index();
        if let Err(e) = self
            .wal
            .append(&mut self.frame)
            .and_then(|_| self.wal.sync())
        {
            // After a failed write or fsync the file's contents are unknown;
            // retrying could acknowledge data that is not on disk. Nothing
            // of this batch was applied, so reads stay consistent; reopening
            // replays whatever did reach the disk.
            tracing::error!(error = %e, "log write failed; the store refuses further writes");
            let reason = e.to_string();
            self.failed = Some(reason.clone());
            for p in batch.drain(..) {
                let _ = p.reply.send(Err(Error::WriterFailed(reason.clone())));
            }
            return;
        }
        // Durable: now apply, in log order, under one write lock.
        let mut published = Vec::new();
        let mut responses = Vec::with_capacity(batch.len());
        {
            let mut state = self.state.write();
            for (i, p) in batch.iter().enumerate() {
                let applied = state.apply(first_index + i as u64, &p.command);
                published.extend(applied.events);
                responses.push(applied.response);
            }
        }
        if !published.is_empty() {
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(Arc::new(published));
        }
        for (p, response) in batch.drain(..).zip(responses) {
            let _ = p.reply.send(Ok(response));
        }
        self.maybe_snapshot();
    }

    /// Starts a background snapshot once enough entries accumulated. The
    /// log is rotated first so that the snapshot's index is exactly the end
    /// of the sealed segments, which can then be deleted whole.
    fn maybe_snapshot(&mut self) {
        self.finish_snapshot(false);
        let applied = self.wal.next_index() - 1;
        if self.snapshot_every == 0
            || self.snapshotter.is_some()
            || applied - self.last_snapshot_index < self.snapshot_every
        {
            return;
        }
        if !self.wal.segment_is_empty() {
            if let Err(e) = self.wal.rotate() {
                tracing::error!(error = %e, "log rotation failed; the store refuses further writes");
                self.failed = Some(e.to_string());
                return;
            }
        }
        // A structural copy: values are shared `Bytes`, history entries are
        // shared `Arc`s, so this costs one pass over the key index.
        let copy = self.state.read().clone();
        self.last_snapshot_index = applied;
        let dir = self.dir.clone();
        let fsync = self.fsync;
        let spawned = std::thread::Builder::new()
            .name("store-snapshot".into())
            .spawn(move || {
                let index = copy.applied_index();
                let result = snapshot::write(&dir, &copy, fsync)
                    .and_then(|_| wal::remove_segments_before(&dir, index + 1, fsync))
                    .and_then(|removed| snapshot::remove_older(&dir, index).map(|_| removed));
                match result {
                    Ok(removed) => {
                        tracing::info!(index, removed_segments = removed, "snapshot written")
                    }
                    // Not fatal: the log still holds everything; retried at
                    // the next threshold.
                    Err(e) => tracing::warn!(index, error = %e, "snapshot failed"),
                }
            });
        match spawned {
            Ok(handle) => self.snapshotter = Some(handle),
            Err(e) => tracing::warn!(error = %e, "could not start the snapshot thread"),
        }
    }

    fn finish_snapshot(&mut self, wait: bool) {
        if let Some(handle) = self.snapshotter.take() {
            if wait || handle.is_finished() {
                let _ = handle.join();
            } else {
                self.snapshotter = Some(handle);
            }
        }
    }
}

/// kube-apiserver's policy: every `interval`, compact to the revision that
/// was current one interval earlier. Holds only a weak reference so that it
/// never keeps a dropped store alive.
async fn compaction_loop(store: Weak<Inner>, interval: Duration) {
    let mut seen: Option<Revision> = None;
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = store.upgrade() else {
            return;
        };
        let store = Store { inner };
        if let Some(target) = seen {
            if target > store.compacted_revision() {
                match store.compact(target).await {
                    Ok(()) => tracing::debug!(revision = target, "compacted"),
                    Err(Error::Closed) => return,
                    Err(e) => tracing::warn!(revision = target, error = %e, "compaction failed"),
                }
            }
        }
        seen = Some(store.revision());
    }
}
