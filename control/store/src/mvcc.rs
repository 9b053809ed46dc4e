//! The MVCC state machine: the key index with every retained version, the
//! global revision, compaction, ranges (current and past), and the
//! revision-ordered event history that watches replay from.
//!
//! Pure and deterministic: no IO, no clocks, no randomness. Applying the same
//! commands in the same log order yields the same state and the same answers,
//! which is what lets the log be replayed after a crash today and lets raft
//! drive replicas later.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::command::{validate_txn, Command, CommandResponse};
use crate::error::{Error, Result};
use crate::kv::{EventKind, KeyValue, Revision, WatchEvent};
use crate::range::{RangeEnd, RangeRequest, RangeResponse};
use crate::txn::{Compare, Op, OpResult, Txn, TxnResponse};

/// The events of one mutating revision, in operation order. Shared (`Arc`)
/// between the history and every live watcher, so fan-out copies nothing.
#[derive(Debug)]
pub(crate) struct RevisionEvents {
    pub revision: Revision,
    pub events: Vec<WatchEvent>,
}

/// One version of a key. `value == None` is a tombstone (the key was deleted
/// at `mod_revision`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub mod_revision: Revision,
    /// Position among the writes of its revision (etcd's sub-revision); keeps
    /// event order within a multi-key txn across snapshot reloads.
    pub sub: u32,
    pub create_revision: Revision,
    pub version: i64,
    pub value: Option<Bytes>,
}

impl Version {
    fn live(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }

    fn to_kv(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: self.value.clone().unwrap_or_default(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
        }
    }
}

/// Every retained version of one key, oldest first (strictly increasing
/// `mod_revision`).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyHistory {
    pub versions: Vec<Version>,
}

impl KeyHistory {
    /// The live version visible at `revision`, if any.
    fn at(&self, revision: Revision) -> Option<&Version> {
        let v = match self.versions.last() {
            // Fast path: reads at the current revision see the newest version.
            Some(last) if last.mod_revision <= revision => last,
            _ => {
                let n = self
                    .versions
                    .partition_point(|v| v.mod_revision <= revision);
                self.versions.get(n.checked_sub(1)?)?
            }
        };
        v.live().map(|_| v)
    }

    fn latest(&self) -> Option<&Version> {
        self.versions.last().filter(|v| v.value.is_some())
    }
}

/// What applying one command produced.
#[derive(Debug)]
pub(crate) struct Applied {
    pub response: CommandResponse,
    /// The events of the new revision, if the command mutated anything.
    pub events: Option<Arc<RevisionEvents>>,
}

/// The state machine.
#[derive(Clone, Debug)]
pub(crate) struct Mvcc {
    keys: BTreeMap<String, KeyHistory>,
    revision: Revision,
    compacted: Revision,
    applied_index: u64,
    /// One entry per mutating revision in `(max(compacted, 1), revision]`,
    /// dense and in order, so a revision's entry is found by subtraction.
    history: VecDeque<Arc<RevisionEvents>>,
}

impl Default for Mvcc {
    fn default() -> Self {
        Self::new()
    }
}

