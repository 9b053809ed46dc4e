//! Registry authentication, the pure half: parsing `WWW-Authenticate` challenges (Basic, and
//! the Bearer token flow of Docker Hub-style registries), building the token request URL, and
//! reading the token service's answer. Tokens and passwords are only ever put in headers.

use base64::Engine as _;
use serde::Deserialize;

use super::hosts::Credentials;

/// One challenge from a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses every challenge in a `WWW-Authenticate` value: `scheme k="v", k2=v2, scheme2 ...`.
/// Unknown schemes and malformed Bearer challenges (no realm) are dropped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    let mut rest = header.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let token_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start_matches([' ', '\t']);
        if let Some(value_part) = after.strip_prefix('=') {
            let value_part = value_part.trim_start();
            let (value, remaining) = if let Some(quoted) = value_part.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end.min(quoted.len())..])
            } else {
                let end = value_part.find(',').unwrap_or(value_part.len());
                (value_part[..end].trim().to_string(), &value_part[end..])
            };
            if let Some((_, params)) = current.as_mut() {
                params.push((token.to_ascii_lowercase(), value));
            }
            rest = remaining;
        } else {
            if let Some(done) = current.take() {
                out.extend(finish(done));
            }
            current = Some((token.to_string(), Vec::new()));
            rest = after;
        }
    }
    if let Some(done) = current.take() {
        out.extend(finish(done));
    }
    out
}

fn finish((scheme, params): (String, Vec<(String, String)>)) -> Option<Challenge> {
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

/// The token request: `realm?service=..&scope=..`, values percent-encoded.
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    if let Some(service) = service {
        url.push(sep);
        url.push_str("service=");
        url.push_str(&percent_encode(service));
        sep = '&';
    }
    url.push(sep);
    url.push_str("scope=");
    url.push_str(&percent_encode(scope));
    url
}

/// The scope a pull needs.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Basic base64(user:password)`.
pub fn basic_authorization(credentials: &Credentials) -> String {
    let raw = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// The token from a token service's JSON answer (`token`, or OAuth2's `access_token`).
pub fn parse_token_response(body: &[u8]) -> Option<String> {
    let r: TokenResponse = serde_json::from_slice(body).ok()?;
    r.token
        .filter(|t| !t.is_empty())
        .or(r.access_token.filter(|t| !t.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer_challenge_parses() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            }]
        );
    }

    #[test]
    fn several_challenges_unquoted_values_and_escapes_parse() {
        let c = parse_challenges(
            r#"Basic realm="a \"quoted\" realm", bearer realm=https://t/token, service = svc , Negotiate"#,
        );
        assert_eq!(
            c,
            vec![
                Challenge::Basic,
                Challenge::Bearer {
                    realm: "https://t/token".into(),
                    service: Some("svc".into()),
                    scope: None
                }
            ]
        );
        assert_eq!(
            parse_challenges(r#"Bearer service="x""#),
            vec![],
            "no realm"
        );
        assert_eq!(parse_challenges(""), vec![]);
        assert_eq!(parse_challenges(r#"Bearer realm="unterminated"#).len(), 1);
    }

    #[test]
    fn token_url_encodes_service_and_scope() {
        assert_eq!(
            token_url("https://auth/token", Some("my svc"), &pull_scope("a/b")),
            "https://auth/token?service=my%20svc&scope=repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(
            token_url("https://auth/token?x=1", None, "s"),
            "https://auth/token?x=1&scope=s"
        );
    }

    #[test]
    fn basic_authorization_is_base64_of_user_colon_password() {
        let c = Credentials {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        assert_eq!(
            basic_authorization(&c),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn token_responses_use_token_or_access_token() {
        assert_eq!(
            parse_token_response(br#"{"token":"t1"}"#).as_deref(),
            Some("t1")
        );
        assert_eq!(
            parse_token_response(br#"{"access_token":"t2","expires_in":300}"#).as_deref(),
            Some("t2")
        );
        assert_eq!(parse_token_response(br#"{"token":""}"#), None);
        assert_eq!(parse_token_response(b"nope"), None);
    }
}
