//! `external-auths-delete` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run(
        "external-auths-delete",
        routes::single::external_auths_delete,
        None,
    )
    .await
}
