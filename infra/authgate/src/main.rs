//! `authgate`: the developer CLI.
//!
//! - `authgate serve` runs the whole API on localhost with an embedded store
//!   and a local mailbox (or DynamoDB with `--dynamodb`); a background task
//!   sends the mails the requests queue in the outbox.
//! - `authgate collections apply FILE` writes the collections config to the
//!   DynamoDB table the Lambdas read, keeping existing secrets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use authgate_adapters::mailbox::LocalMailbox;
use authgate_adapters::memory::MemoryStore;
use authgate_adapters::system::{OsRandom, SystemClock};
use authgate_core::config::{fill_secrets, AppConfig};
use authgate_core::ports::Store;
use authgate_core::service::Ctx;
use authgate_http::config_source::StaticConfig;
use authgate_http::env::BoxError;
use authgate_http::AppState;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "authgate",
    version,
    about = "PocketBase-compatible auth API: local server and admin CLI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole API on localhost.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        http: SocketAddr,
        /// Collections config (JSON). Without it: one `users` auth collection.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory; mail is written to `<data>/mail/*.eml`.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Use the DynamoDB table named by AUTHGATE_TABLE instead of memory.
        #[arg(long)]
        dynamodb: bool,
    },
    /// Manage the collections config stored in DynamoDB.
    Collections {
        #[command(subcommand)]
        command: CollectionsCommand,
    },
}

#[derive(Subcommand)]
enum CollectionsCommand {
    /// Validate FILE and store it in the table named by AUTHGATE_TABLE
    /// (idempotent; secrets already stored are kept, missing ones generated).
    Apply { file: PathBuf },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    authgate_http::lambda::init_tracing(false);
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        Command::Serve {
            http,
            config,
            data,
            dynamodb,
        } => serve(http, config, data, dynamodb).await,
        Command::Collections {
            command: CollectionsCommand::Apply { file },
        } => apply(file).await,
    }
}

fn read_config(path: Option<&PathBuf>) -> Result<serde_json::Value, BoxError> {
    match path {
        None => Ok(AppConfig::default_document()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            Ok(serde_json::from_str(&text)
                .map_err(|e| format!("{} is not valid JSON: {e}", p.display()))?)
        }
    }
}

/// Fills secrets (keeping stored ones), validates, and stores the document.
async fn apply_to(store: &dyn Store, mut doc: serde_json::Value) -> Result<AppConfig, BoxError> {
    let existing = store.load_config().await?;
    let generated = fill_secrets(&mut doc, existing.as_ref(), &OsRandom);
    let cfg = AppConfig::from_json(&doc).map_err(|e| format!("invalid config: {e}"))?;
    store.save_config(&doc).await?;
    tracing::info!(
        collections = cfg.collections.len(),
        generated_secrets = generated,
        "collections config stored"
    );
    Ok(cfg)
}

async fn apply(file: PathBuf) -> Result<(), BoxError> {
    let doc = read_config(Some(&file))?;
    let store = authgate_http::env::dynamo_store_from_env().await?;
    store.create_table().await?;
    let cfg = apply_to(&store, doc).await?;
    println!(
        "applied {} collection(s) to table {}",
        cfg.collections.len(),
        store.table()
    );
    Ok(())
}

async fn serve(
    addr: SocketAddr,
    config: Option<PathBuf>,
    data: PathBuf,
    dynamodb: bool,
) -> Result<(), BoxError> {
    let doc = read_config(config.as_ref())?;
    let store: Arc<dyn Store> = if dynamodb {
        let s = authgate_http::env::dynamo_store_from_env().await?;
        s.create_table().await?;
        Arc::new(s)
    } else {
        Arc::new(MemoryStore::new())
    };
    let cfg = apply_to(store.as_ref(), doc).await?;
    let mail_dir = data.join("mail");
    let mailer = Arc::new(LocalMailbox::new(mail_dir.clone()));
    let ctx = Ctx::new(store, mailer, Arc::new(SystemClock), Arc::new(OsRandom))?
        .with_hasher(authgate_http::env::hasher()?)
        .with_oauth2(Arc::new(authgate_adapters::oauth2::HttpOAuth2Client::new()?));
    let state = AppState::new(ctx, Arc::new(StaticConfig(Arc::new(cfg))))
        .with_cors_origins(authgate_http::env::cors_origins())
        .with_trusted_proxy_hops(authgate_http::env::trusted_proxy_hops()?);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // Requests only queue mail (as in AWS); this sends it, in the place of
    // the `mailer` function and the table's stream.
    authgate_http::local_sender::spawn(state.clone());
    println!(
        "Authgate listening on http://{local} (mail: {})",
        mail_dir.display()
    );
    authgate_http::serve(listener, state).await?;
    Ok(())
}
