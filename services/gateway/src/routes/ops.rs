//! `/health`.

use serde::Serialize;
use utoipa::ToSchema;

/// The process answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(pattern = "^ok$")]
    status: &'static str,
}

/// Alive.
#[utoipa::path(get, operation_id = "health", path = "/health", tag = "ops", security(()), responses((status = 200, description = "Alive", body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}
