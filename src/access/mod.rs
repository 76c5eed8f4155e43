//! API tokens: scopes, the token format, and how a presented token is checked against its stored
//! hash. The HTTP side (who may call what) lives in `http::auth`; the SQL in `store::tokens`.

pub mod bootstrap;

use std::fmt;

use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use subtle::ConstantTimeEq;

use crate::store::StoreError;
use crate::store::tokens::{self, NewToken, Token};

pub use crate::store::tokens::{Scope, UnknownScope};

const PREFIX: &str = "sbk_";
const PUBLIC_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A token's full text, shown once to whoever creates it. Its `Debug` form is redacted so that a
/// stray `{:?}` cannot put it in a log.
pub struct Plaintext(String);

impl Plaintext {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Plaintext([redacted])")
    }
}

/// A freshly generated token: what to store, and the text to hand out.
#[derive(Debug)]
pub struct GeneratedToken {
    pub public_id: String,
    pub secret_sha256: [u8; 32],
    pub plaintext: Plaintext,
}

/// Generates `sbk_<public id>_<secret>`: 8 and 32 bytes from the operating system's generator,
/// in lowercase hex. 256 random bits need no slow password hash: SHA-256 of the secret is stored.
pub fn generate() -> Result<GeneratedToken, rand::rand_core::OsError> {
    let mut public_id = [0u8; PUBLIC_ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    OsRng.try_fill_bytes(&mut public_id)?;
    OsRng.try_fill_bytes(&mut secret)?;
    let public_id = hex::encode(public_id);
    let secret = hex::encode(secret);
    Ok(GeneratedToken {
        secret_sha256: digest(&secret),
        plaintext: Plaintext(format!("{PREFIX}{public_id}_{secret}")),
        public_id,
    })
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },

    #[error("the operating system's random generator failed: {0}")]
    Random(#[from] rand::rand_core::OsError),

    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token just created, with its text: shown this once, then only its hash remains.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: Token,
    pub plaintext: Plaintext,
}

const MAX_NAME_CHARS: usize = 100;
/// A hundred years: long enough for "never", short enough for timestamp arithmetic.
pub const MAX_EXPIRES_IN_DAYS: i32 = 36_500;

/// Checks the request and creates the token. Names appear in URL paths and logs: letters, digits
/// and `_ . : -`, starting with a letter or digit.
pub async fn issue(
    conn: &mut PgConnection,
    new: &NewToken<'_>,
) -> Result<IssuedToken, AccessError> {
    let name_ok = new.name.len() <= MAX_NAME_CHARS
        && new
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && new
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if !name_ok {
        return Err(AccessError::Invalid {
            code: "invalid_name",
            detail: format!(
                "token name {:?} is not valid: use up to {MAX_NAME_CHARS} letters, digits, '_', '.', ':' or '-', starting with a letter or digit (e.g. ci-uploads)",
                new.name
            ),
        });
    }
    if let Some(days) = new.expires_in_days
        && !(1..=MAX_EXPIRES_IN_DAYS).contains(&days)
    {
        return Err(AccessError::Invalid {
            code: "invalid_expiry",
            detail: format!(
                "expires_in_days must be between 1 and {MAX_EXPIRES_IN_DAYS}, got {days}; leave it out for a token that does not expire"
            ),
        });
    }
    let generated = generate()?;
    let token = tokens::create(conn, new, &generated.public_id, &generated.secret_sha256).await?;
    Ok(IssuedToken {
        token,
        plaintext: generated.plaintext,
    })
}

/// A token as a client presented it, split into its lookup part and its secret.
pub struct PresentedToken<'a> {
    pub public_id: &'a str,
    secret: &'a str,
}

impl<'a> PresentedToken<'a> {
    /// Splits a token of the form this service issues; `None` for anything else.
    pub fn parse(text: &'a str) -> Option<PresentedToken<'a>> {
        let (public_id, secret) = text.strip_prefix(PREFIX)?.split_once('_')?;
        let well_formed = |part: &str, bytes: usize| {
            part.len() == 2 * bytes
                && part
                    .bytes()
                    .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        };
        (well_formed(public_id, PUBLIC_ID_BYTES) && well_formed(secret, SECRET_BYTES))
            .then_some(PresentedToken { public_id, secret })
    }

    /// Whether the secret hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        digest(self.secret).ct_eq(stored).into()
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_parses_and_matches_only_its_own_hash() {
        let token = generate().unwrap();
        let presented = PresentedToken::parse(token.plaintext.expose()).unwrap();
        assert_eq!(presented.public_id, token.public_id);
        assert!(presented.matches(&token.secret_sha256));
        let other = generate().unwrap();
        assert!(!presented.matches(&other.secret_sha256));
        assert!(!presented.matches(&[]));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let token = generate().unwrap();
        let text = token.plaintext.expose();
        for bad in [
            "",
            "sbk_",
            &text[4..],
            &text[..text.len() - 1],
            &format!("{text}0"),
            &text.to_uppercase(),
            &text.replacen("sbk_", "sbx_", 1),
        ] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn scopes_are_ordered_and_named() {
        assert!(Scope::Admin.allows(Scope::Write) && Scope::Write.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write) && !Scope::Write.allows(Scope::Admin));
        for scope in Scope::ALL {
            assert_eq!(scope.name().parse::<Scope>().unwrap(), scope);
        }
        assert!("root".parse::<Scope>().is_err());
        assert_eq!(
            format!("{:?}", generate().unwrap().plaintext),
            "Plaintext([redacted])"
        );
    }
}
