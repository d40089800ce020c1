//! Inputs that parse: a value of these types is valid by construction.

mod password;
mod session;

pub use password::{Hasher, Password};
pub use session::{new_refresh_token, refresh_token_hash};

use crate::{AuthSettings, Error, Result};

/// A username: `[a-zA-Z0-9_.-]`, length within the configured limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Parses a username.
    pub fn parse(s: &str, limits: &AuthSettings) -> Result<Self> {
        let n = s.len();
        if n < limits.username_min || n > limits.username_max {
            return Err(Error::Invalid(format!(
                "username must be {}–{} characters",
                limits.username_min, limits.username_max
            )));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return Err(Error::Invalid("username may contain only letters, digits, '_', '.' and '-'".into()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The username as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, kept as given and compared lowercased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, no spaces, at most
    /// 254 bytes. (Deliverability is the mail system's business, not a parser's.)
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::Invalid("email is not a valid address".into());
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let labels_ok = domain.split('.').all(|l| !l.is_empty());
        if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain.contains('.') || !labels_ok {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, non-empty, no control characters, within the configured length.
pub fn display_name(s: Option<&str>, fallback: &Username, limits: &AuthSettings) -> Result<String> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(fallback.as_str().to_owned());
    };
    if s.chars().count() > limits.display_name_max {
        return Err(Error::Invalid(format!("display name must be at most {} characters", limits.display_name_max)));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::Invalid("display name may not contain control characters".into()));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limits() -> AuthSettings {
        AuthSettings::default()
    }

    proptest! {
        #[test]
        fn usernames_of_allowed_characters_and_length_parse(s in "[a-zA-Z0-9_.-]{3,32}") {
            prop_assert_eq!(Username::parse(&s, &limits()).map(|u| u.0).ok(), Some(s));
        }

        #[test]
        fn usernames_with_any_other_character_are_refused(
            a in "[a-z]{2,10}", bad in "[^a-zA-Z0-9_.-]", b in "[a-z]{0,10}"
        ) {
            let s = format!("{a}{bad}{b}");
            prop_assert!(Username::parse(&s, &limits()).is_err());
        }

        #[test]
        fn usernames_outside_the_length_limits_are_refused(s in "[a-z]{0,2}|[a-z]{33,64}") {
            prop_assert!(Username::parse(&s, &limits()).is_err());
        }

        #[test]
        fn plain_addresses_parse(local in "[a-z0-9.+_-]{1,20}", host in "[a-z0-9-]{1,20}", tld in "[a-z]{2,6}") {
            let s = format!("{local}@{host}.{tld}");
            prop_assert!(Email::parse(&s).is_ok());
        }

        #[test]
        fn passwords_are_measured_in_characters_not_bytes(n in 1usize..200, c in prop::char::any()) {
            let s: String = std::iter::repeat_n(c, n).collect();
            let ok = (8..=128).contains(&n);
            prop_assert_eq!(Password::parse(&s, &limits()).is_ok(), ok, "{} chars", n);
        }

        #[test]
        fn configured_limits_move_the_bounds(min in 1usize..20, extra in 0usize..20, len in 0usize..50) {
            let settings = AuthSettings { username_min: min, username_max: min + extra, password_min: min, password_max: min + extra, ..limits() };
            let s = "a".repeat(len);
            let inside = len >= min && len <= min + extra;
            prop_assert_eq!(Username::parse(&s, &settings).is_ok(), inside);
            prop_assert_eq!(Password::parse(&s, &settings).is_ok(), inside);
        }

        #[test]
        fn display_names_are_trimmed_and_bounded(s in "\\PC{0,80}") {
            let fallback = Username("fallback".into());
            match display_name(Some(&s), &fallback, &limits()) {
                Ok(name) => {
                    prop_assert!(name.chars().count() <= 64);
                    prop_assert_eq!(name.trim(), name.as_str());
                    prop_assert!(!name.is_empty());
                }
                Err(_) => prop_assert!(s.trim().chars().count() > 64),
            }
        }

        #[test]
        fn any_string_parses_or_is_refused_without_panicking(s in any::<String>()) {
            let _ = Email::parse(&s);
            let _ = Username::parse(&s, &limits());
            let _ = Password::parse(&s, &limits());
            let _ = display_name(Some(&s), &Username("x".into()), &limits());
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for s in ["", "a", "a@", "@b.c", "a@b", "a@@b.c", "a b@c.d", "a@b..c", "a@.b"] {
            assert!(Email::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn an_empty_display_name_falls_back_to_the_username() {
        let u = Username("alice".into());
        assert_eq!(display_name(Some("  "), &u, &limits()).ok().as_deref(), Some("alice"));
        assert_eq!(display_name(None, &u, &limits()).ok().as_deref(), Some("alice"));
        assert_eq!(display_name(Some(" Al "), &u, &limits()).ok().as_deref(), Some("Al"));
    }
}
