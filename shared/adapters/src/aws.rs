//! The one place that builds the AWS SDK configuration.

use std::sync::OnceLock;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Loads the SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SESV2` overrides used
/// against the local emulators, …) with an explicit HTTPS client.
///
/// The client is built here rather than by the SDK's `default-https-client`
/// feature because that feature uses rustls with aws-lc, whose C build
/// (aws-lc-sys) dominates compile time and needs cmake; rustls with ring is
/// just as good for talking to AWS endpoints.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The process's one HTTPS client, shared by every SDK client it builds
/// (DynamoDB, Secrets Manager, SES): one connection pool, and the TLS trust
/// store parsed once instead of once per service client.
fn https_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
        .clone()
}

/// The SDK configuration of a Lambda function, from the variables the Lambda
/// runtime sets: the region (`AWS_REGION`), the execution role's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and,
/// for the local emulators, `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL`
/// (`service` is the suffix, e.g. `DYNAMODB`).
///
/// Unlike [`sdk_config`], no default provider chains: no profile files,
/// instance metadata, SSO or STS web identity, which a Lambda never uses.
/// Leaving them out keeps aws-config's chains (and the STS client) out of
/// the function binaries, and their probing out of the cold start.
pub fn lambda_sdk_config(service: &str) -> Result<SdkConfig, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .ok_or("AWS_REGION is not set")?;
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(https_client());
    if let Some(url) =
        var(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| var("AWS_ENDPOINT_URL"))
    {
        builder = builder.endpoint_url(url);
    }
    Ok(builder.build())
}
