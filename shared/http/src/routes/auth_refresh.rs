use authgate_core::service::auth_refresh as svc;
use axum::body::Body;
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
    body: Body,
) -> Result<Response, ApiError> {
    // The SDKs send a body (`{}`) the refresh has no use for. Reading it anyway lets the local
    // server keep the connection alive (hyper does not reuse a connection whose request body
    // was left unread); a larger or broken body is simply not read, as before.
    let _ = axum::body::to_bytes(body, 64 * 1024).await;
    let outcome = svc::auth_refresh(route.collection(), session, app.now())?;
    Ok(auth_response(outcome, q.fields()))
}
