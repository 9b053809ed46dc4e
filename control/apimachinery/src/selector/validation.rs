//! Syntax checks for label keys and values, with the wording Kubernetes v1.32 uses so that
//! error messages read the same as kube-apiserver's.

/// Longest label value, and longest name part of a label key.
const MAX_NAME_LEN: usize = 63;
/// Longest DNS-1123 subdomain, the optional prefix of a label key.
const MAX_SUBDOMAIN_LEN: usize = 253;

const NAME_PATTERN: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const VALUE_PATTERN: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const SUBDOMAIN_PATTERN: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Problems with a label key (`[prefix/]name`); empty when the key is valid.
pub fn label_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_string());
            } else {
                errors.extend(
                    subdomain_errors(prefix)
                        .into_iter()
                        .map(|e| format!("prefix part {e}")),
                );
            }
            *name
        }
        _ => {
            // More than one slash: Kubernetes reports the whole key at once and stops.
            errors.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(NAME_RULE, NAME_PATTERN, &["MyName", "my.name", "123-abc"])
            ));
            return errors;
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > MAX_NAME_LEN {
        errors.push(format!("name part {}", max_len_error(MAX_NAME_LEN)));
    }
    if !is_name(name) {
        errors.push(format!(
            "name part {}",
            regex_error(NAME_RULE, NAME_PATTERN, &["MyName", "my.name", "123-abc"])
        ));
    }
    errors
}

/// Problems with a label value; empty when the value is valid (the empty string is valid).
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > MAX_NAME_LEN {
        errors.push(max_len_error(MAX_NAME_LEN));
    }
    if !value.is_empty() && !is_name(value) {
        errors.push(regex_error(
            VALUE_RULE,
            VALUE_PATTERN,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

fn subdomain_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > MAX_SUBDOMAIN_LEN {
        errors.push(max_len_error(MAX_SUBDOMAIN_LEN));
    }
    if !value.split('.').all(is_dns_label) {
        errors.push(regex_error(
            SUBDOMAIN_RULE,
            SUBDOMAIN_PATTERN,
            &["example.com"],
        ));
    }
    errors
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: alphanumeric at both ends, `-_.` allowed inside.
fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`: one dot-free piece of a DNS-1123 subdomain.
fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            edge_ok(first) && edge_ok(last) && bytes.iter().all(|b| edge_ok(b) || *b == b'-')
        }
        _ => false,
    }
}

fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// The Kubernetes layout of a pattern failure: the rule, examples and the pattern itself.
fn regex_error(rule: &str, pattern: &str, examples: &[&str]) -> String {
    let mut out = format!("{rule} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{example}', "));
    }
    out.push_str(&format!("regex used for validation is '{pattern}')"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_prefixed_keys_are_valid() {
        for key in [
            "app",
            "a",
            "app.kubernetes.io/name",
            "node-role.kubernetes.io/control-plane",
            "A_b-c.D",
        ] {
            assert!(label_key_errors(key).is_empty(), "{key}");
        }
    }

    #[test]
    fn a_key_with_two_slashes_is_reported_as_a_whole() {
        let errors = label_key_errors("a/b/c");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("a qualified name must consist of"));
        assert!(errors[0].ends_with(
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
    }

    #[test]
    fn key_prefix_must_be_a_lowercase_subdomain() {
        assert_eq!(
            label_key_errors("/a"),
            vec!["prefix part must be non-empty"]
        );
        let errors = label_key_errors("Example.com/a");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("prefix part a lowercase RFC 1123 subdomain"));
    }

    #[test]
    fn key_name_part_is_limited_to_63_characters() {
        let long = "a".repeat(64);
        assert_eq!(
            label_key_errors(&long),
            vec!["name part must be no more than 63 characters"]
        );
        assert!(label_key_errors(&"a".repeat(63)).is_empty());
    }

    #[test]
    fn an_empty_key_name_reports_both_emptiness_and_pattern() {
        let errors = label_key_errors("");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0], "name part must be non-empty");
    }

    #[test]
    fn values_may_be_empty_but_must_start_and_end_alphanumeric() {
        assert!(label_value_errors("").is_empty());
        assert!(label_value_errors("v1.2_3-x").is_empty());
        assert_eq!(
            label_value_errors("-x"),
            vec!["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]
        );
        assert_eq!(label_value_errors(&"v".repeat(64)).len(), 1);
    }
}
