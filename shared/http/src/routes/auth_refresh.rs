use authgate_core::service::auth_refresh as svc;
use axum::extract::State;
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{AuthCollection, Caller, Common};
use crate::state::AppState;

pub async fn auth_refresh(
    State(app): State<AppState>,
    route: AuthCollection,
    Common(q): Common,
    Caller(session): Caller,
) -> Result<Response, ApiError> {
    let outcome = svc::auth_refresh(route.collection(), session, app.now())?;
    Ok(auth_response(outcome, q.fields()))
}
