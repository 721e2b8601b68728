use authgate_core::service::{self, request_email_change as svc};
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::{Authorization, RawBody};
use crate::state::AppState;

pub async fn request_email_change(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    Authorization(auth): Authorization,
    body: RawBody,
) -> Result<StatusCode, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    let now = app.ctx.clock.now();
    let input = body.parse::<svc::RequestEmailChangeInput>();
    svc::request_email_change(&app.ctx, &cfg, collection, auth.as_deref(), input, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
