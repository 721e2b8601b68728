use authgate_core::service::{self, confirm_verification as svc};
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::RawBody;
use crate::state::AppState;

pub async fn confirm_verification(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    body: RawBody,
) -> Result<StatusCode, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    let input: svc::ConfirmVerificationInput = body.parse()?;
    let now = app.ctx.clock.now();
    svc::confirm_verification(&app.ctx, &cfg, collection, input, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
