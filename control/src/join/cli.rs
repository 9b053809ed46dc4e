//! `control token create|list|delete`: bootstrap token Secrets managed through the API with
//! the admin identity, as `kubeadm token` does.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use http::{Method, StatusCode};
use serde_json::Value;

use super::token::{self, BootstrapToken, Token};
use crate::client::{Connection, KubeConfig};

/// The admin kubeconfig to act with: `--kubeconfig FILE`, or `DIR/admin.kubeconfig` of a
/// running `control serve --data-dir DIR`.
pub fn admin_kubeconfig(kubeconfig: Option<&Path>, data_dir: Option<&Path>) -> Result<KubeConfig> {
    match (kubeconfig, data_dir) {
        (Some(k), _) => KubeConfig::load(k),
        (None, Some(d)) => KubeConfig::load(&d.join("admin.kubeconfig")).with_context(|| {
            format!(
                "is `control serve --data-dir {}` running? It writes admin.kubeconfig once it serves",
                d.display()
            )
        }),
        (None, None) => bail!("give --kubeconfig FILE or --data-dir DIR"),
    }
}

/// `https://HOST:PORT` of a kubeconfig's server.
pub fn server_url(cfg: &KubeConfig) -> String {
    if cfg.host.contains(':') {
        format!("https://[{}]:{}", cfg.host, cfg.port)
    } else {
        format!("https://{}:{}", cfg.host, cfg.port)
    }
}

/// The command a node runs to join with `token`.
pub fn join_command(server_url: &str, token: &Token, ca_hash: &str) -> String {
    format!(
        "node-os agent --data-dir /var/lib/node-os --server {server_url} --token {} --ca-hash {ca_hash}",
        token.expose()
    )
}

/// A token that `create` stored.
pub struct Created {
    pub token: Token,
    pub join_command: String,
}

/// Creates a fresh joining token valid for `ttl` (None or zero: forever).
pub async fn create(
    cfg: &KubeConfig,
    ttl: Option<jiff::SignedDuration>,
    description: Option<String>,
) -> Result<Created> {
    let expiration = match ttl {
        Some(d) if !d.is_zero() => Some(
            jiff::Timestamp::now()
                .checked_add(d)
                .context("--ttl is too long")?,
        ),
        _ => None,
    };
    create_until(cfg, expiration, description).await
}

/// Creates a fresh joining token that expires at `expiration` (tests use a past time).
pub async fn create_until(
    cfg: &KubeConfig,
    expiration: Option<jiff::Timestamp>,
    description: Option<String>,
) -> Result<Created> {
    let mut conn = Connection::connect(cfg).await?;
    for _ in 0..3 {
        let t = Token::generate()?;
        let bt = BootstrapToken::for_joining(t.clone(), expiration, description.clone());
        let path = format!("/api/v1/namespaces/{}/secrets", token::NAMESPACE);
        let (code, body) = conn
            .request(
                Method::POST,
                &path,
                Some(serde_json::to_vec(&bt.to_secret())?),
            )
            .await?;
        match code {
            c if c.is_success() => {
                let hash = super::ca_public_key_hash(&cfg.ca_pem)?;
                return Ok(Created {
                    join_command: join_command(&server_url(cfg), &t, &hash),
                    token: t,
                });
            }
            // Two tokens with one id: astronomically rare, but a retry costs nothing.
            StatusCode::CONFLICT => continue,
            c => bail!("creating the token Secret: {c}: {}", status_message(&body)),
        }
    }
    bail!("could not find an unused token id")
}

/// Every bootstrap token Secret in kube-system, well-formed ones only.
pub async fn list(cfg: &KubeConfig) -> Result<Vec<BootstrapToken>> {
    let mut conn = Connection::connect(cfg).await?;
    let path = format!(
        "/api/v1/namespaces/{}/secrets?fieldSelector=type%3D{}",
        token::NAMESPACE,
        "bootstrap.kubernetes.io%2Ftoken"
    );
    let body = conn.expect_ok(Method::GET, &path, None).await?;
    let list: Value = serde_json::from_slice(&body)?;
    let mut tokens: Vec<BootstrapToken> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(BootstrapToken::from_secret)
        .collect();
    tokens.sort_by(|a, b| a.token.id.cmp(&b.token.id));
    Ok(tokens)
}

