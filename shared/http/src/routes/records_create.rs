use authgate_core::service::records_create as svc;
use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, Form};
use crate::fields::project;
use crate::state::AppState;

pub async fn records_create(
    State(app): State<AppState>,
    route: AuthCollection,
    Common(q): Common,
    Form(input): Form<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let record = svc::records_create(&app.ctx, route.collection(), input, app.now()).await?;
    Ok(Json(project(record, q.fields())))
}
