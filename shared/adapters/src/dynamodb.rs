//! The production store: every port on one DynamoDB table.
//!
//! The item design, access patterns and round trips per endpoint are written
//! down in `docs/dynamodb.md`; keep the two in step. In short: string keys
//! `pk` (hash) and `sk` (range), TTL attribute `expiresAt` (epoch seconds),
//! unique values enforced by marker items claimed in the same
//! `TransactWriteItems` as the record, single-use secrets consumed with one
//! conditional `DeleteItem`, and never a `Scan`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use authgate_core::model::{
    AuthMethod, CounterKey, ExternalAuth, MfaSession, Otp, Record, Timestamp, UniqueKey,
};
use authgate_core::ports::{
    ConfigStore, CounterStore, ExternalAuthStore, MfaStore, OtpStore, RecordStore, StoreError,
    StoreResult,
};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

type Item = HashMap<String, AttributeValue>;

/// Name of the TTL attribute (epoch seconds) that DynamoDB garbage-collects on.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// Unique values longer than this are replaced by their SHA-256 in marker keys,
/// because a DynamoDB partition key may not exceed 2048 bytes.
const MAX_INLINE_UNIQUE_VALUE: usize = 1024;

/// How often a transaction cancelled only by `TransactionConflict` (another
/// transaction touching the same item at that instant) is retried. The SDK
/// does not retry those by itself.
const TRANSACTION_ATTEMPTS: u32 = 4;

/// DynamoDB implementation of every store port (see the module docs).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    prefix: String,
}

