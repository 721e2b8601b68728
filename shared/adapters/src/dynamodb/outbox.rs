//! The outbox on DynamoDB: one item per pending mail (`OUTBOX#<id>`), in the
//! table's stream for the `mailer` function. Claims are conditional
//! `UpdateItem`s, so of two senders given one mail one sends it.

use async_trait::async_trait;
use authgate_core::model::{MailFlow, Otp, OutboxItem, Timestamp};
use authgate_core::ports::{OutboxStore, StoreError, StoreResult};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::{get_n, get_s, n, s, ttl_seconds};
use super::keys::OUTBOX;
use super::{condition_held, sdk_error, DynamoStore, Item, TTL_ATTRIBUTE};

/// When a sender claimed the item (epoch ms); absent while it waits.
const CLAIMED_AT: &str = "claimedAt";

fn encode(store: &DynamoStore, m: &OutboxItem) -> StoreResult<Item> {
    let flow = serde_json::to_value(m.flow)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| StoreError::Backend("mail flow has no name".into()))?;
    let mut item = store.outbox_key(&m.id);
    item.extend([
        ("id".to_owned(), s(&m.id)),
        ("collectionId".to_owned(), s(&m.collection_id)),
        ("flow".to_owned(), s(flow)),
        ("sealed".to_owned(), s(&m.sealed)),
        ("decoy".to_owned(), AttributeValue::Bool(m.decoy)),
        ("created".to_owned(), n(m.created.0)),
        (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(m.expires_at))),
    ]);
    Ok(item)
}

/// An outbox item from its stored form (also what the stream's new image
/// holds).
fn decode_outbox(item: &Item) -> StoreResult<OutboxItem> {
    let flow: MailFlow = serde_json::from_value(serde_json::Value::String(get_s(item, "flow")?))
        .map_err(|_| StoreError::Backend("stored mail flow is unknown".into()))?;
    let expires: i64 = get_n(item, TTL_ATTRIBUTE)?;
    Ok(OutboxItem {
        id: get_s(item, "id")?,
        collection_id: get_s(item, "collectionId")?,
        flow,
        sealed: get_s(item, "sealed")?,
        decoy: matches!(item.get("decoy"), Some(AttributeValue::Bool(true))),
        created: Timestamp(get_n(item, "created")?),
        expires_at: Timestamp(expires.saturating_mul(1000)),
    })
}

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn enqueue_mail(&self, item: &OutboxItem) -> StoreResult<()> {
        self.put_item("PutItem(outbox)", encode(self, item)?).await
    }

    async fn insert_otp_with_mail(&self, otp: &Otp, item: &OutboxItem) -> StoreResult<()> {
        let items = vec![
            self.put(self.single_use_item(otp), None)?,
            self.put(encode(self, item)?, None)?,
        ];
        match self
            .transact("TransactWriteItems(otp + outbox)", items)
            .await?
        {
            None => Ok(()),
            Some(codes) => Err(StoreError::Backend(format!(
                "OTP and outbox write cancelled: {codes:?}"
            ))),
        }
    }

    async fn get_mail(&self, id: &str) -> StoreResult<Option<OutboxItem>> {
        self.get_item("GetItem(outbox)", self.outbox_key(id))
            .await?
            .map(|item| decode_outbox(&item))
            .transpose()
    }

    async fn claim_mail(&self, id: &str, now: Timestamp, lease_secs: i64) -> StoreResult<bool> {
        let stale = Timestamp(now.0.saturating_sub(lease_secs.saturating_mul(1000)));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.outbox_key(id)))
            .update_expression("SET #c = :now")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#c) OR #c <= :stale)",
            )
            .expression_attribute_names("#c", CLAIMED_AT)
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":stale", n(stale.0))
            .send()
            .await;
        condition_held(
            "UpdateItem(outbox claim)",
            result,
            UpdateItemError::is_conditional_check_failed_exception,
        )
    }

    async fn delete_mail(&self, id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.outbox_key(id)))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem(outbox)", &e))?;
        Ok(())
    }

    async fn release_mail(&self, id: &str) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.outbox_key(id)))
            .update_expression("REMOVE #c")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#c", CLAIMED_AT)
            .send()
            .await;
        condition_held(
            "UpdateItem(outbox release)",
            result,
            UpdateItemError::is_conditional_check_failed_exception,
        )
        .map(drop)
    }

    /// A filtered `Scan`: the local server's poll only (in AWS the table's
    /// stream hands the mailer each new item; nothing scans there).
    async fn pending_mail(&self, limit: usize) -> StoreResult<Vec<String>> {
        let prefix = format!("{}{OUTBOX}", self.prefix);
        let mut found: Vec<(i64, String)> = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", s(&prefix))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Scan(outbox)", &e))?;
            for item in out.items() {
                if let (Ok(id), Ok(created)) = (get_s(item, "id"), get_n::<i64>(item, "created")) {
                    found.push((created, id));
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        found.sort();
        Ok(found.into_iter().take(limit).map(|(_, id)| id).collect())
    }
}
