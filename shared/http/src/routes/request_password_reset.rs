use authgate_core::service::{self, request_password_reset as svc};
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::RawBody;
use crate::state::AppState;

pub async fn request_password_reset(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    body: RawBody,
) -> Result<StatusCode, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    svc::ensure_enabled(collection)?;
    let input: svc::RequestPasswordResetInput = body.parse()?;
    let now = app.ctx.clock.now();
    svc::request_password_reset(&app.ctx, &cfg, collection, input, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
