use authgate_core::service::records_view as svc;
use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, MaybeCaller, RecordId};
use crate::fields::project;
use crate::state::AppState;

pub async fn records_view(
    State(app): State<AppState>,
    route: AuthCollection,
    Common(q): Common,
    RecordId(id): RecordId,
    MaybeCaller(caller): MaybeCaller,
) -> Result<Json<Value>, ApiError> {
    let record = svc::records_view(&app.ctx, route.collection(), caller.as_ref(), &id).await?;
    Ok(Json(project(record, q.fields())))
}