impl Mvcc {
    /// An empty store at revision 1 (like etcd), nothing applied or compacted.
    pub fn new() -> Self {
        Mvcc {
            keys: BTreeMap::new(),
            revision: 1,
            compacted: 0,
            applied_index: 0,
            history: VecDeque::new(),
        }
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn compacted_revision(&self) -> Revision {
        self.compacted
    }

    /// Log index of the last applied command.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Applies the command at log `index`. Must be called with consecutive
    /// indexes; commands at or below `applied_index` were already applied.
    pub fn apply(&mut self, index: u64, command: &Command) -> Applied {
        debug_assert!(index > self.applied_index, "log index went backwards");
        self.applied_index = index;
        match command {
            Command::Txn(txn) => match validate_txn(txn) {
                // Validated before logging too; re-checked here so that a bad
                // command can never break the index's invariants.
                Err(e) => Applied {
                    response: CommandResponse::Txn(Err(e)),
                    events: None,
                },
                Ok(()) => {
                    let (response, events) = self.apply_txn(txn);
                    Applied {
                        response: CommandResponse::Txn(Ok(response)),
                        events,
                    }
                }
            },
            Command::Compact { revision } => Applied {
                response: CommandResponse::Compact(self.compact(*revision)),
                events: None,
            },
        }
    }

    fn current(&self, key: &str) -> Option<&Version> {
        self.keys.get(key).and_then(KeyHistory::latest)
    }

    fn compare_holds(&self, compare: &Compare) -> bool {
        let cur = self.current(compare.key());
        match compare {
            Compare::ModRevision { equals, .. } => cur.map_or(0, |v| v.mod_revision) == *equals,
            Compare::Version { equals, .. } => cur.map_or(0, |v| v.version) == *equals,
        }
    }

    /// Answers a txn whose branches hold only `Get`s without applying
    /// anything; `None` if it would write. Equivalent to applying it: such a
    /// txn never changes state or revision.
    pub fn read_only_txn(&self, txn: &Txn) -> Option<TxnResponse> {
        let succeeded = txn.compares.iter().all(|c| self.compare_holds(c));
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let results = ops
            .iter()
            .map(|op| match op {
                Op::Get { key } => Some(OpResult::Get(self.get(key))),
                Op::Put { .. } | Op::Delete { .. } => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let other = if succeeded {
            &txn.failure
        } else {
            &txn.success
        };
        if other.iter().any(|op| !matches!(op, Op::Get { .. })) {
            return None;
        }
        Some(TxnResponse {
            succeeded,
            revision: self.revision,
            results,
        })
    }

    fn apply_txn(&mut self, txn: &Txn) -> (TxnResponse, Option<Arc<RevisionEvents>>) {
        let succeeded = txn.compares.iter().all(|c| self.compare_holds(c));
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        // All writes of the txn share the next revision; it only becomes the
        // store's revision if something was actually written.
        let rev = self.revision + 1;
        let mut events: Vec<WatchEvent> = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Get { key } => {
                    results.push(OpResult::Get(self.current(key).map(|v| v.to_kv(key))));
                }
                Op::Put { key, value } => {
                    let history = match self.keys.get_mut(key.as_str()) {
                        Some(h) => h,
                        None => self.keys.entry(key.clone()).or_default(),
                    };
                    let prev = history.latest();
                    let (create_revision, version) =
                        prev.map_or((rev, 1), |p| (p.create_revision, p.version + 1));
                    let prev = prev.map(|p| p.to_kv(key));
                    let new = Version {
                        mod_revision: rev,
                        sub: events.len() as u32,
                        create_revision,
                        version,
                        value: Some(value.clone()),
                    };
                    let kv = new.to_kv(key);
                    history.versions.push(new);
                    events.push(WatchEvent {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                        prev_kv: prev.clone(),
                    });
                    results.push(OpResult::Put { prev, kv });
                }
                Op::Delete { key } => {
                    let history = self.keys.get_mut(key.as_str());
                    let prev = history
                        .as_ref()
                        .and_then(|h| h.latest())
                        .map(|p| p.to_kv(key));
                    // Deleting an absent key is not a mutation.
                    if let (Some(history), Some(_)) = (history, &prev) {
                        history.versions.push(Version {
                            mod_revision: rev,
                            sub: events.len() as u32,
                            create_revision: 0,
                            version: 0,
                            value: None,
                        });
                        events.push(WatchEvent {
                            kind: EventKind::Delete,
                            kv: tombstone_kv(key, rev),
                            prev_kv: prev.clone(),
                        });
                    }
                    results.push(OpResult::Delete { prev });
                }
            }
        }
        let events = if events.is_empty() {
            None
        } else {
            self.revision = rev;
            let entry = Arc::new(RevisionEvents {
                revision: rev,
                events,
            });
            self.history.push_back(entry.clone());
            Some(entry)
        };
        let response = TxnResponse {
            succeeded,
            revision: self.revision,
            results,
        };
        (response, events)
    }

    /// Drops history at or below `revision`, keeping each key's latest live
    /// version at that revision so that reads at `revision` still work.
    fn compact(&mut self, revision: Revision) -> Result<()> {
        if revision <= self.compacted {
            return Err(Error::Compacted {
                compacted_revision: self.compacted,
            });
        }
        if revision > self.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        // Only keys written since the previous compaction can have prunable
        // versions (after a compaction every key has at most one version at
        // or below it), and those are exactly the keys in the history being
        // dropped, so compaction costs O(compacted events), not O(keys).
        let mut dropped = Vec::new();
        while self.history.front().is_some_and(|e| e.revision <= revision) {
            dropped.extend(self.history.pop_front());
        }
        for event in dropped.iter().flat_map(|e| e.events.iter()) {
            let key = event.kv.key.as_str();
            let Some(history) = self.keys.get_mut(key) else {
                continue;
            };
            let at_or_below = history
                .versions
                .partition_point(|v| v.mod_revision <= revision);
            if at_or_below == 0 {
                continue;
            }
            let keep_from = if history.versions[at_or_below - 1].value.is_some() {
                at_or_below - 1
            } else {
                at_or_below
            };
            history.versions.drain(..keep_from);
            if history.versions.is_empty() {
                self.keys.remove(key);
            }
        }
        self.compacted = revision;
        Ok(())
    }

    /// Latest live version of `key`.
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.current(key).map(|v| v.to_kv(key))
    }