impl DynamoStore {
    /// A store on `table`, with no key prefix.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            prefix: String::new(),
        }
    }

    /// Prepends `prefix` to every partition key, so that independent tests
    /// can share one table without seeing each other's items.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing, `pk`/`sk` string keys) and
    /// enables TTL on `expiresAt`. Idempotent: an existing table or an already
    /// enabled TTL is fine. Waits until the table is active.
    pub async fn create_table(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(build_error)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await;
        if let Err(err) = created {
            let in_use = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !in_use {
                return Err(sdk_error("CreateTable", &err));
            }
        }

        // Real DynamoDB takes a few seconds to create a table; TTL can only be
        // set on an active one.
        let mut active = false;
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeTable", &e))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                active = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !active {
            return Err(StoreError::Backend(format!(
                "table {} did not become active within 60 s",
                self.table
            )));
        }

        // UpdateTimeToLive fails when TTL is already enabled, so look first.
        let ttl = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTimeToLive", &e))?;
        let status = ttl
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(TTL_ATTRIBUTE)
            .build()
            .map_err(build_error)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateTimeToLive", &e))?;
        Ok(())
    }

    fn pk(&self, rest: &str) -> String {
        format!("{}{}", self.prefix, rest)
    }

    fn key(&self, pk_rest: &str, sk: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(self.pk(pk_rest))),
            ("sk".to_owned(), s(sk)),
        ])
    }

    fn record_key(&self, collection_id: &str, id: &str) -> Item {
        self.key(&format!("REC#{collection_id}#{id}"), "REC")
    }

    fn unique_key(&self, collection_id: &str, key: &UniqueKey) -> Item {
        let value = if key.value.len() > MAX_INLINE_UNIQUE_VALUE {
            format!("sha256:{}", hex(&Sha256::digest(key.value.as_bytes())))
        } else {
            key.value.clone()
        };
        self.key(&format!("UNQ#{collection_id}#{}#{value}", key.field), "UNQ")
    }

    fn otp_key(&self, collection_id: &str, id: &str) -> Item {
        self.key(&format!("OTP#{collection_id}#{id}"), "OTP")
    }

    fn mfa_key(&self, collection_id: &str, id: &str) -> Item {
        self.key(&format!("MFA#{collection_id}#{id}"), "MFA")
    }

    fn external_key(&self, collection_id: &str, provider: &str, provider_id: &str) -> Item {
        self.key(
            &format!("EXT#{collection_id}#{provider}#{provider_id}"),
            "EXT",
        )
    }

    fn record_external_pk(&self, collection_id: &str, record_id: &str) -> String {
        self.pk(&format!("RECEXT#{collection_id}#{record_id}"))
    }

    fn record_external_key(&self, link: &ExternalAuth) -> Item {
        HashMap::from([
            (
                "pk".to_owned(),
                s(self.record_external_pk(&link.collection_id, &link.record_id)),
            ),
            (
                "sk".to_owned(),
                s(format!("{}#{}", link.provider, link.provider_id)),
            ),
        ])
    }

    /// Strongly consistent `GetItem`.
    async fn get_item(&self, op: &str, key: Item) -> StoreResult<Option<Item>> {
        // DynamoDB rejects partition keys over 2048 bytes with a validation
        // error; such a key cannot name a stored item, so it reads as absent
        // instead of surfacing as a backend failure.
        if key
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .is_some_and(|pk| pk.len() > MAX_PARTITION_KEY_BYTES)
        {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(op, &e))?;
        Ok(out.item)
    }

    async fn put_item(&self, op: &str, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error(op, &e))?;
        Ok(())
    }

    /// Runs one `TransactWriteItems`. Returns `None` on success, or the
    /// cancellation reason code of every item when a condition failed.
    async fn transact(
        &self,
        op: &str,
        items: Vec<TransactWriteItem>,
    ) -> StoreResult<Option<Vec<Option<String>>>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            let codes: Vec<Option<String>> = match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                    cancelled,
                )) => cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().filter(|c| *c != "None").map(str::to_owned))
                    .collect(),
                _ => return Err(sdk_error(op, &err)),
            };
            let has = |code: &str| codes.iter().any(|c| c.as_deref() == Some(code));
            if has("ConditionalCheckFailed") {
                return Ok(Some(codes));
            }
            if has("TransactionConflict") && attempt < TRANSACTION_ATTEMPTS {
                // Another transaction held one of the items; it will be done
                // within milliseconds.
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                continue;
            }
            return Err(sdk_error(op, &err));
        }
    }

    fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<TransactWriteItem> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put
                .condition_expression(c.expression)
                .set_expression_attribute_names(c.names)
                .set_expression_attribute_values(c.values);
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    fn delete(&self, key: Item, condition: Option<Condition>) -> StoreResult<TransactWriteItem> {
        let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key));
        if let Some(c) = condition {
            delete = delete
                .condition_expression(c.expression)
                .set_expression_attribute_names(c.names)
                .set_expression_attribute_values(c.values);
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(build_error)?)
            .build())
    }

    fn marker_item(&self, collection_id: &str, key: &UniqueKey, record_id: &str) -> Item {
        let mut item = self.unique_key(collection_id, key);
        item.insert("recordId".into(), s(record_id));
        item.insert("field".into(), s(&key.field));
        item.insert("value".into(), s(&key.value));
        item
    }

    fn record_item(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<Item> {
        let fields = serde_json::to_string(&record.fields)
            .map_err(|e| StoreError::Backend(format!("cannot encode record fields: {e}")))?;
        let mut item = self.record_key(&record.collection_id, &record.id);
        item.extend([
            ("id".to_owned(), s(&record.id)),
            ("collectionId".to_owned(), s(&record.collection_id)),
            ("email".to_owned(), s(&record.email)),
            (
                "emailVisibility".to_owned(),
                AttributeValue::Bool(record.email_visibility),
            ),
            ("verified".to_owned(), AttributeValue::Bool(record.verified)),
            ("passwordHash".to_owned(), s(&record.password_hash)),
            ("tokenKey".to_owned(), s(&record.token_key)),
            ("created".to_owned(), n(record.created.0)),
            ("updated".to_owned(), n(record.updated.0)),
            ("fields".to_owned(), s(fields)),
            ("version".to_owned(), n(record.version)),
            (
                "uniqueKeys".to_owned(),
                AttributeValue::L(
                    unique
                        .iter()
                        .map(|k| {
                            AttributeValue::M(HashMap::from([
                                ("field".to_owned(), s(&k.field)),
                                ("value".to_owned(), s(&k.value)),
                            ]))
                        })
                        .collect(),
                ),
            ),
        ]);
        Ok(item)
    }
}

/// A condition expression with its placeholders.
#[derive(Clone)]
struct Condition {
    expression: String,
    names: Option<HashMap<String, String>>,
    values: Option<Item>,
}

