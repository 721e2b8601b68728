//! The `mailer` function as a real Lambda process on the table's DynamoDB
//! stream: requests go through the router (DynamoDB store on moto) and only
//! write outbox items; the stream's records are read back from moto with
//! the DynamoDB Streams API, filtered as the template's event source mapping
//! filters them, turned into the Lambda event the mapping would send, and
//! handed to the `mailer` binary through the Runtime API harness of
//! `lambda.rs`. Mail is checked in aws-ses-v2-local.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use authgate_adapters::dynamodb::DynamoStore;
use authgate_adapters::system::OsRandom;
use authgate_core::config::fill_secrets;
use authgate_core::ports::{ConfigStore, OutboxStore};
use authgate_tests::{
    config_with, dynamodb_client, moto_url, ses_mails_to, ses_url, token_after, unique,
    unique_email, FailingMailer, Options, TestApp,
};
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, StreamSpecification, StreamViewType as TableStreamView,
};
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use base64::Engine;
use serde_json::{json, Value};

use crate::lambda::invoke_with;

const PASSWORD: &str = "1234567890";
const RESET_LINK: &str = "confirm-password-reset/";

// ---------------------------------------------------------------------------
// The table's stream, read as the event source mapping reads it

/// Reads a table's stream from the start, each call returning the records
/// written since the last.
struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Next iterator per shard.
    iterators: HashMap<String, String>,
}

impl StreamReader {
    async fn open(table: &str) -> Self {
        let sdk = authgate_adapters::aws::sdk_config().await;
        let conf = aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
            .endpoint_url(moto_url())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build();
        let client = aws_sdk_dynamodbstreams::Client::from_conf(conf);
        let streams = client
            .list_streams()
            .table_name(table)
            .send()
            .await
            .expect("ListStreams");
        let arn = streams
            .streams()
            .first()
            .and_then(|s| s.stream_arn())
            .expect("the table has a stream")
            .to_owned();
        Self {
            client,
            arn,
            iterators: HashMap::new(),
        }
    }

    async fn new_records(&mut self) -> Vec<Record> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .expect("DescribeStream");
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.shard_id().map(str::to_owned))
            .collect();
        let mut records = Vec::new();
        for shard in shards {
            let iterator = match self.iterators.get(&shard) {
                Some(it) => it.clone(),
                None => self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&shard)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .expect("GetShardIterator")
                    .shard_iterator()
                    .expect("a shard iterator")
                    .to_owned(),
            };
            let out = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
                .expect("GetRecords");
            records.extend(out.records().iter().cloned());
            if let Some(next) = out.next_shard_iterator() {
                self.iterators.insert(shard, next.to_owned());
            }
        }
        records
    }
}

fn pk(record: &Record) -> &str {
    record
        .dynamodb()
        .and_then(|d| d.keys())
        .and_then(|k| k.get("pk"))
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_default()
}

/// The event source mapping's `FilterCriteria` in `template.yaml`: outbox
/// items only, inserted, or modified with a `replay` number in the new image.
fn passes_filter(record: &Record) -> bool {
    let replay = record
        .dynamodb()
        .and_then(|d| d.new_image())
        .is_some_and(|i| matches!(i.get("replay"), Some(AttributeValue::N(_))));
    pk(record).starts_with("OUTBOX#")
        && match record.event_name() {
            Some(OperationType::Insert) => true,
            Some(OperationType::Modify) => replay,
            _ => false,
        }
}

/// An attribute value as the Lambda event writes it (`{"S": "…"}`, …).
fn attribute(v: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image(m) }),
        other => panic!("unexpected attribute value {other:?}"),
    }
}

fn image(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect(),
    )
}

/// The DynamoDB event Lambda hands a function for these stream records
/// (`Records[]`: `eventID`, `eventName`, `dynamodb.{Keys, NewImage,
/// OldImage, SequenceNumber, …}`, `eventSourceARN`).
fn lambda_event(stream_arn: &str, records: &[Record]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            let d = r.dynamodb().expect("a stream record");
            let mut change = json!({
                "ApproximateCreationDateTime": d
                    .approximate_creation_date_time()
                    .map(|t| t.as_secs_f64()),
                "Keys": image(d.keys().expect("keys")),
                "SequenceNumber": d.sequence_number(),
                "SizeBytes": d.size_bytes(),
                "StreamViewType": d.stream_view_type().map(|v| v.as_str()),
            });
            if let Some(new) = d.new_image() {
                change["NewImage"] = image(new);
            }
            if let Some(old) = d.old_image() {
                change["OldImage"] = image(old);
            }
            json!({
                "eventID": r.event_id(),
                "eventName": r.event_name().map(|n| n.as_str()),
                "eventVersion": r.event_version(),
                "eventSource": r.event_source(),
                "awsRegion": r.aws_region(),
                "dynamodb": change,
                "eventSourceARN": stream_arn,
            })
        })
        .collect();
    json!({ "Records": records })
}