/// kubeadm's `token list` table.
pub fn render_table(tokens: &[BootstrapToken], now: jiff::Timestamp) -> String {
    let mut rows = vec![[
        "TOKEN".to_string(),
        "TTL".into(),
        "EXPIRES".into(),
        "USAGES".into(),
        "DESCRIPTION".into(),
        "EXTRA GROUPS".into(),
    ]];
    for t in tokens {
        let (ttl, expires) = match t.expiration {
            None => ("<forever>".to_string(), "<never>".to_string()),
            Some(e) => {
                let left = e.duration_since(now);
                let ttl = if left.is_negative() || left.is_zero() {
                    "<invalid>".to_string()
                } else {
                    short_duration(left.as_secs())
                };
                (ttl, token::rfc3339(e))
            }
        };
        let mut usages = Vec::new();
        if t.usage_authentication {
            usages.push("authentication");
        }
        if t.usage_signing {
            usages.push("signing");
        }
        rows.push([
            t.token.expose(),
            ttl,
            expires,
            if usages.is_empty() {
                "<none>".into()
            } else {
                usages.join(",")
            },
            t.description.clone().unwrap_or_else(|| "<none>".into()),
            if t.extra_groups.is_empty() {
                "<none>".into()
            } else {
                t.extra_groups.join(",")
            },
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 5 {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// `23h`, `59m`, `2d`: the largest whole unit, as kubectl and kubeadm print ages.
fn short_duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Deletes a token given its id or the whole token.
pub async fn delete(cfg: &KubeConfig, id_or_token: &str) -> Result<String> {
    let id = match id_or_token.split_once('.') {
        Some(_) => Token::parse(id_or_token)?.id,
        None => id_or_token.to_string(),
    };
    if id.len() != 6
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        bail!("{id_or_token:?} is neither a token id ([a-z0-9]{{6}}) nor a token");
    }
    let mut conn = Connection::connect(cfg).await?;
    let path = format!(
        "/api/v1/namespaces/{}/secrets/{}{id}",
        token::NAMESPACE,
        token::SECRET_PREFIX
    );
    let (code, body) = conn.request(Method::DELETE, &path, None).await?;
    match code {
        c if c.is_success() => Ok(id),
        StatusCode::NOT_FOUND => Err(anyhow!("bootstrap token {id:?} not found")),
        c => bail!("deleting the token: {c}: {}", status_message(&body)),
    }
}

fn status_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_like_kubeadms() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let exp: jiff::Timestamp = "2025-01-01T23:30:00Z".parse().unwrap();
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        let bt = BootstrapToken::for_joining(t, Some(exp), None);
        let forever = BootstrapToken::for_joining(
            Token::parse("zzzzzz.0123456789abcdef").unwrap(),
            None,
            Some("ci".into()),
        );
        let out = render_table(&[bt, forever], now);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("TOKEN"));
        let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            cols(lines[1]),
            [
                "abcdef.0123456789abcdef",
                "23h",
                "2025-01-01T23:30:00Z",
                "authentication,signing",
                "<none>",
                "system:bootstrappers:kubeadm:default-node-token"
            ]
        );
        assert_eq!(
            &cols(lines[2])[1..5],
            ["<forever>", "<never>", "authentication,signing", "ci"]
        );
        // Columns line up under their headers.
        assert_eq!(lines[0].find("EXPIRES"), lines[1].find("2025-"));
    }

    #[test]
    fn the_join_command_carries_server_token_and_pin() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(
            join_command("https://10.0.0.1:6443", &t, "sha256:ab"),
            "node-os agent --data-dir /var/lib/node-os --server https://10.0.0.1:6443 --token abcdef.0123456789abcdef --ca-hash sha256:ab"
        );
    }
}
