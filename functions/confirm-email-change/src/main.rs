//! `confirm-email-change` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run(
        "confirm-email-change",
        routes::single::confirm_email_change,
        None,
    )
    .await
}
