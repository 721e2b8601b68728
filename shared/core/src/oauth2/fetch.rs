//! The login flow with a provider: exchange the code, then read the user
//! from wherever the provider's [`UserSource`] says it comes from.

use serde_json::{Map, Value};

use super::client::{HttpError, OAuth2Client, OAuth2Token, TokenRequest};
use super::id_token::{
    check_id_token, jwt_claims, microsoft_email_claim, microsoft_id_token_email, string_list,
};
use super::provider::Provider;
use super::quirks::UserSource;
use super::user::{github_verified_primary_email, invalid, map_user, AuthUser, UserError};
use crate::model::Timestamp;

/// Why a login could not get the provider's user.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The code exchange failed (bad code, verifier, redirect URL, …).
    #[error("token exchange failed: {0}")]
    Token(HttpError),
    /// The token was issued but the user could not be read.
    #[error("{0}")]
    User(UserError),
}

/// Exchanges the code and reads the provider's user: from the user-info
/// endpoint, or from the `id_token` (Apple; OIDC without a user-info URL).
pub async fn fetch_user(
    client: &dyn OAuth2Client,
    provider: &Provider,
    code: &str,
    code_verifier: &str,
    redirect_url: &str,
    now: Timestamp,
) -> Result<(AuthUser, OAuth2Token), FetchError> {
    let request = TokenRequest {
        token_url: &provider.token_url,
        client_id: &provider.client_id,
        client_secret: &provider.client_secret,
        client_auth: provider.client_auth,
        code,
        code_verifier: (provider.pkce && !code_verifier.is_empty()).then_some(code_verifier),
        redirect_url,
    };
    let token = client
        .exchange_code(&request)
        .await
        .map_err(FetchError::Token)?;
    let user = read_user(client, provider, &token, now)
        .await
        .map_err(FetchError::User)?;
    Ok((user, token))
}

async fn read_user(
    client: &dyn OAuth2Client,
    provider: &Provider,
    token: &OAuth2Token,
    now: Timestamp,
) -> Result<AuthUser, UserError> {
    let access = token.access_token.expose();
    let id_token_claims = || -> Result<Map<String, Value>, UserError> {
        let claims = jwt_claims(token.id_token.expose())
            .ok_or_else(|| invalid("missing or malformed id_token"))?;
        Ok(claims)
    };
    match provider.kind.quirks().source {
        UserSource::IdToken { issuer } => {
            let claims = id_token_claims()?;
            check_id_token(
                &claims,
                &provider.client_id,
                &[issuer.to_owned()],
                true,
                now,
            )?;
            map_user(provider.kind, &Value::Object(claims))
        }
        UserSource::UserInfoOrIdToken if provider.user_info_url.is_empty() => {
            let claims = id_token_claims()?;
            let issuers = string_list(provider.extra.get("issuers"));
            check_id_token(&claims, &provider.client_id, &issuers, false, now)?;
            map_user(provider.kind, &Value::Object(claims))
        }
        UserSource::UserInfoAndGithubEmails => {
            let raw = client.get_json(&provider.user_info_url, access).await?;
            let mut user = map_user(provider.kind, &raw)?;
            // Always ask for the verified primary address: the profile's
            // `email` may be private, absent or (on Enterprise) unverified.
            let emails_url = format!("{}/emails", provider.user_info_url.trim_end_matches('/'));
            match client.get_json(&emails_url, access).await {
                Ok(list) => {
                    if let Some(email) = github_verified_primary_email(&list) {
                        user.email = email;
                        user.email_verified = true;
                    }
                }
                // Missing `user:email` scope: the user simply has no email.
                Err(HttpError::Status(401 | 403 | 404)) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(user)
        }
        UserSource::UserInfoAndIdTokenEmail => {
            let raw = client.get_json(&provider.user_info_url, access).await?;
            let mut user = map_user(provider.kind, &raw)?;
            if let Some(option) = microsoft_email_claim(&provider.extra) {
                let claims = jwt_claims(token.id_token.expose());
                let claims = claims
                    .filter(|c| check_id_token(c, &provider.client_id, &[], false, now).is_ok());
                microsoft_id_token_email(&mut user, option, claims.as_ref());
            }
            Ok(user)
        }
        UserSource::UserInfo | UserSource::UserInfoOrIdToken => {
            let raw = client.get_json(&provider.user_info_url, access).await?;
            map_user(provider.kind, &raw)
        }
    }
}
