//! `POST records` on an auth collection: sign-up.

use serde_json::{Map, Value};

use crate::config::Collection;
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::{Record, Timestamp};
use crate::ports::StoreError;
use crate::random;
use crate::validate::{self, cast_bool, cast_string};

use super::{record_json, Ctx};

const FAILED: &str = "Failed to create record.";

/// Creates a record from client data. Clients cannot set `verified` (400,
/// as PocketBase) nor any other system field (`tokenKey`, `created`, … are
/// ignored): mass assignment is closed by construction, since only the
/// collection's own non-hidden fields are read from the input.
pub async fn records_create(
    ctx: &Ctx,
    collection: &Collection,
    input: Map<String, Value>,
    now: Timestamp,
) -> Result<Value> {
    let mut errors = FieldErrors::new();

    let email = input.get("email").map(cast_string).unwrap_or_default();
    let email = email.trim().to_owned();
    if email.is_empty() {
        errors.insert("email".into(), FieldError::required());
    } else if !crate::email::is_valid(&email) {
        errors.insert("email".into(), FieldError::is_email());
    }
    let email_visibility = input.get("emailVisibility").is_some_and(cast_bool);
    if input.get("verified").is_some_and(cast_bool) {
        errors.insert("verified".into(), FieldError::values_mismatch());
    }

    let password = input.get("password").map(cast_string).unwrap_or_default();
    let confirm = input
        .get("passwordConfirm")
        .map(cast_string)
        .unwrap_or_default();
    if let Some(e) = validate::password(&collection.password, &password) {
        errors.insert("password".into(), e);
    }
    if confirm.is_empty() {
        errors.insert("passwordConfirm".into(), FieldError::required());
    } else if confirm != password {
        errors.insert("passwordConfirm".into(), FieldError::values_mismatch());
    }

    let fields = validate::new_record_fields(collection, &input, now, &mut errors);
    if !errors.is_empty() {
        return Err(Error::validation(FAILED, errors));
    }

    let record = Record {
        id: random::record_id(ctx.rng.as_ref()),
        collection_id: collection.id.clone(),
        email,
        email_visibility,
        verified: false,
        password_hash: ctx.hash_password(&password).await?,
        token_key: random::secret(ctx.rng.as_ref()),
        created: now,
        updated: now,
        fields,
        version: 1,
    };
    let keys = validate::unique_keys(collection, &record);
    match ctx.store.insert_record(&record, &keys).await {
        Ok(()) => Ok(record_json(collection, &record, false)),
        Err(StoreError::Conflict { field }) => {
            Err(Error::field(FAILED, &field, FieldError::not_unique()))
        }
        Err(e) => Err(e.into()),
    }
}
