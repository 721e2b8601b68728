//! `request-verification` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run(
        "request-verification",
        routes::single::request_verification,
        None,
    )
    .await
}
