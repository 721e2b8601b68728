use authgate_core::service::auth_with_otp as svc;
use authgate_core::service::LoginRequest;
use axum::extract::State;
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{AuthCollection, ClientAddress, Common, Form, Otp};
use crate::state::AppState;

pub async fn auth_with_otp(
    State(app): State<AppState>,
    route: AuthCollection<Otp>,
    Common(q): Common,
    ClientAddress(client): ClientAddress,
    Form(input): Form<svc::AuthWithOtpInput>,
) -> Result<Response, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    let request = LoginRequest {
        mfa_id: q.mfa_id(),
        client: client.as_deref(),
    };
    let outcome = svc::auth_with_otp(&app.ctx, cfg, collection, input, request, app.now()).await?;
    Ok(auth_response(outcome, q.fields()))
}
