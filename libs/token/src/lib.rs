//! Issues and verifies hubbub's access tokens: JWTs whose algorithm (HS256), issuer, audience and
//! key id are pinned and checked, so a token signed with another key, algorithm or audience is
//! refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hubbub_config::Secret;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How tokens are signed and checked.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct TokenSettings {
    /// `iss` of issued tokens; tokens from another issuer are refused.
    pub issuer: String,
    /// `aud` of issued tokens; tokens for another audience are refused.
    pub audience: String,
    /// Key id (`kid` header) of the signing key.
    pub key_id: String,
    /// The HS256 signing secret (at least 32 bytes).
    pub secret: Secret,
    /// Lifetime of an access token, in seconds.
    pub access_ttl_secs: u64,
    /// During a key rotation: the key id of the previous key, still accepted (never used to sign).
    pub previous_key_id: Option<String>,
    /// The previous key's secret.
    pub previous_secret: Option<Secret>,
    /// Accept the built-in development secret (local runs and tests only). Without it, a
    /// process whose secret is the built-in one refuses to start: anyone could forge tokens.
    pub development: bool,
}

/// The development secret: accepted only with `development` set, and then with a warning.
pub const DEV_SECRET: &str = "hubbub-development-secret-change-me-now!";

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "hubbub".into(),
            audience: "hubbub-api".into(),
            key_id: "k1".into(),
            secret: Secret::new(DEV_SECRET),
            access_ttl_secs: 900,
            previous_key_id: None,
            previous_secret: None,
            development: false,
        }
    }
}

impl TokenSettings {
    /// The defaults with the development secret allowed: for tests and local runs.
    pub fn development() -> Self {
        Self { development: true, ..Self::default() }
    }
}

/// Why a token was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The token is malformed, expired, or signed or addressed otherwise than we require.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The settings cannot sign tokens.
    #[error("token settings: {0}")]
    Settings(String),
}

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an access token says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The username when the token was issued.
    #[serde(default)]
    pub name: String,
    /// The session (refresh-token family) the token belongs to.
    pub sid: String,
    /// `admin` for administrators; absent for everyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
}

/// Signs access tokens with the current key; verifies with the current or the previous one.
#[derive(Clone)]
pub struct Tokens {
    settings: TokenSettings,
    encoding: EncodingKey,
    /// `(key id, key)`: the current key first.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Tokens {
    /// Builds the signer and verifier; refuses a secret shorter than 32 bytes.
    pub fn new(settings: TokenSettings) -> Result<Self> {
        let secret = settings.secret.expose().as_bytes();
        if secret.len() < 32 {
            return Err(Error::Settings("token secret must be at least 32 bytes".into()));
        }
        let is_dev = |sec: &Secret| sec.expose() == DEV_SECRET;
        if (is_dev(&settings.secret) || settings.previous_secret.as_ref().is_some_and(is_dev)) && !settings.development
        {
            return Err(Error::Settings(
                "the token secret is the built-in development one, which anyone can read: set \
                 HUBBUB_TOKEN__SECRET to 32+ random bytes (or HUBBUB_TOKEN__DEVELOPMENT=true for a local run)"
                    .into(),
            ));
        }
        if is_dev(&settings.secret) {
            tracing_warn_dev_secret();
        }
        let mut decoding = vec![(settings.key_id.clone(), DecodingKey::from_secret(secret))];
        match (&settings.previous_key_id, &settings.previous_secret) {
            (Some(kid), Some(old)) if old.expose().len() >= 32 && *kid != settings.key_id => {
                decoding.push((kid.clone(), DecodingKey::from_secret(old.expose().as_bytes())));
            }
            (None, None) => {}
            _ => {
                return Err(Error::Settings(
                    "previous_key_id and previous_secret go together: a distinct id and a secret of 32+ bytes".into(),
                ));
            }
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Self { encoding: EncodingKey::from_secret(secret), decoding, validation, settings })
    }

