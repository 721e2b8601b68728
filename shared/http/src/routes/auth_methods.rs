use authgate_core::service::{self, auth_methods as svc};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::Common;
use crate::fields::project;
use crate::state::AppState;

pub async fn auth_methods(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    Common(q): Common,
) -> Result<Json<Value>, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    let body = svc::auth_methods(&app.ctx, collection)?;
    Ok(Json(project(body, q.fields.as_deref())))
}
