//! Applying a strategic merge patch, with the semantics of Kubernetes' server
//! (`k8s.io/apimachinery/pkg/util/strategicpatch`, as the API server calls it: parallel lists
//! are merged, and nulls that match nothing are dropped).
//!
//! The rules, per field of an object:
//! - `null` deletes the field.
//! - Objects merge recursively; `$patch: replace` in the patch object replaces instead and
//!   `$patch: delete` empties it; `$retainKeys: [..]` first clears every field not listed.
//! - Lists whose field has the `merge` strategy merge element-wise: objects by their merge key
//!   (an element `{key: v, $patch: delete}` removes, `{$patch: replace}` replaces the whole list),
//!   primitives as a set (`$deleteFromPrimitiveList/<field>: [..]` removes values). Other lists are
//!   replaced.
//! - `$setElementOrder/<field>: [..]` fixes the order of the merged list's elements named in it,
//!   the rest keeping their place relative to the live order; kubectl sends it with every
//!   three-way patch to keep the order of the user's file.
//! - Merged lists are ordered: patch elements in patch order, interleaved with the elements only
//!   the server had in their live order.
//!
//! Directives never reach the result. The resulting element order matches Kubernetes' for the
//! patches kubectl produces (checked against the upstream test fixtures during development);
//! only for malformed input, where Go's result depends on slice capacities and map iteration
//! order, may it differ.

use serde_json::{Map, Value};

use super::PatchError;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Applies `patch` to `original`, an object of `definition`. An unknown definition means JSON
/// merge patch semantics, which is what a strategic merge patch degrades to without schema.
pub(super) fn apply(
    definition: &str,
    original: &Value,
    patch: Map<String, Value>,
) -> Result<Value, PatchError> {
    apply_with(crate::openapi::definitions(), definition, original, patch)
}

/// [`apply`] against any set of definitions in OpenAPI 3.0 shape.
fn apply_with(
    defs: &Map<String, Value>,
    definition: &str,
    original: &Value,
    patch: Map<String, Value>,
) -> Result<Value, PatchError> {
    let Some(schema) = Schema::root(defs, definition) else {
        let mut doc = original.clone();
        json_patch::merge(&mut doc, &Value::Object(patch));
        return Ok(doc);
    };
    let Value::Object(original) = original.clone() else {
        return Err(PatchError::MergeFailed(
            "the object being patched is not a JSON object".into(),
        ));
    };
    merge_map(original, patch, schema).map(Value::Object)
}

/// A position in the schema definitions: the definition last entered (named in errors) and the
/// schema node of the current value. Both are `None` below a field the schema does not describe,
/// where objects still merge but lists are replaced.
#[derive(Clone, Copy)]
struct Schema<'a> {
    defs: &'a Map<String, Value>,
    name: Option<&'a str>,
    node: Option<&'a Value>,
}

impl<'a> Schema<'a> {
    fn root(defs: &'a Map<String, Value>, name: &'a str) -> Option<Schema<'a>> {
        let (name, node) = defs.get_key_value(name)?;
        Some(Schema {
            defs,
            name: Some(name.as_str()),
            node: Some(node),
        })
    }

    fn unknown(self) -> Schema<'a> {
        Schema {
            defs: self.defs,
            name: None,
            node: None,
        }
    }

    /// Follows `allOf[0]` and `$ref` to the schema that describes the value.
    fn resolve(mut self) -> Schema<'a> {
        // A bound rather than cycle detection: real chains are one or two steps long.
        for _ in 0..16 {
            let Some(node) = self.node else { break };
            if let Some(first) = node
                .get("allOf")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                self.node = Some(first);
            } else if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
                match crate::openapi::ref_name(reference).and_then(|n| self.defs.get_key_value(n)) {
                    Some((name, node)) => {
                        self.name = Some(name.as_str());
                        self.node = Some(node);
                    }
                    None => return self.unknown(),
                }
            } else {
                break;
            }
        }
        self
    }

    /// The schema of field `key` of an object described by `self`, with the field's patch
    /// metadata. Keys of map-typed values (labels, data) all share the value schema.
    fn field(self, key: &str) -> (Schema<'a>, FieldMeta<'a>) {
        let Some(node) = self.node else {
            return (self.unknown(), FieldMeta::default());
        };
        let (child, meta) = match node.get("properties").and_then(|p| p.get(key)) {
            Some(property) => (Some(property), FieldMeta::of(property)),
            None => (
                node.get("additionalProperties").filter(|a| a.is_object()),
                FieldMeta::default(),
            ),
        };
        let schema = match child {
            Some(child) => Schema {
                defs: self.defs,
                name: None,
                node: Some(child),
            }
            .resolve(),
            None => self.unknown(),
        };
        (schema, meta)
    }

    /// The schema of the elements of a list described by `self`. A list where the schema
    /// describes a single object is taken to hold such objects, as Kubernetes does.
    fn items(self) -> Schema<'a> {
        match self.node.and_then(|n| n.get("items")) {
            Some(items) => Schema {
                defs: self.defs,
                name: None,
                node: Some(items),
            }
            .resolve(),
            None => self,
        }
    }

    fn describe(self) -> &'a str {
        self.name.unwrap_or("an unnamed schema")
    }
}

