//! `authgate`: the developer CLI.
//!
//! - `authgate serve` runs the whole API on localhost, keeping its data in
//!   `<data>/authgate.db` (SQLite; `--memory` for a throwaway in-memory
//!   store, `--dynamodb` for a DynamoDB table) and its mail in a local
//!   mailbox; a background task sends the mails the requests queue in the
//!   outbox.
//! - `authgate collections apply FILE` writes the collections config to the
//!   DynamoDB table the Lambdas read, keeping existing secrets.
//! - `authgate import pocketbase --from pb_data` moves a PocketBase app's
//!   auth collections, users (passwords and sessions keep working) and
//!   OAuth2 links into the store `serve` uses (or DynamoDB).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authgate_adapters::mailbox::LocalMailbox;
use authgate_adapters::memory::MemoryStore;
use authgate_adapters::sqlite::{SqliteStore, DB_FILE};
use authgate_adapters::system::{OsRandom, SystemClock};
use authgate_core::config::{AppConfig, Applied, ApplyError, ConfigWriter};
use authgate_core::ports::{Clock, Store};
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
        /// Data directory: the database is `<data>/authgate.db` (SQLite),
        /// mail is written to `<data>/mail/*.eml`.
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Keep everything in memory (gone when the server stops) instead of
        /// `<data>/authgate.db`.
        #[arg(long, conflicts_with = "dynamodb")]
        memory: bool,
        /// Use the DynamoDB table named by AUTHGATE_TABLE instead of
        /// `<data>/authgate.db`.
        #[arg(long)]
        dynamodb: bool,
    },
    /// Manage the collections config stored in DynamoDB.
    Collections {
        #[command(subcommand)]
        command: CollectionsCommand,
    },
    /// Import another backend's auth data.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import a PocketBase (v0.23+) app's auth collections, users (with
    /// their passwords and sessions) and OAuth2 links. Idempotent.
    Pocketbase {
        /// PocketBase's pb_data directory (or its data.db).
        #[arg(long)]
        from: PathBuf,
        /// Data directory of the local store `authgate serve --data` serves.
        #[arg(long, default_value = ".data", conflicts_with = "dynamodb")]
        data: PathBuf,
        /// Import into the DynamoDB table named by AUTHGATE_TABLE instead.
        #[arg(long)]
        dynamodb: bool,
        /// Report what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
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
            memory,
            dynamodb,
        } => {
            let store = if memory {
                StoreChoice::Memory
            } else if dynamodb {
                StoreChoice::Dynamo
            } else {
                StoreChoice::Sqlite
            };
            serve(http, config, data, store).await
        }
        Command::Collections {
            command: CollectionsCommand::Apply { file },
        } => apply(file).await,
        Command::Import {
            command:
                ImportCommand::Pocketbase {
                    from,
                    data,
                    dynamodb,
                    dry_run,
                },
        } => import_pocketbase(from, data, dynamodb, dry_run).await,
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

/// Fills secrets (keeping stored ones), validates, and stores the document
/// (unless `dry_run`). `collections apply`, `serve` and `import pocketbase`
/// (through [`CliConfig`]) all store a config here.
async fn apply_to(
    store: &dyn Store,
    doc: serde_json::Value,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let applied = authgate_core::config::apply(store, doc, &OsRandom, dry_run).await?;
    if !dry_run {
        tracing::info!(
            collections = applied.config.collections.len(),
            generated_secrets = applied.generated_secrets,
            "collections config stored"
        );
    }
    Ok(applied)
}

/// The config as the CLI stores it ([`apply_to`]), for the importer.
struct CliConfig<'a> {
    store: &'a dyn Store,
}

#[async_trait::async_trait]
impl ConfigWriter for CliConfig<'_> {
    async fn load(&self) -> Result<Option<serde_json::Value>, ApplyError> {
        Ok(self.store.load_config().await?)
    }

    async fn apply(&self, doc: serde_json::Value, dry_run: bool) -> Result<Applied, ApplyError> {
        apply_to(self.store, doc, dry_run).await
    }
}

