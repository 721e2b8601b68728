use authgate_core::service::request_verification as svc;
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Form};
use crate::state::AppState;

pub async fn request_verification(
    State(app): State<AppState>,
    route: AuthCollection,
    Form(input): Form<svc::RequestVerificationInput>,
) -> Result<StatusCode, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    svc::request_verification(&app.ctx, cfg, collection, input, app.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