impl Condition {
    fn new(expression: &str) -> Self {
        Self {
            expression: expression.to_owned(),
            names: None,
            values: None,
        }
    }

    fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names
            .get_or_insert_with(HashMap::new)
            .insert(placeholder.to_owned(), name.to_owned());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values
            .get_or_insert_with(HashMap::new)
            .insert(placeholder.to_owned(), value);
        self
    }
}

fn not_exists() -> Condition {
    Condition::new("attribute_not_exists(pk)")
}

/// A marker that is absent or already ours (re-claiming is a no-op).
fn free_or_owned_by(record_id: &str) -> Condition {
    Condition::new("attribute_not_exists(pk) OR recordId = :rid").value(":rid", s(record_id))
}

/// Keeps the first occurrence of each key: a transaction may not touch one
/// item twice.
fn dedup(keys: &[UniqueKey]) -> Vec<&UniqueKey> {
    let mut out: Vec<&UniqueKey> = Vec::with_capacity(keys.len());
    for k in keys {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

fn failed_at(codes: &[Option<String>]) -> Option<usize> {
    codes
        .iter()
        .position(|c| c.as_deref() == Some("ConditionalCheckFailed"))
}

#[async_trait]
impl RecordStore for DynamoStore {
    async fn insert_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let unique = dedup(unique);
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
                Some(i) => Err(StoreError::Conflict {
                    field: unique
                        .get(i - 1)
                        .map(|k| k.field.clone())
                        .unwrap_or_default(),
                }),
                None => Err(StoreError::Backend(format!(
                    "insert record transaction cancelled: {codes:?}"
                ))),
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
        let Some(marker) = self
            .get_item(
                "GetItem(unique marker)",
                self.unique_key(collection_id, key),
            )
            .await?
        else {
            return Ok(None);
        };
        let record_id = get_s(&marker, "recordId")?;
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
        let claims: Vec<&UniqueKey> = dedup(new_unique)
            .into_iter()
            .filter(|k| !old_unique.contains(k))
            .collect();
        let mut releases: Vec<&UniqueKey> = dedup(old_unique)
            .into_iter()
            .filter(|k| !new_unique.contains(k))
            .collect();
        let stored_unique: Vec<UniqueKey> = dedup(new_unique).into_iter().cloned().collect();
        let version_matches = Condition::new("#v = :old")
            .name("#v", "version")
            .value(":old", n(old.version));

        // A released marker that belongs to another record (only possible if
        // the table was edited by hand) is left alone, as the in-memory store
        // does: the transaction is retried without it. Bounded by the number
        // of releases.
        loop {
            let mut items = vec![self.put(
                self.record_item(new, &stored_unique)?,
                Some(version_matches.clone()),
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
            match failed_at(&codes) {
                Some(0) => return Err(StoreError::Stale),
                Some(i) if i <= claims.len() => {
                    return Err(StoreError::Conflict {
                        field: claims
                            .get(i - 1)
                            .map(|k| k.field.clone())
                            .unwrap_or_default(),
                    })
                }
                Some(i) => {
                    let release = i - 1 - claims.len();
                    if release >= releases.len() {
                        return Err(StoreError::Backend(format!(
                            "update record transaction cancelled: {codes:?}"
                        )));
                    }
                    releases.remove(release);
                }
                None => {
                    return Err(StoreError::Backend(format!(
                        "update record transaction cancelled: {codes:?}"
                    )))
                }
            }
        }
    }

    async fn delete_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let coll = &record.collection_id;
        let version_matches = Condition::new("#v = :old")
            .name("#v", "version")
            .value(":old", n(record.version));
        let mut items =
            vec![self.delete(self.record_key(coll, &record.id), Some(version_matches))?];
        for key in dedup(unique) {
            items.push(self.delete(
                self.unique_key(coll, key),
                Some(free_or_owned_by(&record.id)),
            )?);
        }
        match self
            .transact("TransactWriteItems(delete record)", items)
            .await?
        {
            None => Ok(()),
            Some(codes) if failed_at(&codes) == Some(0) => Err(StoreError::Stale),
            Some(codes) => Err(StoreError::Backend(format!(
                "delete record transaction cancelled: {codes:?}"
            ))),
        }
    }
}

/// DynamoDB's limit on partition key values.
const MAX_PARTITION_KEY_BYTES: usize = 2048;

/// Outcome of the counter's increment attempt.
enum Increment {
    Counted,
    Exceeded,
    NoLiveWindow,
}

impl DynamoStore {
    /// `hits + 1` if the window is live and below the limit. On failure the
    /// old item (returned by DynamoDB with the condition failure) tells an
    /// exhausted window from a missing or expired one without another read.
    async fn counter_increment(
        &self,
        pk: &str,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<Increment> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s("CNT"))
            .update_expression("SET #h = #h + :one")
            .condition_expression("#we > :now AND #h < :limit")
            .expression_attribute_names("#h", "hits")
            .expression_attribute_names("#we", "windowEnd")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":limit", n(limit))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Increment::Counted),
            Err(err) => err,
        };
        let Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) =
            err.as_service_error()
        else {
            return Err(sdk_error("UpdateItem(counter increment)", &err));
        };
        let live = failed
            .item()
            .and_then(|old| old.get("windowEnd"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|window_end| window_end > now.0);
        Ok(if live {
            Increment::Exceeded
        } else {
            Increment::NoLiveWindow
        })
    }

    /// Starts a new window with this hit as its first, unless another caller
    /// has just started one.
    async fn counter_start(&self, pk: &str, window_secs: i64, now: Timestamp) -> StoreResult<bool> {
        let window_end = now.plus_secs(window_secs);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s("CNT"))
            .update_expression("SET #h = :one, #we = :end, #exp = :ttl")
            .condition_expression("attribute_not_exists(pk) OR #we <= :now")
            .expression_attribute_names("#h", "hits")
            .expression_attribute_names("#we", "windowEnd")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":end", n(window_end.0))
            .expression_attribute_values(":ttl", n(ttl_seconds(window_end)))
            .expression_attribute_values(":now", n(now.0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(sdk_error("UpdateItem(counter start)", &err)),
        }
    }
}

