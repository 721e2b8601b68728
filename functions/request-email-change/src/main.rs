//! `request-email-change` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run(
        "request-email-change",
        routes::single::request_email_change,
        None,
    )
    .await
}
