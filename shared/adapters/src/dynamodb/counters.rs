//! Fixed-window counters (rate limits, throttles, attempt limits): one item
//! per key, changed only by conditional `UpdateItem`s, so concurrent hits in
//! every Lambda container are counted exactly (see *Counters* in
//! `docs/dynamodb.md`).

use async_trait::async_trait;
use authgate_core::model::{CounterKey, Timestamp};
use authgate_core::ports::{CounterStore, StoreResult};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::codec::{n, ttl_seconds};
use super::{condition_held, sdk_error, DynamoStore, TTL_ATTRIBUTE};

/// Hits counted in the current window.
const HITS: &str = "hits";
/// End of the current window (epoch milliseconds), compared exactly: the TTL
/// only garbage-collects old windows.
const WINDOW_END: &str = "windowEnd";

/// Outcome of the counter's increment attempt.
enum Increment {
    Counted,
    Exceeded,
    NoLiveWindow,
}

impl DynamoStore {
    /// An `UpdateItem` of the counter item of `key`, with `#h` naming the
    /// hits and `#we` the window end.
    fn counter_update(&self, key: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.counter_key(key)))
            .expression_attribute_names("#h", HITS)
            .expression_attribute_names("#we", WINDOW_END)
    }

    /// `hits + 1` if the window is live and below the limit. On failure the
    /// old item (returned by DynamoDB with the condition failure) tells an
    /// exhausted window from a missing or expired one without another read.
    async fn counter_increment(
        &self,
        key: &str,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<Increment> {
        let result = self
            .counter_update(key)
            .update_expression("SET #h = #h + :one")
            .condition_expression("#we > :now AND #h < :limit")
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
        let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = err.as_service_error()
        else {
            return Err(sdk_error("UpdateItem(counter increment)", &err));
        };
        let live = failed
            .item()
            .and_then(|old| old.get(WINDOW_END))
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
    async fn counter_start(
        &self,
        key: &str,
        window_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let window_end = now.plus_secs(window_secs);
        let result = self
            .counter_update(key)
            .update_expression("SET #h = :one, #we = :end, #exp = :ttl")
            .condition_expression("attribute_not_exists(pk) OR #we <= :now")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":end", n(window_end.0))
            .expression_attribute_values(":ttl", n(ttl_seconds(window_end)))
            .expression_attribute_values(":now", n(now.0))
            .send()
            .await;
        condition_held(
            "UpdateItem(counter start)",
            result,
            UpdateItemError::is_conditional_check_failed_exception,
        )
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
        let key = &key.storage_key();
        // Two rounds: a window can be started by someone else between our
        // failed increment and our start attempt; then we count against it.
        for _ in 0..2 {
            match self.counter_increment(key, limit, now).await? {
                Increment::Counted => return Ok(true),
                Increment::Exceeded => return Ok(false),
                Increment::NoLiveWindow => {}
            }
            if self.counter_start(key, window_secs, now).await? {
                return Ok(limit >= 1);
            }
        }
        // Still racing after two rounds: the window is busy; denying is the
        // safe answer for a rate limit.
        Ok(false)
    }

    async fn clear(&self, key: &CounterKey<'_>) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.counter_key(&key.storage_key())))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem(counter)", &e))?;
        Ok(())
    }

    async fn give_back(&self, key: &CounterKey<'_>, now: Timestamp) -> StoreResult<()> {
        // Conditional, so a window that ended or holds no hits is left alone
        // and concurrent give-backs never take the count below zero.
        let result = self
            .counter_update(&key.storage_key())
            .update_expression("SET #h = #h - :one")
            .condition_expression("#we > :now AND #h > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now.0))
            .send()
            .await;
        condition_held(
            "UpdateItem(counter give back)",
            result,
            UpdateItemError::is_conditional_check_failed_exception,
        )
        .map(drop)
    }
}
