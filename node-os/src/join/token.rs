//! The bootstrap token a node joins with: `[a-z0-9]{6}.[a-z0-9]{16}`. The id is public (it
//! names the signature and the user); the secret is the credential and never printed.

/// A parsed bootstrap token.
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

fn well_formed(part: &str, len: usize) -> bool {
    part.len() == len
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl Token {
    pub fn parse(s: &str) -> anyhow::Result<Token> {
        match s.split_once('.') {
            Some((id, secret)) if well_formed(id, 6) && well_formed(secret, 16) => Ok(Token {
                id: id.to_string(),
                secret: secret.to_string(),
            }),
            _ => anyhow::bail!(
                "--token must look like [a-z0-9]{{6}}.[a-z0-9]{{16}} (as `control token create` prints it)"
            ),
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `<id>.<secret>`, for the Authorization header only.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_parse_and_debug_hides_the_secret() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(t.id, "abcdef");
        assert_eq!(t.expose(), "abcdef.0123456789abcdef");
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
        for bad in [
            "abcdef",
            "abcdef.0123",
            "ABCDEF.0123456789abcdef",
            "abcdef.0123456789abcdeF",
            "abcdef:0123456789abcdef",
        ] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }
}
