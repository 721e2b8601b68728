use authgate_core::service::auth_methods as svc;
use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{AuthCollection, Common};
use crate::fields::project;
use crate::no_store::NoStore;
use crate::state::AppState;

pub async fn auth_methods(
    State(app): State<AppState>,
    route: AuthCollection,
    Common(q): Common,
) -> Result<NoStore<Json<Value>>, ApiError> {
    let body = svc::auth_methods(&app.ctx, route.collection())?;
    // Fresh PKCE verifiers and `state` per call: not for caches.
    Ok(NoStore(Json(project(body, q.fields()))))
}
