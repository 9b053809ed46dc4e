//! Bootstrap tokens as Kubernetes defines them: `[a-z0-9]{6}.[a-z0-9]{16}`, stored as Secrets
//! `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`.
//!
//! The id is public (it names the Secret, the user and the JWS key id); the secret part is the
//! credential, so it is never part of a `Debug` rendering or a log line.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

/// Namespace holding the token Secrets.
pub const NAMESPACE: &str = "kube-system";
/// Secret type of a bootstrap token.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// Secret name prefix; the rest of the name is the token id.
pub const SECRET_PREFIX: &str = "bootstrap-token-";
/// The group every bootstrap token's user is in.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// The extra group kubeadm gives the tokens it makes for joining nodes.
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// User name prefix of an authenticated bootstrap token.
pub const USER_PREFIX: &str = "system:bootstrap:";

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ID_LEN: usize = 6;
const SECRET_LEN: usize = 16;

/// A token as presented by a client or printed by `control token create`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}.<redacted>)", self.id)
    }
}

/// Why a string is not a bootstrap token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a bootstrap token must look like [a-z0-9]{{6}}.[a-z0-9]{{16}} (e.g. abcdef.0123456789abcdef)"
)]
pub struct BadFormat;

fn well_formed(part: &str, len: usize) -> bool {
    part.len() == len && part.bytes().all(|b| ALPHABET.contains(&b))
}

impl Token {
    /// Parses `<id>.<secret>`.
    pub fn parse(s: &str) -> Result<Token, BadFormat> {
        let (id, secret) = s.split_once('.').ok_or(BadFormat)?;
        if !well_formed(id, ID_LEN) || !well_formed(secret, SECRET_LEN) {
            return Err(BadFormat);
        }
        Ok(Token {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// A fresh token from the operating system's CSPRNG.
    pub fn generate() -> anyhow::Result<Token> {
        Ok(Token {
            id: random_chars(ID_LEN)?,
            secret: random_chars(SECRET_LEN)?,
        })
    }

    /// The secret part, for the few places that must use it (HMAC key, Secret data, printing
    /// the token once for the operator).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The whole `<id>.<secret>` string.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The Secret's name.
    pub fn secret_name(&self) -> String {
        format!("{SECRET_PREFIX}{}", self.id)
    }
}

/// Uniform characters of [`ALPHABET`]: bytes at or above the largest multiple of 36 are
/// discarded so that no character is likelier than another.
fn random_chars(n: usize) -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    let limit = 256 - (256 % ALPHABET.len());
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 32];
    while out.len() < n {
        rng.fill(&mut buf)
            .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
        for b in buf {
            if (b as usize) < limit && out.len() < n {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// A token Secret, read back.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    pub token: Token,
    pub expiration: Option<jiff::Timestamp>,
    pub usage_authentication: bool,
    pub usage_signing: bool,
    pub extra_groups: Vec<String>,
    pub description: Option<String>,
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("token", &self.token)
            .field("expiration", &self.expiration)
            .field("usage_authentication", &self.usage_authentication)
            .field("usage_signing", &self.usage_signing)
            .field("extra_groups", &self.extra_groups)
            .finish()
    }
}

impl BootstrapToken {
    /// A token for joining nodes, as `kubeadm token create` makes it: both usages, the default
    /// node-token group.
    pub fn for_joining(
        token: Token,
        expiration: Option<jiff::Timestamp>,
        description: Option<String>,
    ) -> BootstrapToken {
        BootstrapToken {
            token,
            expiration,
            usage_authentication: true,
            usage_signing: true,
            extra_groups: vec![DEFAULT_NODE_TOKEN_GROUP.to_string()],
            description,
        }
    }

    /// Whether the token has expired at `now` (a token without expiration never does).
    pub fn is_expired(&self, now: jiff::Timestamp) -> bool {
        self.expiration.is_some_and(|e| e <= now)
    }

    /// The Secret that stores this token.
    pub fn to_secret(&self) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let mut data = BTreeMap::new();
        data.insert("token-id", b64(&self.token.id));
        data.insert("token-secret", b64(&self.token.secret));
        if let Some(e) = self.expiration {
            data.insert("expiration", b64(&rfc3339(e)));
        }
        if self.usage_authentication {
            data.insert("usage-bootstrap-authentication", b64("true"));
        }
        if self.usage_signing {
            data.insert("usage-bootstrap-signing", b64("true"));
        }
        if !self.extra_groups.is_empty() {
            data.insert("auth-extra-groups", b64(&self.extra_groups.join(",")));
        }
        if let Some(d) = &self.description {
            data.insert("description", b64(d));
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.token.secret_name(), "namespace": NAMESPACE},
            "type": SECRET_TYPE,
            "data": data,
        })
    }

