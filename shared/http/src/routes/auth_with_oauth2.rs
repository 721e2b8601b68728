use authgate_core::service::auth_with_oauth2 as svc;
use authgate_core::service::LoginRequest;
use axum::extract::State;
use axum::response::Response;

use super::auth_response;
use crate::error::ApiError;
use crate::extract::{AuthCollection, Authorization, ClientAddress, Common, Form, OAuth2};
use crate::state::AppState;

pub async fn auth_with_oauth2(
    State(app): State<AppState>,
    route: AuthCollection<OAuth2>,
    Common(q): Common,
    Authorization(auth): Authorization,
    ClientAddress(client): ClientAddress,
    Form(input): Form<svc::AuthWithOAuth2Input>,
) -> Result<Response, ApiError> {
    let (cfg, collection) = (route.config(), route.collection());
    let request = LoginRequest {
        mfa_id: q.mfa_id(),
        client: client.as_deref(),
    };
    let outcome = svc::auth_with_oauth2(
        &app.ctx,
        cfg,
        collection,
        input,
        auth.as_deref(),
        request,
        app.now(),
    )
    .await?;
    Ok(auth_response(outcome, q.fields()))
}
