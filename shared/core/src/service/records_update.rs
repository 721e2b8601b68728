//! `PATCH records/{id}` of an auth collection: profile edits and password
//! changes, with PocketBase's rules for what a non-superuser may change.

use serde_json::{Map, Value};

use crate::config::{AppConfig, Collection};
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::{Record, Timestamp};
use crate::validate::{self, cast_bool, cast_string};

use super::rate_limit::{self, Attempted};
use super::records::{attempts, next_version, rotate_token_key, write, WriteError};
use super::self_service::{admitted_record, is_owner};
use super::{record_json, Ctx};

/// PocketBase's message for a failed update.
pub const UPDATE_FAILED: &str = "Failed to update record.";

fn invalid_old_password() -> FieldError {
    FieldError::new(
        "validation_invalid_old_password",
        "Missing or invalid old password.",
    )
}

/// The password part of an update body (PocketBase's `RecordUpsert` form
/// fields).
struct PasswordChange {
    password: String,
    confirm: String,
    old: String,
}

impl PasswordChange {
    fn from(input: &Map<String, Value>) -> Self {
        let get = |k: &str| input.get(k).map(cast_string).unwrap_or_default();
        Self {
            password: get("password"),
            confirm: get("passwordConfirm"),
            old: get("oldPassword"),
        }
    }

    fn requested(&self) -> bool {
        !(self.password.is_empty() && self.confirm.is_empty() && self.old.is_empty())
    }

    /// The form-level checks, as PocketBase's `validateFormFields`: each of
    /// the three is required once another is given, the confirmation must
    /// match, and `oldPassword` must be right whenever a new password is
    /// given (`check_old` says whether it was, `None` when not checked).
    fn form_errors(&self, errors: &mut FieldErrors, old_ok: Option<bool>) {
        if !self.requested() {
            return;
        }
        if self.password.is_empty() {
            errors.insert("password".into(), FieldError::required());
        }
        if self.confirm.is_empty() {
            errors.insert("passwordConfirm".into(), FieldError::required());
        } else if self.confirm != self.password {
            errors.insert("passwordConfirm".into(), FieldError::values_mismatch());
        }
        if !self.password.is_empty() || !self.confirm.is_empty() {
            if self.old.is_empty() {
                errors.insert("oldPassword".into(), FieldError::required());
            } else if old_ok == Some(false) {
                errors.insert("oldPassword".into(), invalid_old_password());
            }
        }
    }

    /// Whether `oldPassword` has to be checked against the stored hash.
    fn needs_old_check(&self) -> bool {
        !self.old.is_empty() && (!self.password.is_empty() || !self.confirm.is_empty())
    }
}

