//! Client → server events, one file each, and their acknowledgement shape:
//! `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`.

pub mod send;

use serde_json::{Value, json};

/// A failed acknowledgement.
pub fn error(code: &str, message: impl Into<String>) -> Value {
    json!({ "ok": false, "error": { "code": code, "message": message.into() } })
}
