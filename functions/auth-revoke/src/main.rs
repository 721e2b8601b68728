//! `auth-revoke` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run("auth-revoke", routes::single::auth_revoke, None).await
}
