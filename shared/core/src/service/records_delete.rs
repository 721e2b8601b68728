//! `DELETE records/{id}` of an auth collection: account deletion.

use crate::config::Collection;
use crate::error::{Error, Result};
use crate::model::Record;
use crate::ports::StoreError;
use crate::validate;

use super::records::attempts;
use super::self_service::admitted_record;
use super::Ctx;

/// Deletes the record `id` if `deleteRule` lets `caller` (403 for `null`,
/// 404 when hidden or missing). The record, its unique values (the email
/// can sign up again) and its OAuth2 links go in one store step
/// (`RecordStore::delete_record`); its auth tokens stop working at once, as
/// every token check reads the record. Its pending OTPs and MFA sessions
/// stay until they expire but name the deleted id, which no record gets
/// again, so none can log anyone in. A concurrent update of the record
/// (stale version) is retried from a fresh read.
pub async fn records_delete(
    ctx: &Ctx,
    collection: &Collection,
    caller: Option<&Record>,
    id: &str,
) -> Result<()> {
    let mut record = admitted_record(ctx, collection, collection.rules.delete, caller, id).await?;
    for _ in attempts() {
        let keys = validate::unique_keys(collection, &record);
        match ctx.store.delete_record(&record, &keys).await {
            Ok(()) => {
                tracing::info!(collection = %collection.name, record = %record.id, "record deleted");
                return Ok(());
            }
            Err(StoreError::Stale) => {}
            Err(e) => return Err(e.into()),
        }
        record = ctx
            .store
            .get_record(&collection.id, id)
            .await?
            .ok_or_else(Error::record_not_found)?;
    }
    Err(Error::internal(
        "record delete kept losing to concurrent updates",
    ))
}
