use authgate_core::service::auth_with_password as svc;
use axum::extract::State;
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, Form, PasswordAuth};
use crate::state::AppState;

pub async fn auth_with_password(
    State(app): State<AppState>,
    route: AuthCollection<PasswordAuth>,
    Common(q): Common,
    Form(input): Form<svc::AuthWithPasswordInput>,
) -> Result<Response, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    let outcome =
        svc::auth_with_password(&app.ctx, cfg, collection, input, q.mfa_id(), app.now()).await?;
    Ok(auth_response(outcome, q.fields()))
}
