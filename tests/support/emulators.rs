//! The local stand-ins the suite runs against (moto for DynamoDB,
//! aws-ses-v2-local for SES v2, the OAuth2 mock): where they listen and the
//! SDK clients and adapters pointed at them. `make test` starts them and sets
//! the variables; a missing one fails the test, since a skipped check is not
//! a passed one.

use std::sync::Arc;

use authgate_adapters::dynamodb::DynamoStore;
use authgate_adapters::secrets_manager::SecretsManagerSecrets;
use authgate_adapters::ses::SesMailer;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
use serde_json::Value;

use crate::names::unique;

/// An environment variable the test command (`make test`) sets; failing
/// loudly when missing.
pub fn require_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with `make test`, which starts the emulators")
    })
}

/// moto, e.g. `http://127.0.0.1:5000`.
pub fn moto_url() -> String {
    require_env("AUTHGATE_TEST_MOTO")
}

/// aws-ses-v2-local, e.g. `http://127.0.0.1:8005`.
pub fn ses_url() -> String {
    require_env("AUTHGATE_TEST_SES")
}

/// The OAuth2/OIDC mock provider (infra/node/oauth2-mock.mjs).
pub fn oauth2_mock_url() -> String {
    require_env("AUTHGATE_TEST_OAUTH2")
}

/// The product's SDK configuration with test credentials (never let real
/// ones near an emulator, and never probe IMDS) and a region.
async fn emulator_sdk_config() -> SdkConfig {
    let sdk = authgate_adapters::aws::sdk_config().await;
    let region = sdk
        .region()
        .cloned()
        .unwrap_or_else(|| Region::new("us-east-1"));
    sdk.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .region(region)
        .build()
}

/// A DynamoDB client for moto.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let sdk = emulator_sdk_config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(moto_url())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A Secrets Manager client for moto (its server serves every service).
pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let sdk = emulator_sdk_config().await;
    let conf = aws_sdk_secretsmanager::config::Builder::from(&sdk)
        .endpoint_url(moto_url())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

/// The secret store adapter on moto, for secret `secret_id` (created by the
/// first save).
pub async fn moto_secrets(secret_id: &str) -> Arc<SecretsManagerSecrets> {
    Arc::new(SecretsManagerSecrets::new(
        secrets_client().await,
        secret_id,
    ))
}

/// An SES v2 client for `endpoint`, with whatever else `conf` sets.
pub async fn ses_client(
    endpoint: &str,
    conf: impl FnOnce(aws_sdk_sesv2::config::Builder) -> aws_sdk_sesv2::config::Builder,
) -> aws_sdk_sesv2::Client {
    let sdk = emulator_sdk_config().await;
    let builder = aws_sdk_sesv2::config::Builder::from(&sdk).endpoint_url(endpoint);
    aws_sdk_sesv2::Client::from_conf(conf(builder).build())
}

/// The SES adapter sending to aws-ses-v2-local.
pub async fn ses_mailer() -> SesMailer {
    SesMailer::new(ses_client(&ses_url(), |b| b).await)
}

/// The mails to `to` in aws-ses-v2-local's store, oldest first.
pub async fn ses_mails_to(to: &str) -> Vec<Value> {
    let store: Value = reqwest::get(format!("{}/store?since=0", ses_url()))
        .await
        .expect("SES store")
        .json()
        .await
        .expect("SES store JSON");
    store["emails"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| {
                    e["destination"]["to"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|x| x == to))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A `DynamoStore` on moto in a table of its own (with a key prefix too, so
/// the prefix code path is exercised).
///
/// A table per store rather than one shared table: moto deep-copies the whole
/// table for every `TransactWriteItems`, so a shared table makes every
/// transaction slower as the suite writes more items (measured: the contract
/// suite went from 1.6 s to 5.7 s over 20 runs on one table).
pub async fn dynamo_store() -> Arc<DynamoStore> {
    let id = unique("");
    let store = DynamoStore::new(dynamodb_client().await, format!("authgate-test-{id}"))
        .with_prefix(format!("t{id}#"));
    if let Err(e) = store.create_table().await {
        panic!("cannot create a table on moto at {}: {e}", moto_url());
    }
    Arc::new(store)
}
