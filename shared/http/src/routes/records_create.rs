use authgate_core::service::{self, records_create as svc};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Common, RawBody};
use crate::fields::project;
use crate::state::AppState;

pub async fn records_create(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    Common(q): Common,
    body: RawBody,
) -> Result<Json<Value>, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    let input = body.object()?;
    let now = app.ctx.clock.now();
    let record = svc::records_create(&app.ctx, collection, input, now).await?;
    Ok(Json(project(record, q.fields.as_deref())))
}
