//! `POST auth-with-password`.

use serde::Deserialize;

use crate::config::Collection;
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::{Record, Timestamp};
use crate::validate::identity_key;

use super::{finish_auth, method, AuthOutcome, Ctx};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthWithPasswordInput {
    pub identity: String,
    pub password: String,
    pub identity_field: String,
    pub mfa_id: String,
}

const VALIDATION_FAILED: &str = "An error occurred while validating the submitted data.";

fn length(value: &str, errors: &mut FieldErrors, field: &str) {
    if value.is_empty() {
        errors.insert(field.into(), FieldError::required());
    } else if value.chars().count() > 255 {
        errors.insert(
            field.into(),
            FieldError::new(
                "validation_length_out_of_range",
                "The length must be between 1 and 255.",
            ),
        );
    }
}

/// 403 unless the collection allows password logins. Checked before the
/// body is read, as PocketBase does.
pub fn ensure_enabled(collection: &Collection) -> Result<()> {
    if !collection.password_auth.enabled {
        return Err(Error::Forbidden(
            "The collection is not configured to allow password authentication.".into(),
        ));
    }
    Ok(())
}

pub async fn auth_with_password(
    ctx: &Ctx,
    collection: &Collection,
    input: AuthWithPasswordInput,
    mfa_id: Option<&str>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    ensure_enabled(collection)?;
    let mut errors = FieldErrors::new();
    length(&input.identity, &mut errors, "identity");
    length(&input.password, &mut errors, "password");
    if !input.identity_field.is_empty()
        && !collection
            .password_auth
            .identity_fields
            .contains(&input.identity_field)
    {
        errors.insert(
            "identityField".into(),
            FieldError::new("validation_in_invalid", "Must be a valid value."),
        );
    }
    if !errors.is_empty() {
        return Err(Error::validation(VALIDATION_FAILED, errors));
    }

    let record = find_by_identity(ctx, collection, &input.identity, &input.identity_field).await?;
    // Unknown identity and wrong password must be indistinguishable: same
    // work (a real argon2 verify against a dummy hash), same answer.
    if !ctx
        .verify_password(record.as_ref(), &input.password)
        .await?
    {
        return Err(Error::bad_request("Failed to authenticate."));
    }
    let Some(record) = record else {
        return Err(Error::bad_request("Failed to authenticate."));
    };
    let mfa_id = mfa_id.or(Some(input.mfa_id.as_str()).filter(|s| !s.is_empty()));
    finish_auth(
        ctx,
        collection,
        &record,
        method::PASSWORD,
        mfa_id,
        None,
        now,
    )
    .await
}

/// Looks an identity up by `identity_field`, or by every identity field with
/// `email` first (PocketBase's order) when none is given.
async fn find_by_identity(
    ctx: &Ctx,
    collection: &Collection,
    identity: &str,
    identity_field: &str,
) -> Result<Option<Record>> {
    let mut fields: Vec<&str> = if identity_field.is_empty() {
        collection
            .password_auth
            .identity_fields
            .iter()
            .map(String::as_str)
            .collect()
    } else {
        vec![identity_field]
    };
    fields.sort_by_key(|f| *f != "email");
    for field in fields {
        if field == "email" && identity_field.is_empty() && !crate::email::is_valid(identity) {
            continue;
        }
        let key = identity_key(collection, field, identity);
        if let Some(r) = ctx
            .store
            .find_record_by_unique(&collection.id, &key)
            .await?
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}
