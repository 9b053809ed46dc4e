//! ControllerRevisions: the template history DaemonSets and StatefulSets keep, as Kubernetes'
//! `pkg/controller/history` does for both.
//!
//! A revision stores a strategic-merge patch that replaces `spec.template` (so `kubectl rollout
//! history --revision=N` and `kubectl rollout undo` can apply it to the owner), a revision
//! number, and the `controller-revision-hash` label. The revision of the current template is
//! the one whose data equals the patch of today's template; when none does, a new one named
//! `<owner>-<hash>` is made with the next number. Finding an old one (a rollback) renumbers it
//! to the newest instead of copying it, so the history never holds two revisions of one
//! template.
//!
//! The hash is [`pod_template_hash`] of the template salted with `status.collisionCount`, the
//! same FNV-32a of our canonical JSON the Deployment controller uses; it differs from
//! kube-controller-manager's (which hashes Go's deep print), and only ever has to agree with
//! itself.

use std::collections::BTreeMap;

use control_apimachinery::selector::LabelSelector;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{json, Value};

use crate::deployment::pod_template_hash;
use crate::ownership::{claim, controller_reference, Claim};

/// The label carrying the revision's hash (on revisions; on DaemonSet pods the hash, on
/// StatefulSet pods the revision's name).
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Kubernetes keeps revision names within the 253 characters of a DNS subdomain by cutting
/// the owner's name to 223 before appending `-<hash>`.
const MAX_PREFIX_LEN: usize = 223;

/// The owner of a history, as far as revisions are concerned.
#[derive(Debug, Clone)]
pub struct HistoryOwner<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub uid: &'a str,
    pub deleting: bool,
    pub selector: &'a LabelSelector,
    /// Copied onto new revisions, as Kubernetes does (`kubernetes.io/change-cause` is what
    /// `kubectl rollout history` shows from them).
    pub annotations: Option<&'a BTreeMap<String, String>>,
    pub template: &'a PodTemplateSpec,
    pub collision_count: Option<i32>,
}

/// The revision data for a template: a patch of the owner that replaces its template.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_owned(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The template a revision records, if its data is a template patch.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    template.as_object_mut()?.remove("$patch");
    serde_json::from_value(template).ok()
}

/// `<prefix>-<hash>` with the prefix cut to fit.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let cut = prefix
        .char_indices()
        .nth(MAX_PREFIX_LEN)
        .map_or(prefix, |(i, _)| &prefix[..i]);
    format!("{cut}-{hash}")
}

fn data_of(revision: &ControllerRevision) -> Option<&Value> {
    revision.data.as_ref().map(|d| &d.0)
}

/// The revisions an owner keeps after this sync's claims, and the claim changes to write.
#[derive(Debug, Clone, Default)]
pub struct Claimed<'a> {
    /// Owned revisions, lowest revision number first (ties by name).
    pub owned: Vec<&'a ControllerRevision>,
    pub adopt: Vec<String>,
    pub release: Vec<String>,
}

/// Claims revisions of the owner's namespace with the rules pods are claimed by.
pub fn claim_revisions<'a>(
    owner: &HistoryOwner<'_>,
    revisions: &'a [ControllerRevision],
) -> Claimed<'a> {
    let mut claimed = Claimed::default();
    for revision in revisions {
        if revision.metadata.namespace.is_some()
            && revision.metadata.namespace.as_deref() != owner.namespace
        {
            continue;
        }
        let name = revision.metadata.name.clone().unwrap_or_default();
        match claim(
            owner.uid,
            owner.deleting,
            owner.selector,
            &revision.metadata,
        ) {
            Claim::Keep => claimed.owned.push(revision),
            Claim::Adopt => {
                claimed.adopt.push(name);
                claimed.owned.push(revision);
            }
            Claim::Release => claimed.release.push(name),
            Claim::Ignore => {}
        }
    }
    claimed
        .owned
        .sort_by(|a, b| (a.revision, &a.metadata.name).cmp(&(b.revision, &b.metadata.name)));
    claimed
}

/// Where the owner's current template lives in its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    /// The revision's name.
    pub name: String,
    /// Its hash label (DaemonSet pods carry this).
    pub hash: String,
    /// Its revision number once this sync's writes are done.
    pub revision: i64,
    /// Create this revision first: no existing one records the template.
    pub create: Option<ControllerRevision>,
    /// An existing revision that records the template but is not the newest (a rollback):
    /// give it this number.
    pub renumber: Option<(String, i64)>,
    /// Other revisions recording the same template (possible after a hash collision).
    pub duplicates: Vec<String>,
}

/// The revision name the template would get is held by a revision with other data: the
/// owner must bump `status.collisionCount` so the next hash differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collision;

