//! The `mailer` Lambda: the table's DynamoDB stream hands it the outbox
//! items the requests wrote; it sends each with
//! [`mail_sender::deliver`] and reports the ones it could not send, so the
//! event source mapping retries them (and, past its retries, hands their
//! stream position to the dead-letter queue). See `docs/outbox.md`.
//!
//! Which records are work (the template's `FilterCriteria` already keeps
//! only these; [`action`] checks again, so a looser filter costs an
//! invocation, not a mail):
//!
//! - `INSERT` of an `OUTBOX#…` item: a new mail (or decoy).
//! - `MODIFY` of one whose [`REPLAY_ATTRIBUTE`] changed: an operator's
//!   replay. Every other `MODIFY` is a sender's own claim or release
//!   (`claimedAt`): acting on those would re-send a failed mail at once,
//!   in a loop, instead of on the event source mapping's retries. Telling
//!   them apart needs the old image: the stream is `NEW_AND_OLD_IMAGES`.
//! - `REMOVE` (sent, dropped, or expired by TTL): nothing to do.
//!
//! Log lines name the outbox id and the outcome, never the message (it
//! carries a token or an OTP code); the item itself is sealed.

use std::sync::Arc;

use authgate_core::config::AppConfig;
use authgate_core::service::mail_sender::{self, Delivery};
use authgate_core::service::Ctx;
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_dynamo::AttributeValue;

use crate::config_source::ConfigSource;
use crate::env::BoxError;

/// The partition key prefix of outbox items (the adapter's `keys::OUTBOX`;
/// the Lambdas' store has no key prefix). `template.yaml`'s stream filter
/// matches on it too.
pub const OUTBOX_PK_PREFIX: &str = "OUTBOX#";

/// The attribute an operator sets (to the current time) to replay an item:
/// `docs/outbox.md`, "Replaying".
pub const REPLAY_ATTRIBUTE: &str = "replay";

/// What to do with one stream record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the outbox item with this id.
    Deliver(String),
    /// Nothing to send; why (for the debug log).
    Skip(&'static str),
}

fn string_attr<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// Decides what a stream record asks for (see the module docs).
pub fn action(record: &EventRecord) -> Action {
    let change = &record.change;
    let Some(id) = string_attr(&change.keys, "pk")
        .and_then(|pk| pk.strip_prefix(OUTBOX_PK_PREFIX))
        .filter(|id| !id.is_empty())
    else {
        return Action::Skip("not an outbox item");
    };
    match record.event_name.as_str() {
        "INSERT" => Action::Deliver(id.to_owned()),
        "MODIFY" => {
            let new = change.new_image.get(REPLAY_ATTRIBUTE);
            if new.is_some() && new != change.old_image.get(REPLAY_ATTRIBUTE) {
                Action::Deliver(id.to_owned())
            } else {
                Action::Skip("a sender's claim or release, not a replay")
            }
        }
        _ => Action::Skip("removed"),
    }
}

/// The function's state, built once per cold start.
#[derive(Clone)]
pub struct StreamMailer {
    ctx: Ctx,
    config: Arc<dyn ConfigSource>,
}

impl StreamMailer {
    pub fn new(ctx: Ctx, config: Arc<dyn ConfigSource>) -> Self {
        Self { ctx, config }
    }

