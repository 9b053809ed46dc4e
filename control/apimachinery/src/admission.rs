//! Admission of objects into the API server, in Kubernetes v1.32's order and words: decoding
//! with strictness, defaulting (with the mutating admission plugins this server stands in for),
//! validation, and names for `generateName`.
//!
//! A create or update goes through, in order:
//! 1. [`decode`] (or [`decode_bytes`] for the raw body, which also sees duplicate keys): check
//!    apiVersion and kind against the URL's resource, deserialize into the kind's k8s-openapi
//!    type, and serialize it back as the normalized object; unknown fields are listed and the
//!    [`FieldValidation`] directive decides whether they warn or fail ([`Decoded::apply`]).
//! 2. On create, the server fills in name (see [`generate_name`]), namespace, uid and
//!    timestamps; for Jobs it calls [`generate_job_selector`]; for Services it allocates IPs
//!    and ports (on update, [`preserve_service_allocations`] carries them over).
//! 3. [`apply_defaults`]: scheme defaults and admission mutations, idempotent.
//! 4. [`validate`]: field errors; a non-empty list is a 422 whose message is
//!    [`invalid_message`] and whose causes are [`status_causes`].
//!
//! Everything is a pure function over `serde_json::Value`: no IO, no clock.

pub mod amount;
mod decode;
mod defaults;
mod field;
mod json;
pub mod limitrange;
mod names;
mod quantity;
pub mod quota;
pub mod serviceaccount;
mod validation;

pub use decode::{decode, decode_bytes, DecodeError, Decoded, FieldValidation};
pub use defaults::{
    apply_defaults, generate_job_selector, pod_qos_class, preserve_service_allocations,
    DEFAULT_TOLERATION_SECONDS, JOB_CONTROLLER_UID_LABEL, JOB_NAME_LABEL,
    LEGACY_JOB_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL, NOT_READY_TAINT, UNREACHABLE_TAINT,
};
pub use field::{
    go_label_selector, go_quote, go_value, invalid_message, status_causes, FieldError,
    FieldErrorKind,
};
pub use names::{
    generate_name, inclusive_range_error, is_cidr, is_config_map_key, is_dns1035_label,
    is_dns1123_label, is_dns1123_subdomain, is_env_var_name, is_http_header_name, is_ip,
    is_qualified_name, is_valid_label_value, is_valid_path_segment_name, is_valid_percent,
    is_valid_port_name, is_valid_port_num, max_len_error, name_is_dns1035_label, name_is_dns_label,
    name_is_dns_subdomain, name_suffix, regex_error, GENERATED_SUFFIX_LENGTH,
    GENERATE_NAME_ALPHABET, MAX_GENERATE_NAME_PREFIX,
};
pub use quantity::Quantity;
pub use validation::{validate, validate_cron_schedule};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_kind;
    use serde_json::json;

    /// The whole pipeline on the manifest `kubectl create deployment web --image=nginx` sends.
    #[test]
    fn a_kubectl_deployment_decodes_defaults_and_validates_cleanly() {
        let deployments = by_kind("apps/v1", "Deployment").unwrap();
        let body = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": null},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {},
                "template": {
                    "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}
                }
            },
            "status": {}
        });
        let decoded = decode(deployments, &body).unwrap();
        assert!(decoded.unknown_fields.is_empty());
        let (mut obj, warnings) = decoded.apply(deployments, FieldValidation::Strict).unwrap();
        assert!(warnings.is_empty());
        apply_defaults(deployments, &mut obj);
        let errors = validate(deployments, &obj, None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(obj["spec"]["strategy"]["type"], "RollingUpdate");
    }

    #[test]
    fn a_pod_with_a_typo_fails_strict_decoding_and_an_invalid_one_fails_validation() {
        let pods = by_kind("v1", "Pod").unwrap();
        let body = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "Bad_Name", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "imagee": "nginx"}]}
        });
        let decoded = decode(pods, &body).unwrap();
        let err = decoded
            .clone()
            .apply(pods, FieldValidation::Strict)
            .unwrap_err();
        assert!(err
            .to_string()
            .ends_with("strict decoding error: unknown field \"spec.containers[0].imagee\""));
        let (mut obj, _) = decoded.apply(pods, FieldValidation::Warn).unwrap();
        apply_defaults(pods, &mut obj);
        let errors = validate(pods, &obj, None);
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|e| e.starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        )));
        assert!(text.contains(&"spec.containers[0].image: Required value".to_string()));
        let message = invalid_message("Pod", "", "Bad_Name", &errors);
        assert!(message.starts_with("Pod \"Bad_Name\" is invalid: ["));
    }
}
