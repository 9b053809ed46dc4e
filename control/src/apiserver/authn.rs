//! Authentication beyond client certificates, from `Authorization: Bearer <token>`: bootstrap
//! tokens (`<id>.<secret>`), checked against their Secret in kube-system (the decision itself
//! is `join::token::authenticate`), and service account tokens (JWTs from the TokenRequest
//! API, [`super::satoken`]), valid while their account, and the pod they are bound to, exist
//! with the uids they name. Tokens are never logged; refusals name a token id at most.

use control_apimachinery::resources;

use super::objects;
use super::satoken;
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
    let presented = presented.trim();
    if presented.starts_with("eyJ") {
        return service_account(server, presented).map(Some);
    }
    let presented = Token::parse(presented).map_err(|_| {
        ApiError::BadCredentials(
            "Unauthorized: the bearer token is neither a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) nor a service account token".into(),
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

/// A service account token: its signature and times, then the account and bound pod as they
/// are now (a token outlives neither).
fn service_account(server: &ApiServer, token: &str) -> Result<Identity, ApiError> {
    let refused = |why: String| ApiError::BadCredentials(format!("Unauthorized: {why}"));
    let claims = server
        .sa_key
        .verify(token, jiff::Timestamp::now().as_second(), satoken::ISSUER)
        .map_err(|e| refused(e.to_string()))?;
    let k = &claims.kubernetes;
    let uid_of = |plural: &str, name: &str| -> Option<String> {
        let r = resources::by_plural("", "v1", plural).expect("core resources served");
        let kv = server
            .store
            .get(&objects::key(r, Some(&k.namespace), name))?;
        let obj = objects::decode(&kv).ok()?;
        obj["metadata"]["uid"].as_str().map(String::from)
    };
    if uid_of("serviceaccounts", &k.serviceaccount.name).as_deref() != Some(&k.serviceaccount.uid) {
        return Err(refused(format!(
            "service account {}/{} has been deleted",
            k.namespace, k.serviceaccount.name
        )));
    }
    if let Some(pod) = &k.pod {
        if uid_of("pods", &pod.name).as_deref() != Some(&pod.uid) {
            return Err(refused(format!(
                "the pod {}/{} the token is bound to no longer exists",
                k.namespace, pod.name
            )));
        }
    }
    Ok(Identity {
        user: satoken::username(&k.namespace, &k.serviceaccount.name),
        groups: satoken::groups(&k.namespace),
    })
}