/// How the patch treats one field, from the `x-kubernetes-patch-strategy` and
/// `x-kubernetes-patch-merge-key` extensions the openapi module puts on properties (from
/// [`super::list_patch_meta`]). Reading the extensions rather than the table keeps this code
/// independent of which definitions it walks.
#[derive(Default, Clone, Copy)]
struct FieldMeta<'a> {
    /// Lists merge element-wise instead of being replaced.
    merge: bool,
    /// Objects are replaced instead of merged.
    replace: bool,
    /// Empty when the list has no merge key.
    key: &'a str,
}

impl<'a> FieldMeta<'a> {
    fn of(property: &'a Value) -> FieldMeta<'a> {
        let strategies = property
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let has = |s: &str| strategies.split(',').any(|x| x.trim() == s);
        FieldMeta {
            merge: has("merge"),
            replace: has("replace"),
            key: property
                .get("x-kubernetes-patch-merge-key")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        }
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema<'_>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.shift_remove(DIRECTIVE);
                Ok(clean_map(patch))
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(unknown_directive(directive)),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    apply_element_orders(&mut original, &mut patch, schema)?;

    for (key, patch_value) in patch {
        let (field, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (strip_directive(&key, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (key, false)
        };

        if patch_value.is_null() {
            original.shift_remove(&field);
            continue;
        }

        let Some(slot) = original.get_mut(&field) else {
            // Nothing to merge with: take the patch value, unless it only deletes.
            if !delete_list {
                if let Some(value) = clean(patch_value) {
                    original.insert(field, value);
                }
            }
            continue;
        };
        let current = std::mem::take(slot);

        let replacement = match (current, patch_value) {
            (Value::Object(current), Value::Object(patch_value)) => {
                let (sub, meta) = schema.field(&field);
                if meta.replace {
                    Some(Value::Object(clean_map(patch_value)))
                } else {
                    Some(Value::Object(merge_map(current, patch_value, sub)?))
                }
            }
            (Value::Array(current), Value::Array(patch_value)) => {
                let (sub, meta) = schema.field(&field);
                if meta.merge || delete_list {
                    Some(Value::Array(merge_list(
                        current,
                        patch_value,
                        sub.items(),
                        meta.key,
                        delete_list,
                    )?))
                } else {
                    Some(Value::Array(clean_list(patch_value)))
                }
            }
            (current, patch_value) if kind_of(&current) != kind_of(&patch_value) => {
                if delete_list {
                    Some(current)
                } else {
                    clean(patch_value)
                }
            }
            (_, patch_value) => clean(patch_value),
        };
        match replacement {
            Some(value) => {
                if let Some(slot) = original.get_mut(&field) {
                    *slot = value;
                }
            }
            None => {
                original.shift_remove(&field);
            }
        }
    }
    Ok(original)
}

/// `$retainKeys`: every field of the original not listed is cleared before merging, and the
/// patch itself may only set listed fields.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(bad_retain_keys());
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(bad_retain_keys());
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// `$setElementOrder/<field>`: merges the field's list (if the patch has one) and then orders
/// the result as the directive says.
fn apply_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema<'_>,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.shift_remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(PatchError::MergeFailed(format!(
                "{key} must be a list, not {}",
                type_name(&order)
            )));
        };
        let field = strip_directive(&key, SET_ELEMENT_ORDER)?;
        let original_list = list_at(original, &field)?;
        let patch_list = list_at(patch, &field)?;

        let (sub, meta) = schema.field(&field);
        validate_order(patch_list.as_deref().unwrap_or(&[]), &order, meta.key)?;

        let mut live = original_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list.clone()) {
            (Some(current), None) => current,
            (None, Some(patch_list)) => clean_list(patch_list),
            (Some(current), Some(patch_list)) => {
                if meta.merge {
                    let (merged, view) =
                        merge_list_with_view(current, patch_list, sub.items(), meta.key, false)?;
                    if let Some(view) = view {
                        live = view;
                    }
                    merged
                } else {
                    clean_list(patch_list)
                }
            }
            (None, None) => continue,
        };

        let (in_order, server_only) = if meta.key.is_empty() {
            partition_primitives(merged, &order)
        } else {
            partition_by_key(merged, &order, meta.key)?
        };
        let kind = element_kind(&live, patch_list.as_deref().unwrap_or(&[]))?;
        let by_key = kind == Kind::Object;
        let ordered = order_elements(in_order, server_only, &order, &live, meta.key, by_key)?;
        match original.get_mut(&field) {
            Some(slot) => *slot = Value::Array(ordered),
            None => {
                original.insert(field.clone(), Value::Array(ordered));
            }
        }
        patch.shift_remove(&field);
    }
    Ok(())
}

