//! `mailer` Lambda: the table's stream hands it new outbox items; it sends
//! them (see `authgate_http::mailer`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), authgate_http::lambda::BoxError> {
    authgate_http::mailer::run().await
}
