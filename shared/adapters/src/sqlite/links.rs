//! OAuth2 identity links: one row per provider identity, its primary key
//! linking the identity to one record; an index by record lists a record's
//! links.

use async_trait::async_trait;
use authgate_core::model::{ExternalAuth, Timestamp};
use authgate_core::ports::{ExternalAuthStore, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Row};

use super::{fail, SqliteStore};

const COLUMNS: &str = "collection_id, record_id, provider, provider_id, created";

fn decode(row: &Row<'_>) -> rusqlite::Result<ExternalAuth> {
    Ok(ExternalAuth {
        collection_id: row.get(0)?,
        record_id: row.get(1)?,
        provider: row.get(2)?,
        provider_id: row.get(3)?,
        created: Timestamp(row.get(4)?),
    })
}

#[async_trait]
impl ExternalAuthStore for SqliteStore {
    async fn find_external_auth(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> StoreResult<Option<ExternalAuth>> {
        let key = (
            collection_id.to_owned(),
            provider.to_owned(),
            provider_id.to_owned(),
        );
        self.read("find external auth", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM external_auths \
                 WHERE collection_id = ?1 AND provider = ?2 AND provider_id = ?3"
            ))
            .and_then(|mut st| {
                st.query_row(params![key.0, key.1, key.2], decode)
                    .optional()
            })
            .map_err(fail("find external auth"))
        })
        .await
    }

    async fn insert_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        let link = link.clone();
        self.write("insert external auth", move |tx| {
            let inserted = tx
                .prepare_cached(&format!(
                    "INSERT INTO external_auths ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT DO NOTHING"
                ))
                .and_then(|mut st| {
                    st.execute(params![
                        link.collection_id,
                        link.record_id,
                        link.provider,
                        link.provider_id,
                        link.created.0,
                    ])
                })
                .map_err(fail("insert external auth"))?;
            if inserted == 0 {
                return Err(StoreError::Conflict {
                    field: "provider".into(),
                });
            }
            Ok(())
        })
        .await
    }

    async fn list_external_auths(
        &self,
        collection_id: &str,
        record_id: &str,
    ) -> StoreResult<Vec<ExternalAuth>> {
        let (coll, record_id) = (collection_id.to_owned(), record_id.to_owned());
        self.read("list external auths", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM external_auths WHERE collection_id = ?1 AND record_id = ?2 \
                 ORDER BY provider, provider_id"
            ))
            .and_then(|mut st| {
                st.query_map(params![coll, record_id], decode)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(fail("list external auths"))
        })
        .await
    }

    /// Only if the identity is still linked to `link.record_id`, so a stale
    /// `link` cannot unlink someone else (as DynamoDB's condition).
    async fn delete_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        let link = link.clone();
        self.write("delete external auth", move |tx| {
            tx.prepare_cached(
                "DELETE FROM external_auths \
                 WHERE collection_id = ?1 AND provider = ?2 AND provider_id = ?3 AND record_id = ?4",
            )
            .and_then(|mut st| {
                st.execute(params![
                    link.collection_id,
                    link.provider,
                    link.provider_id,
                    link.record_id,
                ])
            })
            .map_err(fail("delete external auth"))?;
            Ok(())
        })
        .await
    }
}