#[async_trait]
impl CounterStore for DynamoStore {
    async fn hit(
        &self,
        key: &CounterKey<'_>,
        limit: u32,
        window_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let pk = self.pk(&format!("CNT#{}", key.storage_key()));
        // Two rounds: a window can be started by someone else between our
        // failed increment and our start attempt; then we count against it.
        for _ in 0..2 {
            match self.counter_increment(&pk, limit, now).await? {
                Increment::Counted => return Ok(true),
                Increment::Exceeded => return Ok(false),
                Increment::NoLiveWindow => {}
            }
            if self.counter_start(&pk, window_secs, now).await? {
                return Ok(limit >= 1);
            }
        }
        // Still racing after two rounds: the window is busy; denying is the
        // safe answer for a rate limit.
        Ok(false)
    }
}

/// Deletes `key` if `condition` holds: `true` when deleted, `false` when the
/// condition failed (already consumed, wrong code, expired, …).
impl DynamoStore {
    async fn conditional_delete(
        &self,
        op: &str,
        key: Item,
        condition: Condition,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(condition.names)
            .set_expression_attribute_values(condition.values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(sdk_error(op, &err)),
        }
    }
}

#[async_trait]
impl OtpStore for DynamoStore {
    async fn insert_otp(&self, otp: &Otp) -> StoreResult<()> {
        let mut item = self.otp_key(&otp.collection_id, &otp.id);
        item.extend([
            ("id".to_owned(), s(&otp.id)),
            ("collectionId".to_owned(), s(&otp.collection_id)),
            ("recordId".to_owned(), s(&otp.record_id)),
            ("codeHash".to_owned(), s(&otp.code_hash)),
            ("sentTo".to_owned(), s(&otp.sent_to)),
            ("created".to_owned(), n(otp.created.0)),
            ("expiresAtMs".to_owned(), n(otp.expires_at.0)),
            (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(otp.expires_at))),
        ]);
        self.put_item("PutItem(otp)", item).await
    }

    async fn get_otp(&self, collection_id: &str, id: &str) -> StoreResult<Option<Otp>> {
        let Some(item) = self
            .get_item("GetItem(otp)", self.otp_key(collection_id, id))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Otp {
            id: get_s(&item, "id")?,
            collection_id: get_s(&item, "collectionId")?,
            record_id: get_s(&item, "recordId")?,
            code_hash: get_s(&item, "codeHash")?,
            sent_to: get_s(&item, "sentTo")?,
            created: Timestamp(get_n(&item, "created")?),
            expires_at: Timestamp(get_n(&item, "expiresAtMs")?),
        }))
    }

    async fn consume_otp(
        &self,
        collection_id: &str,
        id: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // The emulators (and DynamoDB for up to days) keep expired items, so
        // expiry is part of the condition, not left to TTL.
        let condition =
            Condition::new("attribute_exists(pk) AND codeHash = :h AND expiresAtMs > :now")
                .value(":h", s(code_hash))
                .value(":now", n(now.0));
        self.conditional_delete(
            "DeleteItem(otp)",
            self.otp_key(collection_id, id),
            condition,
        )
        .await
    }
}