/// Finds or makes the revision of the owner's current template. `owned` is from
/// [`claim_revisions`]; `all` is every revision of the namespace, to see name collisions.
pub fn current_revision(
    owner: &HistoryOwner<'_>,
    owned: &[&ControllerRevision],
    all: &[ControllerRevision],
) -> Result<Current, Collision> {
    let data = template_patch(owner.template);
    let equal: Vec<&ControllerRevision> = owned
        .iter()
        .copied()
        .filter(|r| data_of(r) == Some(&data))
        .collect();
    if let Some(newest) = equal.iter().max_by_key(|r| r.revision) {
        let name = newest.metadata.name.clone().unwrap_or_default();
        let others_max = owned
            .iter()
            .filter(|r| data_of(r) != Some(&data))
            .map(|r| r.revision)
            .max()
            .unwrap_or(0);
        let (revision, renumber) = if newest.revision <= others_max {
            (others_max + 1, Some((name.clone(), others_max + 1)))
        } else {
            (newest.revision, None)
        };
        let hash = newest
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_HASH_LABEL))
            .cloned()
            .unwrap_or_else(|| pod_template_hash(owner.template, owner.collision_count));
        return Ok(Current {
            duplicates: equal
                .iter()
                .filter(|r| r.metadata.name.as_deref() != Some(name.as_str()))
                .filter_map(|r| r.metadata.name.clone())
                .collect(),
            name,
            hash,
            revision,
            create: None,
            renumber,
        });
    }
    let hash = pod_template_hash(owner.template, owner.collision_count);
    let name = revision_name(owner.name, &hash);
    if all
        .iter()
        .any(|r| r.metadata.name.as_deref() == Some(name.as_str()))
    {
        // Ours with the same data would have matched above; anything else holding the name is
        // a collision.
        return Err(Collision);
    }
    let revision = owned.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
    let mut labels = owner
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_owned(), hash.clone());
    let created = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: owner.namespace.map(str::to_owned),
            labels: Some(labels),
            annotations: owner.annotations.cloned(),
            owner_references: Some(vec![controller_reference(
                owner.api_version,
                owner.kind,
                owner.name,
                owner.uid,
            )]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data)),
        revision,
    };
    Ok(Current {
        name,
        hash,
        revision,
        create: Some(created),
        renumber: None,
        duplicates: Vec::new(),
    })
}

/// The hash label of a revision.
pub fn hash_label(revision: &ControllerRevision) -> Option<&str> {
    revision
        .metadata
        .labels
        .as_ref()?
        .get(REVISION_HASH_LABEL)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    fn owner<'a>(template: &'a PodTemplateSpec, selector: &'a LabelSelector) -> HistoryOwner<'a> {
        HistoryOwner {
            api_version: "apps/v1",
            kind: "DaemonSet",
            name: "web",
            namespace: Some("default"),
            uid: "ds-uid",
            deleting: false,
            selector,
            annotations: None,
            template,
            collision_count: None,
        }
    }

    fn selector() -> LabelSelector {
        LabelSelector::from_set(&BTreeMap::from([("app".to_owned(), "web".to_owned())])).unwrap()
    }

    fn revision(name: &str, image: &str, number: i64) -> ControllerRevision {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web", REVISION_HASH_LABEL: name.trim_start_matches("web-")},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "web", "uid": "ds-uid", "controller": true}]},
            "data": template_patch(&template(image)),
            "revision": number
        }))
        .unwrap()
    }

    #[test]
    fn the_patch_replaces_the_template_and_reads_back() {
        let t = template("nginx:1");
        let patch = template_patch(&t);
        assert_eq!(patch["spec"]["template"]["$patch"], "replace");
        let r = revision("web-a", "nginx:1", 1);
        assert_eq!(template_of(&r), Some(t));
    }

    /// The current revision for a template running `image`, over a history of web-a
    /// (nginx:1, revision 1) and web-b (nginx:2, revision 2).
    fn current_over_two_revisions(image: &str) -> Current {
        let t = template(image);
        let sel = selector();
        let all = vec![
            revision("web-a", "nginx:1", 1),
            revision("web-b", "nginx:2", 2),
        ];
        let claimed = claim_revisions(&owner(&t, &sel), &all);
        let current = current_revision(&owner(&t, &sel), &claimed.owned, &all).unwrap();
        current
    }

    #[test]
    fn a_new_template_gets_a_new_revision_numbered_after_the_newest() {
        let current = current_over_two_revisions("nginx:3");
        let created = current.create.expect("a new revision");
        assert_eq!(created.revision, 3);
        assert_eq!(current.name, format!("web-{}", current.hash));
        assert_eq!(
            created.metadata.labels.unwrap()[REVISION_HASH_LABEL],
            current.hash
        );
    }

    #[test]
    fn rolling_back_renumbers_the_old_revision_instead_of_copying_it() {
        let current = current_over_two_revisions("nginx:1");
        assert!(current.create.is_none());
        assert_eq!(current.renumber, Some(("web-a".to_owned(), 3)));
        assert_eq!(current.hash, "a");
    }

    #[test]
    fn a_name_held_by_other_data_is_a_collision() {
        let t = template("nginx:9");
        let sel = selector();
        let hash = pod_template_hash(&t, None);
        let mut squatter = revision(&format!("web-{hash}"), "busybox", 1);
        squatter.metadata.owner_references = None;
        squatter.metadata.labels = None;
        let all = vec![squatter];
        let claimed = claim_revisions(&owner(&t, &sel), &all);
        assert!(claimed.owned.is_empty());
        assert_eq!(
            current_revision(&owner(&t, &sel), &claimed.owned, &all),
            Err(Collision)
        );
    }

    #[test]
    fn long_owner_names_are_cut_to_fit_a_dns_subdomain() {
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "abc").len(), 223 + 4);
    }
}
