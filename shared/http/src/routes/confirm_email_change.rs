use authgate_core::service::confirm_email_change as svc;
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Form};
use crate::state::AppState;

pub async fn confirm_email_change(
    State(app): State<AppState>,
    route: AuthCollection,
    Form(input): Form<svc::ConfirmEmailChangeInput>,
) -> Result<StatusCode, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    svc::confirm_email_change(&app.ctx, cfg, collection, input, app.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
