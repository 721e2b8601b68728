//! Records and their unique markers. A unique value is an item of its own
//! (`UNQ#…`) claimed with `attribute_not_exists(pk)` in the same
//! `TransactWriteItems` as the record, so a record and its unique values are
//! written, changed and released all together or not at all, and of two
//! concurrent claims of one value exactly one wins.

use async_trait::async_trait;
use authgate_core::model::{Record, Timestamp, UniqueKey};
use authgate_core::ports::{ExternalAuthStore, RecordStore, StoreError, StoreResult};

use super::codec::{decode_record, marker_attributes, marker_record_id, n, record_attributes};
use super::{free_or_owned_by, not_exists, Condition, DynamoStore, Item};

/// The id of each collection's stand-in record (see
/// `find_record_by_unique`): outside the `[a-z0-9]` ids records get, and
/// refused by the id checks on every client-supplied id.
const STAND_IN_ID: &str = "~";

/// DynamoDB's limit on the items of one `TransactWriteItems`.
const MAX_TRANSACTION_ITEMS: usize = 100;

impl DynamoStore {
    fn record_item(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<Item> {
        let mut item = self.record_key(&record.collection_id, &record.id);
        item.extend(record_attributes(record, unique)?);
        Ok(item)
    }

    /// Reads the stand-in record of `collection_id`, writing it the first
    /// time, so the read returns an item as a real record's does.
    async fn read_stand_in(&self, collection_id: &str) -> StoreResult<()> {
        let key = self.record_key(collection_id, STAND_IN_ID);
        if self.get_item("GetItem(stand-in)", key).await?.is_some() {
            return Ok(());
        }
        let stand_in = Record {
            id: STAND_IN_ID.to_owned(),
            collection_id: collection_id.to_owned(),
            email: "stand-in@invalid".to_owned(),
            email_visibility: false,
            verified: false,
            password_hash: authgate_core::password::DUMMY_HASH.to_owned(),
            token_key: "~".repeat(50),
            created: Timestamp(0),
            updated: Timestamp(0),
            fields: serde_json::Map::new(),
            version: 1,
        };
        let item = self.record_item(&stand_in, &[])?;
        self.put_item("PutItem(stand-in)", item).await
    }

    fn marker_item(&self, collection_id: &str, key: &UniqueKey, record_id: &str) -> Item {
        let mut item = self.unique_key(collection_id, key);
        item.extend(marker_attributes(key, record_id));
        item
    }
}

/// The stored record is still the version the caller read (optimistic
/// concurrency: a lost race is [`StoreError::Stale`]).
fn version_is(version: u64) -> Condition {
    Condition::new("#v = :old")
        .name("#v", "version")
        .value(":old", n(version))
}

/// Keeps the first occurrence of each key: a transaction may not touch one
/// item twice.
/// The index of the item whose condition cancelled a transaction.
fn failed_at(codes: &[Option<String>]) -> Option<usize> {
    codes
        .iter()
        .position(|c| c.as_deref() == Some("ConditionalCheckFailed"))
}

/// A conflict on the marker at `index` among `claimed` (the items after the
/// record, in transaction order).
fn conflict(claimed: &[&UniqueKey], index: usize) -> StoreError {
    StoreError::Conflict {
        field: claimed
            .get(index)
            .map(|k| k.field.clone())
            .unwrap_or_default(),
    }
}

/// A cancellation that no condition of ours explains.
fn cancelled(what: &str, codes: &[Option<String>]) -> StoreError {
    StoreError::Backend(format!("{what} transaction cancelled: {codes:?}"))
}

#[async_trait]
impl RecordStore for DynamoStore {
    async fn insert_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let unique = UniqueKey::distinct(unique);
        let owned: Vec<UniqueKey> = unique.iter().map(|k| (*k).clone()).collect();
        let mut items = vec![self.put(self.record_item(record, &owned)?, Some(not_exists()))?];
        for key in &unique {
            items.push(self.put(
                self.marker_item(&record.collection_id, key, &record.id),
                Some(not_exists()),
            )?);
        }
        match self
            .transact("TransactWriteItems(insert record)", items)
            .await?
        {
            None => Ok(()),
            Some(codes) => match failed_at(&codes) {
                Some(0) => Err(StoreError::Conflict { field: "id".into() }),
                Some(i) => Err(conflict(&unique, i - 1)),
                None => Err(cancelled("insert record", &codes)),
            },
        }
    }

    async fn get_record(&self, collection_id: &str, id: &str) -> StoreResult<Option<Record>> {
        self.get_item("GetItem(record)", self.record_key(collection_id, id))
            .await?
            .map(|item| decode_record(&item))
            .transpose()
    }

