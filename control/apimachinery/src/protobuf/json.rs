//! The small JSON builder every message mapping is written with, and the leaf types that have
//! their own JSON form (Time, Quantity, IntOrString, bytes).
//!
//! Kubernetes' Go types are encoded by gogo-protobuf with `proto2` optionality: a Go *pointer*
//! field is written only when non-nil, but a plain (non-pointer) field is written always, even
//! when it holds its zero value. The Go JSON encoder then decides by the field's tag:
//! `omitempty` drops the zero value, no `omitempty` writes it. So each scalar field comes in
//! three flavours here, chosen from the Go type and JSON tag:
//!
//! | Go field                     | method     | JSON                           |
//! |------------------------------|------------|--------------------------------|
//! | `T` with `omitempty`         | `str` ...  | only when non-zero             |
//! | `*T`                         | `*_ptr`    | whenever present, even if zero |
//! | `T` without `omitempty`      | `*_req`    | always, zero when absent       |
//!
//! Message fields (`obj`) are written whenever present: the Go encoder writes a non-pointer
//! struct always (so `resources: {}` and `strategy: {}` come through, as Go's JSON writes them)
//! and a pointer struct only when set, which is exactly what the JSON side does too.

use std::collections::BTreeMap;

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::Time;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Map, Value};

use super::ProtobufError;

/// The result of mapping one message to JSON.
pub(super) type Json = Result<Value, ProtobufError>;

/// A JSON object under construction. Nested mappings may fail (a malformed time, an
/// unsupported volume type); the first failure is kept and returned by [`Obj::finish`], which
/// keeps every mapping function a single readable chain.
#[must_use]
#[derive(Default)]
pub(super) struct Obj {
    fields: Map<String, Value>,
    error: Option<ProtobufError>,
}

