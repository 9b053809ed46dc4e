//! The Swagger 2.0 document in the protobuf form kubectl asks `/openapi/v2` for
//! ([`V2_PROTOBUF_CONTENT_TYPE`]): gnostic's `openapi.v2.Document` (`openapiv2/OpenAPIv2.proto`
//! of github.com/google/gnostic-models).
//!
//! kubectl decodes that message and hands it to kube-openapi's `proto` package, which walks
//! `definitions` (`$ref` as `#/definitions/<name>`, `type.value`, `items.schema[0]`,
//! `additionalProperties.schema`, `properties`) and reads vendor extensions by parsing the YAML
//! text in `NamedAny.value.yaml`. kubectl's query parameter check walks `paths`: the PATCH
//! operation carrying the kind's `x-kubernetes-group-version-kind`, and its query parameters.
//!
//! The encoder follows gnostic's own JSON → protobuf mapping: a known key becomes its field,
//! `x-` keys become `NamedAny` vendor extensions whose YAML is the value written as JSON (JSON is
//! YAML), other keys are skipped. Maps become repeated `(name, value)` pairs in document order.
//! Scalars equal to their proto3 default are left out; a present object is always written, even
//! when empty, since kube-openapi tells `properties: {}` from no properties.
//!
//! The protobuf writer is the few lines of wire format the document needs: varints, 64-bit
//! doubles and length-delimited fields.

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The media type kubectl 1.32 puts first in its `Accept` header for `GET /openapi/v2`.
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The media type answered with: the same type spelled without `@`, which Go's
/// `mime.ParseMediaType` (and so client-go) refuses in a Content-Type header.
pub const V2_PROTOBUF_RESPONSE_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Schemas (and parameter `items`) nested deeper than this are refused rather than risking the
/// stack; Kubernetes schemas nest a handful of levels, since types refer to each other by `$ref`.
pub const MAX_SCHEMA_DEPTH: usize = 128;

/// Why a document could not be encoded. `pointer` is the JSON pointer of the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenApiPbError {
    /// A known key holds a value of the wrong JSON type.
    #[error("OpenAPI v2 document at {pointer:?}: expected {expected}")]
    WrongType {
        pointer: String,
        expected: &'static str,
    },
    /// A value of the right type that has no protobuf form (an unknown parameter location).
    #[error("OpenAPI v2 document at {pointer:?}: {reason}")]
    Invalid { pointer: String, reason: String },
    /// Schemas nested deeper than [`MAX_SCHEMA_DEPTH`].
    #[error("OpenAPI v2 document at {pointer:?}: schemas nested deeper than {limit} levels")]
    TooDeep { pointer: String, limit: usize },
}

type Result<T> = std::result::Result<T, OpenApiPbError>;

/// Encodes a Swagger 2.0 document (as produced by [`crate::openapi::v2`]) as gnostic's
/// `openapi.v2.Document` protobuf, the form kubectl asks `/openapi/v2` for.
pub fn encode_v2(doc: &Value) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    document(&mut w, doc, &Path::Root)?;
    Ok(w.buf)
}

/// [`encode_v2`] of [`crate::openapi::v2`], encoded once and cached.
pub fn v2_bytes() -> Result<&'static [u8]> {
    static ENCODED: OnceLock<Result<Vec<u8>>> = OnceLock::new();
    ENCODED
        .get_or_init(|| encode_v2(&crate::openapi::v2()))
        .as_deref()
        .map_err(Clone::clone)
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format.

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u64) {
        self.varint((u64::from(field) << 3) | wire);
    }

    fn len_delimited(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, WIRE_LEN);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    /// A singular proto3 `string`: left out when empty.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.len_delimited(field, s.as_bytes());
        }
    }

    /// One element of a `repeated string`: always written.
    fn repeated_string(&mut self, field: u32, s: &str) {
        self.len_delimited(field, s.as_bytes());
    }

    /// A singular proto3 `bool`: left out when false.
    fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.oneof_bool(field, b);
        }
    }

    /// A `bool` member of a `oneof`: written even when false, so the member is set.
    fn oneof_bool(&mut self, field: u32, b: bool) {
        self.tag(field, WIRE_VARINT);
        self.varint(u64::from(b));
    }

    /// A singular proto3 `int64`: left out when zero; negative values take ten bytes.
    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.tag(field, WIRE_VARINT);
            self.varint(v as u64);
        }
    }

    /// A singular proto3 `double`: left out when +0.0.
    fn double(&mut self, field: u32, v: f64) {
        if v.to_bits() != 0 {
            self.tag(field, WIRE_FIXED64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// An embedded message, written even when empty (message fields have presence).
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Writer) -> Result<()>) -> Result<()> {
        let mut inner = Writer::default();
        body(&mut inner)?;
        self.len_delimited(field, &inner.buf);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// JSON access with error locations.

/// Where a value sits in the document; rendered as a JSON pointer only for errors.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path::Key(self, key)
    }

    fn index(&self, index: usize) -> Path<'_> {
        Path::Index(self, index)
    }

    fn pointer(&self) -> String {
        let mut out = String::new();
        self.write_pointer(&mut out);
        out
    }

    fn write_pointer(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write_pointer(out);
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Path::Index(parent, index) => {
                parent.write_pointer(out);
                let _ = write!(out, "/{index}");
            }
        }
    }
}

fn wrong_type(path: &Path, expected: &'static str) -> OpenApiPbError {
    OpenApiPbError::WrongType {
        pointer: path.pointer(),
        expected,
    }
}

fn object<'v>(v: &'v Value, path: &Path) -> Result<&'v Map<String, Value>> {
    v.as_object().ok_or_else(|| wrong_type(path, "an object"))
}

fn array<'v>(v: &'v Value, path: &Path) -> Result<&'v [Value]> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| wrong_type(path, "an array"))
}

fn string<'v>(v: &'v Value, path: &Path) -> Result<&'v str> {
    v.as_str().ok_or_else(|| wrong_type(path, "a string"))
}

fn boolean(v: &Value, path: &Path) -> Result<bool> {
    v.as_bool().ok_or_else(|| wrong_type(path, "a boolean"))
}

fn number(v: &Value, path: &Path) -> Result<f64> {
    v.as_f64().ok_or_else(|| wrong_type(path, "a number"))
}

/// An integer; `5.0` counts, `5.5` does not.
fn integer(v: &Value, path: &Path) -> Result<i64> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(wrong_type(path, "an integer")),
    }
}

/// Calls `f` with every element of an array and its path.
fn each(v: &Value, path: &Path, mut f: impl FnMut(&Value, &Path) -> Result<()>) -> Result<()> {
    for (i, item) in array(v, path)?.iter().enumerate() {
        f(item, &path.index(i))?;
    }
    Ok(())
}

/// A JSON array of strings as a `repeated string` field.
fn strings(w: &mut Writer, field: u32, v: &Value, path: &Path) -> Result<()> {
    each(v, path, |item, p| {
        w.repeated_string(field, string(item, p)?);
        Ok(())
    })
}

