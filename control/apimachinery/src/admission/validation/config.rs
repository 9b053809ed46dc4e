//! ConfigMaps, Secrets and ServiceAccounts.

use serde_json::Value;

use super::{same, NameRule, Path, Validator};
use crate::admission::field::FieldError;
use crate::admission::json::{base64_decode, obj_of, str_of};
use crate::admission::names::is_config_map_key;

/// The most data a ConfigMap or Secret may hold (etcd's request limit, with headroom).
pub(crate) const MAX_SECRET_SIZE: usize = 1024 * 1024;

const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

fn decoded_len(v: &Value) -> usize {
    v.as_str()
        .and_then(base64_decode)
        .map_or_else(|| v.as_str().map_or(0, str::len), |b| b.len())
}

fn is_immutable(obj: &Value) -> bool {
    obj.get("immutable").and_then(Value::as_bool) == Some(true)
}

/// With `immutable: true` stored, the flag and the data are frozen.
fn immutable_contents(v: &Validator, fields: &[&str], errs: &mut Vec<FieldError>) {
    let Some(old) = v.old.filter(|o| is_immutable(o)) else {
        return;
    };
    if !is_immutable(v.obj) {
        errs.push(FieldError::forbidden("immutable", IMMUTABLE_WHEN_SET));
    }
    for f in fields {
        if !same(v.obj.get(*f), old.get(*f)) {
            errs.push(FieldError::forbidden(*f, IMMUTABLE_WHEN_SET));
        }
    }
}

pub(super) fn config_map(v: &Validator, errs: &mut Vec<FieldError>) {
    immutable_contents(v, &["data", "binaryData"], errs);
    v.meta(NameRule::Subdomain, errs);
    let data_path = Path::new("data");
    let binary = obj_of(v.obj, "binaryData");
    let mut total = 0;
    for (key, value) in obj_of(v.obj, "data").into_iter().flatten() {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(data_path.key(key), key.as_str(), msg));
        }
        if binary.is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(
                data_path.key(key),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.as_str().map_or(0, str::len);
    }
    let binary_path = Path::new("binaryData");
    for (key, value) in binary.into_iter().flatten() {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(binary_path.key(key), key.as_str(), msg));
        }
        total += decoded_len(value);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(Path::empty_root(), MAX_SECRET_SIZE));
    }
}

pub(super) fn secret(v: &Validator, errs: &mut Vec<FieldError>) {
    let ty = str_of(v.obj, "type");
    if let Some(old) = v.old {
        let old_ty = str_of(old, "type");
        if ty != old_ty {
            errs.push(FieldError::invalid("type", ty, "field is immutable"));
        }
    }
    immutable_contents(v, &["data"], errs);
    v.meta(NameRule::Subdomain, errs);
    let data_path = Path::new("data");
    let data = obj_of(v.obj, "data");
    let mut total = 0;
    for (key, value) in data.into_iter().flatten() {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(data_path.key(key), key.as_str(), msg));
        }
        total += decoded_len(value);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(data_path.clone(), MAX_SECRET_SIZE));
    }
    let get = |k: &str| data.and_then(|d| d.get(k));
    let required = |k: &str, errs: &mut Vec<FieldError>| {
        errs.push(FieldError::required(data_path.key(k), ""));
    };
    match ty {
        "kubernetes.io/service-account-token" => {
            let annotation = "kubernetes.io/service-account.name";
            let name = v.obj["metadata"]["annotations"]
                .get(annotation)
                .and_then(Value::as_str)
                .unwrap_or("");
            if name.is_empty() {
                errs.push(FieldError::required(
                    Path::new("metadata").child("annotations").key(annotation),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if ty == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match get(key) {
                None => required(key, errs),
                Some(value) => {
                    let bytes = value.as_str().and_then(base64_decode).unwrap_or_default();
                    if let Err(e) = serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes)
                    {
                        errs.push(FieldError::invalid(
                            data_path.key(key),
                            "<secret contents redacted>",
                            e.to_string(),
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" if get("username").is_none() && get("password").is_none() => {
            required("username", errs);
            required("password", errs);
        }
        "kubernetes.io/ssh-auth" if get("ssh-privatekey").is_none_or(|v| decoded_len(v) == 0) => {
            required("ssh-privatekey", errs);
        }
        "kubernetes.io/tls" => {
            if get("tls.crt").is_none() {
                required("tls.crt", errs);
            }
            if get("tls.key").is_none() {
                required("tls.key", errs);
            }
        }
        _ => {}
    }
}

pub(super) fn service_account(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
}
