//! A record of the DynamoDB calls a store makes: for each call, the IAM
//! action it needs and the partition key value it touches (one entry per
//! item of a transaction or a batch). Off in production; the IAM policy test
//! turns it on ([`DynamoStore::with_call_log`]) to check every function's
//! calls against its policy in `template.yaml`.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::scan::ScanInput;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;

use super::{DynamoStore, Item};

/// One DynamoDB call (or one item of a transaction or batch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Call {
    /// The IAM action, e.g. `dynamodb:PutItem` (a `Put` inside
    /// `TransactWriteItems` needs `dynamodb:PutItem` too). An operation the
    /// recorder does not know is recorded as `unknown:<input type>`.
    pub action: String,
    /// The partition key value (`dynamodb:LeadingKeys`); `*` for a scan.
    pub partition_key: String,
}

/// The calls recorded so far, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes and returns what was recorded.
    pub fn take(&self) -> Vec<Call> {
        self.0
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }

    fn push(&self, calls: Vec<Call>) {
        if let Ok(mut log) = self.0.lock() {
            log.extend(calls);
        }
    }
}

impl DynamoStore {
    /// The same store with every call recorded in `log`.
    pub fn with_call_log(mut self, log: CallLog) -> Self {
        let conf = self
            .client
            .config()
            .to_builder()
            .interceptor(Recorder(log))
            .build();
        self.client = aws_sdk_dynamodb::Client::from_conf(conf);
        self
    }
}

#[derive(Debug)]
struct Recorder(CallLog);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "AuthgateCallLog"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.push(calls_of(context));
        Ok(())
    }
}

fn pk(key: Option<&Item>) -> String {
    key.and_then(|k| k.get("pk"))
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn call(action: &str, key: Option<&Item>) -> Call {
    Call {
        action: format!("dynamodb:{action}"),
        partition_key: pk(key),
    }
}

fn calls_of(context: &BeforeSerializationInterceptorContextRef<'_>) -> Vec<Call> {
    let input = context.input();
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        return vec![call("GetItem", i.key())];
    }
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        return vec![call("PutItem", i.item())];
    }
    if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        return vec![call("UpdateItem", i.key())];
    }
    if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        return vec![call("DeleteItem", i.key())];
    }
    if let Some(i) = input.downcast_ref::<QueryInput>() {
        // The store's only key condition is `pk = :pk`.
        return vec![call("Query", i.expression_attribute_values()).with_pk(
            i.expression_attribute_values()
                .and_then(|v| v.get(":pk"))
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
        )];
    }
    if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        return i
            .transact_items()
            .iter()
            .map(|t| {
                if let Some(p) = t.put() {
                    call("PutItem", Some(p.item()))
                } else if let Some(u) = t.update() {
                    call("UpdateItem", Some(u.key()))
                } else if let Some(d) = t.delete() {
                    call("DeleteItem", Some(d.key()))
                } else if let Some(c) = t.condition_check() {
                    call("ConditionCheckItem", Some(c.key()))
                } else {
                    call("unknown:TransactWriteItem", None)
                }
            })
            .collect();
    }
    if let Some(i) = input.downcast_ref::<TransactGetItemsInput>() {
        return i
            .transact_items()
            .iter()
            .map(|t| call("GetItem", t.get().map(|g| g.key())))
            .collect();
    }
    if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        return i
            .request_items()
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|ka| ka.keys().iter())
            .map(|k| call("BatchGetItem", Some(k)))
            .collect();
    }
    if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        return i
            .request_items()
            .into_iter()
            .flat_map(|m| m.values())
            .flatten()
            .map(|w| {
                let key = w
                    .put_request()
                    .map(|p| p.item())
                    .or_else(|| w.delete_request().map(|d| d.key()));
                call("BatchWriteItem", key)
            })
            .collect();
    }
    if input.downcast_ref::<ScanInput>().is_some() {
        return vec![call("Scan", None).with_pk("*".into())];
    }
    // Anything else (table management, …): named by its input type.
    let name = format!("{input:?}");
    let name = name.split([' ', '{', '(']).next().unwrap_or("?");
    vec![Call {
        action: format!("unknown:{name}"),
        partition_key: String::new(),
    }]
}

impl Call {
    fn with_pk(mut self, pk: String) -> Self {
        self.partition_key = pk;
        self
    }
}
