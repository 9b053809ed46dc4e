//! `imagePullPolicy`: the default Kubernetes gives a container, and whether the kubelet must
//! pull before starting it. Pure functions; the caller says whether the image is present.

use crate::reference::Reference;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// Parses the API's spelling; an empty or absent field means the default for the image.
    pub fn from_api(value: Option<&str>, image: &Reference) -> Option<PullPolicy> {
        match value {
            None | Some("") => Some(default_pull_policy(image)),
            Some("Always") => Some(PullPolicy::Always),
            Some("IfNotPresent") => Some(PullPolicy::IfNotPresent),
            Some("Never") => Some(PullPolicy::Never),
            Some(_) => None,
        }
    }
}

/// Kubernetes' default: `Always` when the tag is `latest` (written, or implied by a reference
/// with neither tag nor digest), else `IfNotPresent`. A reference pinned by digest alone is
/// `IfNotPresent`: its content cannot change.
pub fn default_pull_policy(image: &Reference) -> PullPolicy {
    if image.tag() == Some("latest") {
        PullPolicy::Always
    } else {
        PullPolicy::IfNotPresent
    }
}

/// What the kubelet does before starting a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullDecision {
    /// Pull (with `Always` this re-resolves the tag; unchanged layers are not downloaded).
    Pull,
    /// Use the image in the store; the message is the kubelet's `Pulled` event text.
    UsePresent { message: String },
    /// Fail the container with `ErrImageNeverPull` and this message.
    NeverPull { message: String },
}

/// Decides from the policy and whether the image is in the store. `image` is the reference as
/// the Pod spec wrote it, because the kubelet's messages quote it that way.
pub fn decide_pull(policy: PullPolicy, image: &str, present: bool) -> PullDecision {
    match (policy, present) {
        (PullPolicy::Always, _) | (PullPolicy::IfNotPresent, false) => PullDecision::Pull,
        (PullPolicy::IfNotPresent | PullPolicy::Never, true) => PullDecision::UsePresent {
            message: format!("Container image \"{image}\" already present on machine"),
        },
        (PullPolicy::Never, false) => PullDecision::NeverPull {
            message: format!(
                "Container image \"{image}\" is not present with pull policy of Never"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn latest_written_or_implied_defaults_to_always() {
        assert_eq!(default_pull_policy(&r("nginx")), PullPolicy::Always);
        assert_eq!(default_pull_policy(&r("nginx:latest")), PullPolicy::Always);
        assert_eq!(
            default_pull_policy(&r(&format!("nginx:latest@sha256:{HEX}"))),
            PullPolicy::Always
        );
        assert_eq!(
            default_pull_policy(&r("nginx:1.25")),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            default_pull_policy(&r(&format!("nginx@sha256:{HEX}"))),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            default_pull_policy(&r("localhost:5000/x")),
            PullPolicy::Always
        );
    }

    #[test]
    fn api_values_parse_and_empty_means_default() {
        assert_eq!(
            PullPolicy::from_api(None, &r("a:1")),
            Some(PullPolicy::IfNotPresent)
        );
        assert_eq!(
            PullPolicy::from_api(Some(""), &r("a")),
            Some(PullPolicy::Always)
        );
        assert_eq!(
            PullPolicy::from_api(Some("Never"), &r("a")),
            Some(PullPolicy::Never)
        );
        assert_eq!(PullPolicy::from_api(Some("always"), &r("a")), None);
    }

    #[test]
    fn every_policy_and_presence_gives_the_kubelet_decision() {
        use PullPolicy::*;
        assert_eq!(decide_pull(Always, "a", true), PullDecision::Pull);
        assert_eq!(decide_pull(Always, "a", false), PullDecision::Pull);
        assert_eq!(decide_pull(IfNotPresent, "a", false), PullDecision::Pull);
        assert_eq!(
            decide_pull(IfNotPresent, "nginx:1.25", true),
            PullDecision::UsePresent {
                message: "Container image \"nginx:1.25\" already present on machine".into()
            }
        );
        assert!(matches!(
            decide_pull(Never, "a", true),
            PullDecision::UsePresent { .. }
        ));
        assert_eq!(
            decide_pull(Never, "nginx:1.25", false),
            PullDecision::NeverPull {
                message: "Container image \"nginx:1.25\" is not present with pull policy of Never"
                    .into()
            }
        );
    }
}
