use authgate_core::service::auth_revoke as svc;
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Caller};
use crate::state::AppState;

pub async fn auth_revoke(
    State(app): State<AppState>,
    route: AuthCollection,
    Caller(session): Caller,
) -> Result<StatusCode, ApiError> {
    svc::auth_revoke(&app.ctx, route.collection(), &session.record, app.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
