//! `external-auths-list` Lambda: that endpoint alone, wired once per cold start.

use authgate_http::{lambda, routes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::BoxError> {
    lambda::run(
        "external-auths-list",
        routes::single::external_auths_list,
        None,
    )
    .await
}