    /// Handles one batch: every record is tried (they are independent
    /// items), and the ones whose delivery failed are reported by sequence
    /// number. A record reported again after it was sent finds its item
    /// gone or claimed, so retries from the first failure re-send nothing.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        // Read lazily (a batch of claims and releases needs none), once.
        let mut config: Option<Arc<AppConfig>> = None;
        let mut config_read = false;
        for record in &event.records {
            let sequence = record.change.sequence_number.clone();
            let id = match action(record) {
                Action::Deliver(id) => id,
                Action::Skip(why) => {
                    tracing::debug!(
                        event_name = %record.event_name,
                        sequence_number = sequence.as_deref().unwrap_or(""),
                        why,
                        "stream record skipped"
                    );
                    continue;
                }
            };
            if !config_read {
                config_read = true;
                match self.config.current().await {
                    Ok(c) => config = Some(c),
                    Err(e) => tracing::error!(error = %e, "no collections config; mail not sent"),
                }
            }
            let sent = match &config {
                Some(cfg) => self.deliver(cfg, &id, sequence.as_deref()).await,
                None => false,
            };
            if !sent {
                // An item failure without an identifier fails the whole
                // batch, which is right for a record without a position.
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    /// Sends one item; `false` when the event source mapping should retry it.
    async fn deliver(&self, cfg: &AppConfig, id: &str, sequence: Option<&str>) -> bool {
        let sequence_number = sequence.unwrap_or("");
        let now = self.ctx.clock.now();
        match mail_sender::deliver(&self.ctx, cfg, id, now).await {
            Ok(Delivery::Sent) => true,
            Ok(Delivery::Dropped) => {
                tracing::info!(outbox_id = id, "outbox item dropped (a decoy, or gone)");
                true
            }
            Ok(Delivery::Busy) => {
                // Another sender holds it, or one died holding it: retried
                // by the event source mapping until it is sent or its lease
                // ends (an unreadable item ends in the dead-letter queue).
                tracing::info!(
                    outbox_id = id,
                    sequence_number,
                    "outbox item claimed by another sender; record reported for a retry"
                );
                false
            }
            Ok(Delivery::Failed(_)) => {
                // `mail_sender` logged why.
                tracing::warn!(
                    outbox_id = id,
                    sequence_number,
                    "mail not sent; record reported for a retry"
                );
                false
            }
            Err(e) => {
                // A store call failed part-way, maybe after the claim: give
                // the claim back so the retry can take the item (else it
                // would find it claimed, count that as done, and the mail
                // would never go). If the send had gone through and only
                // the delete failed, the retry sends it again: at least
                // once, as documented.
                if let Err(release) = self.ctx.store.release_mail(id).await {
                    tracing::warn!(outbox_id = id, error = %release, "could not release the claim");
                }
                tracing::error!(
                    outbox_id = id,
                    sequence_number,
                    error = %e,
                    "mail not sent; record reported for a retry"
                );
                false
            }
        }
    }
}

/// Runs the `mailer` function: wiring from the environment once per cold
/// start (DynamoDB store, SES mailer, config from the table), then one
/// [`StreamMailer::handle`] per batch of stream records.
pub async fn run() -> Result<(), BoxError> {
    use tracing::Instrument;
    crate::lambda::init_tracing(true);
    let (ctx, config) = crate::env::mailer_ctx_from_env().await?;
    tracing::info!(function = "mailer", "cold start");
    let mailer = Arc::new(StreamMailer::new(ctx, config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let mailer = mailer.clone();
        let span = tracing::info_span!(
            "batch",
            request_id = %event.context.request_id,
            function = "mailer",
        );
        async move { Ok::<_, BoxError>(mailer.handle(event.payload).await) }.instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn record(event_name: &str, pk: &str, new: Value, old: Value) -> EventRecord {
        let mut change = json!({
            "ApproximateCreationDateTime": 1_700_000_000.0,
            "Keys": {"pk": {"S": pk}, "sk": {"S": "OUTBOX"}},
            "SequenceNumber": "100",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if !new.is_null() {
            change["NewImage"] = new;
        }
        if !old.is_null() {
            change["OldImage"] = old;
        }
        serde_json::from_value(json!({
            "awsRegion": "us-east-1",
            "eventID": "e1",
            "eventName": event_name,
            "eventSource": "aws:dynamodb",
            "eventVersion": "1.1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            "dynamodb": change
        }))
        .unwrap()
    }

    fn image(extra: Value) -> Value {
        let mut item =
            json!({"pk": {"S": "OUTBOX#abc"}, "sk": {"S": "OUTBOX"}, "id": {"S": "abc"}});
        if let (Some(i), Value::Object(e)) = (item.as_object_mut(), extra) {
            i.extend(e);
        }
        item
    }

    #[test]
    fn an_inserted_outbox_item_is_delivered_by_its_key() {
        let r = record("INSERT", "OUTBOX#abc", image(json!({})), Value::Null);
        assert_eq!(action(&r), Action::Deliver("abc".into()));
    }

    #[test]
    fn other_items_and_removals_are_skipped() {
        let r = record("INSERT", "REC#users#abc", json!({}), Value::Null);
        assert!(matches!(action(&r), Action::Skip(_)));
        let r = record("INSERT", "OUTBOX#", json!({}), Value::Null);
        assert!(matches!(action(&r), Action::Skip(_)));
        let r = record("REMOVE", "OUTBOX#abc", Value::Null, image(json!({})));
        assert!(matches!(action(&r), Action::Skip(_)));
    }

    #[test]
    fn a_claim_or_release_is_not_work_but_a_replay_is() {
        let claimed = image(json!({"claimedAt": {"N": "5"}}));
        let r = record("MODIFY", "OUTBOX#abc", claimed.clone(), image(json!({})));
        assert!(matches!(action(&r), Action::Skip(_)), "claim");
        let r = record("MODIFY", "OUTBOX#abc", image(json!({})), claimed);
        assert!(matches!(action(&r), Action::Skip(_)), "release");

        let replayed = image(json!({"replay": {"N": "7"}}));
        let r = record("MODIFY", "OUTBOX#abc", replayed.clone(), image(json!({})));
        assert_eq!(action(&r), Action::Deliver("abc".into()), "first replay");
        let again = image(json!({"replay": {"N": "8"}}));
        let r = record("MODIFY", "OUTBOX#abc", again, replayed.clone());
        assert_eq!(action(&r), Action::Deliver("abc".into()), "second replay");

        // Claim and release of a replayed item keep `replay` as it was.
        let replayed_claimed = image(json!({"replay": {"N": "7"}, "claimedAt": {"N": "9"}}));
        let r = record(
            "MODIFY",
            "OUTBOX#abc",
            replayed_claimed.clone(),
            replayed.clone(),
        );
        assert!(matches!(action(&r), Action::Skip(_)), "claim after replay");
        let r = record("MODIFY", "OUTBOX#abc", replayed, replayed_claimed);
        assert!(
            matches!(action(&r), Action::Skip(_)),
            "release after replay"
        );
    }

    #[test]
    fn the_sample_event_parses_and_names_its_item() {
        let text = include_str!("../../../infra/events/mailer.stream.json");
        let event: Event = serde_json::from_str(text).unwrap();
        let actions: Vec<Action> = event.records.iter().map(action).collect();
        assert_eq!(
            actions.first(),
            Some(&Action::Deliver("k3m9x2q7w8e4r5t".into()))
        );
    }

    struct NoConfig;

    #[async_trait::async_trait]
    impl ConfigSource for NoConfig {
        async fn current(&self) -> Result<Arc<AppConfig>, authgate_core::Error> {
            Err(authgate_core::Error::internal("no config"))
        }
    }

    struct NeverSends;

    #[async_trait::async_trait]
    impl authgate_core::ports::Mailer for NeverSends {
        async fn send(
            &self,
            _: &authgate_core::ports::MailMessage,
        ) -> Result<(), authgate_core::ports::MailError> {
            panic!("nothing here may be sent")
        }
    }

    fn mailer(config: Arc<dyn ConfigSource>) -> StreamMailer {
        let ctx = Ctx::new(
            Arc::new(authgate_adapters::memory::MemoryStore::new()),
            Arc::new(NeverSends),
            Arc::new(authgate_adapters::system::SystemClock),
            Arc::new(authgate_adapters::system::OsRandom),
        )
        .unwrap();
        StreamMailer::new(ctx, config)
    }

    fn sample() -> Event {
        serde_json::from_str(include_str!("../../../infra/events/mailer.stream.json")).unwrap()
    }

    #[tokio::test]
    async fn without_a_config_the_records_to_deliver_are_reported_and_the_others_not() {
        let response = mailer(Arc::new(NoConfig)).handle(sample()).await;
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "111100000000000000000001"}]})
        );
    }

    #[tokio::test]
    async fn an_item_that_is_gone_is_done() {
        let mut doc = AppConfig::default_document();
        authgate_core::config::fill_secrets(&mut doc, None, &authgate_adapters::system::OsRandom);
        let config = Arc::new(crate::config_source::StaticConfig(Arc::new(
            AppConfig::from_json(&doc).unwrap(),
        )));
        let response = mailer(config).handle(sample()).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    #[test]
    fn a_batch_response_lists_failures_by_sequence_number() {
        let mut response = DynamoDbEventResponse::default();
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some("100".into());
        response.batch_item_failures.push(failure);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "100"}]})
        );
        assert_eq!(
            serde_json::to_value(DynamoDbEventResponse::default()).unwrap(),
            json!({"batchItemFailures": []})
        );
    }
}