#[async_trait]
impl MfaStore for DynamoStore {
    async fn insert_mfa(&self, session: &MfaSession) -> StoreResult<()> {
        let mut item = self.mfa_key(&session.collection_id, &session.id);
        item.extend([
            ("id".to_owned(), s(&session.id)),
            ("collectionId".to_owned(), s(&session.collection_id)),
            ("recordId".to_owned(), s(&session.record_id)),
            ("method".to_owned(), s(session.method.as_str())),
            ("created".to_owned(), n(session.created.0)),
            ("expiresAtMs".to_owned(), n(session.expires_at.0)),
            (TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(session.expires_at))),
        ]);
        self.put_item("PutItem(mfa)", item).await
    }

    async fn get_mfa(&self, collection_id: &str, id: &str) -> StoreResult<Option<MfaSession>> {
        let Some(item) = self
            .get_item("GetItem(mfa)", self.mfa_key(collection_id, id))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(MfaSession {
            id: get_s(&item, "id")?,
            collection_id: get_s(&item, "collectionId")?,
            record_id: get_s(&item, "recordId")?,
            method: AuthMethod::parse(&get_s(&item, "method")?)
                .ok_or_else(|| malformed("method"))?,
            created: Timestamp(get_n(&item, "created")?),
            expires_at: Timestamp(get_n(&item, "expiresAtMs")?),
        }))
    }

    async fn consume_mfa(
        &self,
        collection_id: &str,
        id: &str,
        record_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let condition =
            Condition::new("attribute_exists(pk) AND recordId = :rid AND expiresAtMs > :now")
                .value(":rid", s(record_id))
                .value(":now", n(now.0));
        self.conditional_delete(
            "DeleteItem(mfa)",
            self.mfa_key(collection_id, id),
            condition,
        )
        .await
    }
}

fn external_attributes(link: &ExternalAuth) -> [(String, AttributeValue); 5] {
    [
        ("collectionId".to_owned(), s(&link.collection_id)),
        ("recordId".to_owned(), s(&link.record_id)),
        ("provider".to_owned(), s(&link.provider)),
        ("providerId".to_owned(), s(&link.provider_id)),
        ("created".to_owned(), n(link.created.0)),
    ]
}

fn decode_external(item: &Item) -> StoreResult<ExternalAuth> {
    Ok(ExternalAuth {
        collection_id: get_s(item, "collectionId")?,
        record_id: get_s(item, "recordId")?,
        provider: get_s(item, "provider")?,
        provider_id: get_s(item, "providerId")?,
        created: Timestamp(get_n(item, "created")?),
    })
}

