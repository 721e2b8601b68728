use authgate_core::service::{self, auth_with_oauth2 as svc};
use axum::extract::{Path, State};
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{Authorization, Common, RawBody};
use crate::state::AppState;

pub async fn auth_with_oauth2(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    Common(q): Common,
    Authorization(auth): Authorization,
    body: RawBody,
) -> Result<Response, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    svc::ensure_enabled(collection)?;
    let input: svc::AuthWithOAuth2Input = body.parse()?;
    let now = app.ctx.clock.now();
    let outcome = svc::auth_with_oauth2(
        &app.ctx,
        &cfg,
        collection,
        input,
        auth.as_deref(),
        q.mfa_id.as_deref(),
        now,
    )
    .await?;
    Ok(auth_response(outcome, q.fields.as_deref()))
}
