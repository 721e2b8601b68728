//! Reading the token a flow's mail carried, the way PocketBase's
//! `FindAuthRecordByToken` does.

use crate::config::{AppConfig, Collection, CollectionKind};
use crate::error::{FieldError, FieldErrors, Result};
use crate::model::{Record, Timestamp};
use crate::token::{self, Claims, TokenKind};

use super::Ctx;

/// A mail-flow token whose signature, type, expiry and collection are
/// right, with its record; or the `token` field error PocketBase gives.
pub type TokenCheck = std::result::Result<(Record, Claims), FieldError>;

/// Reads a token of `kind`: the record is looked up in whichever auth
/// collection the token names, the signature checked with that record's
/// key, and only then is a token of another collection told apart
/// (`validation_token_collection_mismatch`).
pub async fn check_token(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    raw: &str,
    kind: TokenKind,
    now: Timestamp,
) -> Result<TokenCheck> {
    let invalid = || Ok(Err(FieldError::invalid_token()));
    let Some(claims) = token::peek(raw) else {
        return invalid();
    };
    if claims.kind != Some(kind) || !crate::model::is_plausible_id(&claims.id) {
        return invalid();
    }
    let Some(owner) = cfg
        .collection_by_id(&claims.collection_id)
        .filter(|c| c.kind == CollectionKind::Auth)
    else {
        return invalid();
    };
    let Some(record) = ctx.store.get_record(&owner.id, &claims.id).await? else {
        return invalid();
    };
    let Some(claims) = token::verify(owner, &record, raw, kind, now) else {
        return invalid();
    };
    if owner.id != collection.id {
        return Ok(Err(FieldError::new(
            "validation_token_collection_mismatch",
            "The provided token is for different auth collection.",
        )));
    }
    Ok(Ok((record, claims)))
}

/// Files a field check's outcome: the value, or its error under `field` in
/// `errors` (a form reports every field together, as PocketBase does).
pub fn keep<T>(
    errors: &mut FieldErrors,
    field: &str,
    outcome: std::result::Result<T, FieldError>,
) -> Option<T> {
    match outcome {
        Ok(value) => Some(value),
        Err(e) => {
            errors.insert(field.to_owned(), e);
            None
        }
    }
}
