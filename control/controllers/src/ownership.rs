//! Controller ownerReferences and the claim rules of Kubernetes' controller reference manager:
//! which objects a controller keeps, adopts (orphans its selector matches) and releases (its
//! own objects that no longer match). The same rules serve a ReplicaSet claiming pods and a
//! Deployment claiming ReplicaSets.

use std::collections::BTreeMap;

use control_apimachinery::selector::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as ApiLabelSelector, ObjectMeta, OwnerReference,
};

use crate::ControllerError;

/// The name and uid of a controller of `kind`: without either no ownerReference to it can be
/// made.
pub fn name_and_uid(
    meta: &ObjectMeta,
    kind: &'static str,
) -> Result<(String, String), ControllerError> {
    let name = meta.name.clone().ok_or(ControllerError::MissingMetadata {
        kind,
        field: "name",
    })?;
    let uid = meta
        .uid
        .clone()
        .ok_or(ControllerError::MissingMetadata { kind, field: "uid" })?;
    Ok((name, uid))
}

/// The selector of the controller `kind`/`name`. An empty one (or none) is refused, as
/// Kubernetes' validation would have: it would adopt the whole namespace.
pub fn controller_selector(
    kind: &'static str,
    name: &str,
    selector: Option<&ApiLabelSelector>,
) -> Result<LabelSelector, ControllerError> {
    let selector = LabelSelector::from_api(selector)?;
    if selector.is_empty() {
        return Err(ControllerError::EmptySelector {
            kind,
            name: name.to_owned(),
        });
    }
    Ok(selector)
}

/// The ownerReference marked `controller: true`, if any. An object has at most one.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// The ownerReference a controller puts on what it creates or adopts. `blockOwnerDeletion`
/// makes foreground deletion of the owner wait for its dependents.
pub fn controller_reference(
    api_version: &str,
    kind: &str,
    name: &str,
    uid: &str,
) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// What a controller does with one candidate object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already ours and still matching: it counts.
    Keep,
    /// An orphan that matches: add our controller reference; it counts from now on.
    Adopt,
    /// Ours but no longer matching (someone relabelled it): remove our reference.
    Release,
    /// Someone else's, or a non-matching orphan, or nothing may change right now.
    Ignore,
}

impl Claim {
    /// Whether the controller should count the object as its own after this claim.
    pub fn owned(self) -> bool {
        matches!(self, Claim::Keep | Claim::Adopt)
    }
}

/// Decides the claim of `meta` by the controller with `owner_uid` and `selector`.
///
/// A controller being deleted neither adopts (it would only orphan the object again) nor
/// releases (its dependents are about to be garbage collected with it); an object being
/// deleted is not adopted either.
pub fn claim(
    owner_uid: &str,
    owner_deleting: bool,
    selector: &LabelSelector,
    meta: &ObjectMeta,
) -> Claim {
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let matches = selector.matches(labels);
    match controller_of(meta) {
        Some(owner) if owner.uid == owner_uid => {
            if matches {
                Claim::Keep
            } else if owner_deleting {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None => {
            if owner_deleting || !matches || meta.deletion_timestamp.is_some() {
                Claim::Ignore
            } else {
                Claim::Adopt
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(value: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(value).unwrap()
    }

    fn app_web() -> LabelSelector {
        LabelSelector::from_set(&BTreeMap::from([("app".to_owned(), "web".to_owned())])).unwrap()
    }

    #[test]
    fn a_matching_orphan_is_adopted_unless_the_owner_is_being_deleted() {
        let orphan = meta(json!({"name": "p", "labels": {"app": "web"}}));
        assert_eq!(claim("uid-1", false, &app_web(), &orphan), Claim::Adopt);
        assert_eq!(claim("uid-1", true, &app_web(), &orphan), Claim::Ignore);
    }

    #[test]
    fn an_owned_object_that_stopped_matching_is_released() {
        let owned = meta(
            json!({"name": "p", "labels": {"app": "db"}, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "uid-1", "controller": true}
            ]}),
        );
        assert_eq!(claim("uid-1", false, &app_web(), &owned), Claim::Release);
    }

    #[test]
    fn another_controllers_object_is_left_alone() {
        let other = meta(
            json!({"name": "p", "labels": {"app": "web"}, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs2", "uid": "uid-2", "controller": true}
            ]}),
        );
        assert_eq!(claim("uid-1", false, &app_web(), &other), Claim::Ignore);
    }
}