    /// Reads a token Secret; `None` when it is not a well-formed bootstrap token Secret (wrong
    /// type, name not matching the id, malformed parts or groups), which Kubernetes ignores too.
    pub fn from_secret(secret: &Value) -> Option<BootstrapToken> {
        if secret["type"] != SECRET_TYPE {
            return None;
        }
        let data = |k: &str| -> Option<String> {
            let raw = secret["data"][k].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
            String::from_utf8(bytes).ok()
        };
        let id = data("token-id")?;
        let secret_part = data("token-secret")?;
        let token = Token::parse(&format!("{id}.{secret_part}")).ok()?;
        if secret["metadata"]["name"].as_str()? != token.secret_name() {
            return None;
        }
        let expiration = match data("expiration") {
            Some(e) => Some(e.parse::<jiff::Timestamp>().ok()?),
            None => None,
        };
        let extra_groups: Vec<String> = data("auth-extra-groups")
            .map(|g| {
                g.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if !extra_groups.iter().all(|g| valid_extra_group(g)) {
            return None;
        }
        Some(BootstrapToken {
            token,
            expiration,
            usage_authentication: data("usage-bootstrap-authentication").as_deref() == Some("true"),
            usage_signing: data("usage-bootstrap-signing").as_deref() == Some("true"),
            extra_groups,
            description: data("description"),
        })
    }
}

/// Extra groups must stay under `system:bootstrappers:` so a token can never claim, say,
/// `system:masters` (Kubernetes applies the same pattern).
pub fn valid_extra_group(g: &str) -> bool {
    let Some(rest) = g.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 256
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
        && rest
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// RFC 3339 in UTC with second precision, as kubeadm writes `expiration`.
pub fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Who a valid bootstrap token authenticates as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    pub user: String,
    pub groups: Vec<String>,
}

/// Why a presented token was refused; the message names the token id, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("bootstrap token {0:?} does not exist (or its Secret is malformed)")]
    Unknown(String),
    #[error("bootstrap token {0:?}: the token secret does not match")]
    WrongSecret(String),
    #[error("bootstrap token {id:?} expired at {at}")]
    Expired { id: String, at: String },
    #[error("bootstrap token {0:?} may not be used for authentication")]
    NotForAuthentication(String),
    #[error("bootstrap token {0:?} is being deleted")]
    Deleting(String),
}

/// Decides whether `presented` authenticates, given the Secret stored under its id (if any).
pub fn authenticate(
    presented: &Token,
    stored: Option<&Value>,
    now: jiff::Timestamp,
) -> Result<TokenUser, Refused> {
    let id = presented.id.clone();
    let stored = stored.ok_or_else(|| Refused::Unknown(id.clone()))?;
    if stored["metadata"]["deletionTimestamp"].is_string() {
        return Err(Refused::Deleting(id));
    }
    let bt = BootstrapToken::from_secret(stored).ok_or_else(|| Refused::Unknown(id.clone()))?;
    if !constant_time_eq(bt.token.secret.as_bytes(), presented.secret.as_bytes()) {
        return Err(Refused::WrongSecret(id));
    }
    if bt.is_expired(now) {
        return Err(Refused::Expired {
            id,
            at: bt.expiration.map(rfc3339).unwrap_or_default(),
        });
    }
    if !bt.usage_authentication {
        return Err(Refused::NotForAuthentication(id));
    }
    let mut groups = vec![BOOTSTRAPPERS_GROUP.to_string()];
    for g in bt.extra_groups {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups.push("system:authenticated".to_string());
    Ok(TokenUser {
        user: format!("{USER_PREFIX}{id}"),
        groups,
    })
}

/// Compares secrets without an early exit, so timing does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Bootstrap tokens from a file, one per line (blank lines and `#` comments skipped), as an
/// installer hands them to `control serve --bootstrap-token-file`. A malformed line is an
/// error naming its line number, never echoing the line: it may hold a secret.
pub fn read_token_file(path: &std::path::Path) -> Result<Vec<Token>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| (i, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            Token::parse(l).map_err(|_| {
                format!(
                    "{} line {}: not a bootstrap token ([a-z0-9]{{6}}.[a-z0-9]{{16}})",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn tokens_parse_only_in_the_kubernetes_format() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(t.id, "abcdef");
        assert_eq!(t.secret(), "0123456789abcdef");
        assert_eq!(t.expose(), "abcdef.0123456789abcdef");
        for bad in [
            "abcdef0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef.0123456789abcdeg!",
            "abc-ef.0123456789abcdef",
            "",
        ] {
            assert_eq!(Token::parse(bad), Err(BadFormat), "{bad:?}");
        }
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(Token::parse(&a.expose()).unwrap(), a);
        assert_ne!(a, b);
    }

    #[test]
    fn secrets_round_trip_and_authenticate() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        let exp: jiff::Timestamp = "2025-01-02T00:00:00Z".parse().unwrap();
        let bt = BootstrapToken::for_joining(t.clone(), Some(exp), Some("test".into()));
        let secret = bt.to_secret();
        assert_eq!(secret["metadata"]["name"], "bootstrap-token-abcdef");
        assert_eq!(BootstrapToken::from_secret(&secret).unwrap(), bt);
        let user = authenticate(&t, Some(&secret), now()).unwrap();
        assert_eq!(user.user, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            vec![
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn wrong_expired_unknown_and_unusable_tokens_are_refused() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        let exp: jiff::Timestamp = "2025-01-02T00:00:00Z".parse().unwrap();
        let secret = BootstrapToken::for_joining(t.clone(), Some(exp), None).to_secret();
        let wrong = Token::parse("abcdef.aaaaaaaaaaaaaaaa").unwrap();
        let err = authenticate(&wrong, Some(&secret), now()).unwrap_err();
        assert_eq!(err, Refused::WrongSecret("abcdef".into()));
        assert!(!err.to_string().contains("aaaaaaaaaaaaaaaa"));
        let later: jiff::Timestamp = "2025-01-03T00:00:00Z".parse().unwrap();
        assert!(matches!(
            authenticate(&t, Some(&secret), later),
            Err(Refused::Expired { .. })
        ));
        assert_eq!(
            authenticate(&t, None, now()),
            Err(Refused::Unknown("abcdef".into()))
        );
        let mut signing_only = BootstrapToken::for_joining(t.clone(), None, None);
        signing_only.usage_authentication = false;
        assert_eq!(
            authenticate(&t, Some(&signing_only.to_secret()), now()),
            Err(Refused::NotForAuthentication("abcdef".into()))
        );
        // A Secret named for another id is not this token's.
        let mut renamed = secret.clone();
        renamed["metadata"]["name"] = json!("bootstrap-token-zzzzzz");
        assert!(BootstrapToken::from_secret(&renamed).is_none());
    }

    #[test]
    fn extra_groups_must_stay_among_the_bootstrappers() {
        assert!(valid_extra_group(DEFAULT_NODE_TOKEN_GROUP));
        assert!(!valid_extra_group("system:masters"));
        assert!(!valid_extra_group("system:bootstrappers:"));
        assert!(!valid_extra_group("system:bootstrappers:Admin"));
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        let mut bt = BootstrapToken::for_joining(t, None, None);
        bt.extra_groups = vec!["system:masters".into()];
        assert!(BootstrapToken::from_secret(&bt.to_secret()).is_none());
    }
}