/// The list at `field`, if there is one; any other value there is an error.
fn list_at(map: &Map<String, Value>, field: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list.clone())),
        Some(other) => Err(PatchError::MergeFailed(format!(
            "expected a list at {field}, but received {}",
            type_name(other)
        ))),
    }
}

/// Checks that the patch list's elements appear in `$setElementOrder` in the same relative
/// order (deletions aside).
fn validate_order(patch_list: &[Value], order: &[Value], key: &str) -> Result<(), PatchError> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut kept: Vec<&Value> = Vec::new();
    for v in patch_list {
        if key.is_empty() {
            kept.push(v);
            continue;
        }
        let Value::Object(m) = v else {
            return Err(expected_object(v));
        };
        if m.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
            kept.push(v);
        }
    }
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if same_element(kept[p], &order[o], key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() {
        return Err(PatchError::MergeFailed(format!(
            "the order of the patch list {} does not match the {SET_ELEMENT_ORDER} list {}",
            Value::Array(patch_list.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

fn same_element(left: &Value, right: &Value, key: &str) -> Result<bool, PatchError> {
    if key.is_empty() {
        return Ok(left == right);
    }
    let l = merge_key_of(left, key)?;
    let r = merge_key_of(right, key)?;
    Ok(l == r)
}

fn merge_key_of<'v>(element: &'v Value, key: &str) -> Result<&'v Value, PatchError> {
    let Value::Object(m) = element else {
        return Err(expected_object(element));
    };
    m.get(key).ok_or_else(|| missing_merge_key(element, key))
}

/// Merges a list whose field merges (or a `$deleteFromPrimitiveList`), and orders the result.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema<'_>,
    key: &str,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    merge_list_with_view(original, patch, schema, key, delete_list).map(|(merged, _)| merged)
}

/// [`merge_list`], also returning the order `$setElementOrder` should then treat as the live
/// order (`None`: the original list's).
///
/// Kubernetes deletes and appends list elements in place, in the array its caller still holds
/// as the live list, so after deletions that caller sees the surviving elements followed by as
/// many appended ones as there were deletions. Server-only elements are placed by that view;
/// reproducing it keeps the resulting order identical to a real API server's.
fn merge_list_with_view(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema<'_>,
    key: &str,
    delete_list: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>), PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok((original, None));
    }
    let kind = element_kind(&original, &patch)?;
    let original_len = original.len();
    let mut view = None;

    let (live, patch, merged) = if kind != Kind::Object {
        if delete_list {
            let kept = original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect();
            return Ok((kept, None));
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch.iter()) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        (original, patch, merged)
    } else {
        if key.is_empty() {
            return Err(PatchError::MergeFailed(format!(
                "cannot merge lists without merge key for {}",
                schema.describe()
            )));
        }
        let (live, patch, replaced) = apply_list_directives(original, patch, key)?;
        let merged = merge_by_key(live.clone(), &patch, key, schema)?;
        if !replaced {
            view = Some(merged.iter().take(original_len).cloned().collect());
        }
        (live, patch, merged)
    };

    let by_key = kind == Kind::Object;
    let (in_patch, server_only) = if key.is_empty() {
        partition_primitives(merged, &patch)
    } else {
        partition_by_key(merged, &patch, key)?
    };
    let ordered = order_elements(in_patch, server_only, &patch, &live, key, by_key)?;
    Ok((ordered, view))
}

/// Handles `$patch` elements of a list of objects: deletions by merge key, and `replace`, which
/// makes the rest of the patch list the new list. Returns the live list, the patch elements
/// still to merge, and whether the list was replaced.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>, bool), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Some(directive) = element.get(DIRECTIVE) else {
            plain.push(element);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = element
                    .get(key)
                    .ok_or_else(|| missing_merge_key(&element, key))?;
                for o in &original {
                    if !o.is_object() {
                        return Err(expected_object(o));
                    }
                }
                original.retain(|o| o.get(key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::MergeFailed(
                    "merging lists cannot yet be specified in the patch".into(),
                ))
            }
            _ => return Err(unknown_directive(directive)),
        }
    }
    if replace {
        Ok((clean_list(plain), Vec::new(), true))
    } else {
        Ok((original, plain, false))
    }
}

