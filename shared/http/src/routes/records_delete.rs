use authgate_core::service::records_delete as svc;
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::{AuthCollection, MaybeCaller, RecordId};
use crate::state::AppState;

pub async fn records_delete(
    State(app): State<AppState>,
    route: AuthCollection,
    RecordId(id): RecordId,
    MaybeCaller(caller): MaybeCaller,
) -> Result<StatusCode, ApiError> {
    svc::records_delete(&app.ctx, route.collection(), caller.as_ref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
