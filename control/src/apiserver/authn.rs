//! Authentication beyond client certificates: bootstrap tokens sent as
//! `Authorization: Bearer <id>.<secret>`, checked against their Secret in kube-system (the
//! decision itself is `join::token::authenticate`). The token secret is never logged; refusals
//! name the token id only.

use control_apimachinery::resources;

use super::objects;
use super::status::ApiError;
use super::tls::Identity;
use super::ApiServer;
use crate::join::token::{self, Token};

/// Who a request without a client certificate is: `Ok(None)` when it carries no bearer token
/// (anonymous), an identity for a valid bootstrap token, and a 401 for any other token.
pub fn bearer(
    server: &ApiServer,
    authorization: Option<&str>,
) -> Result<Option<Identity>, ApiError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let Some(presented) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Ok(None);
    };
    let presented = Token::parse(presented.trim()).map_err(|_| {
        ApiError::BadCredentials(
            "Unauthorized: the bearer token is not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}), the only kind of token this server accepts".into(),
        )
    })?;
    let secrets = resources::by_plural("", "v1", "secrets").expect("secrets served");
    let stored = server
        .store
        .get(&objects::key(
            secrets,
            Some(token::NAMESPACE),
            &presented.secret_name(),
        ))
        .and_then(|kv| objects::decode(&kv).ok());
    match token::authenticate(&presented, stored.as_ref(), jiff::Timestamp::now()) {
        Ok(u) => Ok(Some(Identity {
            user: u.user,
            groups: u.groups,
        })),
        Err(refused) => {
            tracing::info!(token_id = %presented.id, "bootstrap token refused: {refused}");
            Err(ApiError::BadCredentials(format!("Unauthorized: {refused}")))
        }
    }
}
