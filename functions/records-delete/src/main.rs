//! `records-delete` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run("records-delete", routes::single::records_delete, None).await
}
