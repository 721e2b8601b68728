//! The one place that builds the AWS SDK configuration.

use aws_config::{BehaviorVersion, SdkConfig};
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
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}
