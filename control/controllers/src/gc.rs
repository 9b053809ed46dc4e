//! The garbage collector's decisions: which dependents lost every owner (background deletion),
//! which dependents an owner deleted with `orphan` must let go of, which dependents an owner
//! deleted with `foregroundDeletion` must take with it, and when those owners' finalizers can go.

use std::collections::{HashMap, HashSet};

/// The finalizer an owner carries while its dependents are orphaned.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer an owner carries while its dependents are deleted before it.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// One object as the collector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Whatever the caller needs to find the object again (e.g. `pods/default/web-1`).
    pub id: String,
    pub uid: String,
    /// The uids of its owners.
    pub owners: Vec<String>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

/// What one collection pass must do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcPlan {
    /// Dependents none of whose owners exist any more: candidates the caller confirms with a
    /// live read before deleting (an owner may just be missing from a lagging cache).
    pub dangling: Vec<String>,
    /// Dependents to delete because their owner is being deleted in the foreground.
    pub delete_for_foreground: Vec<String>,
    /// Dependents to patch: (id, the owner uids to keep).
    pub orphan: Vec<(String, Vec<String>)>,
    /// Owners whose finalizer can be removed: (id, finalizer).
    pub finalize: Vec<(String, &'static str)>,
}

/// Plans one pass over every object the collector watches.
pub fn plan(objects: &[Node]) -> GcPlan {
    let by_uid: HashMap<&str, &Node> = objects.iter().map(|o| (o.uid.as_str(), o)).collect();
    let mut dependents: HashMap<&str, Vec<&Node>> = HashMap::new();
    for o in objects {
        for owner in &o.owners {
            dependents.entry(owner.as_str()).or_default().push(o);
        }
    }
    let mut out = GcPlan::default();
    let mut orphaned_by: HashMap<&str, HashSet<&str>> = HashMap::new();
    for owner in objects.iter().filter(|o| o.deleting) {
        let deps = dependents
            .get(owner.uid.as_str())
            .cloned()
            .unwrap_or_default();
        if owner.finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
            for d in &deps {
                orphaned_by
                    .entry(d.uid.as_str())
                    .or_default()
                    .insert(owner.uid.as_str());
            }
            if deps.is_empty() {
                out.finalize.push((owner.id.clone(), ORPHAN_FINALIZER));
            }
        } else if owner.finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
            for d in deps.iter().filter(|d| !d.deleting) {
                out.delete_for_foreground.push(d.id.clone());
            }
            if deps.is_empty() {
                out.finalize.push((owner.id.clone(), FOREGROUND_FINALIZER));
            }
        }
    }
    for o in objects {
        if let Some(gone) = orphaned_by.get(o.uid.as_str()) {
            let keep: Vec<String> = o
                .owners
                .iter()
                .filter(|u| !gone.contains(u.as_str()))
                .cloned()
                .collect();
            out.orphan.push((o.id.clone(), keep));
            continue;
        }
        if !o.owners.is_empty()
            && !o.deleting
            && o.owners.iter().all(|u| !by_uid.contains_key(u.as_str()))
        {
            out.dangling.push(o.id.clone());
        }
    }
    out.delete_for_foreground.sort();
    out.delete_for_foreground.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, uid: &str, owners: &[&str], deleting: bool, finalizers: &[&str]) -> Node {
        Node {
            id: id.into(),
            uid: uid.into(),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            deleting,
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn dependents_of_a_vanished_owner_are_dangling() {
        let objs = vec![
            node("rs", "u-rs", &["u-deploy"], false, &[]),
            node("pod", "u-pod", &["u-rs"], false, &[]),
        ];
        let p = plan(&objs);
        assert_eq!(p.dangling, vec!["rs".to_string()]);
        assert!(p.orphan.is_empty() && p.finalize.is_empty());
    }

    #[test]
    fn an_owner_that_still_exists_keeps_its_dependents() {
        let objs = vec![
            node("d", "u-d", &[], false, &[]),
            node("rs", "u-rs", &["u-d"], false, &[]),
        ];
        assert_eq!(plan(&objs), GcPlan::default());
    }

    #[test]
    fn orphan_deletion_releases_dependents_then_finalizes() {
        let objs = vec![
            node("rs", "u-rs", &[], true, &[ORPHAN_FINALIZER]),
            node("p1", "u-p1", &["u-rs"], false, &[]),
            node("p2", "u-p2", &["u-rs", "u-other"], false, &[]),
            node("other", "u-other", &[], false, &[]),
        ];
        let p = plan(&objs);
        assert_eq!(
            p.orphan,
            vec![
                ("p1".to_string(), vec![]),
                ("p2".to_string(), vec!["u-other".to_string()])
            ]
        );
        assert!(p.finalize.is_empty(), "dependents still point at the owner");
        let released = vec![
            node("rs", "u-rs", &[], true, &[ORPHAN_FINALIZER]),
            node("p1", "u-p1", &[], false, &[]),
        ];
        assert_eq!(
            plan(&released).finalize,
            vec![("rs".to_string(), ORPHAN_FINALIZER)]
        );
    }

    #[test]
    fn foreground_deletion_deletes_dependents_first() {
        let objs = vec![
            node("d", "u-d", &[], true, &[FOREGROUND_FINALIZER]),
            node("rs", "u-rs", &["u-d"], false, &[]),
        ];
        let p = plan(&objs);
        assert_eq!(p.delete_for_foreground, vec!["rs".to_string()]);
        assert!(p.finalize.is_empty());
        let done = vec![node("d", "u-d", &[], true, &[FOREGROUND_FINALIZER])];
        assert_eq!(
            plan(&done).finalize,
            vec![("d".to_string(), FOREGROUND_FINALIZER)]
        );
    }
}
