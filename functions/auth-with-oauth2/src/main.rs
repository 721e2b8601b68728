//! `auth-with-oauth2` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{env, lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run(
        "auth-with-oauth2",
        routes::single::auth_with_oauth2,
        Some(env::oauth2_client),
    )
    .await
}
