//! `auth-with-oauth2` Lambda: the shared router, wired once per cold start.

#[tokio::main]
async fn main() -> Result<(), authgate_http::lambda::BoxError> {
    authgate_http::lambda::run("auth-with-oauth2").await
}
