//! `confirm-password-reset` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run(
        "confirm-password-reset",
        routes::single::confirm_password_reset,
        None,
    )
    .await
}
