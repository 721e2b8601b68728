use authgate_core::service::request_email_change as svc;
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Caller, Form};
use crate::state::AppState;

pub async fn request_email_change(
    State(app): State<AppState>,
    route: AuthCollection,
    Caller(session): Caller,
    Form(input): Form<svc::RequestEmailChangeInput>,
) -> Result<StatusCode, ApiError> {
    let (cfg, collection, record) = (route.config(), route.collection(), &session.record);
    svc::request_email_change(&app.ctx, cfg, collection, record, input, app.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
