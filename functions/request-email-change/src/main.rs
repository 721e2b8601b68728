//! `request-email-change` Lambda: the shared router, wired once per cold start.

#[tokio::main]
async fn main() -> Result<(), authgate_http::lambda::BoxError> {
    authgate_http::lambda::run("request-email-change").await
}
