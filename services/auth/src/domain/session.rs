//! Refresh tokens: opaque random strings, stored only as their SHA-256.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new refresh token (256 random bits, URL-safe base64).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a refresh token: its SHA-256, hex. A leaked database yields no usable
/// token, and the token is random enough that no salt or slow hash is needed.
pub fn refresh_token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_fresh_and_hash_stably() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(refresh_token_hash(&a), refresh_token_hash(&a));
        assert_ne!(refresh_token_hash(&a), refresh_token_hash(&b));
        assert_eq!(refresh_token_hash(&a).len(), 64);
    }
}