/// A JSON object as repeated `Named*` messages: `{ string name = 1; <value> value = 2; }`.
fn named(
    w: &mut Writer,
    field: u32,
    v: &Value,
    path: &Path,
    mut value: impl FnMut(&mut Writer, &Value, &Path) -> Result<()>,
) -> Result<()> {
    for (name, item) in object(v, path)? {
        let p = path.key(name);
        w.message(field, |w| {
            w.string(1, name);
            w.message(2, |w| value(w, item, &p))
        })?;
    }
    Ok(())
}

/// An object whose known keys are all strings, plus vendor extensions in field `ext`.
fn string_fields(
    w: &mut Writer,
    v: &Value,
    path: &Path,
    fields: &[(&str, u32)],
    ext: Option<u32>,
) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        if let Some((_, field)) = fields.iter().find(|(name, _)| name == k) {
            w.string(*field, string(v, &p)?);
        } else if let Some(ext) = ext.filter(|_| k.starts_with("x-")) {
            named_any(w, ext, k, v);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `Any` and vendor extensions.

/// `NamedAny { string name = 1; Any value = 2; }`.
fn named_any(w: &mut Writer, field: u32, name: &str, value: &Value) {
    let mut pair = Writer::default();
    pair.string(1, name);
    any(&mut pair, 2, value);
    w.len_delimited(field, &pair.buf);
}

/// `Any { google.protobuf.Any value = 1; string yaml = 2; }`, with only `yaml` set, which is
/// what gnostic produces from JSON and what kube-openapi reads.
fn any(w: &mut Writer, field: u32, value: &Value) {
    let mut msg = Writer::default();
    msg.string(2, &yaml_text(value));
    w.len_delimited(field, &msg.buf);
}

/// `value` as JSON text that YAML parsers (kubectl uses gopkg.in/yaml.v2, a libyaml port)
/// read back as the same value. Besides JSON's own escapes, every character YAML does not
/// accept raw in a double-quoted scalar is escaped: C0 and C1 controls and DEL (not printable)
/// and NEL, LS and PS (line breaks, which a double-quoted scalar would fold into spaces).
fn yaml_text(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(value, &mut out);
    out
}

fn write_yaml(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_quoted(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_yaml(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_quoted(k, out);
                out.push(':');
                write_yaml(v, out);
            }
            out.push('}');
        }
    }
}

fn write_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------------
// The messages of OpenAPIv2.proto. Field numbers are in the comments of each function.

