//! `POST records` on an auth collection: sign-up.

use serde_json::{Map, Value};

use crate::config::{Collection, Rule};
use crate::error::{Error, Result};
use crate::model::Timestamp;
use crate::validate::cast_string;

use super::sign_up::{self, NewPassword, CREATE_FAILED};
use super::{record_json, Ctx};

/// Creates a record from client data (see [`sign_up::check`] for what
/// clients can and cannot set) and answers with it as its viewer sees it.
pub async fn records_create(
    ctx: &Ctx,
    collection: &Collection,
    input: Map<String, Value>,
    now: Timestamp,
) -> Result<Value> {
    // `createRule`: `null` closes sign-up (403); `""` is public sign-up
    // (the owner rule is refused at config load for create).
    if collection.rules.create == Rule::Nobody {
        return Err(Error::only_superusers());
    }
    let email = input.get("email").map(cast_string).unwrap_or_default();
    let (draft, errors) = sign_up::check(
        ctx,
        collection,
        &input,
        email.trim(),
        NewPassword::FromInput,
        now,
    );
    if !errors.is_empty() {
        return Err(Error::validation(CREATE_FAILED, errors));
    }
    let record = sign_up::insert(ctx, collection, draft, false, now).await?;
    Ok(record_json(collection, &record, false))
}
