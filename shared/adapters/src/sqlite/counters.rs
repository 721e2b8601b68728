//! Fixed-window counters: one row per key, read and changed inside the
//! writer's transaction, so concurrent hits are counted exactly. Window
//! semantics as in the memory and DynamoDB stores: a window starts at the
//! first hit after the previous one ended and lasts `window_secs`.

use async_trait::async_trait;
use authgate_core::model::{CounterKey, Timestamp};
use authgate_core::ports::{CounterStore, StoreResult};
use rusqlite::{params, OptionalExtension};

use super::{fail, SqliteStore};

#[async_trait]
impl CounterStore for SqliteStore {
    async fn hit(
        &self,
        key: &CounterKey<'_>,
        limit: u32,
        window_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let key = key.storage_key();
        self.write("counter hit", move |tx| {
            let op = fail("counter hit");
            let current: Option<(i64, i64)> = tx
                .prepare_cached("SELECT hits, window_end FROM counters WHERE key = ?1")
                .and_then(|mut st| {
                    st.query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(&op)?;
            match current {
                Some((hits, window_end)) if window_end > now.0 => {
                    if hits >= i64::from(limit) {
                        return Ok(false);
                    }
                    tx.prepare_cached("UPDATE counters SET hits = hits + 1 WHERE key = ?1")
                        .and_then(|mut st| st.execute([&key]))
                        .map_err(&op)?;
                    Ok(true)
                }
                // No live window: this hit starts one.
                _ => {
                    tx.prepare_cached(
                        "INSERT INTO counters (key, hits, window_end) VALUES (?1, 1, ?2) \
                         ON CONFLICT (key) DO UPDATE SET hits = 1, window_end = excluded.window_end",
                    )
                    .and_then(|mut st| st.execute(params![key, now.plus_secs(window_secs).0]))
                    .map_err(&op)?;
                    Ok(limit >= 1)
                }
            }
        })
        .await
    }

    async fn give_back(&self, key: &CounterKey<'_>, now: Timestamp) -> StoreResult<()> {
        let key = key.storage_key();
        self.write("counter give back", move |tx| {
            tx.prepare_cached(
                "UPDATE counters SET hits = hits - 1 \
                 WHERE key = ?1 AND window_end > ?2 AND hits > 0",
            )
            .and_then(|mut st| st.execute(params![key, now.0]))
            .map_err(fail("counter give back"))?;
            Ok(())
        })
        .await
    }

    async fn clear(&self, key: &CounterKey<'_>) -> StoreResult<()> {
        let key = key.storage_key();
        self.write("counter clear", move |tx| {
            tx.prepare_cached("DELETE FROM counters WHERE key = ?1")
                .and_then(|mut st| st.execute([&key]))
                .map_err(fail("counter clear"))?;
            Ok(())
        })
        .await
    }
}
