//! `GET records/{id}` of an auth collection.

use serde_json::Value;

use crate::config::Collection;
use crate::error::Result;
use crate::model::Record;

use super::self_service::{admitted_record, is_owner};
use super::{record_json, Ctx};

/// The record `id` as `caller` may see it (`viewRule`; the owner sees its
/// `email`, others only when `emailVisibility` is on).
pub async fn records_view(
    ctx: &Ctx,
    collection: &Collection,
    caller: Option<&Record>,
    id: &str,
) -> Result<Value> {
    let record = admitted_record(ctx, collection, collection.rules.view, caller, id).await?;
    Ok(record_json(collection, &record, is_owner(caller, &record)))
}