/// Merges each patch element into the live element with the same merge key value, or appends
/// it.
fn merge_by_key(
    mut list: Vec<Value>,
    patch: &[Value],
    key: &str,
    schema: Schema<'_>,
) -> Result<Vec<Value>, PatchError> {
    for element in patch {
        let Value::Object(patch_element) = element else {
            return Err(expected_object(element));
        };
        let value = patch_element
            .get(key)
            .ok_or_else(|| missing_merge_key(element, key))?;
        let mut found = None;
        for (i, o) in list.iter().enumerate() {
            let Value::Object(o) = o else {
                return Err(expected_object(o));
            };
            if o.get(key) == Some(value) {
                found = Some(i);
                break;
            }
        }
        match found {
            Some(i) => {
                let Value::Object(current) = std::mem::take(&mut list[i]) else {
                    unreachable!("checked to be an object above");
                };
                list[i] = Value::Object(merge_map(current, patch_element.clone(), schema)?);
            }
            None => {
                if let Some(v) = clean(element.clone()) {
                    list.push(v);
                }
            }
        }
    }
    Ok(list)
}

/// Splits primitives into those present in `by` and the rest, keeping their order.
fn partition_primitives(list: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    list.into_iter().partition(|v| by.contains(v))
}

/// Splits objects into those whose merge key value appears in `by` and the rest.
fn partition_by_key(
    list: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for v in list {
        let value = merge_key_of(&v, key)?;
        let mut found = false;
        for b in by {
            let Value::Object(b) = b else {
                return Err(expected_object(b));
            };
            if b.get(key) == Some(value) {
                found = true;
                break;
            }
        }
        if found {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}

/// Where `item` is in `list`: by merge key value for objects, by value otherwise.
fn position(list: &[Value], item: &Value, key: &str, by_key: bool) -> Option<usize> {
    if by_key {
        let wanted = item.get(key);
        list.iter().position(|v| v.get(key) == wanted)
    } else {
        list.iter().position(|v| v == item)
    }
}

/// Orders the patch's elements by `patch_order` and the server-only ones by `live_order`, then
/// interleaves them: a server-only element goes before the next patch element when the live
/// list had it first.
fn order_elements(
    in_patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    live_order: &[Value],
    key: &str,
    by_key: bool,
) -> Result<Vec<Value>, PatchError> {
    if by_key {
        for v in in_patch
            .iter()
            .chain(server_only.iter())
            .chain(patch_order.iter())
            .chain(live_order.iter())
        {
            merge_key_of(v, key)?;
        }
    }
    let in_patch = sort_by_order(in_patch, patch_order, key, by_key);
    let server_only = sort_by_order(server_only, live_order, key, by_key);

    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    loop {
        match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => {
                let before = match (
                    position(live_order, l, key, by_key),
                    position(live_order, r, key, by_key),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                };
                if before {
                    out.extend(left.next());
                } else {
                    out.extend(right.next());
                }
            }
            (Some(_), None) => out.extend(left.next()),
            (None, Some(_)) => out.extend(right.next()),
            (None, None) => break,
        }
    }
    Ok(out)
}

/// A stable sort by position in `order`; elements `order` does not mention keep their place
/// ahead of the ones it does (the Go implementation's comparator treats them as smaller).
fn sort_by_order(list: Vec<Value>, order: &[Value], key: &str, by_key: bool) -> Vec<Value> {
    // Insertion sort with the same "less" as Kubernetes, so the (rare) unmentioned elements
    // land where kubectl users would see them land on a real cluster. Each element's position in
    // the order is looked up once, not on every comparison (that made long lists cubic).
    let mut items: Vec<(Option<usize>, Value)> = list
        .into_iter()
        .map(|v| (position(order, &v, key, by_key), v))
        .collect();
    let less = |a: Option<usize>, b: Option<usize>| match (a, b) {
        (Some(i), Some(j)) => i < j,
        _ => true,
    };
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && less(items[j].0, items[j - 1].0) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
    items.into_iter().map(|(_, v)| v).collect()
}

/// JSON value kinds as the Go implementation distinguishes them (integers and floats differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    String,
    Array,
    Object,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

fn type_name(v: &Value) -> &'static str {
    match kind_of(v) {
        Kind::Null => "null",
        Kind::Bool => "boolean",
        Kind::Int | Kind::Float => "number",
        Kind::String => "string",
        Kind::Array => "list",
        Kind::Object => "object",
    }
}

