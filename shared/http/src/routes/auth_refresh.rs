use authgate_core::service::{self, auth_refresh as svc};
use axum::extract::{Path, State};
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{Authorization, Common};
use crate::state::AppState;

pub async fn auth_refresh(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    Common(q): Common,
    Authorization(auth): Authorization,
) -> Result<Response, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    let now = app.ctx.clock.now();
    let outcome = svc::auth_refresh(&app.ctx, &cfg, collection, auth.as_deref(), now).await?;
    Ok(auth_response(outcome, q.fields.as_deref()))
}
