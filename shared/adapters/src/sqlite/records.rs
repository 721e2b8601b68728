//! Records and their unique markers (`unique_values`, one row per value,
//! its primary key the claim). A record and its markers are inserted,
//! changed and released in one transaction, so they are written all
//! together or not at all; every marker names a live record (the foreign
//! key, checked at commit). Deleting a record also removes its OAuth2 links
//! in that transaction.

use async_trait::async_trait;
use authgate_core::model::{Record, Timestamp, UniqueKey};
use authgate_core::ports::{RecordStore, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{fail, SqliteStore};

const COLUMNS: &str = "collection_id, id, email, email_visibility, verified, password_hash, \
     token_key, created, updated, fields, version";

fn encode_fields(record: &Record) -> StoreResult<String> {
    serde_json::to_string(&record.fields)
        .map_err(|e| StoreError::Backend(format!("cannot encode record fields: {e}")))
}

/// A record from a row of [`COLUMNS`].
fn decode(row: &Row<'_>) -> rusqlite::Result<Result<Record, String>> {
    let fields: String = row.get(9)?;
    let version: i64 = row.get(10)?;
    let record = Record {
        collection_id: row.get(0)?,
        id: row.get(1)?,
        email: row.get(2)?,
        email_visibility: row.get(3)?,
        verified: row.get(4)?,
        password_hash: row.get(5)?,
        token_key: row.get(6)?,
        created: Timestamp(row.get(7)?),
        updated: Timestamp(row.get(8)?),
        fields: serde_json::Map::new(),
        version: 0,
    };
    let fields = match serde_json::from_str(&fields) {
        Ok(f) => f,
        Err(e) => {
            return Ok(Err(format!(
                "stored record fields are not a JSON object: {e}"
            )))
        }
    };
    let Ok(version) = u64::try_from(version) else {
        return Ok(Err(format!("stored record version {version} is negative")));
    };
    Ok(Ok(Record {
        fields,
        version,
        ..record
    }))
}

fn flatten(found: Option<Result<Record, String>>) -> StoreResult<Option<Record>> {
    found.transpose().map_err(StoreError::Backend)
}

/// Keeps the first occurrence of each key (a key listed twice is one claim).
/// Owned copies of `keys` without repeats (the write runs on another thread).
fn distinct(keys: &[UniqueKey]) -> Vec<UniqueKey> {
    UniqueKey::distinct(keys).into_iter().cloned().collect()
}

fn version_param(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("record version {v} too large")))
}

/// Claims `key` for `record_id`: `Ok(true)` when it is now (or already
/// was) that record's, `Ok(false)` when another record owns it.
fn claim(
    tx: &Transaction<'_>,
    collection_id: &str,
    key: &UniqueKey,
    record_id: &str,
) -> StoreResult<bool> {
    let op = "claim unique value";
    let inserted = tx
        .prepare_cached(
            "INSERT INTO unique_values (collection_id, field, value, record_id) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )
        .and_then(|mut st| st.execute(params![collection_id, key.field, key.value, record_id]))
        .map_err(fail(op))?;
    if inserted == 1 {
        return Ok(true);
    }
    let owner: Option<String> = tx
        .prepare_cached(
            "SELECT record_id FROM unique_values \
             WHERE collection_id = ?1 AND field = ?2 AND value = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![collection_id, key.field, key.value], |r| r.get(0))
                .optional()
        })
        .map_err(fail(op))?;
    Ok(owner.as_deref() == Some(record_id))
}

