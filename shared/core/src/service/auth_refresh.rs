//! `POST auth-refresh`: trades a valid auth token for a fresh one.

use crate::config::AppConfig;
use crate::error::{Error, Result};
use crate::model::Timestamp;
use crate::token::{self, TokenKind};

use super::{authenticate, record_json, AuthOutcome, Collection, Ctx};

pub async fn auth_refresh(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    authorization: Option<&str>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    let (token_collection, record, claims) = authenticate(ctx, cfg, authorization, now).await?;
    if token_collection.id != collection.id {
        // PocketBase names the token's own collection here.
        return Err(Error::Forbidden(format!(
            "The request requires auth record from {} collection.",
            token_collection.name
        )));
    }
    // A non-refreshable token (e.g. an impersonation token) comes back as is.
    let token = if claims.refreshable == Some(true) {
        token::issue(
            collection,
            &record,
            TokenKind::Auth,
            now,
            Default::default(),
        )?
    } else {
        authorization
            .map(|h| h.trim().trim_start_matches("Bearer ").trim().to_owned())
            .unwrap_or_default()
    };
    Ok(AuthOutcome::Authenticated {
        token,
        record: record_json(collection, &record, true),
        meta: None,
    })
}
