//! Creating a record: the one sign-up path behind `POST records` and an
//! OAuth2 first login (PocketBase sends the latter through its own records
//! create request, so both follow the same rules).

use serde_json::{Map, Value};

use crate::config::Collection;
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::{Record, Timestamp};
use crate::ports::StoreError;
use crate::random;
use crate::secret::Secret;
use crate::validate::{self, cast_bool, cast_string};

use super::Ctx;

/// PocketBase's message for a failed create.
pub const CREATE_FAILED: &str = "Failed to create record.";

/// Where a new record's password comes from.
pub enum NewPassword {
    /// The input's `password`, checked against the collection's rules and
    /// confirmed by `passwordConfirm` (required and equal, as PocketBase's
    /// record form wants for every new auth record).
    FromInput,
    /// A random one nobody knows (OAuth2 sign-ups without a password).
    Random,
}

/// A new record's data, checked but not yet stored.
pub struct Draft {
    email: String,
    email_visibility: bool,
    password: Secret,
    fields: Map<String, Value>,
}

/// Checks sign-up data: the chosen `email` (required, a valid address),
/// `emailVisibility`, `verified` (clients cannot set it: 400, as
/// PocketBase), the password, and the collection's own fields. Clients
/// cannot set any other system field (`tokenKey`, `created`, … are
/// ignored): only the collection's own non-hidden fields are read, which
/// closes mass assignment by construction.
pub fn check(
    ctx: &Ctx,
    collection: &Collection,
    input: &Map<String, Value>,
    email: &str,
    password: NewPassword,
    now: Timestamp,
) -> (Draft, FieldErrors) {
    let mut errors = FieldErrors::new();
    if email.is_empty() {
        errors.insert("email".into(), FieldError::required());
    } else if !crate::email::is_valid(email) {
        errors.insert("email".into(), FieldError::is_email());
    }
    if input.get("verified").is_some_and(cast_bool) {
        errors.insert("verified".into(), FieldError::values_mismatch());
    }
    let password = match password {
        NewPassword::FromInput => {
            let given = input.get("password").map(cast_string).unwrap_or_default();
            let confirm = input
                .get("passwordConfirm")
                .map(cast_string)
                .unwrap_or_default();
            if let Some(e) = validate::password(&collection.password, &given) {
                errors.insert("password".into(), e);
            }
            if confirm.is_empty() {
                errors.insert("passwordConfirm".into(), FieldError::required());
            } else if confirm != given {
                errors.insert("passwordConfirm".into(), FieldError::values_mismatch());
            }
            Secret::new(given)
        }
        NewPassword::Random => Secret::new(random::string(
            ctx.rng.as_ref(),
            super::records::RANDOM_PASSWORD_LEN,
            random::ALNUM,
        )),
    };
    let fields = validate::new_record_fields(collection, input, now, &mut errors);
    let draft = Draft {
        email: email.to_owned(),
        email_visibility: input.get("emailVisibility").is_some_and(cast_bool),
        password,
        fields,
    };
    (draft, errors)
}

/// Stores a checked draft: the password is hashed, a fresh id and token key
/// are made, and the record and its unique keys are inserted in one atomic
/// step (a taken value is `validation_not_unique` on its field).
pub async fn insert(
    ctx: &Ctx,
    collection: &Collection,
    draft: Draft,
    verified: bool,
    now: Timestamp,
) -> Result<Record> {
    let record = Record {
        id: random::record_id(ctx.rng.as_ref()),
        collection_id: collection.id.clone(),
        email: draft.email,
        email_visibility: draft.email_visibility,
        verified,
        password_hash: ctx.hash_password(draft.password.expose()).await?,
        token_key: random::secret(ctx.rng.as_ref()),
        created: now,
        updated: now,
        fields: draft.fields,
        version: 1,
    };
    let keys = validate::unique_keys(collection, &record);
    match ctx.store.insert_record(&record, &keys).await {
        Ok(()) => Ok(record),
        Err(StoreError::Conflict { field }) => Err(Error::field(
            CREATE_FAILED,
            &field,
            FieldError::not_unique(),
        )),
        Err(e) => Err(e.into()),
    }
}
