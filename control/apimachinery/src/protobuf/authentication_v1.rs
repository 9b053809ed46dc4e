//! authentication.k8s.io/v1 TokenRequest, which `kubectl create token` posts to a service
//! account's `token` subresource. `status` is not read (see core_v1).

use k8s_pb::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};

use super::json::{Json, Obj};
use super::meta_v1::object_meta;

pub(super) fn token_request(t: &TokenRequest) -> Json {
    Obj::new()
        .obj("metadata", t.metadata.as_ref(), object_meta)
        .obj("spec", t.spec.as_ref(), token_request_spec)
        .finish()
}

fn token_request_spec(s: &TokenRequestSpec) -> Json {
    // `audiences` has no omitempty in Go; `[]` rather than `null` for the same reason as list_req.
    Obj::new()
        .value(
            "audiences",
            s.audiences.iter().map(String::as_str).collect(),
        )
        .int_ptr("expirationSeconds", s.expiration_seconds)
        .obj(
            "boundObjectRef",
            s.bound_object_ref.as_ref(),
            bound_object_reference,
        )
        .finish()
}

fn bound_object_reference(r: &BoundObjectReference) -> Json {
    Obj::new()
        .str("kind", &r.kind)
        .str("apiVersion", &r.api_version)
        .str("name", &r.name)
        .str("uid", &r.u_id)
        .finish()
}
