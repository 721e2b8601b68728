use authgate_core::service::{self, auth_with_password as svc};
use axum::extract::{Path, State};
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{Common, RawBody};
use crate::state::AppState;

pub async fn auth_with_password(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    Common(q): Common,
    body: RawBody,
) -> Result<Response, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    svc::ensure_enabled(collection)?;
    let input: svc::AuthWithPasswordInput = body.parse()?;
    let now = app.ctx.clock.now();
    let outcome =
        svc::auth_with_password(&app.ctx, collection, input, q.mfa_id.as_deref(), now).await?;
    Ok(auth_response(outcome, q.fields.as_deref()))
}
