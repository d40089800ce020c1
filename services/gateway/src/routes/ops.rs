//! `/health`.

use serde_json::{Value, json};

/// Alive.
pub async fn health() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}
