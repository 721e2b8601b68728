use authgate_core::service::request_password_reset as svc;
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Form, PasswordReset};
use crate::state::AppState;

pub async fn request_password_reset(
    State(app): State<AppState>,
    route: AuthCollection<PasswordReset>,
    Form(input): Form<svc::RequestPasswordResetInput>,
) -> Result<StatusCode, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    svc::request_password_reset(&app.ctx, cfg, collection, input, app.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