/// Releases `key` if `record_id` owns it (a marker of another record, only
/// possible after a hand edit, is left alone, as DynamoDB's condition does).
fn release(
    tx: &Transaction<'_>,
    collection_id: &str,
    key: &UniqueKey,
    record_id: &str,
) -> StoreResult<()> {
    tx.prepare_cached(
        "DELETE FROM unique_values \
         WHERE collection_id = ?1 AND field = ?2 AND value = ?3 AND record_id = ?4",
    )
    .and_then(|mut st| st.execute(params![collection_id, key.field, key.value, record_id]))
    .map_err(fail("release unique value"))?;
    Ok(())
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn insert_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let record = record.clone();
        let unique = distinct(unique);
        let fields = encode_fields(&record)?;
        let version = version_param(record.version)?;
        self.write("insert record", move |tx| {
            let inserted = tx
                .prepare_cached(&format!(
                    "INSERT INTO records ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING"
                ))
                .and_then(|mut st| {
                    st.execute(params![
                        record.collection_id,
                        record.id,
                        record.email,
                        record.email_visibility,
                        record.verified,
                        record.password_hash,
                        record.token_key,
                        record.created.0,
                        record.updated.0,
                        fields,
                        version,
                    ])
                })
                .map_err(fail("insert record"))?;
            if inserted == 0 {
                return Err(StoreError::Conflict { field: "id".into() });
            }
            for key in &unique {
                if !claim(tx, &record.collection_id, key, &record.id)? {
                    return Err(StoreError::Conflict {
                        field: key.field.clone(),
                    });
                }
            }
            Ok(())
        })
        .await
    }

    async fn get_record(&self, collection_id: &str, id: &str) -> StoreResult<Option<Record>> {
        let (coll, id) = (collection_id.to_owned(), id.to_owned());
        self.read("get record", move |conn| {
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM records WHERE collection_id = ?1 AND id = ?2"
                ))
                .and_then(|mut st| st.query_row(params![coll, id], decode).optional())
                .map_err(fail("get record"))?;
            flatten(found)
        })
        .await
    }

    /// One indexed join whether or not the value is owned, so the answer
    /// time does not tell which emails have accounts.
    async fn find_record_by_unique(
        &self,
        collection_id: &str,
        key: &UniqueKey,
    ) -> StoreResult<Option<Record>> {
        let (coll, key) = (collection_id.to_owned(), key.clone());
        self.read("find record by unique value", move |conn| {
            let columns = COLUMNS
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {columns} FROM unique_values u \
                     JOIN records r ON r.collection_id = u.collection_id AND r.id = u.record_id \
                     WHERE u.collection_id = ?1 AND u.field = ?2 AND u.value = ?3"
                ))
                .and_then(|mut st| {
                    st.query_row(params![coll, key.field, key.value], decode)
                        .optional()
                })
                .map_err(fail("find record by unique value"))?;
            flatten(found)
        })
        .await
    }

    async fn update_record(
        &self,
        old: &Record,
        new: &Record,
        old_unique: &[UniqueKey],
        new_unique: &[UniqueKey],
    ) -> StoreResult<()> {
        let claims: Vec<UniqueKey> = distinct(new_unique)
            .into_iter()
            .filter(|k| !old_unique.contains(k))
            .collect();
        let releases: Vec<UniqueKey> = distinct(old_unique)
            .into_iter()
            .filter(|k| !new_unique.contains(k))
            .collect();
        let (coll, id) = (old.collection_id.clone(), old.id.clone());
        let old_version = version_param(old.version)?;
        let new = new.clone();
        let fields = encode_fields(&new)?;
        let new_version = version_param(new.version)?;
        self.write("update record", move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE records SET email = ?3, email_visibility = ?4, verified = ?5, \
                     password_hash = ?6, token_key = ?7, created = ?8, updated = ?9, \
                     fields = ?10, version = ?11 \
                     WHERE collection_id = ?1 AND id = ?2 AND version = ?12",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        coll,
                        id,
                        new.email,
                        new.email_visibility,
                        new.verified,
                        new.password_hash,
                        new.token_key,
                        new.created.0,
                        new.updated.0,
                        fields,
                        new_version,
                        old_version,
                    ])
                })
                .map_err(fail("update record"))?;
            if changed == 0 {
                return Err(StoreError::Stale);
            }
            for key in &claims {
                if !claim(tx, &coll, key, &id)? {
                    return Err(StoreError::Conflict {
                        field: key.field.clone(),
                    });
                }
            }
            for key in &releases {
                release(tx, &coll, key, &id)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let (coll, id) = (record.collection_id.clone(), record.id.clone());
        let version = version_param(record.version)?;
        let unique = distinct(unique);
        self.write("delete record", move |tx| {
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM records WHERE collection_id = ?1 AND id = ?2 AND version = ?3",
                )
                .and_then(|mut st| st.execute(params![coll, id, version]))
                .map_err(fail("delete record"))?;
            if deleted == 0 {
                return Err(StoreError::Stale);
            }
            for key in &unique {
                release(tx, &coll, key, &id)?;
            }
            // Whatever else still names the record would be an orphan (and
            // fail the foreign key at commit): it goes too.
            tx.prepare_cached(
                "DELETE FROM unique_values WHERE collection_id = ?1 AND record_id = ?2",
            )
            .and_then(|mut st| st.execute(params![coll, id]))
            .map_err(fail("delete record"))?;
            // And its OAuth2 links, in the same transaction.
            tx.prepare_cached(
                "DELETE FROM external_auths WHERE collection_id = ?1 AND record_id = ?2",
            )
            .and_then(|mut st| st.execute(params![coll, id]))
            .map_err(fail("delete record"))?;
            Ok(())
        })
        .await
    }
}
