//! The one place that builds the AWS SDK configuration.

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

fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The certificate authorities a Lambda's HTTPS client trusts
/// (`AUTHGATE_TLS_ROOTS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustRoots {
    /// The system's CA bundle (`SSL_CERT_FILE`, or the platform's default
    /// locations): ~140 certificates, read and parsed at the first request
    /// of every cold start (~2 ms of CPU, the largest part of a
    /// non-hashing function's start-up).
    System,
    /// Only the Amazon Trust Services roots (`aws-roots.pem`: Amazon Root
    /// CA 1-4 and the Starfield roots cross-signing them), which the
    /// certificates of AWS service endpoints chain to. What the template
    /// deploys, outside the China regions.
    Amazon,
}

/// The Amazon Trust Services roots ([`TrustRoots::Amazon`]).
pub const AMAZON_ROOTS_PEM: &str = include_str!("aws-roots.pem");

impl TrustRoots {
    /// From `AUTHGATE_TLS_ROOTS`: `amazon`, or `system` (also when unset).
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::var("AUTHGATE_TLS_ROOTS").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("system") => Ok(Self::System),
            Some("amazon") => Ok(Self::Amazon),
            Some(other) => Err(format!(
                "AUTHGATE_TLS_ROOTS must be `amazon` or `system`, not {other:?}"
            )),
        }
    }
}

/// A Lambda's HTTPS client, built once per cold start and shared by every
/// SDK client of the function (DynamoDB, Secrets Manager, SES): one
/// connection pool, and the trust store parsed once instead of once per
/// service client.
pub fn lambda_https_client(roots: TrustRoots) -> Result<SharedHttpClient, String> {
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    Ok(match roots {
        TrustRoots::System => builder.build_https(),
        TrustRoots::Amazon => {
            let store = tls::TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM.as_bytes());
            let context = tls::TlsContext::builder()
                .with_trust_store(store)
                .build()
                .map_err(|e| format!("TLS settings: {e}"))?;
            builder.tls_context(context).build_https()
        }
    })
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
pub fn lambda_sdk_config(service: &str, http: &SharedHttpClient) -> Result<SdkConfig, String> {
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
        .http_client(http.clone());
    if let Some(url) =
        var(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| var("AWS_ENDPOINT_URL"))
    {
        builder = builder.endpoint_url(url);
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use sha2::Digest;

    /// SHA-256 of each root's DER, as Amazon Trust Services publishes them.
    const PUBLISHED: [&str; 6] = [
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e", // Amazon Root CA 1
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4", // Amazon Root CA 2
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4", // Amazon Root CA 3
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092", // Amazon Root CA 4
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5", // Starfield Services Root G2
        "1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658", // Starfield Class 2
    ];

    #[test]
    fn the_amazon_roots_are_exactly_the_published_ones_and_all_parse_as_trust_anchors() {
        let ders: Vec<CertificateDer<'_>> =
            CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let fingerprints: Vec<String> = ders
            .iter()
            .map(|d| {
                sha2::Sha256::digest(d)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        assert_eq!(fingerprints, PUBLISHED);
        let mut store = rustls::RootCertStore::empty();
        let (added, refused) = store.add_parsable_certificates(ders);
        assert_eq!((added, refused), (6, 0));
    }

    #[test]
    fn the_trust_roots_setting_is_amazon_or_system_and_nothing_else() {
        assert_eq!(TrustRoots::parse(None), Ok(TrustRoots::System));
        assert_eq!(TrustRoots::parse(Some("")), Ok(TrustRoots::System));
        assert_eq!(TrustRoots::parse(Some("system")), Ok(TrustRoots::System));
        assert_eq!(TrustRoots::parse(Some(" amazon ")), Ok(TrustRoots::Amazon));
        let e = TrustRoots::parse(Some("Amazon-only")).unwrap_err();
        assert!(e.contains("AUTHGATE_TLS_ROOTS"), "{e}");
        assert!(lambda_https_client(TrustRoots::Amazon).is_ok());
    }
}