    /// Checks that `revision` (0 = current) can be read and resolves it.
    fn readable(&self, revision: Revision) -> Result<Revision> {
        if revision == 0 {
            return Ok(self.revision);
        }
        if revision < 0 {
            return Err(Error::InvalidRequest(format!(
                "negative revision {revision}"
            )));
        }
        if revision < self.compacted {
            return Err(Error::Compacted {
                compacted_revision: self.compacted,
            });
        }
        if revision > self.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        Ok(revision)
    }

    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        let at = self.readable(req.revision)?;
        let mut resp = RangeResponse {
            revision: at,
            ..RangeResponse::default()
        };
        let mut visit = |key: &String, history: &KeyHistory| {
            let Some(version) = history.at(at) else {
                return;
            };
            resp.count += 1;
            if req.count_only {
                return;
            }
            if req.limit == 0 || resp.kvs.len() < req.limit {
                resp.kvs.push(version.to_kv(key));
            } else if resp.next_key.is_none() {
                resp.next_key = Some(key.clone());
            }
        };
        match &req.end {
            RangeEnd::Single => {
                if let Some((k, h)) = self.keys.get_key_value(req.start.as_str()) {
                    visit(k, h);
                }
            }
            RangeEnd::Prefix => {
                let from = Bound::Included(req.start.as_str());
                for (k, h) in self.keys.range::<str, _>((from, Bound::Unbounded)) {
                    if !k.starts_with(req.start.as_str()) {
                        break;
                    }
                    visit(k, h);
                }
            }
            RangeEnd::Until(end) => {
                if end.as_str() > req.start.as_str() {
                    let bounds = (
                        Bound::Included(req.start.as_str()),
                        Bound::Excluded(end.as_str()),
                    );
                    for (k, h) in self.keys.range::<str, _>(bounds) {
                        visit(k, h);
                    }
                }
            }
        }
        resp.more = resp.next_key.is_some();
        Ok(resp)
    }

    /// Up to `max` revisions of history starting at `from` (oldest first).
    /// `Compacted` if `from` is at or below the compacted revision: the
    /// events a watcher needs are gone.
    pub fn events_since(&self, from: Revision, max: usize) -> Result<Vec<Arc<RevisionEvents>>> {
        if from <= self.compacted {
            return Err(Error::Compacted {
                compacted_revision: self.compacted,
            });
        }
        let Some(front) = self.history.front() else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(from - front.revision).unwrap_or(0);
        Ok(self.history.iter().skip(skip).take(max).cloned().collect())
    }

    /// Every key with its retained versions, in key order (for snapshots).
    pub fn keys(&self) -> impl ExactSizeIterator<Item = (&str, &KeyHistory)> {
        self.keys.iter().map(|(k, h)| (k.as_str(), h))
    }

    /// Rebuilds a state machine from a snapshot's parts, checking the
    /// invariants the rest of the code relies on and recreating the watch
    /// history from the retained versions. Errors are human-readable reasons.
    pub fn from_parts(
        applied_index: u64,
        revision: Revision,
        compacted: Revision,
        keys: Vec<(String, KeyHistory)>,
    ) -> std::result::Result<Mvcc, String> {
        if revision < 1 || compacted < 0 || compacted > revision {
            return Err(format!(
                "impossible revisions: revision {revision}, compacted {compacted}"
            ));
        }
        let mut map = BTreeMap::new();
        let mut writes: Vec<(Revision, u32, usize, usize)> = Vec::new();
        for (i, (key, history)) in keys.iter().enumerate() {
            if key.is_empty() || history.versions.is_empty() {
                return Err(format!("empty key or key without versions at entry {i}"));
            }
            if i > 0 && keys[i - 1].0 >= *key {
                return Err(format!("keys out of order at {key:?}"));
            }
            for (j, v) in history.versions.iter().enumerate() {
                let ordered = j == 0 || history.versions[j - 1].mod_revision < v.mod_revision;
                if !ordered || v.mod_revision < 2 || v.mod_revision > revision {
                    return Err(format!("bad version revisions for key {key:?}"));
                }
                if v.mod_revision > compacted {
                    writes.push((v.mod_revision, v.sub, i, j));
                }
            }
        }
        // Recreate the per-revision events, ordered by (revision, sub).
        writes.sort_unstable();
        let mut history: VecDeque<Arc<RevisionEvents>> = VecDeque::new();
        let mut i = 0;
        while i < writes.len() {
            let rev = writes[i].0;
            let mut events = Vec::new();
            while i < writes.len() && writes[i].0 == rev {
                let (_, _, k, j) = writes[i];
                let (key, h) = &keys[k];
                let v = &h.versions[j];
                let prev = j
                    .checked_sub(1)
                    .map(|p| &h.versions[p])
                    .filter(|p| p.value.is_some())
                    .map(|p| p.to_kv(key));
                events.push(match v.value {
                    Some(_) => WatchEvent {
                        kind: EventKind::Put,
                        kv: v.to_kv(key),
                        prev_kv: prev,
                    },
                    None => WatchEvent {
                        kind: EventKind::Delete,
                        kv: tombstone_kv(key, rev),
                        prev_kv: prev,
                    },
                });
                i += 1;
            }
            if let Some(last) = history.back() {
                if last.revision + 1 != rev {
                    return Err(format!(
                        "history gap between revisions {} and {rev}",
                        last.revision
                    ));
                }
            }
            history.push_back(Arc::new(RevisionEvents {
                revision: rev,
                events,
            }));
        }
        let expected_front = compacted.max(1) + 1;
        match (history.front(), history.back()) {
            (Some(front), Some(back))
                if front.revision != expected_front || back.revision != revision =>
            {
                return Err(format!(
                    "history covers {}..={} but must cover {expected_front}..={revision}",
                    front.revision, back.revision
                ));
            }
            (None, _) if revision != compacted.max(1) => {
                return Err(format!(
                    "no history retained but revision {revision} is above compacted {compacted}"
                ));
            }
            _ => {}
        }
        for (key, history) in keys {
            map.insert(key, history);
        }
        Ok(Mvcc {
            keys: map,
            revision,
            compacted,
            applied_index,
            history,
        })
    }
}