/// The one kind of all elements of both lists.
fn element_kind(a: &[Value], b: &[Value]) -> Result<Kind, PatchError> {
    let mut kind = None;
    for v in a.iter().chain(b.iter()) {
        let k = kind_of(v);
        if k == Kind::Array {
            return Err(PatchError::Unprocessable(
                "lists of lists are not supported".into(),
            ));
        }
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                return Err(PatchError::MergeFailed(format!(
                    "list element types are not identical: {} and {}",
                    Value::Array(a.to_vec()),
                    Value::Array(b.to_vec())
                )))
            }
            Some(_) => {}
        }
    }
    kind.ok_or_else(|| PatchError::MergeFailed("no elements in any of the given lists".into()))
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE
        || k == RETAIN_KEYS
        || k.starts_with(SET_ELEMENT_ORDER)
        || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// A patch value about to be stored as is: objects carrying `$patch` are dropped, and nulls and
/// other directives removed. `None` when the value itself is dropped.
fn clean(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                None
            } else {
                Some(Value::Object(clean_map(m)))
            }
        }
        Value::Array(list) => Some(Value::Array(clean_list(list))),
        other => Some(other),
    }
}

fn clean_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
        .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
        .collect()
}

fn clean_list(list: Vec<Value>) -> Vec<Value> {
    list.into_iter().filter_map(clean).collect()
}

/// `$setElementOrder/containers` → `containers`.
fn strip_directive(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(PatchError::InvalidPatch(if prefix == SET_ELEMENT_ORDER {
            "invalid patch format of setElementOrder list".into()
        } else {
            "invalid patch format of primitive list".into()
        })),
    }
}

fn bad_retain_keys() -> PatchError {
    PatchError::InvalidPatch("invalid patch format of retainKeys".into())
}

fn unknown_directive(directive: &Value) -> PatchError {
    PatchError::MergeFailed(format!("unknown patch type: {directive}"))
}

fn missing_merge_key(element: &Value, key: &str) -> PatchError {
    PatchError::MergeFailed(format!(
        "map: {element} does not contain declared merge key: {key}"
    ))
}

fn expected_object(v: &Value) -> PatchError {
    PatchError::MergeFailed(format!(
        "expected a list of objects, but an element is a {}",
        type_name(v)
    ))
}