impl Obj {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the mapped value, or records the mapping's error.
    fn put(mut self, key: &str, value: Json) -> Self {
        match value {
            Ok(value) => {
                self.fields.insert(key.to_owned(), value);
            }
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
        self
    }

    /// A JSON value that needs no mapping (apiVersion and kind from the envelope).
    pub fn value(self, key: &str, value: Value) -> Self {
        self.put(key, Ok(value))
    }

    /// Go `string` with `omitempty`.
    pub fn str(self, key: &str, value: &Option<String>) -> Self {
        match value.as_deref() {
            Some(text) if !text.is_empty() => self.put(key, Ok(Value::from(text))),
            _ => self,
        }
    }

    /// Go `*string`.
    pub fn str_ptr(self, key: &str, value: &Option<String>) -> Self {
        match value.as_deref() {
            Some(text) => self.put(key, Ok(Value::from(text))),
            None => self,
        }
    }

    /// Go `string` without `omitempty`.
    pub fn str_req(self, key: &str, value: &Option<String>) -> Self {
        self.put(key, Ok(Value::from(value.as_deref().unwrap_or_default())))
    }

    /// Go `int32`/`int64` with `omitempty`.
    pub fn int(self, key: &str, value: Option<impl Into<i64>>) -> Self {
        match value.map(Into::into) {
            Some(number) if number != 0 => self.put(key, Ok(Value::from(number))),
            _ => self,
        }
    }

    /// Go `*int32`/`*int64`.
    pub fn int_ptr(self, key: &str, value: Option<impl Into<i64>>) -> Self {
        match value.map(Into::into) {
            Some(number) => self.put(key, Ok(Value::from(number))),
            None => self,
        }
    }

    /// Go `int32`/`int64` without `omitempty`.
    pub fn int_req(self, key: &str, value: Option<impl Into<i64>>) -> Self {
        self.put(key, Ok(Value::from(value.map_or(0, Into::into))))
    }

    /// Go `bool` with `omitempty`.
    pub fn bool(self, key: &str, value: Option<bool>) -> Self {
        match value {
            Some(true) => self.put(key, Ok(Value::Bool(true))),
            _ => self,
        }
    }

    /// Go `*bool`.
    pub fn bool_ptr(self, key: &str, value: Option<bool>) -> Self {
        match value {
            Some(flag) => self.put(key, Ok(Value::Bool(flag))),
            None => self,
        }
    }

    /// Go `[]string` with `omitempty`.
    pub fn strs(self, key: &str, values: &[String]) -> Self {
        if values.is_empty() {
            return self;
        }
        self.put(
            key,
            Ok(values.iter().map(|v| Value::from(v.as_str())).collect()),
        )
    }

    /// Go `[]int32`/`[]int64` with `omitempty`.
    pub fn ints<T: Copy + Into<i64>>(self, key: &str, values: &[T]) -> Self {
        if values.is_empty() {
            return self;
        }
        self.put(
            key,
            Ok(values.iter().map(|v| Value::from((*v).into())).collect()),
        )
    }

    /// Go `map[string]string` with `omitempty`.
    pub fn str_map(self, key: &str, values: &BTreeMap<String, String>) -> Self {
        self.map(key, values, |text| Ok(Value::from(text.as_str())))
    }

    /// Go `map[string][]byte` with `omitempty`: Go's JSON writes bytes as padded base64.
    pub fn bytes_map(self, key: &str, values: &BTreeMap<String, Vec<u8>>) -> Self {
        self.map(key, values, |bytes| Ok(Value::from(base64(bytes))))
    }

    /// A `ResourceList` (`map[ResourceName]resource.Quantity`) with `omitempty`.
    pub fn quantity_map(self, key: &str, values: &BTreeMap<String, Quantity>) -> Self {
        self.map(key, values, quantity)
    }

    fn map<T>(self, key: &str, values: &BTreeMap<String, T>, f: impl Fn(&T) -> Json) -> Self {
        if values.is_empty() {
            return self;
        }
        let object = values
            .iter()
            .map(|(name, value)| Ok((name.clone(), f(value)?)))
            .collect::<Result<Map<_, _>, ProtobufError>>();
        self.put(key, object.map(Value::Object))
    }

    /// A `resource.Quantity` field (pointer or not: present means written).
    pub fn quantity(self, key: &str, value: Option<&Quantity>) -> Self {
        self.obj(key, value, quantity)
    }

    /// An `intstr.IntOrString` field (pointer or not: present means written).
    pub fn int_or_string(self, key: &str, value: Option<&IntOrString>) -> Self {
        self.obj(key, value, int_or_string)
    }

    /// A `metav1.Time` field. The zero time travels as an empty message and is `null` in Go's
    /// JSON; it is left out here instead, which reads the same and keeps the JSON typed.
    pub fn time(self, key: &str, value: Option<&Time>) -> Self {
        match value.and_then(|time| time.seconds) {
            Some(seconds) => self.put(key, rfc3339(seconds)),
            None => self,
        }
    }

    /// A message field, written whenever present.
    pub fn obj<T>(self, key: &str, value: Option<&T>, f: impl FnOnce(&T) -> Json) -> Self {
        match value {
            Some(value) => self.put(key, f(value)),
            None => self,
        }
    }

    /// A repeated message field with `omitempty`.
    pub fn list<T>(self, key: &str, values: &[T], f: impl Fn(&T) -> Json) -> Self {
        if values.is_empty() {
            return self;
        }
        self.list_req(key, values, f)
    }

    /// A repeated message field without `omitempty`. Go writes a nil slice as `null`; `[]`
    /// is written instead since the typed clients on the other side require a list there.
    pub fn list_req<T>(self, key: &str, values: &[T], f: impl Fn(&T) -> Json) -> Self {
        let items = values.iter().map(f).collect::<Result<Vec<_>, _>>();
        self.put(key, items.map(Value::Array))
    }

    /// An embedded Go struct (`json:",inline"`): its fields land in this object.
    pub fn inline<T>(mut self, value: Option<&T>, f: impl FnOnce(&T) -> Json) -> Self {
        match value.map(f) {
            Some(Ok(Value::Object(fields))) => self.fields.extend(fields),
            Some(Ok(_)) | None => {}
            Some(Err(error)) => {
                self.error.get_or_insert(error);
            }
        }
        self
    }

    pub fn finish(self) -> Json {
        match self.error {
            Some(error) => Err(error),
            None => Ok(Value::Object(self.fields)),
        }
    }
}

/// A Quantity travels as its string form, which is also its JSON form. An absent string is
/// the zero Quantity, which Go writes as `"0"`.
pub(super) fn quantity(value: &Quantity) -> Json {
    Ok(Value::from(value.string.as_deref().unwrap_or("0")))
}

/// IntOrString's `type` says which of `intVal`/`strVal` holds the value (0 = int, 1 = string).
pub(super) fn int_or_string(value: &IntOrString) -> Json {
    match value.r#type.unwrap_or(0) {
        0 => Ok(Value::from(value.int_val.unwrap_or(0))),
        1 => Ok(Value::from(value.str_val.as_deref().unwrap_or_default())),
        other => Err(ProtobufError::InvalidValue(format!(
            "IntOrString has unknown type {other}"
        ))),
    }
}

/// First second of year 0 and of year 10000: RFC 3339 has four-digit years only.
const RFC3339_SECONDS: std::ops::Range<i64> = -62_167_219_200..253_402_300_800;

/// A Time as Kubernetes writes it: UTC, whole seconds (metav1.Time drops `nanos` when it
/// decodes protobuf, since its JSON form only ever carried seconds).
pub(super) fn rfc3339(seconds: i64) -> Json {
    if !RFC3339_SECONDS.contains(&seconds) {
        return Err(ProtobufError::InvalidValue(format!(
            "time {seconds}s is out of range"
        )));
    }
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    Ok(Value::from(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`:
/// count in 400-year eras starting on March 1st, so leap days fall at the end of a year).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Standard padded base64, the JSON form of Go's `[]byte`.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |acc, (i, &byte)| {
            acc | u32::from(byte) << (16 - 8 * i)
        });
        // A chunk of n bytes fills n + 1 base64 digits; the rest of the quad is padding.
        for digit in 0..4 {
            if digit <= chunk.len() {
                let index = (group >> (18 - 6 * digit)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
