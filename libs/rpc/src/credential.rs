//! Internal credentials: every call between hubbub's processes carries a short-lived HMAC over
//! the method and the caller it acts for, made with a secret only hubbub's processes hold, and
//! every service checks it before the call runs. A peer that can reach gRPC or RabbitMQ but
//! lacks the secret cannot act as any user (nor call anything at all).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{CALLER_HEADER, RpcSettings};

/// Metadata key of the credential: `<expiry unix secs>.<base64url HMAC-SHA256>`.
pub const CREDENTIAL_HEADER: &str = "x-hubbub-internal";

/// The built-in development secret: accepted only with `rpc.development` set.
pub const DEV_INTERNAL_SECRET: &str = "hubbub-internal-development-secret-change-me";

/// Shortest internal secret accepted, in bytes.
const SECRET_MIN: usize = 32;

/// Why the internal secret is refused.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The built-in secret outside development.
    #[error(
        "the internal RPC secret is the built-in development one, which anyone can read: set \
         HUBBUB_RPC__INTERNAL_SECRET (32+ random bytes, the same in every process) or, for local \
         runs only, HUBBUB_RPC__DEVELOPMENT=true"
    )]
    Development,
    /// Too short to resist guessing.
    #[error("the internal RPC secret is shorter than {SECRET_MIN} bytes")]
    TooShort,
}

/// Signs and checks internal credentials.
#[derive(Clone)]
pub struct Credentials {
    key: std::sync::Arc<[u8]>,
    ttl: Duration,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl Credentials {
    /// The credentials of these settings, or why their secret is refused.
    pub fn new(settings: &RpcSettings) -> Result<Self, CredentialError> {
        let secret = settings.internal_secret.expose();
        if secret == DEV_INTERNAL_SECRET && !settings.development {
            return Err(CredentialError::Development);
        }
        if secret.len() < SECRET_MIN {
            return Err(CredentialError::TooShort);
        }
        if secret == DEV_INTERNAL_SECRET {
            tracing::warn!("internal RPC calls are signed with the built-in development secret");
        }
        Ok(Self { key: secret.as_bytes().into(), ttl: Duration::from_secs(settings.credential_ttl_secs.max(1)) })
    }

    fn mac(&self, expiry: u64, method: &str, caller: &str) -> Hmac<Sha256> {
        // A key of any length is accepted by HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(b"hubbub-internal-v2\n");
        mac.update(expiry.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(method.as_bytes());
        mac.update(b"\n");
        mac.update(caller.as_bytes());
        mac
    }

    /// The credential for a call of `method` (the gRPC path) acting for `caller` ("" for none).
    pub fn sign(&self, method: &str, caller: &str) -> String {
        let expiry = now_secs().saturating_add(self.ttl.as_secs());
        let tag = self.mac(expiry, method, caller).finalize().into_bytes();
        format!("{expiry}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Whether `credential` is current and was made for `method` and `caller` with our secret.
    pub fn verify(&self, credential: Option<&str>, method: &str, caller: &str) -> bool {
        let Some((expiry, tag)) = credential.and_then(|c| c.split_once('.')) else { return false };
        let (Ok(expiry), Ok(tag)) = (expiry.parse::<u64>(), URL_SAFE_NO_PAD.decode(tag)) else { return false };
        // Not expired, and not made to last longer than we would make one (clock skew aside).
        let now = now_secs();
        if expiry < now || expiry > now.saturating_add(self.ttl.as_secs()).saturating_add(60) {
            return false;
        }
        self.mac(expiry, method, caller).verify_slice(&tag).is_ok()
    }

    /// Adds the credential for the request's method and the caller it names to its headers.
    pub fn sign_request<B>(&self, req: &mut http::Request<B>) {
        let caller = req.headers().get(CALLER_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let signed = self.sign(req.uri().path(), &caller);
        if let Ok(v) = http::HeaderValue::try_from(signed) {
            req.headers_mut().insert(CREDENTIAL_HEADER, v);
        }
    }

    /// Whether the request carries a valid credential for its method and the caller it names.
    pub fn verify_request<B>(&self, req: &http::Request<B>) -> bool {
        let get = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok());
        self.verify(get(CREDENTIAL_HEADER), req.uri().path(), get(CALLER_HEADER).unwrap_or_default())
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn creds(secret: &str) -> Credentials {
        let settings = RpcSettings { internal_secret: hubbub_config::Secret::new(secret), ..RpcSettings::default() };
        Credentials::new(&settings).unwrap()
    }

    #[test]
    fn a_credential_is_good_for_the_caller_it_was_made_for_only() {
        let c = creds("an internal secret of thirty-two bytes or more");
        let (get, delete) = ("/hubbub.group.v1.GroupService/GetGroup", "/hubbub.group.v1.GroupService/DeleteGroup");
        let signed = c.sign(get, "alice");
        assert!(c.verify(Some(&signed), get, "alice"));
        assert!(!c.verify(Some(&signed), get, "mallory"), "another caller");
        assert!(!c.verify(Some(&signed), delete, "alice"), "another method");
        assert!(!c.verify(Some(&c.sign(get, "")), get, "alice"), "no caller");
        assert!(!c.verify(None, get, "alice"), "none at all");
        let other = creds("another secret, also thirty-two bytes long or more");
        assert!(!other.verify(Some(&signed), get, "alice"), "made with another secret");
        let (expiry, tag) = signed.split_once('.').unwrap();
        let later = format!("{}.{tag}", expiry.parse::<u64>().unwrap() + 30);
        assert!(!c.verify(Some(&later), get, "alice"), "expiry changed");
        assert!(!c.verify(Some(&format!("{}.{tag}", now_secs() - 1)), get, "alice"), "expired");
        assert!(!c.verify(Some("garbage"), get, "alice"));
    }

    #[test]
    fn the_development_secret_is_refused_outside_development_and_short_secrets_always() {
        let dev = RpcSettings::default();
        assert!(matches!(Credentials::new(&dev), Err(CredentialError::Development)));
        assert!(Credentials::new(&RpcSettings::development()).is_ok());
        let short = RpcSettings { internal_secret: hubbub_config::Secret::new("short"), ..RpcSettings::development() };
        assert!(matches!(Credentials::new(&short), Err(CredentialError::TooShort)));
    }
}
