//! Authgate's HTTP layer: one axum [`router`] that the Lambdas, the local
//! server and the tests all run, so they cannot drift apart.
//!
//! Handlers translate: find the collection, read the input, call the
//! service, render. Status codes are chosen in [`error`] only.

pub mod client;
pub mod config_source;
pub mod env;
pub mod error;
pub mod extract;
pub mod fields;
pub mod lambda;
pub mod local_sender;
pub mod mailer;
mod middleware;
mod no_store;
pub mod rate_limit;
pub mod routes;
pub mod state;

pub use routes::router;
pub use state::AppState;

/// Serves the router on a TCP listener (local server, tests), recording
/// each connection's peer address as the client IP.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    use axum::extract::{ConnectInfo, Request};
    use std::net::SocketAddr;
    let app = router(state).layer(axum::middleware::map_request(
        |mut req: Request| async move {
            if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
                let ip = client::ClientIp(addr.ip().to_string());
                req.extensions_mut().insert(ip);
            }
            req
        },
    ));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
