use authgate_core::service::external_auths as svc;
use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{AnyCaller, Common, ListParams};
use crate::fields::project_items;
use crate::state::AppState;

pub async fn external_auths_list(
    State(app): State<AppState>,
    Common(q): Common,
    ListParams(list): ListParams,
    caller: AnyCaller,
) -> Result<Json<Value>, ApiError> {
    let body = svc::external_auths_list(&app.ctx, caller.get(), &list).await?;
    Ok(Json(project_items(body, q.fields())))
}
