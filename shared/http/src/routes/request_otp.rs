use authgate_core::service::request_otp as svc;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{AuthCollection, Common, Form, Otp};
use crate::fields::project;
use crate::no_store::NoStore;
use crate::state::AppState;

pub async fn request_otp(
    State(app): State<AppState>,
    route: AuthCollection<Otp>,
    Common(q): Common,
    Form(input): Form<svc::RequestOtpInput>,
) -> Result<NoStore<Json<Value>>, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    let otp_id = svc::request_otp(&app.ctx, cfg, collection, input, app.now()).await?;
    // The OTP id is half of a login: not for caches.
    Ok(NoStore(Json(project(
        json!({ "otpId": otp_id }),
        q.fields(),
    ))))
}
