use authgate_core::service::request_otp as svc;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, Form, Otp};
use crate::fields::project;
use crate::state::AppState;

pub async fn request_otp(
    State(app): State<AppState>,
    route: AuthCollection<Otp>,
    Common(q): Common,
    Form(input): Form<svc::RequestOtpInput>,
) -> Result<Json<Value>, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    let otp_id = svc::request_otp(&app.ctx, cfg, collection, input, app.now()).await?;
    Ok(Json(project(json!({ "otpId": otp_id }), q.fields())))
}
