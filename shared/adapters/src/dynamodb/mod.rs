//! The production store: every port on one DynamoDB table.
//!
//! The item design, access patterns and round trips per endpoint are written
//! down in `docs/dynamodb.md`; keep the two in step. In short: string keys
//! `pk` (hash) and `sk` (range), TTL attribute `expiresAt` (epoch seconds),
//! unique values enforced by marker items claimed in the same
//! `TransactWriteItems` as the record, single-use secrets consumed with one
//! conditional `DeleteItem`, and never a `Scan`.
//!
//! Layout: this file holds the store, the request helpers every port shares
//! and the error mapping; `keys` the key formats, `codec` the item ⇄ model
//! mapping, and one file per port family: `records`, `counters`,
//! `single_use` (OTPs and MFA sessions), `links` (OAuth2 identities),
//! `config`; `table` creates the table.

mod calls;
mod codec;
mod config;
mod counters;
mod keys;
mod links;
mod outbox;
mod records;
mod single_use;
mod table;

use std::collections::HashMap;
use std::time::Duration;

use authgate_core::ports::{StoreError, StoreResult};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

pub use calls::{Call, CallLog};
use codec::s;

type Item = HashMap<String, AttributeValue>;

/// Name of the TTL attribute (epoch seconds) that DynamoDB garbage-collects on.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

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

    /// Strongly consistent `GetItem`.
    async fn get_item(&self, op: &str, key: Item) -> StoreResult<Option<Item>> {
        // DynamoDB rejects partition keys over 2048 bytes with a validation
        // error; such a key cannot name a stored item, so it reads as absent
        // instead of surfacing as a backend failure.
        if keys::exceeds_partition_key_limit(&key) {
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

    /// Deletes `key` if `condition` holds: `true` when deleted, `false` when
    /// the condition failed (already consumed, wrong code, expired, …). One
    /// request, so of concurrent callers exactly one can see `true`.
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
        condition_held(
            op,
            result,
            DeleteItemError::is_conditional_check_failed_exception,
        )
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
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
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

    /// A `Put` for [`Self::transact`].
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

    /// A `Delete` for [`Self::transact`].
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

/// The item does not exist yet: claims (markers, links, new records) never
/// overwrite.
fn not_exists() -> Condition {
    Condition::new("attribute_not_exists(pk)")
}

/// A marker that is absent or already ours (re-claiming is a no-op).
fn free_or_owned_by(record_id: &str) -> Condition {
    Condition::new("attribute_not_exists(pk) OR recordId = :rid").value(":rid", s(record_id))
}

/// The outcome of a single conditional write: `true` when it was applied,
/// `false` when its condition did not hold (a normal answer, not an error).
fn condition_held<T, E>(
    op: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
    is_condition_failure: fn(&E) -> bool,
) -> StoreResult<bool>
where
    E: std::error::Error + Send + Sync + 'static,
    SdkError<E, HttpResponse>: RequestId,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if err.as_service_error().is_some_and(is_condition_failure) => Ok(false),
        Err(err) => Err(sdk_error(op, &err)),
    }
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
