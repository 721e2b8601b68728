//! `POST auth-refresh`: trades a valid auth token for a fresh one.

use crate::config::Collection;
use crate::error::Result;
use crate::model::Timestamp;
use crate::token::{self, TokenKind};

use super::auth::Session;
use super::{record_json, AuthOutcome};

/// A fresh token for the caller (authenticated for this collection, see
/// `auth::authenticate_in`). A non-refreshable token (e.g. an impersonation
/// token) comes back as is.
pub fn auth_refresh(
    collection: &Collection,
    session: Session,
    now: Timestamp,
) -> Result<AuthOutcome> {
    super::auth::check_auth_rule(collection)?;
    let token = if session.claims.refreshable == Some(true) {
        token::issue(
            collection,
            &session.record,
            TokenKind::Auth,
            now,
            Default::default(),
        )?
    } else {
        session.token.expose().to_owned()
    };
    Ok(AuthOutcome::Authenticated {
        token,
        record: record_json(collection, &session.record, true),
        meta: None,
    })
}