#[async_trait]
impl ExternalAuthStore for DynamoStore {
    async fn find_external_auth(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> StoreResult<Option<ExternalAuth>> {
        self.get_item(
            "GetItem(external auth)",
            self.external_key(collection_id, provider, provider_id),
        )
        .await?
        .map(|item| decode_external(&item))
        .transpose()
    }

    async fn insert_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        let mut by_identity =
            self.external_key(&link.collection_id, &link.provider, &link.provider_id);
        by_identity.extend(external_attributes(link));
        let mut by_record = self.record_external_key(link);
        by_record.extend(external_attributes(link));
        let items = vec![
            self.put(by_identity, Some(not_exists()))?,
            self.put(by_record, None)?,
        ];
        match self
            .transact("TransactWriteItems(insert external auth)", items)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict {
                field: "provider".into(),
            }),
        }
    }

    async fn list_external_auths(
        &self,
        collection_id: &str,
        record_id: &str,
    ) -> StoreResult<Vec<ExternalAuth>> {
        let mut links = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    s(self.record_external_pk(collection_id, record_id)),
                )
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query(external auths of record)", &e))?;
            for item in out.items() {
                links.push(decode_external(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(links);
            }
        }
    }

    async fn delete_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        // The identity item is only deleted if it still belongs to this record,
        // so a stale `link` can't unlink someone else; this record's index item
        // goes either way.
        let identity = self.delete(
            self.external_key(&link.collection_id, &link.provider, &link.provider_id),
            Some(free_or_owned_by(&link.record_id)),
        )?;
        let index = self.delete(self.record_external_key(link), None)?;
        let op = "TransactWriteItems(delete external auth)";
        if self
            .transact(op, vec![identity, index.clone()])
            .await?
            .is_some()
        {
            self.transact(op, vec![index]).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ConfigStore for DynamoStore {
    async fn load_config(&self) -> StoreResult<Option<serde_json::Value>> {
        let Some(item) = self
            .get_item("GetItem(config)", self.key("CONFIG", "CONFIG"))
            .await?
        else {
            return Ok(None);
        };
        let doc = get_s(&item, "doc")?;
        serde_json::from_str(&doc)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("stored config is not JSON: {e}")))
    }

    async fn save_config(&self, config: &serde_json::Value) -> StoreResult<()> {
        let doc = serde_json::to_string(config)
            .map_err(|e| StoreError::Backend(format!("cannot encode config: {e}")))?;
        let mut item = self.key("CONFIG", "CONFIG");
        item.insert("doc".into(), s(doc));
        self.put_item("PutItem(config)", item).await
    }
}

fn decode_record(item: &Item) -> StoreResult<Record> {
    let fields = get_s(item, "fields")?;
    let fields = serde_json::from_str(&fields).map_err(|e| {
        StoreError::Backend(format!("stored record fields are not a JSON object: {e}"))
    })?;
    Ok(Record {
        id: get_s(item, "id")?,
        collection_id: get_s(item, "collectionId")?,
        email: get_s(item, "email")?,
        email_visibility: get_bool(item, "emailVisibility")?,
        verified: get_bool(item, "verified")?,
        password_hash: get_s(item, "passwordHash")?,
        token_key: get_s(item, "tokenKey")?,
        created: Timestamp(get_n(item, "created")?),
        updated: Timestamp(get_n(item, "updated")?),
        fields,
        version: get_n(item, "version")?,
    })
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// TTL in whole epoch seconds, rounded up so an item is never collected
/// before it expires.
fn ttl_seconds(at: Timestamp) -> i64 {
    at.0.div_euclid(1000) + i64::from(at.0.rem_euclid(1000) != 0)
}

fn malformed(name: &str) -> StoreError {
    StoreError::Backend(format!(
        "malformed item: attribute {name} missing or of the wrong type"
    ))
}

fn get_s(item: &Item, name: &str) -> StoreResult<String> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| malformed(name))
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> StoreResult<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed(name))
}

fn get_bool(item: &Item, name: &str) -> StoreResult<bool> {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| malformed(name))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("cannot build DynamoDB request: {err}"))
}

/// The SDK error with its whole source chain and the request id, for logs.
fn sdk_error<E>(op: &str, err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    SdkError<E, HttpResponse>: RequestId,
{
    StoreError::Backend(format!(
        "DynamoDB {op} failed: {} (request id: {})",
        DisplayErrorContext(err),
        err.request_id().unwrap_or("none")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_the_next_second() {
        assert_eq!(ttl_seconds(Timestamp(1_000)), 1);
        assert_eq!(ttl_seconds(Timestamp(1_001)), 2);
        assert_eq!(ttl_seconds(Timestamp(0)), 0);
    }

    #[test]
    fn dedup_keeps_first_occurrences_in_order() {
        let a = UniqueKey::new("email", "a@x.io");
        let b = UniqueKey::new("username", "a");
        let keys = [a.clone(), b.clone(), a.clone()];
        assert_eq!(dedup(&keys), vec![&a, &b]);
    }
}