    async fn find_record_by_unique(
        &self,
        collection_id: &str,
        key: &UniqueKey,
    ) -> StoreResult<Option<Record>> {
        let marker = self
            .get_item(
                "GetItem(unique marker)",
                self.unique_key(collection_id, key),
            )
            .await?;
        let Some(marker) = marker else {
            // A value nobody owns costs the same two reads as one that is
            // owned (marker, then record): the second reads the collection's
            // stand-in record, an item shaped like a record under an id no
            // record can have (ids are `[a-z0-9]`), written on first use.
            // Otherwise the answer time would tell which emails and
            // usernames have accounts.
            self.read_stand_in(collection_id).await?;
            return Ok(None);
        };
        let record_id = marker_record_id(&marker)?;
        self.get_record(collection_id, &record_id).await
    }

    async fn update_record(
        &self,
        old: &Record,
        new: &Record,
        old_unique: &[UniqueKey],
        new_unique: &[UniqueKey],
    ) -> StoreResult<()> {
        let coll = &old.collection_id;
        let claims: Vec<&UniqueKey> = UniqueKey::distinct(new_unique)
            .into_iter()
            .filter(|k| !old_unique.contains(k))
            .collect();
        let mut releases: Vec<&UniqueKey> = UniqueKey::distinct(old_unique)
            .into_iter()
            .filter(|k| !new_unique.contains(k))
            .collect();
        let stored_unique: Vec<UniqueKey> = UniqueKey::distinct(new_unique)
            .into_iter()
            .cloned()
            .collect();

        // A released marker that belongs to another record (only possible if
        // the table was edited by hand) is left alone, as the in-memory store
        // does: the transaction is retried without it. Bounded by the number
        // of releases.
        loop {
            let mut items = vec![self.put(
                self.record_item(new, &stored_unique)?,
                Some(version_is(old.version)),
            )?];
            for key in &claims {
                items.push(self.put(
                    self.marker_item(coll, key, &old.id),
                    Some(free_or_owned_by(&old.id)),
                )?);
            }
            for key in &releases {
                items.push(
                    self.delete(self.unique_key(coll, key), Some(free_or_owned_by(&old.id)))?,
                );
            }
            let Some(codes) = self
                .transact("TransactWriteItems(update record)", items)
                .await?
            else {
                return Ok(());
            };
            // Items are: the record, the claims, the releases.
            match failed_at(&codes) {
                Some(0) => return Err(StoreError::Stale),
                Some(i) if i <= claims.len() => return Err(conflict(&claims, i - 1)),
                Some(i) if i - 1 - claims.len() < releases.len() => {
                    releases.remove(i - 1 - claims.len());
                }
                _ => return Err(cancelled("update record", &codes)),
            }
        }
    }

    async fn delete_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let coll = &record.collection_id;
        let markers = UniqueKey::distinct(unique);
        let mut links = self.list_external_auths(coll, &record.id).await?;
        // A transaction holds at most 100 items; links that do not fit (never
        // with real provider counts) are removed first. A link without its
        // record is harmless: the OAuth2 login drops it on its next use.
        let room = MAX_TRANSACTION_ITEMS.saturating_sub(1 + markers.len()) / 2;
        while links.len() > room {
            if let Some(link) = links.pop() {
                self.delete_external_auth(&link).await?;
            }
        }
        // Whether each link's identity item is deleted too: not when it
        // belongs to another record (only after manual edits), which the
        // loop finds out from the cancellation and leaves alone, as
        // `delete_external_auth` does. Bounded by the number of links.
        let mut owned = vec![true; links.len()];
        loop {
            let mut items = vec![self.delete(
                self.record_key(coll, &record.id),
                Some(version_is(record.version)),
            )?];
            for key in &markers {
                items.push(self.delete(
                    self.unique_key(coll, key),
                    Some(free_or_owned_by(&record.id)),
                )?);
            }
            // Which link each identity item at an index belongs to.
            let mut identity_at = Vec::new();
            for (i, link) in links.iter().enumerate() {
                items.push(self.delete(self.record_external_key(link), None)?);
                if owned[i] {
                    identity_at.push((items.len(), i));
                    items.push(self.delete(
                        self.external_key(coll, &link.provider, &link.provider_id),
                        Some(free_or_owned_by(&record.id)),
                    )?);
                }
            }
            let Some(codes) = self
                .transact("TransactWriteItems(delete record)", items)
                .await?
            else {
                return Ok(());
            };
            match failed_at(&codes) {
                Some(0) => return Err(StoreError::Stale),
                Some(at) => match identity_at.iter().find(|(index, _)| *index == at) {
                    Some((_, link)) => owned[*link] = false,
                    None => return Err(cancelled("delete record", &codes)),
                },
                None => return Err(cancelled("delete record", &codes)),
            }
        }
    }
}