fn sequence_number(record: &Record) -> String {
    record
        .dynamodb()
        .and_then(|d| d.sequence_number())
        .expect("a sequence number")
        .to_owned()
}

// ---------------------------------------------------------------------------
// A deployment in miniature

/// A table as the template makes it (stream with old and new images), the
/// config applied, and the router on it. The router's own mailer is down:
/// requests must only queue, and the `mailer` function send.
struct Deployment {
    app: TestApp,
    table: String,
    store: Arc<DynamoStore>,
    stream: StreamReader,
    request_mailer: Arc<FailingMailer>,
}

impl Deployment {
    async fn new() -> Self {
        // No key prefix: the Lambdas' store has none, and the stream filter
        // matches `OUTBOX#` at the start of `pk`.
        let table = unique("authgate-mailer-");
        let client = dynamodb_client().await;
        let store = Arc::new(DynamoStore::new(client.clone(), table.clone()));
        store.create_table().await.expect("create table");
        // The product's `create_table` (tests, `authgate serve --dynamodb`)
        // makes no stream: the local server polls the outbox instead. The
        // template's table has one; so does this one.
        client
            .update_table()
            .table_name(&table)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(TableStreamView::NewAndOldImages)
                    .build()
                    .expect("stream specification"),
            )
            .send()
            .await
            .expect("enable the table's stream");
        let mut doc = config_with(vec![]);
        fill_secrets(&mut doc, None, &OsRandom);
        // A config item with its secrets inline, as stored before the secret
        // store existed: the function (whose secret does not exist) still
        // reads them, the path a stack takes between its upgrade and the
        // next `authgate collections apply`.
        store.save_config(&doc).await.expect("save config");
        let request_mailer = FailingMailer::new();
        let app = TestApp::spawn_with(Options {
            config: doc,
            store: Some(store.clone()),
            mailer: Some(request_mailer.clone()),
            // Only the mailer Lambda may send here: no local poller.
            sender: None,
            ..Default::default()
        })
        .await;
        let stream = StreamReader::open(&table).await;
        Self {
            app,
            table,
            store,
            stream,
            request_mailer,
        }
    }

    /// Signs `email` up, then asks for a password reset; returns the stream
    /// records that reach the mailer (exactly one: the reset mail's item).
    async fn request_reset(&mut self, email: &str, sign_up: bool) -> Vec<Record> {
        if sign_up {
            self.app.sign_up("users", email, PASSWORD).await;
        }
        let before = self.stream.new_records().await;
        assert!(
            before.iter().all(|r| !passes_filter(r)),
            "sign-up queued no mail"
        );
        let (status, body) = self
            .app
            .post("users", "request-password-reset", json!({ "email": email }))
            .await;
        assert_eq!(status, 204, "{body}");
        let queued: Vec<Record> = self
            .stream
            .new_records()
            .await
            .into_iter()
            .filter(passes_filter)
            .collect();
        assert_eq!(queued.len(), 1, "one outbox item per request: {queued:?}");
        queued
    }

    fn event(&self, records: &[Record]) -> Value {
        lambda_event(&self.stream.arn, records)
    }

    /// Runs the `mailer` binary with SES at `ses` and hands it `events`;
    /// returns its answers and its log.
    async fn mailer(&self, ses: &str, events: Vec<Value>) -> (Vec<Value>, String) {
        invoke_with(
            "mailer",
            &self.table,
            &[("AWS_ENDPOINT_URL_SESV2", ses.to_owned())],
            events,
        )
        .await
    }

    /// The raw outbox item `id`, if it is still in the table.
    async fn raw_item(&self, id: &str) -> Option<HashMap<String, Av>> {
        dynamodb_client()
            .await
            .get_item()
            .table_name(&self.table)
            .key("pk", Av::S(format!("OUTBOX#{id}")))
            .key("sk", Av::S("OUTBOX".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    fn requests_sent_nothing(&self) {
        assert_eq!(
            self.request_mailer.attempts.load(Ordering::SeqCst),
            0,
            "the request path sent mail itself"
        );
    }
}

fn item_id(record: &Record) -> String {
    pk(record)
        .strip_prefix("OUTBOX#")
        .expect("an outbox key")
        .to_owned()
}

fn no_failures() -> Value {
    json!({ "batchItemFailures": [] })
}

/// An address on loopback where nothing listens: SES is down.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// The reset token of the one mail to `email` in aws-ses-v2-local.
async fn the_one_reset_token(email: &str) -> String {
    let sent = ses_mails_to(email).await;
    assert_eq!(sent.len(), 1, "exactly one mail to {email}: {sent:?}");
    let text = sent[0]["body"]["text"].as_str().unwrap_or_default();
    let html = sent[0]["body"]["html"].as_str().unwrap_or_default();
    token_after(text, RESET_LINK)
        .or_else(|| token_after(html, RESET_LINK))
        .unwrap_or_else(|| panic!("no reset link in {:?}", sent[0]))
}

fn assert_log_is_clean(logs: &str, token: &str) {
    assert!(!logs.is_empty(), "the function logged nothing");
    assert!(
        !logs.contains(token),
        "the mailer logged the reset token: {logs}"
    );
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_queued_mail_is_sent_once_even_when_its_record_is_delivered_twice() {
    let mut d = Deployment::new().await;
    let email = unique_email("mailer-once");
    let queued = d.request_reset(&email, true).await;
    let id = item_id(&queued[0]);
    assert!(
        d.raw_item(&id).await.is_some(),
        "the request queued an item"
    );
    assert!(
        ses_mails_to(&email).await.is_empty(),
        "nothing is sent before the mailer runs"
    );

    // The same batch twice (a stream delivers at least once) and once more
    // to a fresh container.
    let event = d.event(&queued);
    let (answers, logs) = d
        .mailer(&ses_url(), vec![event.clone(), event.clone()])
        .await;
    assert_eq!(answers, vec![no_failures(), no_failures()], "{logs}");
    let (again, more_logs) = d.mailer(&ses_url(), vec![event]).await;
    assert_eq!(again, vec![no_failures()], "{more_logs}");

    let token = the_one_reset_token(&email).await;
    assert!(d.raw_item(&id).await.is_none(), "a sent item is deleted");
    assert!(
        d.store.get_mail(&id).await.expect("get_mail").is_none(),
        "the store agrees"
    );
    assert_log_is_clean(&logs, &token);
    assert_log_is_clean(&more_logs, &token);

    // What the mailer's own claim and delete wrote to the stream asks for
    // nothing: the filter drops it, and so does the function.
    let after = d.stream.new_records().await;
    assert!(
        !after.is_empty(),
        "the claim and the delete are on the stream"
    );
    assert!(after.iter().all(|r| !passes_filter(r)), "{after:?}");
    let (answers, _) = d.mailer(&ses_url(), vec![d.event(&after)]).await;
    assert_eq!(answers, vec![no_failures()]);
    assert_eq!(ses_mails_to(&email).await.len(), 1, "still one mail");
    d.requests_sent_nothing();
}

#[tokio::test]
async fn a_decoy_is_dropped_without_a_mail() {
    let mut d = Deployment::new().await;
    // No such account: the request queues a decoy, indistinguishable on the
    // way in.
    let nobody = unique_email("mailer-nobody");
    let queued = d.request_reset(&nobody, false).await;
    let id = item_id(&queued[0]);
    let decoy = d.raw_item(&id).await.expect("the decoy is queued");
    assert_eq!(decoy.get("decoy"), Some(&Av::Bool(true)));

    let (answers, logs) = d.mailer(&ses_url(), vec![d.event(&queued)]).await;
    assert_eq!(answers, vec![no_failures()], "{logs}");
    assert!(
        ses_mails_to(&nobody).await.is_empty(),
        "a decoy sends nothing"
    );
    assert!(
        d.raw_item(&id).await.is_none(),
        "a dropped decoy is deleted"
    );
    d.requests_sent_nothing();
}

#[tokio::test]
async fn a_failed_send_is_reported_kept_and_sent_by_the_retry() {
    let mut d = Deployment::new().await;
    let email = unique_email("mailer-retry");
    let queued = d.request_reset(&email, true).await;
    let id = item_id(&queued[0]);
    let event = d.event(&queued);

    // SES is down: the record is reported, the item stays, unclaimed.
    let down = closed_port().await;
    let (answers, logs) = d.mailer(&down, vec![event.clone()]).await;
    assert_eq!(
        answers,
        vec![json!({ "batchItemFailures": [{ "itemIdentifier": sequence_number(&queued[0]) }] })],
        "{logs}"
    );
    let kept = d.raw_item(&id).await.expect("a failed item is kept");
    assert!(
        !kept.contains_key("claimedAt"),
        "its claim is given back: {kept:?}"
    );
    assert!(ses_mails_to(&email).await.is_empty());
    assert!(logs.contains(&id), "the failure names the item: {logs}");

    // The failed attempt's claim and release reach the stream; they must not
    // start another attempt (the event source mapping's retries do that).
    let churn = d.stream.new_records().await;
    assert!(churn.iter().all(|r| !passes_filter(r)), "{churn:?}");
    let (answers, _) = d.mailer(&ses_url(), vec![d.event(&churn)]).await;
    assert_eq!(answers, vec![no_failures()]);
    assert!(
        ses_mails_to(&email).await.is_empty(),
        "a claim or release sends nothing"
    );

    // The mapping retries the same record once SES is back.
    let (answers, retry_logs) = d.mailer(&ses_url(), vec![event]).await;
    assert_eq!(answers, vec![no_failures()], "{retry_logs}");
    let token = the_one_reset_token(&email).await;
    assert!(d.raw_item(&id).await.is_none(), "sent, then deleted");
    assert_log_is_clean(&logs, &token);
    assert_log_is_clean(&retry_logs, &token);
    d.requests_sent_nothing();
}

/// The operator's replay of `docs/outbox.md`: touch the item, only if it
/// still exists, taking back any claim.
async fn replay(table: &str, id: &str, at: u64) -> bool {
    dynamodb_client()
        .await
        .update_item()
        .table_name(table)
        .key("pk", Av::S(format!("OUTBOX#{id}")))
        .key("sk", Av::S("OUTBOX".into()))
        .update_expression("SET replay = :now REMOVE claimedAt")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":now", Av::N(at.to_string()))
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn an_operators_replay_of_a_kept_item_sends_it_once() {
    let mut d = Deployment::new().await;
    let email = unique_email("mailer-replay");
    let queued = d.request_reset(&email, true).await;
    let id = item_id(&queued[0]);

    // Every retry failed: the record went to the dead-letter queue and the
    // item is still in the table.
    let down = closed_port().await;
    let (answers, _) = d.mailer(&down, vec![d.event(&queued)]).await;
    assert_eq!(
        answers[0]["batchItemFailures"].as_array().map(Vec::len),
        Some(1)
    );
    d.stream.new_records().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();

    // A first replay while SES is still down fails the same way.
    assert!(replay(&d.table, &id, now).await, "replay");
    let replayed: Vec<Record> = d
        .stream
        .new_records()
        .await
        .into_iter()
        .filter(passes_filter)
        .collect();
    assert_eq!(replayed.len(), 1, "a replay is one MODIFY: {replayed:?}");
    assert_eq!(replayed[0].event_name(), Some(&OperationType::Modify));
    let (answers, logs) = d.mailer(&down, vec![d.event(&replayed)]).await;
    assert_eq!(
        answers,
        vec![json!({ "batchItemFailures": [{ "itemIdentifier": sequence_number(&replayed[0]) }] })],
        "{logs}"
    );

    // That attempt's claim and release carry the `replay` attribute, so the
    // filter lets them through; the function must see they are no replay.
    let churn = d.stream.new_records().await;
    assert!(
        churn.iter().any(passes_filter),
        "claim and release of a replayed item pass the filter: {churn:?}"
    );
    let (answers, logs) = d.mailer(&ses_url(), vec![d.event(&churn)]).await;
    assert_eq!(answers, vec![no_failures()], "{logs}");
    assert!(
        ses_mails_to(&email).await.is_empty(),
        "a claim or release of a replayed item sends nothing"
    );

    // Replayed again once SES is back (the same record delivered twice).
    assert!(replay(&d.table, &id, now + 1).await, "second replay");
    let replayed: Vec<Record> = d
        .stream
        .new_records()
        .await
        .into_iter()
        .filter(passes_filter)
        .collect();
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    let event = d.event(&replayed);
    let (answers, logs) = d.mailer(&ses_url(), vec![event.clone(), event]).await;
    assert_eq!(answers, vec![no_failures(), no_failures()], "{logs}");
    let token = the_one_reset_token(&email).await;
    assert!(d.raw_item(&id).await.is_none(), "sent, then deleted");
    assert_log_is_clean(&logs, &token);

    // Replaying an item that is gone (sent) fails instead of creating an
    // empty item.
    assert!(
        !replay(&d.table, &id, now + 2).await,
        "replaying a sent item must fail"
    );
    assert!(d.raw_item(&id).await.is_none());
    d.requests_sent_nothing();
}

#[test]
fn the_template_filters_the_stream_as_this_suite_does_and_only_the_mailer_sends() {
    let template = std::fs::read_to_string(authgate_tests::repo_root().join("template.yaml"))
        .expect("template.yaml");
    // `passes_filter` above mirrors these two patterns; the function
    // needs the old images to tell a replay from a claim.
    for needle in [
        r#"- Pattern: '{"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}}}'"#,
        r#"- Pattern: '{"eventName": ["MODIFY"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}, "NewImage": {"replay": {"N": [{"exists": true}]}}}}'"#,
        "StreamViewType: NEW_AND_OLD_IMAGES",
        "FunctionResponseTypes: [ReportBatchItemFailures]",
        "Binary: mailer",
    ] {
        assert!(template.contains(needle), "template.yaml lacks {needle}");
    }
    assert_eq!(
        template.matches("Action: ses:SendEmail").count(),
        1,
        "only MailerFunction may send mail"
    );
}
