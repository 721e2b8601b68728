use authgate_core::service::{self, request_otp as svc};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Common, RawBody};
use crate::fields::project;
use crate::state::AppState;

pub async fn request_otp(
    State(app): State<AppState>,
    Path(collection): Path<String>,
    Common(q): Common,
    body: RawBody,
) -> Result<Json<Value>, ApiError> {
    let cfg = app.config().await?;
    let collection = service::auth_collection(&cfg, &collection)?;
    svc::ensure_enabled(collection)?;
    let input: svc::RequestOtpInput = body.parse()?;
    let now = app.ctx.clock.now();
    let otp_id = svc::request_otp(&app.ctx, &cfg.meta, collection, input, now).await?;
    Ok(Json(project(
        json!({ "otpId": otp_id }),
        q.fields.as_deref(),
    )))
}