    /// Lifetime of issued access tokens.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.settings.access_ttl_secs)
    }

    /// Issues an access token for `user_id` in session `sid`.
    pub fn issue(&self, user_id: &str, username: &str, sid: &str, role: Option<&str>) -> Result<String> {
        let now = now_secs();
        let claims = Claims {
            sub: user_id.to_owned(),
            name: username.to_owned(),
            sid: sid.to_owned(),
            role: role.map(str::to_owned),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            iat: now,
            exp: now + self.settings.access_ttl_secs,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.settings.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| Error::Settings(e.to_string()))
    }

    /// Verifies signature, algorithm, key id, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| Error::Invalid(e.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(Error::Invalid("unexpected algorithm".into()));
        }
        let kid = header.kid.as_deref().ok_or_else(|| Error::Invalid("no key id".into()))?;
        let (_, key) =
            self.decoding.iter().find(|(id, _)| id == kid).ok_or_else(|| Error::Invalid("unknown key id".into()))?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if claims.sid.is_empty() {
            return Err(Error::Invalid("no session id".into()));
        }
        Ok(claims)
    }
}

fn tracing_warn_dev_secret() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!("token secret is the development default: set HUBBUB_TOKEN__SECRET in production");
    });
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(TokenSettings::development()).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_and_names_its_user() {
        let t = tokens();
        let claims = t.verify(&t.issue("u1", "alice", "s1", None).unwrap()).unwrap();
        assert_eq!((claims.sub.as_str(), claims.name.as_str(), claims.sid.as_str()), ("u1", "alice", "s1"));
        assert_eq!(claims.role, None);
    }

    #[test]
    fn a_token_of_the_previous_key_verifies_during_a_rotation() {
        let old = tokens();
        let rotated = Tokens::new(TokenSettings {
            key_id: "k2".into(),
            secret: Secret::new("the-new-secret-of-at-least-32-bytes!!"),
            previous_key_id: Some("k1".into()),
            previous_secret: Some(Secret::new(DEV_SECRET)),
            ..TokenSettings::development()
        })
        .unwrap();
        let claims = rotated.verify(&old.issue("u1", "a", "s", Some("admin")).unwrap()).unwrap();
        assert_eq!(claims.role.as_deref(), Some("admin"));
        // The old key alone does not know the new one.
        assert!(old.verify(&rotated.issue("u1", "a", "s", None).unwrap()).is_err());
    }

    #[test]
    fn a_token_from_another_key_or_audience_is_refused() {
        let t = tokens();
        let other = Tokens::new(TokenSettings {
            secret: Secret::new("another-secret-of-at-least-32-bytes!!"),
            ..TokenSettings::default()
        })
        .unwrap();
        assert!(t.verify(&other.issue("u1", "a", "s", None).unwrap()).is_err());
        let other_aud =
            Tokens::new(TokenSettings { audience: "elsewhere".into(), ..TokenSettings::development() }).unwrap();
        assert!(t.verify(&other_aud.issue("u1", "a", "s", None).unwrap()).is_err());
    }

    #[test]
    fn the_development_secret_is_refused_outside_development() {
        let e = Tokens::new(TokenSettings::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("HUBBUB_TOKEN__SECRET"), "{e}");
        let rotated_from_it = TokenSettings {
            secret: Secret::new("the-new-secret-of-at-least-32-bytes!!"),
            previous_key_id: Some("k0".into()),
            previous_secret: Some(Secret::new(DEV_SECRET)),
            ..TokenSettings::default()
        };
        assert!(Tokens::new(rotated_from_it).is_err(), "not even as the previous key");
        assert!(Tokens::new(TokenSettings::development()).is_ok());
    }

    #[test]
    fn a_short_secret_is_refused() {
        let short = TokenSettings { secret: Secret::new("short"), ..TokenSettings::default() };
        assert!(Tokens::new(short).is_err());
    }
}
