use authgate_core::service::external_auths as svc;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::AnyCaller;
use crate::state::AppState;

pub async fn external_auths_delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
    caller: AnyCaller,
) -> Result<StatusCode, ApiError> {
    svc::external_auths_delete(&app.ctx, caller.get(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