/// Updates the record `id` with the body `input` if `updateRule` lets
/// `caller` (403 for `null`, 404 when hidden or missing), following
/// PocketBase's rules for a non-superuser:
/// - the collection's own non-hidden fields are validated and cast as on
///   sign-up; unknown keys, hidden fields, autodates, `tokenKey`,
///   `collectionId`/`collectionName`/`expand` are ignored;
/// - `id` cannot change (`validation_pk_change`), nor can `email` (only
///   through request-email-change) or `verified` (`validation_values_mismatch`
///   when the value differs; the current value is accepted);
/// - a new password needs `oldPassword` (checked against the stored hash,
///   counted by the per-account password attempt cap as a login is) and a
///   matching `passwordConfirm`; it rotates `tokenKey`, which ends every
///   session, the caller's too (the answer is the record, not a token).
///
/// Concurrent updates do not lose each other's fields: the write is
/// conditional on the version read, and a lost race re-applies this body
/// to a fresh read.
pub async fn records_update(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    caller: Option<&Record>,
    id: &str,
    input: Map<String, Value>,
    now: Timestamp,
) -> Result<Value> {
    let mut old = admitted_record(ctx, collection, collection.rules.update, caller, id).await?;
    let change = PasswordChange::from(&input);

    // Form level first (PocketBase returns these alone when any fails).
    let mut errors = FieldErrors::new();
    if let Some(v) = input.get("email") {
        if cast_string(v).trim() != old.email {
            errors.insert("email".into(), FieldError::values_mismatch());
        }
    }
    if let Some(v) = input.get("verified") {
        if cast_bool(v) != old.verified {
            errors.insert("verified".into(), FieldError::values_mismatch());
        }
    }
    let mut checked_hash = None;
    let old_ok = if change.needs_old_check() {
        let ok = check_old_password(ctx, cfg, collection, &old, &change.old, now).await?;
        if ok {
            checked_hash = Some(old.password_hash.clone());
        }
        Some(ok)
    } else {
        None
    };
    change.form_errors(&mut errors, old_ok);
    if !errors.is_empty() {
        return Err(Error::validation(UPDATE_FAILED, errors));
    }

    // Then the record's own field rules.
    if let Some(v) = input.get("id") {
        if cast_string(v) != old.id {
            errors.insert(
                "id".into(),
                FieldError::new(
                    "validation_pk_change",
                    "The record primary key cannot be changed.",
                ),
            );
        }
    }
    if !change.password.is_empty() {
        if let Some(e) = validate::password(&collection.password, &change.password) {
            errors.insert("password".into(), e);
        }
    }
    validate::updated_record_fields(collection, &input, &old.fields, &mut errors);
    if !errors.is_empty() {
        return Err(Error::validation(UPDATE_FAILED, errors));
    }
    let new_hash = if change.password.is_empty() {
        None
    } else {
        Some(ctx.hash_password(&change.password).await?)
    };

    for _ in attempts() {
        // A password changed by someone else since `oldPassword` was
        // checked invalidates that check.
        if let Some(h) = &checked_hash {
            if &old.password_hash != h {
                return Err(Error::field(
                    UPDATE_FAILED,
                    "oldPassword",
                    invalid_old_password(),
                ));
            }
        }
        let mut new = next_version(collection, &old, now);
        let mut ignored = FieldErrors::new();
        new.fields = validate::updated_record_fields(collection, &input, &old.fields, &mut ignored);
        validate::touch_autodates(collection, &mut new.fields, now);
        if let Some(v) = input.get("emailVisibility") {
            new.email_visibility = cast_bool(v);
        }
        if let Some(h) = &new_hash {
            new.password_hash = h.clone();
            rotate_token_key(ctx, &mut new);
        }
        let keys = validate::unique_keys(collection, &new);
        match write(ctx, collection, &old, &new, Some(keys)).await {
            Ok(true) => {
                if new_hash.is_some() {
                    tracing::info!(collection = %collection.name, record = %new.id, "password changed, sessions revoked");
                }
                return Ok(record_json(collection, &new, is_owner(caller, &new)));
            }
            Ok(false) => {}
            Err(WriteError::Conflict { field }) => {
                return Err(Error::field(
                    UPDATE_FAILED,
                    &field,
                    FieldError::not_unique(),
                ))
            }
            Err(WriteError::Failed(e)) => return Err(e),
        }
        old = ctx
            .store
            .get_record(&collection.id, id)
            .await?
            .ok_or_else(Error::record_not_found)?;
    }
    Err(Error::internal(
        "record update kept losing to concurrent updates",
    ))
}

/// Checks `oldPassword` as a login checks a password: the attempt counts
/// against the account's cap first (429 once it is used up), a right one
/// gives its attempt back.
async fn check_old_password(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    record: &Record,
    password: &str,
    now: Timestamp,
) -> Result<bool> {
    if validate::password_to_check(password).is_some() {
        return Ok(false);
    }
    let who = Attempted::Record(&record.id);
    rate_limit::password_attempt(ctx, &cfg.rate_limits, collection, who, now).await?;
    let ok = ctx.verify_password(Some(record), password).await?;
    if ok {
        rate_limit::password_attempt_succeeded(ctx, collection, &record.id, now).await?;
    }
    Ok(ok)
}
