use authgate_core::service::records_update as svc;
use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, Form, MaybeCaller, RecordId};
use crate::fields::project;
use crate::state::AppState;

pub async fn records_update(
    State(app): State<AppState>,
    route: AuthCollection,
    Common(q): Common,
    RecordId(id): RecordId,
    MaybeCaller(caller): MaybeCaller,
    Form(input): Form<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    let record = svc::records_update(
        &app.ctx,
        cfg,
        collection,
        caller.as_ref(),
        &id,
        input,
        app.now(),
    )
    .await?;
    Ok(Json(project(record, q.fields())))
}
