//! The collections config document: one row, JSON text.

use async_trait::async_trait;
use authgate_core::ports::{ConfigStore, StoreError, StoreResult};
use rusqlite::OptionalExtension;

use super::{fail, SqliteStore};

/// The row's name (room for other documents later).
const COLLECTIONS: &str = "collections";

#[async_trait]
impl ConfigStore for SqliteStore {
    async fn load_config(&self) -> StoreResult<Option<serde_json::Value>> {
        let doc: Option<String> = self
            .read("load config", |conn| {
                conn.query_row(
                    "SELECT doc FROM config WHERE name = ?1",
                    [COLLECTIONS],
                    |r| r.get(0),
                )
                .optional()
                .map_err(fail("load config"))
            })
            .await?;
        doc.map(|d| {
            serde_json::from_str(&d)
                .map_err(|e| StoreError::Backend(format!("stored config is not JSON: {e}")))
        })
        .transpose()
    }

    async fn save_config(&self, config: &serde_json::Value) -> StoreResult<()> {
        let doc = serde_json::to_string(config)
            .map_err(|e| StoreError::Backend(format!("cannot encode config: {e}")))?;
        self.write("save config", move |tx| {
            tx.execute(
                "INSERT INTO config (name, doc) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                [COLLECTIONS, &doc],
            )
            .map_err(fail("save config"))?;
            Ok(())
        })
        .await
    }
}
