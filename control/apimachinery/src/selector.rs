//! Label and field selectors: the `labelSelector=` and `fieldSelector=` query parameters of list
//! and watch requests, and the `metav1.LabelSelector` objects that workload controllers carry.
//!
//! Parsing, validation, canonical printing and matching follow Kubernetes v1.32 so that the
//! real kubectl sees the same results and the same error messages it would from kube-apiserver.
//! Everything here is a pure function of its inputs.

mod field;
mod label;
mod validation;

pub use field::{
    canonical_field, field_value, supported_field, supported_fields, FieldOperator,
    FieldRequirement, FieldSelector,
};
pub use label::{LabelSelector, Operator, Requirement};
pub use validation::{label_key_errors, label_value_errors};

/// Why a selector was rejected. The `Display` text is the message Kubernetes gives for the same
/// input, so the server can put it straight into a 400 `Status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string or `metav1.LabelSelector` that does not parse or validate; the
    /// text is the complete Kubernetes message (`unable to parse requirement: ...`, `found ...`).
    #[error("{0}")]
    Label(String),
    /// A field selector term without `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm { selector: String, term: String },
    /// A backslash in a field selector value that is not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A bare `,` or `=` inside a field selector value. Kubernetes prints the character's code
    /// point as a number here, and so do we.
    #[error("invalid field selector: unescapedRune character in value: {}", u32::from(*.0))]
    UnescapedRune(char),
    /// A field selector names a field the kind does not index.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}
