use authgate_core::service::records_list as svc;
use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, ListParams, MaybeCaller};
use crate::fields::project_items;
use crate::state::AppState;

pub async fn records_list(
    State(_app): State<AppState>,
    route: AuthCollection,
    Common(q): Common,
    ListParams(list): ListParams,
    MaybeCaller(caller): MaybeCaller,
) -> Result<Json<Value>, ApiError> {
    let body = svc::records_list(route.collection(), caller.as_ref(), &list)?;
    Ok(Json(project_items(body, q.fields())))
}
