//! The outbox: one row per waiting mail, polled by the local sender.
//! Claims are one conditional `UPDATE`, so of two senders one sends.

use async_trait::async_trait;
use authgate_core::model::{MailFlow, Otp, OutboxItem, Timestamp};
use authgate_core::ports::{OutboxStore, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::single_use::Kept;
use super::{fail, SqliteStore};

fn flow_name(flow: MailFlow) -> StoreResult<String> {
    serde_json::to_value(flow)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| StoreError::Backend("mail flow has no name".into()))
}

fn put(conn: &Connection, m: &OutboxItem, flow: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO outbox \
         (id, collection_id, flow, sealed, decoy, created, expires_at, claimed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
    )?
    .execute(params![
        m.id,
        m.collection_id,
        flow,
        m.sealed,
        m.decoy,
        m.created.0,
        m.expires_at.0,
    ])
    .map(drop)
}

fn decode(row: &Row<'_>) -> rusqlite::Result<StoreResult<OutboxItem>> {
    let flow: String = row.get(2)?;
    let Ok(flow) = serde_json::from_value::<MailFlow>(serde_json::Value::String(flow)) else {
        return Ok(Err(StoreError::Backend(
            "stored mail flow is unknown".into(),
        )));
    };
    Ok(Ok(OutboxItem {
        id: row.get(0)?,
        collection_id: row.get(1)?,
        flow,
        sealed: row.get(3)?,
        decoy: row.get(4)?,
        created: Timestamp(row.get(5)?),
        expires_at: Timestamp(row.get(6)?),
    }))
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue_mail(&self, item: &OutboxItem) -> StoreResult<()> {
        let (item, flow) = (item.clone(), flow_name(item.flow)?);
        self.write("enqueue mail", move |tx| {
            put(tx, &item, &flow).map_err(fail("enqueue mail"))
        })
        .await
    }

    async fn insert_otp_with_mail(&self, otp: &Otp, item: &OutboxItem) -> StoreResult<()> {
        let (otp, item, flow) = (otp.clone(), item.clone(), flow_name(item.flow)?);
        self.write("insert OTP with mail", move |tx| {
            otp.put(tx).map_err(fail("insert OTP with mail"))?;
            put(tx, &item, &flow).map_err(fail("insert OTP with mail"))
        })
        .await
    }

    async fn get_mail(&self, id: &str) -> StoreResult<Option<OutboxItem>> {
        let id = id.to_owned();
        self.read("get mail", move |conn| {
            conn.prepare_cached(
                "SELECT id, collection_id, flow, sealed, decoy, created, expires_at \
                 FROM outbox WHERE id = ?1",
            )
            .and_then(|mut st| st.query_row([&id], decode).optional())
            .map_err(fail("get mail"))?
            .transpose()
        })
        .await
    }

    async fn claim_mail(&self, id: &str, now: Timestamp, lease_secs: i64) -> StoreResult<bool> {
        let id = id.to_owned();
        let stale = now.0.saturating_sub(lease_secs.saturating_mul(1000));
        self.write("claim mail", move |tx| {
            let claimed = tx
                .prepare_cached(
                    "UPDATE outbox SET claimed_at = ?2 \
                     WHERE id = ?1 AND (claimed_at IS NULL OR claimed_at <= ?3)",
                )
                .and_then(|mut st| st.execute(params![id, now.0, stale]))
                .map_err(fail("claim mail"))?;
            Ok(claimed == 1)
        })
        .await
    }

    async fn delete_mail(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write("delete mail", move |tx| {
            tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")
                .and_then(|mut st| st.execute([&id]))
                .map_err(fail("delete mail"))?;
            Ok(())
        })
        .await
    }

    async fn release_mail(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write("release mail", move |tx| {
            tx.prepare_cached("UPDATE outbox SET claimed_at = NULL WHERE id = ?1")
                .and_then(|mut st| st.execute([&id]))
                .map_err(fail("release mail"))?;
            Ok(())
        })
        .await
    }

    async fn pending_mail(&self, limit: usize) -> StoreResult<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("pending mail", move |conn| {
            conn.prepare_cached("SELECT id FROM outbox ORDER BY created, seq LIMIT ?1")
                .and_then(|mut st| {
                    st.query_map([limit], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .map_err(fail("pending mail"))
        })
        .await
    }
}