/// `Document`: swagger 1, info 2, host 3, base_path 4, schemes 5, consumes 6, produces 7,
/// paths 8, definitions 9, parameters 10, responses 11, security 12, security_definitions 13,
/// tags 14, external_docs 15, vendor_extension 16.
fn document(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "swagger" => w.string(1, string(v, &p)?),
            "info" => w.message(2, |w| info(w, v, &p))?,
            "host" => w.string(3, string(v, &p)?),
            "basePath" => w.string(4, string(v, &p)?),
            "schemes" => strings(w, 5, v, &p)?,
            "consumes" => strings(w, 6, v, &p)?,
            "produces" => strings(w, 7, v, &p)?,
            "paths" => w.message(8, |w| paths(w, v, &p))?,
            // Definitions { repeated NamedSchema additional_properties = 1; }
            "definitions" => w.message(9, |w| named(w, 1, v, &p, |w, v, p| schema(w, v, p, 0)))?,
            // ParameterDefinitions { repeated NamedParameter additional_properties = 1; }
            "parameters" => w.message(10, |w| named(w, 1, v, &p, parameter))?,
            // ResponseDefinitions { repeated NamedResponse additional_properties = 1; }
            "responses" => w.message(11, |w| named(w, 1, v, &p, response))?,
            "security" => each(v, &p, |item, ip| {
                w.message(12, |w| security_requirement(w, item, ip))
            })?,
            // SecurityDefinitions { repeated NamedSecurityDefinitionsItem additional_properties = 1; }
            "securityDefinitions" => w.message(13, |w| named(w, 1, v, &p, security_scheme))?,
            "tags" => each(v, &p, |item, ip| w.message(14, |w| tag(w, item, ip)))?,
            "externalDocs" => w.message(15, |w| external_docs(w, v, &p))?,
            k if k.starts_with("x-") => named_any(w, 16, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `Info`: title 1, version 2, description 3, terms_of_service 4, contact 5, license 6,
/// vendor_extension 7.
fn info(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "title" => w.string(1, string(v, &p)?),
            "version" => w.string(2, string(v, &p)?),
            "description" => w.string(3, string(v, &p)?),
            "termsOfService" => w.string(4, string(v, &p)?),
            // Contact: name 1, url 2, email 3, vendor_extension 4.
            "contact" => w.message(5, |w| {
                string_fields(w, v, &p, &[("name", 1), ("url", 2), ("email", 3)], Some(4))
            })?,
            // License: name 1, url 2, vendor_extension 3.
            "license" => w.message(6, |w| {
                string_fields(w, v, &p, &[("name", 1), ("url", 2)], Some(3))
            })?,
            k if k.starts_with("x-") => named_any(w, 7, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `ExternalDocs`: description 1, url 2, vendor_extension 3.
fn external_docs(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    string_fields(w, v, path, &[("description", 1), ("url", 2)], Some(3))
}

/// `Tag`: name 1, description 2, external_docs 3, vendor_extension 4.
fn tag(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "name" => w.string(1, string(v, &p)?),
            "description" => w.string(2, string(v, &p)?),
            "externalDocs" => w.message(3, |w| external_docs(w, v, &p))?,
            k if k.starts_with("x-") => named_any(w, 4, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `JsonReference`: _ref 1, description 2.
fn json_reference(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    string_fields(w, v, path, &[("$ref", 1), ("description", 2)], None)
}

/// `Paths`: vendor_extension 1, path 2 (`NamedPathItem`). Keys that are neither paths (`/…`)
/// nor extensions are skipped.
fn paths(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        if k.starts_with("x-") {
            named_any(w, 1, k, v);
        } else if k.starts_with('/') {
            w.message(2, |w| {
                w.string(1, k);
                w.message(2, |w| path_item(w, v, &p))
            })?;
        }
    }
    Ok(())
}

/// `PathItem`: _ref 1, get 2, put 3, post 4, delete 5, options 6, head 7, patch 8,
/// parameters 9, vendor_extension 10.
fn path_item(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        let method = match k.as_str() {
            "get" => Some(2),
            "put" => Some(3),
            "post" => Some(4),
            "delete" => Some(5),
            "options" => Some(6),
            "head" => Some(7),
            "patch" => Some(8),
            _ => None,
        };
        match (k.as_str(), method) {
            (_, Some(field)) => w.message(field, |w| operation(w, v, &p))?,
            ("$ref", _) => w.string(1, string(v, &p)?),
            ("parameters", _) => each(v, &p, |item, ip| {
                w.message(9, |w| parameters_item(w, item, ip))
            })?,
            (k, _) if k.starts_with("x-") => named_any(w, 10, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `Operation`: tags 1, summary 2, description 3, external_docs 4, operation_id 5,
/// produces 6, consumes 7, parameters 8, responses 9, schemes 10, deprecated 11, security 12,
/// vendor_extension 13.
fn operation(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "tags" => strings(w, 1, v, &p)?,
            "summary" => w.string(2, string(v, &p)?),
            "description" => w.string(3, string(v, &p)?),
            "externalDocs" => w.message(4, |w| external_docs(w, v, &p))?,
            "operationId" => w.string(5, string(v, &p)?),
            "produces" => strings(w, 6, v, &p)?,
            "consumes" => strings(w, 7, v, &p)?,
            "parameters" => each(v, &p, |item, ip| {
                w.message(8, |w| parameters_item(w, item, ip))
            })?,
            "responses" => w.message(9, |w| responses(w, v, &p))?,
            "schemes" => strings(w, 10, v, &p)?,
            "deprecated" => w.bool(11, boolean(v, &p)?),
            "security" => each(v, &p, |item, ip| {
                w.message(12, |w| security_requirement(w, item, ip))
            })?,
            k if k.starts_with("x-") => named_any(w, 13, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `ParametersItem`: oneof parameter 1, json_reference 2.
fn parameters_item(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    if object(v, path)?.contains_key("$ref") {
        w.message(2, |w| json_reference(w, v, path))
    } else {
        w.message(1, |w| parameter(w, v, path))
    }
}

/// `Parameter`: oneof body_parameter 1, non_body_parameter 2; the latter is `NonBodyParameter`:
/// oneof header_parameter_sub_schema 1, form_data_parameter_sub_schema 2,
/// query_parameter_sub_schema 3, path_parameter_sub_schema 4.
fn parameter(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    let obj = object(v, path)?;
    let location = match obj.get("in") {
        Some(l) => string(l, &path.key("in"))?,
        None => "",
    };
    // The query and form data sub-schemas have `allow_empty_value = 5` and so number the
    // fields after it one higher than the header and path ones.
    let (field, allow_empty) = match location {
        "body" => return w.message(1, |w| body_parameter(w, obj, path)),
        "header" => (1, false),
        "formData" => (2, true),
        "query" => (3, true),
        "path" => (4, false),
        _ => {
            return Err(OpenApiPbError::Invalid {
                pointer: path.key("in").pointer(),
                reason: format!(
                    "parameter location {location:?} is none of body, query, path, header, formData"
                ),
            })
        }
    };
    w.message(2, |w| {
        w.message(field, |w| non_body_parameter(w, obj, path, allow_empty))
    })
}

/// `BodyParameter`: description 1, name 2, in 3, required 4, schema 5, vendor_extension 6.
fn body_parameter(w: &mut Writer, obj: &Map<String, Value>, path: &Path) -> Result<()> {
    for (k, v) in obj {
        let p = path.key(k);
        match k.as_str() {
            "description" => w.string(1, string(v, &p)?),
            "name" => w.string(2, string(v, &p)?),
            "in" => w.string(3, string(v, &p)?),
            "required" => w.bool(4, boolean(v, &p)?),
            "schema" => w.message(5, |w| schema(w, v, &p, 0))?,
            k if k.starts_with("x-") => named_any(w, 6, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `HeaderParameterSubSchema` / `PathParameterSubSchema` (`allow_empty == false`) and
/// `QueryParameterSubSchema` / `FormDataParameterSubSchema` (`allow_empty == true`):
/// required 1, in 2, description 3, name 4, [allow_empty_value 5], then the primitive fields
/// from 5 (or 6) on and vendor_extension after them (22 or 23).
fn non_body_parameter(
    w: &mut Writer,
    obj: &Map<String, Value>,
    path: &Path,
    allow_empty: bool,
) -> Result<()> {
    let base = if allow_empty { 6 } else { 5 };
    for (k, v) in obj {
        let p = path.key(k);
        match k.as_str() {
            "required" => w.bool(1, boolean(v, &p)?),
            "in" => w.string(2, string(v, &p)?),
            "description" => w.string(3, string(v, &p)?),
            "name" => w.string(4, string(v, &p)?),
            "allowEmptyValue" if allow_empty => w.bool(5, boolean(v, &p)?),
            k if k.starts_with("x-") => named_any(w, base + 17, k, v),
            k => primitive_field(w, base, k, v, &p, 0)?,
        }
    }
    Ok(())
}

/// The run of fields that parameters, `PrimitivesItems` and `Header` share, numbered from
/// `base`: type +0, format +1, items +2, collection_format +3, default +4, maximum +5,
/// exclusive_maximum +6, minimum +7, exclusive_minimum +8, max_length +9, min_length +10,
/// pattern +11, max_items +12, min_items +13, unique_items +14, enum +15, multiple_of +16.
/// Other keys are skipped.
fn primitive_field(
    w: &mut Writer,
    base: u32,
    key: &str,
    v: &Value,
    path: &Path,
    depth: usize,
) -> Result<()> {
    match key {
        "type" => w.string(base, string(v, path)?),
        "format" => w.string(base + 1, string(v, path)?),
        "items" => w.message(base + 2, |w| primitives_items(w, v, path, depth + 1))?,
        "collectionFormat" => w.string(base + 3, string(v, path)?),
        "default" => any(w, base + 4, v),
        "maximum" => w.double(base + 5, number(v, path)?),
        "exclusiveMaximum" => w.bool(base + 6, boolean(v, path)?),
        "minimum" => w.double(base + 7, number(v, path)?),
        "exclusiveMinimum" => w.bool(base + 8, boolean(v, path)?),
        "maxLength" => w.int64(base + 9, integer(v, path)?),
        "minLength" => w.int64(base + 10, integer(v, path)?),
        "pattern" => w.string(base + 11, string(v, path)?),
        "maxItems" => w.int64(base + 12, integer(v, path)?),
        "minItems" => w.int64(base + 13, integer(v, path)?),
        "uniqueItems" => w.bool(base + 14, boolean(v, path)?),
        "enum" => each(v, path, |item, _| {
            any(w, base + 15, item);
            Ok(())
        })?,
        "multipleOf" => w.double(base + 16, number(v, path)?),
        _ => {}
    }
    Ok(())
}

fn check_depth(depth: usize, path: &Path) -> Result<()> {
    if depth > MAX_SCHEMA_DEPTH {
        return Err(OpenApiPbError::TooDeep {
            pointer: path.pointer(),
            limit: MAX_SCHEMA_DEPTH,
        });
    }
    Ok(())
}

/// `PrimitivesItems`: the primitive fields from 1, vendor_extension 18.
fn primitives_items(w: &mut Writer, v: &Value, path: &Path, depth: usize) -> Result<()> {
    check_depth(depth, path)?;
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        if k.starts_with("x-") {
            named_any(w, 18, k, v);
        } else {
            primitive_field(w, 1, k, v, &p, depth)?;
        }
    }
    Ok(())
}

/// `Header`: the primitive fields from 1, description 18, vendor_extension 19.
fn header(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "description" => w.string(18, string(v, &p)?),
            k if k.starts_with("x-") => named_any(w, 19, k, v),
            k => primitive_field(w, 1, k, v, &p, 0)?,
        }
    }
    Ok(())
}

/// `Responses`: response_code 1 (`NamedResponseValue`, for `default` and three digit codes),
/// vendor_extension 2. `ResponseValue` is oneof response 1, json_reference 2.
fn responses(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        let is_code = k.len() == 3 && k.bytes().all(|b| b.is_ascii_digit());
        if k.starts_with("x-") {
            named_any(w, 2, k, v);
        } else if is_code || k == "default" {
            w.message(1, |w| {
                w.string(1, k);
                w.message(2, |w| {
                    if object(v, &p)?.contains_key("$ref") {
                        w.message(2, |w| json_reference(w, v, &p))
                    } else {
                        w.message(1, |w| response(w, v, &p))
                    }
                })
            })?;
        }
    }
    Ok(())
}

/// `Response`: description 1, schema 2 (`SchemaItem`: oneof schema 1, file_schema 2),
/// headers 3, examples 4, vendor_extension 5.
fn response(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "description" => w.string(1, string(v, &p)?),
            "schema" => w.message(2, |w| {
                if object(v, &p)?.get("type").and_then(Value::as_str) == Some("file") {
                    w.message(2, |w| file_schema(w, v, &p))
                } else {
                    w.message(1, |w| schema(w, v, &p, 0))
                }
            })?,
            // Headers { repeated NamedHeader additional_properties = 1; }
            "headers" => w.message(3, |w| named(w, 1, v, &p, header))?,
            // Examples { repeated NamedAny additional_properties = 1; }
            "examples" => w.message(4, |w| {
                for (name, example) in object(v, &p)? {
                    named_any(w, 1, name, example);
                }
                Ok(())
            })?,
            k if k.starts_with("x-") => named_any(w, 5, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `FileSchema`: format 1, title 2, description 3, default 4, required 5, type 6,
/// read_only 7, external_docs 8, example 9, vendor_extension 10.
fn file_schema(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "format" => w.string(1, string(v, &p)?),
            "title" => w.string(2, string(v, &p)?),
            "description" => w.string(3, string(v, &p)?),
            "default" => any(w, 4, v),
            "required" => strings(w, 5, v, &p)?,
            "type" => w.string(6, string(v, &p)?),
            "readOnly" => w.bool(7, boolean(v, &p)?),
            "externalDocs" => w.message(8, |w| external_docs(w, v, &p))?,
            "example" => any(w, 9, v),
            k if k.starts_with("x-") => named_any(w, 10, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `Schema`: _ref 1, format 2, title 3, description 4, default 5, multiple_of 6, maximum 7,
/// exclusive_maximum 8, minimum 9, exclusive_minimum 10, max_length 11, min_length 12,
/// pattern 13, max_items 14, min_items 15, unique_items 16, max_properties 17,
/// min_properties 18, required 19, enum 20, additional_properties 21, type 22, items 23,
/// all_of 24, properties 25, discriminator 26, read_only 27, xml 28, external_docs 29,
/// example 30, vendor_extension 31.
fn schema(w: &mut Writer, v: &Value, path: &Path, depth: usize) -> Result<()> {
    check_depth(depth, path)?;
    let nested = |w: &mut Writer, v: &Value, p: &Path| schema(w, v, p, depth + 1);
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "$ref" => w.string(1, string(v, &p)?),
            "format" => w.string(2, string(v, &p)?),
            "title" => w.string(3, string(v, &p)?),
            "description" => w.string(4, string(v, &p)?),
            "default" => any(w, 5, v),
            "multipleOf" => w.double(6, number(v, &p)?),
            "maximum" => w.double(7, number(v, &p)?),
            "exclusiveMaximum" => w.bool(8, boolean(v, &p)?),
            "minimum" => w.double(9, number(v, &p)?),
            "exclusiveMinimum" => w.bool(10, boolean(v, &p)?),
            "maxLength" => w.int64(11, integer(v, &p)?),
            "minLength" => w.int64(12, integer(v, &p)?),
            "pattern" => w.string(13, string(v, &p)?),
            "maxItems" => w.int64(14, integer(v, &p)?),
            "minItems" => w.int64(15, integer(v, &p)?),
            "uniqueItems" => w.bool(16, boolean(v, &p)?),
            "maxProperties" => w.int64(17, integer(v, &p)?),
            "minProperties" => w.int64(18, integer(v, &p)?),
            "required" => strings(w, 19, v, &p)?,
            "enum" => each(v, &p, |item, _| {
                any(w, 20, item);
                Ok(())
            })?,
            // AdditionalPropertiesItem: oneof schema 1, boolean 2.
            "additionalProperties" => w.message(21, |w| match v {
                Value::Bool(b) => {
                    w.oneof_bool(2, *b);
                    Ok(())
                }
                _ => w.message(1, |w| nested(w, v, &p)),
            })?,
            // TypeItem { repeated string value = 1; }
            "type" => w.message(22, |w| match v {
                Value::String(t) => {
                    w.repeated_string(1, t);
                    Ok(())
                }
                _ => strings(w, 1, v, &p),
            })?,
            // ItemsItem { repeated Schema schema = 1; }
            "items" => w.message(23, |w| match v {
                Value::Array(_) => each(v, &p, |item, ip| w.message(1, |w| nested(w, item, ip))),
                _ => w.message(1, |w| nested(w, v, &p)),
            })?,
            "allOf" => each(v, &p, |item, ip| w.message(24, |w| nested(w, item, ip)))?,
            // Properties { repeated NamedSchema additional_properties = 1; }
            "properties" => w.message(25, |w| named(w, 1, v, &p, nested))?,
            "discriminator" => w.string(26, string(v, &p)?),
            "readOnly" => w.bool(27, boolean(v, &p)?),
            "xml" => w.message(28, |w| xml(w, v, &p))?,
            "externalDocs" => w.message(29, |w| external_docs(w, v, &p))?,
            "example" => any(w, 30, v),
            k if k.starts_with("x-") => named_any(w, 31, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `Xml`: name 1, namespace 2, prefix 3, attribute 4, wrapped 5, vendor_extension 6.
fn xml(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    for (k, v) in object(v, path)? {
        let p = path.key(k);
        match k.as_str() {
            "name" => w.string(1, string(v, &p)?),
            "namespace" => w.string(2, string(v, &p)?),
            "prefix" => w.string(3, string(v, &p)?),
            "attribute" => w.bool(4, boolean(v, &p)?),
            "wrapped" => w.bool(5, boolean(v, &p)?),
            k if k.starts_with("x-") => named_any(w, 6, k, v),
            _ => {}
        }
    }
    Ok(())
}

/// `SecurityRequirement { repeated NamedStringArray additional_properties = 1; }`, where
/// `StringArray { repeated string value = 1; }`.
fn security_requirement(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    named(w, 1, v, path, |w, v, p| strings(w, 1, v, p))
}

/// `SecurityDefinitionsItem`, chosen by `type` (and `flow` for OAuth2): oneof
/// basic_authentication_security 1, api_key_security 2, oauth2_implicit_security 3,
/// oauth2_password_security 4, oauth2_application_security 5, oauth2_access_code_security 6.
fn security_scheme(w: &mut Writer, v: &Value, path: &Path) -> Result<()> {
    let obj = object(v, path)?;
    let text = |key: &str| -> Result<&str> {
        match obj.get(key) {
            Some(v) => string(v, &path.key(key)),
            None => Ok(""),
        }
    };
    let (kind, flow) = (text("type")?, text("flow")?);
    // (oneof member, fields, scopes field, vendor extension field)
    let (member, fields, scopes, ext): (u32, &[(&str, u32)], Option<u32>, u32) = match (kind, flow)
    {
        // BasicAuthenticationSecurity: type 1, description 2, vendor_extension 3.
        ("basic", _) => (1, &[("type", 1), ("description", 2)], None, 3),
        // ApiKeySecurity: type 1, name 2, in 3, description 4, vendor_extension 5.
        ("apiKey", _) => (
            2,
            &[("type", 1), ("name", 2), ("in", 3), ("description", 4)],
            None,
            5,
        ),
        // Oauth2ImplicitSecurity: type 1, flow 2, scopes 3, authorization_url 4,
        // description 5, vendor_extension 6.
        ("oauth2", "implicit") => (
            3,
            &[
                ("type", 1),
                ("flow", 2),
                ("authorizationUrl", 4),
                ("description", 5),
            ],
            Some(3),
            6,
        ),
        // Oauth2PasswordSecurity and Oauth2ApplicationSecurity: type 1, flow 2, scopes 3,
        // token_url 4, description 5, vendor_extension 6.
        ("oauth2", "password" | "application") => (
            if flow == "password" { 4 } else { 5 },
            &[
                ("type", 1),
                ("flow", 2),
                ("tokenUrl", 4),
                ("description", 5),
            ],
            Some(3),
            6,
        ),
        // Oauth2AccessCodeSecurity: type 1, flow 2, scopes 3, authorization_url 4,
        // token_url 5, description 6, vendor_extension 7.
        ("oauth2", "accessCode") => (
            6,
            &[
                ("type", 1),
                ("flow", 2),
                ("authorizationUrl", 4),
                ("tokenUrl", 5),
                ("description", 6),
            ],
            Some(3),
            7,
        ),
        _ => {
            return Err(OpenApiPbError::Invalid {
                pointer: path.pointer(),
                reason: format!("unknown security scheme type {kind:?} (flow {flow:?})"),
            })
        }
    };
    w.message(member, |w| {
        for (k, v) in obj {
            let p = path.key(k);
            if let Some((_, field)) = fields.iter().find(|(name, _)| name == k) {
                w.string(*field, string(v, &p)?);
            } else if let (Some(field), "scopes") = (scopes, k.as_str()) {
                // Oauth2Scopes { repeated NamedString additional_properties = 1; }
                w.message(field, |w| {
                    for (name, scope) in object(v, &p)? {
                        let mut pair = Writer::default();
                        pair.string(1, name);
                        pair.string(2, string(scope, &p.key(name))?);
                        w.len_delimited(1, &pair.buf);
                    }
                    Ok(())
                })?;
            } else if k.starts_with("x-") {
                named_any(w, ext, k, v);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // A small protobuf reader, independent of the writer above.

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Wire<'a> {
        Varint(u64),
        Fixed64(u64),
        Bytes(&'a [u8]),
        Fixed32(u32),
    }

    fn read_varint(buf: &[u8], pos: &mut usize) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = buf[*pos];
            *pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
        }
        panic!("varint longer than ten bytes");
    }

    /// Every field of one message, in wire order; panics on malformed input.
    fn fields(buf: &[u8]) -> Vec<(u32, Wire<'_>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let key = read_varint(buf, &mut pos);
            let field = u32::try_from(key >> 3).unwrap();
            assert!(field > 0, "field number 0");
            let wire = match key & 7 {
                0 => Wire::Varint(read_varint(buf, &mut pos)),
                1 => {
                    let bytes: [u8; 8] = buf[pos..pos + 8].try_into().unwrap();
                    pos += 8;
                    Wire::Fixed64(u64::from_le_bytes(bytes))
                }
                2 => {
                    let len = usize::try_from(read_varint(buf, &mut pos)).unwrap();
                    let bytes = &buf[pos..pos + len];
                    pos += len;
                    Wire::Bytes(bytes)
                }
                5 => {
                    let bytes: [u8; 4] = buf[pos..pos + 4].try_into().unwrap();
                    pos += 4;
                    Wire::Fixed32(u32::from_le_bytes(bytes))
                }
                other => panic!("wire type {other}"),
            };
            out.push((field, wire));
        }
        assert_eq!(pos, buf.len());
        out
    }

    fn all(buf: &[u8], field: u32) -> Vec<&[u8]> {
        fields(buf)
            .into_iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, w)| match w {
                Wire::Bytes(b) => b,
                other => panic!("field {field} is {other:?}"),
            })
            .collect()
    }

    fn one(buf: &[u8], field: u32) -> &[u8] {
        let found = all(buf, field);
        assert_eq!(found.len(), 1, "field {field}");
        found[0]
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn text_of(buf: &[u8], field: u32) -> String {
        all(buf, field).last().map(|b| text(b)).unwrap_or_default()
    }

    /// `(name, value)` of the repeated `Named*` pairs in `field`.
    fn pairs(buf: &[u8], field: u32) -> Vec<(String, &[u8])> {
        all(buf, field)
            .into_iter()
            .map(|pair| (text_of(pair, 1), one(pair, 2)))
            .collect()
    }

    fn lookup<'a>(buf: &'a [u8], field: u32, name: &str) -> &'a [u8] {
        pairs(buf, field)
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    }

    /// The value of an `Any`, parsed from its YAML (which this encoder writes as JSON).
    fn any_value(any: &[u8]) -> Value {
        assert!(all(any, 1).is_empty(), "google.protobuf.Any set");
        serde_json::from_str(&text_of(any, 2)).unwrap()
    }

    fn varint_of(buf: &[u8], field: u32) -> Option<u64> {
        fields(buf).into_iter().find_map(|(f, w)| match w {
            Wire::Varint(v) if f == field => Some(v),
            _ => None,
        })
    }

    /// A decoded `Schema` back in JSON form, covering the keys the served document uses.
    fn decode_schema(buf: &[u8]) -> Value {
        let mut m = Map::new();
        let mut required = Vec::new();
        for (field, wire) in fields(buf) {
            let key = |k: &str| k.to_string();
            match (field, wire) {
                (1, Wire::Bytes(b)) => {
                    m.insert(key("$ref"), json!(text(b)));
                }
                (2, Wire::Bytes(b)) => {
                    m.insert(key("format"), json!(text(b)));
                }
                (3, Wire::Bytes(b)) => {
                    m.insert(key("title"), json!(text(b)));
                }
                (4, Wire::Bytes(b)) => {
                    m.insert(key("description"), json!(text(b)));
                }
                (5, Wire::Bytes(b)) => {
                    m.insert(key("default"), any_value(b));
                }
                (11, Wire::Varint(v)) => {
                    m.insert(key("maxLength"), json!(v));
                }
                (16, Wire::Varint(v)) => {
                    m.insert(key("uniqueItems"), json!(v == 1));
                }
                (19, Wire::Bytes(b)) => required.push(json!(text(b))),
                (20, Wire::Bytes(b)) => {
                    let list = m.entry("enum").or_insert_with(|| json!([]));
                    list.as_array_mut().unwrap().push(any_value(b));
                }
                (21, Wire::Bytes(b)) => {
                    let value = match fields(b).as_slice() {
                        [(1, Wire::Bytes(s))] => decode_schema(s),
                        [(2, Wire::Varint(v))] => json!(*v == 1),
                        other => panic!("additionalProperties {other:?}"),
                    };
                    m.insert(key("additionalProperties"), value);
                }
                (22, Wire::Bytes(b)) => {
                    let types: Vec<String> = all(b, 1).into_iter().map(text).collect();
                    let value = match types.as_slice() {
                        [one] => json!(one),
                        _ => json!(types),
                    };
                    m.insert(key("type"), value);
                }
                (23, Wire::Bytes(b)) => {
                    let items: Vec<Value> = all(b, 1).into_iter().map(decode_schema).collect();
                    let value = match items.as_slice() {
                        [one] => one.clone(),
                        _ => Value::Array(items),
                    };
                    m.insert(key("items"), value);
                }
                (24, Wire::Bytes(b)) => {
                    let list = m.entry("allOf").or_insert_with(|| json!([]));
                    list.as_array_mut().unwrap().push(decode_schema(b));
                }
                (25, Wire::Bytes(b)) => {
                    let props: Map<String, Value> = pairs(b, 1)
                        .into_iter()
                        .map(|(name, s)| (name, decode_schema(s)))
                        .collect();
                    m.insert(key("properties"), Value::Object(props));
                }
                (31, Wire::Bytes(b)) => {
                    m.insert(text_of(b, 1), any_value(one(b, 2)));
                }
                other => panic!("unexpected schema field {other:?}"),
            }
        }
        if !required.is_empty() {
            m.insert("required".into(), Value::Array(required));
        }
        Value::Object(m)
    }

    fn served() -> (Value, Vec<u8>) {
        let doc = crate::openapi::v2();
        let bytes = encode_v2(&doc).unwrap();
        (doc, bytes)
    }

    #[test]
    fn the_served_document_has_pod_with_its_gvk_and_the_containers_merge_key() {
        let (_, bytes) = served();
        assert_eq!(text_of(&bytes, 1), "2.0");
        let info = one(&bytes, 2);
        assert_eq!(text_of(info, 1), "Kubernetes");
        assert_eq!(text_of(info, 2), crate::openapi::KUBERNETES_VERSION);

        let definitions = one(&bytes, 9);
        let pod = lookup(definitions, 1, "io.k8s.api.core.v1.Pod");
        let gvk = any_value(lookup(pod, 31, "x-kubernetes-group-version-kind"));
        assert_eq!(
            gvk,
            json!([{ "group": "", "kind": "Pod", "version": "v1" }])
        );
        // kube-openapi: `type.value[0] == "object"` with properties is a Kind.
        assert_eq!(text_of(one(pod, 22), 1), "object");
        let spec = lookup(one(pod, 25), 1, "spec");
        assert_eq!(text_of(spec, 1), "#/definitions/io.k8s.api.core.v1.PodSpec");
        assert!(all(spec, 22).is_empty(), "a $ref must not carry a type");

        let pod_spec = lookup(definitions, 1, "io.k8s.api.core.v1.PodSpec");
        let containers = lookup(one(pod_spec, 25), 1, "containers");
        let merge_key = lookup(containers, 31, "x-kubernetes-patch-merge-key");
        assert_eq!(text_of(merge_key, 2), "\"name\"");
        assert_eq!(any_value(merge_key), json!("name"));
        let strategy = lookup(containers, 31, "x-kubernetes-patch-strategy");
        assert_eq!(any_value(strategy), json!("merge"));
        assert_eq!(text_of(one(containers, 22), 1), "array");
        let items = all(one(containers, 23), 1);
        assert_eq!(items.len(), 1);
        assert_eq!(
            text_of(items[0], 1),
            "#/definitions/io.k8s.api.core.v1.Container"
        );
    }

    #[test]
    fn every_served_definition_decodes_back_to_its_json() {
        let (doc, bytes) = served();
        let definitions = one(&bytes, 9);
        let decoded: Map<String, Value> = pairs(definitions, 1)
            .into_iter()
            .map(|(name, s)| (name, decode_schema(s)))
            .collect();
        let expected = doc["definitions"].as_object().unwrap();
        assert_eq!(decoded.len(), expected.len());
        for (name, schema) in expected {
            assert_eq!(&decoded[name], schema, "{name}");
        }
        // Same order as the document.
        assert!(decoded.keys().eq(expected.keys()));
    }

    #[test]
    fn the_served_paths_carry_patch_gvks_and_query_parameters() {
        let (doc, bytes) = served();
        let paths = one(&bytes, 8);
        let items = pairs(paths, 2);
        assert_eq!(items.len(), doc["paths"].as_object().unwrap().len());

        // What kubectl's query parameter verifier does: find the PATCH operation whose GVK
        // extension is the kind's, then look for the query parameter by name.
        let (_, item) = items
            .iter()
            .find(|(name, _)| name == "/api/v1/namespaces/{namespace}/pods/{name}")
            .unwrap();
        let patch = one(item, 8);
        let gvk = any_value(lookup(patch, 13, "x-kubernetes-group-version-kind"));
        assert_eq!(gvk, json!({ "group": "", "kind": "Pod", "version": "v1" }));
        let mut query = Vec::new();
        let mut body_refs = Vec::new();
        for param in all(patch, 8) {
            let parameter = one(param, 1);
            match fields(parameter).as_slice() {
                [(1, Wire::Bytes(body))] => {
                    assert_eq!(text_of(body, 3), "body");
                    assert_eq!(varint_of(body, 4), Some(1));
                    body_refs.push(text_of(one(body, 5), 1));
                }
                [(2, Wire::Bytes(non_body))] => {
                    if let Some(q) = all(non_body, 3).first() {
                        assert_eq!(text_of(q, 2), "query");
                        query.push(text_of(q, 4));
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        for wanted in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            assert!(query.iter().any(|q| q == wanted), "{wanted} in {query:?}");
        }
        assert_eq!(
            body_refs,
            vec!["#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"]
        );
        let consumes: Vec<String> = all(patch, 7).into_iter().map(text).collect();
        assert!(consumes.contains(&"application/strategic-merge-patch+json".to_string()));

        // Path-level parameters: `name` and `namespace` in the path, `pretty` in the query.
        let mut path_params = Vec::new();
        for param in all(item, 9) {
            let non_body = one(one(param, 1), 2);
            if let Some(p) = all(non_body, 4).first() {
                assert_eq!(varint_of(p, 1), Some(1), "path parameters are required");
                assert_eq!(text_of(p, 5), "string");
                path_params.push(text_of(p, 4));
            }
        }
        path_params.sort();
        assert_eq!(path_params, vec!["name", "namespace"]);

        // Responses: 200 refers to Pod, 401 has only a description.
        let responses = one(patch, 9);
        let ok = one(lookup(responses, 1, "200"), 1);
        assert_eq!(text_of(ok, 1), "OK");
        assert_eq!(
            text_of(one(one(ok, 2), 1), 1),
            "#/definitions/io.k8s.api.core.v1.Pod"
        );
        let unauthorized = one(lookup(responses, 1, "401"), 1);
        assert_eq!(text_of(unauthorized, 1), "Unauthorized");
        assert!(all(unauthorized, 2).is_empty());
    }

    #[test]
    fn a_small_document_encodes_to_the_expected_bytes() {
        let doc = json!({
            "swagger": "2.0",
            "info": { "title": "T", "version": "v1" },
            "paths": {},
            "definitions": {
                "A": { "type": "object", "x-k": "v" },
            },
        });
        let mut expected = vec![0x0a, 3, b'2', b'.', b'0']; // swagger = 1
        expected.extend([0x12, 7]); // info = 2, 7 bytes
        expected.extend([0x0a, 1, b'T']); //   title = 1
        expected.extend([0x12, 2, b'v', b'1']); //   version = 2
        expected.extend([0x42, 0]); // paths = 8, empty but present
        expected.extend([0x4a, 33]); // definitions = 9
        expected.extend([0x0a, 31]); //   additional_properties = 1 (NamedSchema)
        expected.extend([0x0a, 1, b'A']); //     name = 1
        expected.extend([0x12, 26]); //     value = 2 (Schema)
        expected.extend([0xb2, 0x01, 8]); //       type = 22 (TypeItem)
        expected.extend([0x0a, 6]); //         value = 1
        expected.extend(b"object");
        expected.extend([0xfa, 0x01, 12]); //       vendor_extension = 31 (NamedAny)
        expected.extend([0x0a, 3]); //         name = 1
        expected.extend(b"x-k");
        expected.extend([0x12, 5]); //         value = 2 (Any)
        expected.extend([0x12, 3]); //           yaml = 2
        expected.extend(b"\"v\"");
        assert_eq!(encode_v2(&doc).unwrap(), expected);
    }

    #[test]
    fn scalars_use_their_wire_types() {
        let doc = json!({ "definitions": { "S": {
            "maxLength": 300,
            "minimum": -1,
            "maximum": 1.5,
            "minLength": 0,
            "uniqueItems": false,
            "readOnly": true,
            "additionalProperties": false,
            "enum": ["a", 1],
            "default": null,
        } } });
        let bytes = encode_v2(&doc).unwrap();
        let schema = one(one(one(&bytes, 9), 1), 2);
        let mut expected = vec![0x58, 0xac, 0x02]; // max_length = 11: 300
        expected.push(0x49); // minimum = 9, fixed64
        expected.extend((-1.0f64).to_le_bytes());
        expected.push(0x39); // maximum = 7, fixed64
        expected.extend(1.5f64.to_le_bytes());
        // min_length 0 and unique_items false are proto3 defaults: absent.
        expected.extend([0xd8, 0x01, 0x01]); // read_only = 27: true
        expected.extend([0xaa, 0x01, 2, 0x10, 0x00]); // additional_properties = 21 { boolean = 2: false }
        expected.extend([0xa2, 0x01, 5, 0x12, 3]); // enum = 20 { yaml = 2 }
        expected.extend(b"\"a\"");
        expected.extend([0xa2, 0x01, 3, 0x12, 1, b'1']);
        expected.extend([0x2a, 6, 0x12, 4]); // default = 5 { yaml = 2 }
        expected.extend(b"null");
        assert_eq!(schema, expected.as_slice());

        // A negative int64 is ten bytes of two's complement.
        let doc = json!({ "definitions": { "S": { "minItems": -1 } } });
        let bytes = encode_v2(&doc).unwrap();
        let schema = one(one(one(&bytes, 9), 1), 2);
        assert_eq!(schema[0], 0x78); // min_items = 15
        assert_eq!(fields(schema), vec![(15, Wire::Varint(u64::MAX))]);
    }

    #[test]
    fn parameters_pick_their_oneof_by_location() {
        let doc = json!({ "paths": { "/x": { "get": { "parameters": [
            { "name": "h", "in": "header", "type": "string", "x-e": 1 },
            { "name": "f", "in": "formData", "type": "file", "allowEmptyValue": true },
            { "name": "q", "in": "query", "type": "integer", "uniqueItems": true,
              "items": { "type": "string", "items": { "type": "integer" } } },
            { "name": "p", "in": "path", "type": "string", "required": true },
            { "name": "b", "in": "body", "schema": { "$ref": "#/definitions/B" } },
            { "$ref": "#/parameters/shared" },
        ] } } } });
        let bytes = encode_v2(&doc).unwrap();
        let get = one(one(one(one(&bytes, 8), 2), 2), 2);
        let params = all(get, 8);
        assert_eq!(params.len(), 6);
        let non_body = |i: usize| one(one(params[i], 1), 2);
        let header = one(non_body(0), 1);
        assert_eq!(text_of(header, 4), "h");
        assert_eq!(text_of(header, 5), "string");
        assert_eq!(any_value(lookup(header, 22, "x-e")), json!(1));
        let form = one(non_body(1), 2);
        assert_eq!(varint_of(form, 5), Some(1));
        assert_eq!(text_of(form, 6), "file");
        let query = one(non_body(2), 3);
        assert_eq!(text_of(query, 4), "q");
        assert_eq!(text_of(query, 6), "integer");
        assert_eq!(varint_of(query, 20), Some(1));
        let items = one(query, 8);
        assert_eq!(text_of(items, 1), "string");
        assert_eq!(text_of(one(items, 3), 1), "integer");
        let path = one(non_body(3), 4);
        assert_eq!(varint_of(path, 1), Some(1));
        assert_eq!(text_of(path, 5), "string");
        let body = one(one(params[4], 1), 1);
        assert_eq!(text_of(body, 2), "b");
        assert_eq!(text_of(one(body, 5), 1), "#/definitions/B");
        assert_eq!(text_of(one(params[5], 2), 1), "#/parameters/shared");
    }

    #[test]
    fn the_rest_of_the_document_model_is_encoded() {
        let doc = json!({
            "swagger": "2.0",
            "host": "h",
            "basePath": "/b",
            "schemes": ["https"],
            "consumes": ["application/json"],
            "produces": ["application/json", "application/yaml"],
            "info": { "title": "t", "contact": { "name": "c" }, "license": { "name": "l" },
                      "x-i": true },
            "paths": { "x-p": [1], "/a": { "$ref": "#/x", "x-pi": {} }, "not-a-path": {} },
            "parameters": { "shared": { "name": "s", "in": "query", "type": "string" } },
            "responses": { "r": { "description": "d", "schema": { "type": "file" },
                                  "headers": { "H": { "type": "string", "description": "hd" } },
                                  "examples": { "application/json": { "a": 1 } } } },
            "security": [{ "BearerToken": [] }],
            "securityDefinitions": {
                "BearerToken": { "type": "apiKey", "name": "authorization", "in": "header" },
                "O": { "type": "oauth2", "flow": "accessCode", "tokenUrl": "t",
                       "scopes": { "read": "r" } },
            },
            "tags": [{ "name": "core", "externalDocs": { "url": "u" } }],
            "externalDocs": { "description": "e" },
            "x-top": "y",
        });
        let bytes = encode_v2(&doc).unwrap();
        assert_eq!(text_of(&bytes, 3), "h");
        assert_eq!(text_of(&bytes, 4), "/b");
        assert_eq!(all(&bytes, 5), vec![b"https".as_slice()]);
        assert_eq!(all(&bytes, 7).len(), 2);
        let info = one(&bytes, 2);
        assert_eq!(text_of(one(info, 5), 1), "c");
        assert_eq!(text_of(one(info, 6), 1), "l");
        assert_eq!(any_value(lookup(info, 7, "x-i")), json!(true));
        let paths = one(&bytes, 8);
        assert_eq!(any_value(lookup(paths, 1, "x-p")), json!([1]));
        let items = pairs(paths, 2);
        assert_eq!(items.len(), 1);
        assert_eq!(text_of(items[0].1, 1), "#/x");
        assert_eq!(any_value(lookup(items[0].1, 10, "x-pi")), json!({}));
        let shared = lookup(one(&bytes, 10), 1, "shared");
        assert_eq!(text_of(one(one(shared, 2), 3), 4), "s");
        let r = lookup(one(&bytes, 11), 1, "r");
        assert_eq!(text_of(one(one(r, 2), 2), 6), "file");
        let h = lookup(one(r, 3), 1, "H");
        assert_eq!(
            (text_of(h, 1), text_of(h, 18)),
            ("string".into(), "hd".into())
        );
        assert_eq!(
            any_value(lookup(one(r, 4), 1, "application/json")),
            json!({ "a": 1 })
        );
        let requirement = one(&bytes, 12);
        let bearer = lookup(requirement, 1, "BearerToken");
        assert!(bearer.is_empty());
        let schemes = one(&bytes, 13);
        let api_key = one(lookup(schemes, 1, "BearerToken"), 2);
        assert_eq!(text_of(api_key, 2), "authorization");
        assert_eq!(text_of(api_key, 3), "header");
        let oauth = one(lookup(schemes, 1, "O"), 6);
        assert_eq!(text_of(oauth, 5), "t");
        let scope = one(one(oauth, 3), 1);
        assert_eq!(
            (text_of(scope, 1), text_of(scope, 2)),
            ("read".into(), "r".into())
        );
        let tag = one(&bytes, 14);
        assert_eq!(text_of(one(tag, 3), 2), "u");
        assert_eq!(text_of(one(&bytes, 15), 1), "e");
        assert_eq!(any_value(lookup(&bytes, 16, "x-top")), json!("y"));
    }

    #[test]
    fn empty_objects_are_present_and_unknown_keys_are_skipped() {
        let doc = json!({
            "swagger": "2.0",
            "paths": {},
            "definitions": { "E": { "properties": {}, "nullable": true, "anyOf": [] } },
            "unknown": { "anything": [] },
        });
        let bytes = encode_v2(&doc).unwrap();
        assert!(one(&bytes, 8).is_empty());
        let e = one(one(one(&bytes, 9), 1), 2);
        assert_eq!(e, [0xca, 0x01, 0x00]); // properties = 25, present and empty
        assert_eq!(encode_v2(&json!({})).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn wrong_types_are_reported_with_their_location() {
        assert_eq!(
            encode_v2(&json!([])),
            Err(OpenApiPbError::WrongType {
                pointer: String::new(),
                expected: "an object"
            })
        );
        let doc = json!({ "definitions": { "a/b": { "properties": { "x": { "type": 5 } } } } });
        assert_eq!(
            encode_v2(&doc),
            Err(OpenApiPbError::WrongType {
                pointer: "/definitions/a~1b/properties/x/type".into(),
                expected: "an array"
            })
        );
        let doc = json!({ "definitions": { "S": { "maxLength": 1.5 } } });
        assert!(matches!(
            encode_v2(&doc),
            Err(OpenApiPbError::WrongType {
                expected: "an integer",
                ..
            })
        ));
        let doc = json!({ "definitions": { "S": { "maxLength": 2.0 } } });
        assert!(encode_v2(&doc).is_ok());
        let doc = json!({ "paths": { "/p": { "parameters": [{ "name": "n", "in": "cookie" }] } } });
        let err = encode_v2(&doc).unwrap_err();
        assert!(matches!(
            &err,
            OpenApiPbError::Invalid { pointer, .. } if pointer == "/paths/~1p/parameters/0/in"
        ));
        assert!(err.to_string().contains("cookie"), "{err}");
        let doc = json!({ "securityDefinitions": { "X": { "type": "mystery" } } });
        assert!(matches!(
            encode_v2(&doc),
            Err(OpenApiPbError::Invalid { .. })
        ));
        assert!(encode_v2(&json!({ "definitions": { "S": true } })).is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = json!({ "type": "string" });
        for _ in 0..MAX_SCHEMA_DEPTH + 5 {
            deep = json!({ "type": "array", "items": deep });
        }
        let doc = json!({ "definitions": { "D": deep } });
        assert!(matches!(
            encode_v2(&doc),
            Err(OpenApiPbError::TooDeep { .. })
        ));
        let mut ok = json!({ "type": "string" });
        for _ in 0..MAX_SCHEMA_DEPTH {
            ok = json!({ "type": "array", "items": ok });
        }
        assert!(encode_v2(&json!({ "definitions": { "D": ok } })).is_ok());
    }

    #[test]
    fn extension_yaml_escapes_what_yaml_would_not_keep() {
        let value = json!({ "k\"": ["a\u{85}b\u{2028}\u{7f}\u{1}\t\n\\", 1.5, -2, null, false] });
        let yaml = yaml_text(&value);
        assert_eq!(
            yaml,
            r#"{"k\"":["a\u0085b\u2028\u007f\u0001\t\n\\",1.5,-2,null,false]}"#
        );
        // Still JSON, and the same value.
        assert_eq!(serde_json::from_str::<Value>(&yaml).unwrap(), value);
        assert_eq!(yaml_text(&json!("é😀")), "\"é😀\"");
    }

    #[test]
    fn the_cached_bytes_are_the_encoding_of_the_served_document() {
        let (_, bytes) = served();
        assert_eq!(v2_bytes().unwrap(), bytes.as_slice());
        assert_eq!(
            V2_PROTOBUF_CONTENT_TYPE,
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        );
    }
}
