use authgate_core::service::auth_with_otp as svc;
use axum::extract::State;
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, Form, Otp};
use crate::state::AppState;

pub async fn auth_with_otp(
    State(app): State<AppState>,
    route: AuthCollection<Otp>,
    Common(q): Common,
    Form(input): Form<svc::AuthWithOtpInput>,
) -> Result<Response, ApiError> {
    let outcome =
        svc::auth_with_otp(&app.ctx, route.collection(), input, q.mfa_id(), app.now()).await?;
    Ok(auth_response(outcome, q.fields()))
}