fn tombstone_kv(key: &str, revision: Revision) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Bytes::new(),
        create_revision: 0,
        mod_revision: revision,
        version: 0,
    }
}

/// Used by tests to compare two state machines (e.g. before and after a
/// snapshot round trip) without exposing internals.
#[cfg(test)]
impl PartialEq for Mvcc {
    fn eq(&self, other: &Self) -> bool {
        let keys_eq = self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(other.keys.iter())
                .all(|((ka, ha), (kb, hb))| ka == kb && ha.versions == hb.versions);
        let hist_eq = self.history.len() == other.history.len()
            && self
                .history
                .iter()
                .zip(other.history.iter())
                .all(|(a, b)| a.revision == b.revision && a.events == b.events);
        keys_eq
            && hist_eq
            && self.revision == other.revision
            && self.compacted == other.compacted
            && self.applied_index == other.applied_index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sm {
        mvcc: Mvcc,
        index: u64,
    }

    impl Sm {
        fn new() -> Self {
            Sm {
                mvcc: Mvcc::new(),
                index: 0,
            }
        }

        fn apply(&mut self, cmd: Command) -> Applied {
            self.index += 1;
            self.mvcc.apply(self.index, &cmd)
        }

        fn txn(&mut self, txn: Txn) -> TxnResponse {
            match self.apply(Command::Txn(txn)).response {
                CommandResponse::Txn(r) => r.unwrap(),
                other => panic!("unexpected {other:?}"),
            }
        }

        fn put(&mut self, key: &str, value: &str) -> TxnResponse {
            self.txn(Txn {
                success: vec![put(key, value)],
                ..Txn::default()
            })
        }

        fn delete(&mut self, key: &str) -> TxnResponse {
            self.txn(Txn {
                success: vec![Op::Delete { key: key.into() }],
                ..Txn::default()
            })
        }

        fn compact(&mut self, revision: Revision) -> Result<()> {
            match self.apply(Command::Compact { revision }).response {
                CommandResponse::Compact(r) => r,
                other => panic!("unexpected {other:?}"),
            }
        }

        fn range(
            &self,
            start: &str,
            end: RangeEnd,
            limit: usize,
            revision: Revision,
        ) -> Result<RangeResponse> {
            self.mvcc.range(&RangeRequest {
                start: start.into(),
                end,
                limit,
                revision,
                count_only: false,
            })
        }
    }

    fn put(key: &str, value: &str) -> Op {
        Op::Put {
            key: key.into(),
            value: Bytes::copy_from_slice(value.as_bytes()),
        }
    }

    fn keys_of(resp: &RangeResponse) -> Vec<&str> {
        resp.kvs.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[test]
    fn an_empty_store_is_at_revision_one_and_each_write_bumps_it_by_one() {
        let mut sm = Sm::new();
        assert_eq!(sm.mvcc.revision(), 1);
        assert_eq!(sm.put("/a", "1").revision, 2);
        assert_eq!(sm.put("/b", "1").revision, 3);
        let r = sm.txn(Txn {
            success: vec![put("/c", "1"), put("/d", "1")],
            ..Txn::default()
        });
        assert_eq!(r.revision, 4, "a multi-put txn is one revision");
        assert_eq!(sm.mvcc.get("/c").unwrap().mod_revision, 4);
        assert_eq!(sm.mvcc.get("/d").unwrap().mod_revision, 4);
    }

    #[test]
    fn versions_count_modifications_and_reset_after_delete() {
        let mut sm = Sm::new();
        sm.put("/k", "a");
        sm.put("/k", "b");
        let kv = sm.mvcc.get("/k").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        assert_eq!(kv.value, Bytes::from_static(b"b"));
        let del = sm.delete("/k");
        assert_eq!(del.revision, 4);
        match &del.results[0] {
            OpResult::Delete { prev: Some(prev) } => assert_eq!(prev.version, 2),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(sm.mvcc.get("/k"), None);
        sm.put("/k", "c");
        let kv = sm.mvcc.get("/k").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
    }

    #[test]
    fn reads_and_no_op_deletes_do_not_bump_the_revision() {
        let mut sm = Sm::new();
        sm.put("/a", "1");
        let r = sm.txn(Txn {
            success: vec![Op::Get { key: "/a".into() }],
            ..Txn::default()
        });
        assert_eq!(r.revision, 2);
        assert_eq!(r.results, vec![OpResult::Get(sm.mvcc.get("/a"))]);
        let r = sm.delete("/missing");
        assert_eq!(r.revision, 2);
        assert_eq!(r.results, vec![OpResult::Delete { prev: None }]);
        assert_eq!(sm.mvcc.revision(), 2);
    }

    #[test]
    fn compare_and_swap_runs_the_success_branch_only_when_the_compare_holds() {
        let mut sm = Sm::new();
        // "create if absent": mod_revision 0 means the key does not exist.
        let create = |v: &str| Txn {
            compares: vec![Compare::ModRevision {
                key: "/k".into(),
                equals: 0,
            }],
            success: vec![put("/k", v)],
            failure: vec![Op::Get { key: "/k".into() }],
        };
        let r = sm.txn(create("first"));
        assert!(r.succeeded);
        let r = sm.txn(create("second"));
        assert!(!r.succeeded);
        assert_eq!(r.revision, 2, "a failed compare writes nothing");
        match &r.results[0] {
            OpResult::Get(Some(kv)) => assert_eq!(kv.value, Bytes::from_static(b"first")),
            other => panic!("unexpected {other:?}"),
        }
        // Update guarded by mod_revision: stale revision fails, fresh succeeds.
        let update = |rev: Revision| Txn {
            compares: vec![Compare::ModRevision {
                key: "/k".into(),
                equals: rev,
            }],
            success: vec![put("/k", "updated")],
            failure: vec![],
        };
        assert!(!sm.txn(update(1)).succeeded);
        let r = sm.txn(update(2));
        assert!(r.succeeded);
        assert_eq!(r.revision, 3);
        match &r.results[0] {
            OpResult::Put {
                prev: Some(prev),
                kv,
            } => {
                assert_eq!(prev.mod_revision, 2);
                assert_eq!(kv.mod_revision, 3);
                assert_eq!(kv.version, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Version compares.
        let by_version = |v: i64| Txn {
            compares: vec![Compare::Version {
                key: "/k".into(),
                equals: v,
            }],
            success: vec![Op::Delete { key: "/k".into() }],
            failure: vec![],
        };
        assert!(!sm.txn(by_version(1)).succeeded);
        assert!(sm.txn(by_version(2)).succeeded);
        assert_eq!(sm.mvcc.get("/k"), None);
    }

    #[test]
    fn a_get_after_a_put_in_the_same_txn_sees_the_put() {
        let mut sm = Sm::new();
        let r = sm.txn(Txn {
            success: vec![put("/a", "x"), Op::Get { key: "/a".into() }],
            ..Txn::default()
        });
        match &r.results[1] {
            OpResult::Get(Some(kv)) => assert_eq!(kv.mod_revision, 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_invalid_txn_is_refused_without_changing_state() {
        let mut sm = Sm::new();
        let applied = sm.apply(Command::Txn(Txn {
            success: vec![put("/a", "1"), put("/a", "2")],
            ..Txn::default()
        }));
        assert!(matches!(
            applied.response,
            CommandResponse::Txn(Err(Error::InvalidRequest(_)))
        ));
        assert!(applied.events.is_none());
        assert_eq!(sm.mvcc.revision(), 1);
        assert_eq!(sm.mvcc.applied_index(), 1);
    }

    #[test]
    fn range_pages_with_limit_and_next_key() {
        let mut sm = Sm::new();
        for i in 0..10 {
            sm.put(&format!("/p/{i:02}"), "v");
        }
        sm.put("/q", "outside");
        let mut start = "/p/".to_string();
        let mut seen = Vec::new();
        loop {
            let end = RangeEnd::Until("/p0".into()); // "/p/" + 1 = prefix end
            let r = sm.range(&start, end, 3, 0).unwrap();
            assert_eq!(r.revision, 12);
            seen.extend(keys_of(&r).into_iter().map(String::from));
            if !r.more {
                assert_eq!(r.next_key, None);
                break;
            }
            start = r.next_key.unwrap();
        }
        let expected: Vec<String> = (0..10).map(|i| format!("/p/{i:02}")).collect();
        assert_eq!(seen, expected);

        let r = sm.range("/p/", RangeEnd::Prefix, 4, 0).unwrap();
        assert_eq!((r.kvs.len(), r.count, r.more), (4, 10, true));
        assert_eq!(r.next_key.as_deref(), Some("/p/04"));
        let r = sm.range("/p/", RangeEnd::Prefix, 0, 0).unwrap();
        assert_eq!((r.kvs.len(), r.count, r.more), (10, 10, false));
        let r = sm
            .mvcc
            .range(&RangeRequest {
                count_only: true,
                ..RangeRequest::prefix("/p/")
            })
            .unwrap();
        assert_eq!((r.kvs.len(), r.count, r.more), (0, 10, false));
        let r = sm.range("/q", RangeEnd::Single, 0, 0).unwrap();
        assert_eq!(keys_of(&r), vec!["/q"]);
        let r = sm.range("/z", RangeEnd::Until("/a".into()), 0, 0).unwrap();
        assert_eq!(r.count, 0);
        let r = sm.range("", RangeEnd::Prefix, 0, 0).unwrap();
        assert_eq!(r.count, 11);
    }

    #[test]
    fn range_at_a_past_revision_sees_that_revisions_state() {
        let mut sm = Sm::new();
        sm.put("/a", "a1"); // 2
        sm.put("/b", "b1"); // 3
        sm.put("/a", "a2"); // 4
        sm.delete("/b"); // 5
        sm.put("/c", "c1"); // 6
        let at = |rev| {
            let r = sm.range("/", RangeEnd::Prefix, 0, rev).unwrap();
            r.kvs
                .iter()
                .map(|kv| format!("{}={}", kv.key, String::from_utf8_lossy(&kv.value)))
                .collect::<Vec<_>>()
        };
        assert_eq!(at(1), Vec::<String>::new());
        assert_eq!(at(2), vec!["/a=a1"]);
        assert_eq!(at(3), vec!["/a=a1", "/b=b1"]);
        assert_eq!(at(4), vec!["/a=a2", "/b=b1"]);
        assert_eq!(at(5), vec!["/a=a2"]);
        assert_eq!(at(6), vec!["/a=a2", "/c=c1"]);
        let r = sm.range("/a", RangeEnd::Single, 0, 3).unwrap();
        assert_eq!(
            (r.kvs[0].mod_revision, r.kvs[0].version, r.revision),
            (2, 1, 3)
        );
        assert!(matches!(
            sm.range("/", RangeEnd::Prefix, 0, 7),
            Err(Error::FutureRevision {
                requested: 7,
                current: 6
            })
        ));
    }

    #[test]
    fn compaction_drops_old_history_but_keeps_each_keys_latest_live_version() {
        let mut sm = Sm::new();
        sm.put("/a", "a1"); // 2
        sm.put("/a", "a2"); // 3
        sm.put("/b", "b1"); // 4
        sm.delete("/b"); // 5
        sm.put("/c", "c1"); // 6
        sm.put("/a", "a3"); // 7
        sm.compact(5).unwrap();
        assert_eq!(sm.mvcc.compacted_revision(), 5);
        assert!(matches!(
            sm.range("/", RangeEnd::Prefix, 0, 4),
            Err(Error::Compacted {
                compacted_revision: 5
            })
        ));
        // At the compacted revision itself the state is intact.
        let r = sm.range("/", RangeEnd::Prefix, 0, 5).unwrap();
        assert_eq!(keys_of(&r), vec!["/a"]);
        assert_eq!(r.kvs[0].value, Bytes::from_static(b"a2"));
        let r = sm.range("/", RangeEnd::Prefix, 0, 0).unwrap();
        assert_eq!(keys_of(&r), vec!["/a", "/c"]);
        // Internals: /b (deleted at or below 5) is gone, /a keeps a2 and a3.
        assert!(!sm.mvcc.keys.contains_key("/b"));
        assert_eq!(sm.mvcc.keys["/a"].versions.len(), 2);
        assert_eq!(sm.mvcc.history.front().unwrap().revision, 6);
        // Compacting again at or below is refused; above current too.
        assert!(matches!(sm.compact(5), Err(Error::Compacted { .. })));
        assert!(matches!(sm.compact(8), Err(Error::FutureRevision { .. })));
        sm.compact(7).unwrap();
        assert_eq!(sm.mvcc.keys["/a"].versions.len(), 1);
        assert!(sm.mvcc.history.is_empty());
        assert_eq!(
            sm.mvcc.revision(),
            7,
            "compaction does not bump the revision"
        );
        sm.put("/d", "d1");
        assert_eq!(sm.mvcc.revision(), 8);
    }

    #[test]
    fn history_replays_events_in_revision_order_with_prev_kv() {
        let mut sm = Sm::new();
        sm.put("/a", "1"); // 2
        sm.txn(Txn {
            success: vec![put("/b", "1"), put("/a", "2")],
            ..Txn::default()
        }); // 3
        sm.delete("/a"); // 4
        let hist = sm.mvcc.events_since(1, usize::MAX).unwrap();
        let flat: Vec<(Revision, EventKind, &str, Option<i64>)> = hist
            .iter()
            .flat_map(|r| {
                r.events.iter().map(move |e| {
                    assert_eq!(e.kv.mod_revision, r.revision);
                    (
                        r.revision,
                        e.kind,
                        e.kv.key.as_str(),
                        e.prev_kv.as_ref().map(|p| p.mod_revision),
                    )
                })
            })
            .collect();
        assert_eq!(
            flat,
            vec![
                (2, EventKind::Put, "/a", None),
                (3, EventKind::Put, "/b", None),
                (3, EventKind::Put, "/a", Some(2)),
                (4, EventKind::Delete, "/a", Some(3)),
            ]
        );
        let from3 = sm.mvcc.events_since(3, 1).unwrap();
        assert_eq!(from3.len(), 1);
        assert_eq!(from3[0].revision, 3);
        assert!(sm.mvcc.events_since(5, 10).unwrap().is_empty());
        sm.compact(3).unwrap();
        assert!(matches!(
            sm.mvcc.events_since(3, 10),
            Err(Error::Compacted {
                compacted_revision: 3
            })
        ));
        assert_eq!(sm.mvcc.events_since(4, 10).unwrap()[0].revision, 4);
    }

    #[test]
    fn from_parts_rebuilds_an_identical_state_machine() {
        let mut sm = Sm::new();
        for i in 0..20 {
            sm.put(&format!("/k{}", i % 7), &format!("v{i}"));
            if i % 5 == 0 {
                sm.delete(&format!("/k{}", (i + 3) % 7));
            }
        }
        sm.txn(Txn {
            success: vec![
                put("/z", "1"),
                Op::Delete { key: "/k1".into() },
                put("/y", "2"),
            ],
            ..Txn::default()
        });
        sm.compact(10).unwrap();
        let parts: Vec<(String, KeyHistory)> = sm
            .mvcc
            .keys()
            .map(|(k, h)| (k.to_owned(), h.clone()))
            .collect();
        let rebuilt = Mvcc::from_parts(
            sm.mvcc.applied_index(),
            sm.mvcc.revision(),
            sm.mvcc.compacted_revision(),
            parts,
        )
        .unwrap();
        assert!(rebuilt == sm.mvcc);
    }

    #[test]
    fn from_parts_rejects_inconsistent_input() {
        let v = |rev| Version {
            mod_revision: rev,
            sub: 0,
            create_revision: rev,
            version: 1,
            value: Some(Bytes::new()),
        };
        let h = |revs: &[Revision]| KeyHistory {
            versions: revs.iter().map(|r| v(*r)).collect(),
        };
        // Versions out of order.
        assert!(Mvcc::from_parts(1, 3, 0, vec![("/a".into(), h(&[3, 2]))]).is_err());
        // Keys out of order.
        assert!(Mvcc::from_parts(
            1,
            3,
            0,
            vec![("/b".into(), h(&[2])), ("/a".into(), h(&[3]))]
        )
        .is_err());
        // A history gap (revision 3 has no write).
        assert!(Mvcc::from_parts(1, 4, 0, vec![("/a".into(), h(&[2, 4]))]).is_err());
        // Revision beyond the store's revision.
        assert!(Mvcc::from_parts(1, 2, 0, vec![("/a".into(), h(&[2, 3]))]).is_err());
        assert!(Mvcc::from_parts(1, 3, 0, vec![("/a".into(), h(&[2, 3]))]).is_ok());
    }
}