async fn apply(file: PathBuf) -> Result<(), BoxError> {
    let doc = read_config(Some(&file))?;
    let store = authgate_http::env::dynamo_store_from_env().await?;
    store.create_table().await?;
    let cfg = apply_to(&store, doc, false).await?.config;
    println!(
        "applied {} collection(s) to table {}",
        cfg.collections.len(),
        store.table()
    );
    Ok(())
}

/// Where `serve` keeps its data.
enum StoreChoice {
    Memory,
    Sqlite,
    Dynamo,
}

/// How often `serve` deletes expired items from the SQLite file (DynamoDB
/// does it with its TTL; the memory store lives too briefly to need it).
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

async fn import_pocketbase(
    from: PathBuf,
    data: PathBuf,
    dynamodb: bool,
    dry_run: bool,
) -> Result<(), BoxError> {
    use authgate_adapters::pocketbase::{import, source::Source, Options};
    // A wrong --from fails before any store is opened (or created).
    drop(Source::open(&from)?);
    let choice = if dynamodb {
        StoreChoice::Dynamo
    } else if dry_run && !data.join(DB_FILE).exists() {
        // Nothing stored yet: a dry run compares with an empty store rather
        // than creating the file.
        StoreChoice::Memory
    } else {
        StoreChoice::Sqlite
    };
    let (store, kept_in) = open_store(choice, &data, false).await?;
    let opts = Options {
        dry_run,
        progress: true,
    };
    let config = CliConfig {
        store: store.as_ref(),
    };
    let report = import(store.clone(), &config, &from, &opts, SystemClock.now()).await?;
    print!("{report}");
    println!("store: {kept_in}");
    Ok(())
}

/// Opens the store of `choice` (`data` holds the SQLite file) and says
/// where the data is kept; `purge` starts the SQLite store's expiry task.
async fn open_store(
    choice: StoreChoice,
    data: &std::path::Path,
    purge: bool,
) -> Result<(Arc<dyn Store>, String), BoxError> {
    Ok(match choice {
        StoreChoice::Memory => (Arc::new(MemoryStore::new()), "memory, not kept".to_owned()),
        StoreChoice::Dynamo => {
            let s = authgate_http::env::dynamo_store_from_env().await?;
            s.create_table().await?;
            let table = format!("DynamoDB table {}", s.table());
            (Arc::new(s), table)
        }
        StoreChoice::Sqlite => {
            let path = data.join(DB_FILE);
            let s = tokio::task::spawn_blocking(move || SqliteStore::open(&path)).await??;
            let kept_in = s.path().display().to_string();
            if purge {
                spawn_purge(s.clone());
            }
            (Arc::new(s), kept_in)
        }
    })
}

async fn serve(
    addr: SocketAddr,
    config: Option<PathBuf>,
    data: PathBuf,
    choice: StoreChoice,
) -> Result<(), BoxError> {
    let (store, kept_in) = open_store(choice, &data, true).await?;
    // Without --config, a stored config (an earlier run's, or what
    // `authgate import pocketbase` wrote) is served as it is.
    let doc = match (&config, store.load_config().await?) {
        (None, Some(stored)) => stored,
        _ => read_config(config.as_ref())?,
    };
    let cfg = apply_to(store.as_ref(), doc, false).await?.config;
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
        "Authgate listening on http://{local} (data: {kept_in}; mail: {})",
        mail_dir.display()
    );
    authgate_http::serve(listener, state).await?;
    Ok(())
}

/// Deletes expired OTPs, MFA sessions, counter windows and outbox mail now
/// and every [`PURGE_INTERVAL`]; reads never depend on it.
fn spawn_purge(store: SqliteStore) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(PURGE_INTERVAL);
        loop {
            ticker.tick().await;
            if let Err(e) = store.purge_expired(SystemClock.now()).await {
                tracing::warn!(error = %e, "purging expired items failed");
            }
        }
    });
}
