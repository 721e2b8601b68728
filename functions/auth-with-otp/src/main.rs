//! `auth-with-otp` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run("auth-with-otp", routes::single::auth_with_otp, None).await
}
