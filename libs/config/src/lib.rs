//! Typed settings: defaults, then an optional file, then `HUBBUB_SECTION__KEY` variables.
//!
//! Each service owns its section type; the `hubbub` binary composes them into one struct and
//! loads it here. Field names are snake_case, so `HUBBUB_KAFKA__FETCH_WAIT_MAX_MS=5` sets
//! `kafka.fetch_wait_max_ms`.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or variable could not be read or did not fit its field's type.
    #[error("invalid settings: {0}")]
    Invalid(#[from] config::ConfigError),
}

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Loads `T` from its `Default` values, then `file` (TOML, if given), then the environment
/// (`HUBBUB_` prefix, `__` between a section and its key). Each layer overrides single keys, so
/// `HUBBUB_RPC__AUTH__TRANSPORT=grpc` changes one field and keeps the rest of `rpc.auth`.
pub fn load<T: DeserializeOwned + Serialize + Default>(file: Option<&Path>) -> Result<T> {
    load_with(file, None)
}

/// [`load`] with the given variables instead of the process environment (tests).
pub fn load_with<T: DeserializeOwned + Serialize + Default>(
    file: Option<&Path>,
    env: Option<config::Map<String, String>>,
) -> Result<T> {
    let mut builder = config::Config::builder().add_source(config::Config::try_from(&T::default())?);
    if let Some(file) = file {
        builder = builder.add_source(config::File::from(file).required(true));
    }
    let cfg = builder
        .add_source(
            config::Environment::with_prefix("HUBBUB")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(env),
        )
        .build()?;
    Ok(cfg.try_deserialize()?)
}

/// A secret setting: never printed by `Debug`, read with [`Secret::expose`].
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(default)]
    struct Inner {
        a: u32,
        b: String,
    }

    impl Default for Inner {
        fn default() -> Self {
            Self { a: 1, b: "x".into() }
        }
    }

    #[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
    #[serde(default)]
    struct Top {
        section: Inner,
        key: Secret,
    }

    #[test]
    fn a_variable_overrides_one_key_and_keeps_its_siblings() {
        let env = [("HUBBUB_SECTION__A".to_owned(), "7".to_owned())].into_iter().collect();
        let t: Top = load_with(None, Some(env)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.section, Inner { a: 7, b: "x".into() });
    }

    #[test]
    fn a_variable_of_the_wrong_type_is_an_error() {
        let env = [("HUBBUB_SECTION__A".to_owned(), "many".to_owned())].into_iter().collect();
        assert!(load_with::<Top>(None, Some(env)).is_err());
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
