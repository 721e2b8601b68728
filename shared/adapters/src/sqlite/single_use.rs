//! OTPs and MFA sessions on SQLite: stored with one upsert, read by key
//! (expired ones too: the services check expiry), consumed with one
//! conditional `DELETE` whose `WHERE` checks the guard and the expiry, so of
//! concurrent consumers exactly one deletes the row.

use authgate_core::model::{AuthMethod, MfaSession, Otp, Timestamp};
use authgate_core::ports::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{fail, SqliteStore};
use crate::single_use::{single_use_ports, SingleUseItem};

/// How one kind of single-use item maps to its table.
pub(super) trait Kept: SingleUseItem + Clone + Send + Sized + 'static {
    const TABLE: &'static str;
    /// The column [`crate::single_use::Slot::guard`] is stored in.
    const GUARD: &'static str;
    /// Upserts the item.
    fn put(&self, conn: &Connection) -> rusqlite::Result<()>;
    /// `SELECT *` of the item's table, by key.
    fn decode(row: &Row<'_>) -> rusqlite::Result<StoreResult<Self>>;
}

impl Kept for Otp {
    const TABLE: &'static str = "otps";
    const GUARD: &'static str = "code_hash";

    fn put(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO otps \
             (collection_id, id, record_id, code_hash, sent_to, created, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            self.collection_id,
            self.id,
            self.record_id,
            self.code_hash,
            self.sent_to,
            self.created.0,
            self.expires_at.0,
        ])
        .map(drop)
    }

    fn decode(row: &Row<'_>) -> rusqlite::Result<StoreResult<Self>> {
        Ok(Ok(Otp {
            collection_id: row.get("collection_id")?,
            id: row.get("id")?,
            record_id: row.get("record_id")?,
            code_hash: row.get("code_hash")?,
            sent_to: row.get("sent_to")?,
            created: Timestamp(row.get("created")?),
            expires_at: Timestamp(row.get("expires_at")?),
        }))
    }
}

impl Kept for MfaSession {
    const TABLE: &'static str = "mfa_sessions";
    const GUARD: &'static str = "record_id";

    fn put(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO mfa_sessions \
             (collection_id, id, record_id, method, created, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            self.collection_id,
            self.id,
            self.record_id,
            self.method.as_str(),
            self.created.0,
            self.expires_at.0,
        ])
        .map(drop)
    }

    fn decode(row: &Row<'_>) -> rusqlite::Result<StoreResult<Self>> {
        let method: String = row.get("method")?;
        let Some(method) = AuthMethod::parse(&method) else {
            return Ok(Err(StoreError::Backend(format!(
                "stored MFA method {method:?} is unknown"
            ))));
        };
        Ok(Ok(MfaSession {
            collection_id: row.get("collection_id")?,
            id: row.get("id")?,
            record_id: row.get("record_id")?,
            method,
            created: Timestamp(row.get("created")?),
            expires_at: Timestamp(row.get("expires_at")?),
        }))
    }
}

impl SqliteStore {
    async fn insert_single_use<T: Kept>(&self, item: &T) -> StoreResult<()> {
        let item = item.clone();
        self.write(T::TABLE, move |tx| item.put(tx).map_err(fail(T::TABLE)))
            .await
    }

    async fn get_single_use<T: Kept>(
        &self,
        collection_id: &str,
        id: &str,
    ) -> StoreResult<Option<T>> {
        let (coll, id) = (collection_id.to_owned(), id.to_owned());
        self.read(T::TABLE, move |conn| {
            conn.prepare_cached(&format!(
                "SELECT * FROM {} WHERE collection_id = ?1 AND id = ?2",
                T::TABLE
            ))
            .and_then(|mut st| st.query_row(params![coll, id], T::decode).optional())
            .map_err(fail(T::TABLE))?
            .transpose()
        })
        .await
    }

    async fn consume_single_use<T: Kept>(
        &self,
        collection_id: &str,
        id: &str,
        guard: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (coll, id, guard) = (collection_id.to_owned(), id.to_owned(), guard.to_owned());
        self.write(T::TABLE, move |tx| {
            let deleted = tx
                .prepare_cached(&format!(
                    "DELETE FROM {} WHERE collection_id = ?1 AND id = ?2 AND {} = ?3 \
                     AND expires_at > ?4",
                    T::TABLE,
                    T::GUARD
                ))
                .and_then(|mut st| st.execute(params![coll, id, guard, now.0]))
                .map_err(fail(T::TABLE))?;
            Ok(deleted == 1)
        })
        .await
    }
}

single_use_ports!(SqliteStore);
