//! `authgate`: the developer CLI.
//!
//! - `authgate serve` runs the whole API on localhost, keeping its data in
//!   `<data>/authgate.db` (SQLite; `--memory` for a throwaway in-memory
//!   store, `--dynamodb` for a DynamoDB table) and its mail in a local
//!   mailbox; a background task sends the mails the requests queue in the
//!   outbox.
//! - `authgate collections apply FILE` writes the collections config to the
//!   DynamoDB table the Lambdas read and its secrets (token signing secrets,
//!   OAuth2 client secrets) to the stack's Secrets Manager secret, keeping
//!   existing secrets; secrets are never printed.
//! - `authgate collections rotate-secrets COLLECTION` replaces one
//!   collection's token secrets: every session of it ends.
//! - `authgate import pocketbase --from pb_data` moves a PocketBase app's
//!   auth collections, users (passwords and sessions keep working) and
//!   OAuth2 links into the store `serve` uses (or DynamoDB).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authgate_adapters::mailbox::LocalMailbox;
use authgate_adapters::memory::MemoryStore;
use authgate_adapters::secrets::{FileSecrets, MemorySecrets, SECRETS_FILE};
use authgate_adapters::secrets_manager::SecretsManagerSecrets;
use authgate_adapters::sqlite::{SqliteStore, DB_FILE};
use authgate_adapters::system::{OsRandom, SystemClock};
use authgate_core::config::{
    collection_id, has_inline_secrets, load_deployed, rotate_token_secrets, AppConfig, Applied,
    ApplyError,
};
use authgate_core::ports::{Clock, SecretStore, Store};
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
        /// the token and OAuth2 client secrets `<data>/secrets.json` (mode
        /// 0600, never in the database), mail `<data>/mail/*.eml`.
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
    /// Manage the collections config stored in DynamoDB (table
    /// AUTHGATE_TABLE) and its secrets (Secrets Manager secret
    /// AUTHGATE_SECRET_ID: the stack's `SecretArn` output).
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
    /// Validate FILE and store it: secrets in the secret store, the rest in
    /// the table (idempotent; secrets already stored are kept, missing ones
    /// generated; secrets found in the table are moved out and the token
    /// ones rotated). Never prints a secret.
    Apply { file: PathBuf },
    /// Replace the five token secrets (auth, verification, password reset,
    /// email change, file) of one auth collection: every session and every
    /// mailed link of that collection stops working within the functions'
    /// config TTL; other collections are untouched.
    RotateSecrets {
        /// Collection id or name.
        collection: String,
    },
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
        Command::Collections {
            command: CollectionsCommand::RotateSecrets { collection },
        } => rotate_secrets(&collection).await,
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
/// (unless `dry_run`): its secrets in `secrets`, the rest in `store`
/// (`config::apply`). Secrets found in the stored config item (written
/// before the secret store existed) are never kept: the table and its
/// backups may have been read, so the token secrets are generated anew
/// unless the document names them. `collections apply`, `serve` and
/// `import pocketbase` all store a config through here.
async fn apply_to(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    doc: serde_json::Value,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let applied = authgate_core::config::apply(store, secrets, doc, &OsRandom, dry_run).await?;
    if dry_run {
        return Ok(applied);
    }
    if applied.moved_inline_secrets {
        tracing::warn!(
            "the stored config held secrets: moved to the secret store, token secrets rotated \
             (every session ends; the old values remain in the table's point-in-time backups)"
        );
    }
    tracing::info!(
        collections = applied.config.collections.len(),
        generated_secrets = applied.generated_secrets,
        "collections config stored"
    );
    Ok(applied)
}

/// The table and the secret store the CLI administers (AUTHGATE_TABLE,
/// AUTHGATE_SECRET_ID).
async fn deployed_stores() -> Result<
    (
        authgate_adapters::dynamodb::DynamoStore,
        SecretsManagerSecrets,
    ),
    BoxError,
> {
    let store = authgate_http::env::dynamo_store_from_env().await?;
    let secret_id = std::env::var(authgate_http::env::vars::SECRET_ID)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or("AUTHGATE_SECRET_ID is not set: the stack's SecretArn output")?;
    let sdk = authgate_adapters::aws::sdk_config().await;
    let secrets = SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(&sdk), secret_id);
    Ok((store, secrets))
}

async fn apply(file: PathBuf) -> Result<(), BoxError> {
    let doc = read_config(Some(&file))?;
    let (store, secrets) = deployed_stores().await?;
    store.create_table().await?;
    let cfg = apply_to(&store, &secrets, doc, false).await?.config;
    println!(
        "applied {} collection(s) to table {} (secrets in {})",
        cfg.collections.len(),
        store.table(),
        secrets.secret_id()
    );
    Ok(())
}

/// Gives auth collection `wanted` (id or name) five new token secrets.
async fn rotate_in(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    wanted: &str,
) -> Result<(String, String), BoxError> {
    let doc = store
        .load_config()
        .await?
        .ok_or("no collections config stored: run `authgate collections apply FILE` first")?;
    if has_inline_secrets(&doc) {
        return Err(
            "the config item still holds secrets: run `authgate collections apply FILE` \
                    first (it moves them to the secret store and rotates them)"
                .into(),
        );
    }
    let list = doc["collections"].as_array().cloned().unwrap_or_default();
    let coll = list
        .iter()
        .find(|c| collection_id(c) == wanted)
        .or_else(|| list.iter().find(|c| c["name"].as_str() == Some(wanted)))
        .ok_or_else(|| format!("no collection {wanted:?}"))?;
    if coll["type"].as_str() != Some("auth") {
        return Err(
            format!("{wanted:?} is not an auth collection: it has no token secrets").into(),
        );
    }
    let id = collection_id(coll);
    let name = coll["name"].as_str().unwrap_or_default().to_owned();
    // Without the stored document, writing one collection's secrets would
    // leave every other collection without its own.
    let mut current = secrets.load_secrets().await?.ok_or(
        "no secrets stored in the secret store: run `authgate collections apply FILE` first",
    )?;
    rotate_token_secrets(&mut current, &id, &OsRandom);
    secrets.save_secrets(&current).await?;
    tracing::info!(collection = %id, "token secrets rotated");
    Ok((id, name))
}

async fn rotate_secrets(collection: &str) -> Result<(), BoxError> {
    let (store, secrets) = deployed_stores().await?;
    let (id, name) = rotate_in(&store, &secrets, collection).await?;
    println!(
        "rotated the token secrets of collection {name} ({id}): its sessions and mailed links \
         stop working once the functions re-read their config (AUTHGATE_CONFIG_TTL_SECS)"
    );
    Ok(())
}

async fn import_pocketbase(
    from: PathBuf,
    data: PathBuf,
    dynamodb: bool,
    dry_run: bool,
) -> Result<(), BoxError> {
    use authgate_adapters::pocketbase::{import, source::Source, Options};
    // A wrong --from fails before any store is opened (or created).
    drop(Source::open(&from)?);
    // Where `collections apply` writes (DynamoDB) or what `serve --data`
    // serves (SQLite, secrets beside it).
    let (store, secrets, kept_in): (Arc<dyn Store>, Box<dyn SecretStore>, String) = if dynamodb {
        let (store, secrets) = deployed_stores().await?;
        store.create_table().await?;
        let kept_in = format!(
            "table {}, secrets in {}",
            store.table(),
            secrets.secret_id()
        );
        (Arc::new(store), Box::new(secrets), kept_in)
    } else {
        let path = data.join(DB_FILE);
        if dry_run && !path.exists() {
            // Nothing stored yet: a dry run compares with an empty store
            // rather than creating the files.
            let store = Arc::new(MemoryStore::new());
            let none = "nothing stored yet".to_owned();
            (store, Box::new(MemorySecrets::new()), none)
        } else {
            // As `serve --data`: the database (opened first: its lock keeps
            // a running server away) and the secrets file beside it.
            let s = tokio::task::spawn_blocking(move || SqliteStore::open(&path)).await??;
            let kept_in = s.path().display().to_string();
            let secrets = FileSecrets::new(data.join(SECRETS_FILE));
            (Arc::new(s), Box::new(secrets), kept_in)
        }
    };
    let opts = Options {
        dry_run,
        progress: true,
    };
    let config = CliConfig {
        store: store.as_ref(),
        secrets: secrets.as_ref(),
    };
    let report = import(store.clone(), &config, &from, &opts, SystemClock.now()).await?;
    print!("{report}");
    println!("store: {kept_in}");
    Ok(())
}

/// The config as the CLI stores it ([`apply_to`]), for the importer.
struct CliConfig<'a> {
    store: &'a dyn Store,
    secrets: &'a dyn SecretStore,
}

#[async_trait::async_trait]
impl authgate_core::config::ConfigWriter for CliConfig<'_> {
    async fn load(&self) -> Result<Option<serde_json::Value>, ApplyError> {
        load_deployed(self.store, self.secrets).await
    }

    async fn apply(&self, doc: serde_json::Value, dry_run: bool) -> Result<Applied, ApplyError> {
        apply_to(self.store, self.secrets, doc, dry_run).await
    }
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

async fn serve(
    addr: SocketAddr,
    config: Option<PathBuf>,
    data: PathBuf,
    choice: StoreChoice,
) -> Result<(), BoxError> {
    // The secrets never go into the store (as in AWS, where they live in
    // Secrets Manager): `<data>/secrets.json`, mode 0600, beside the
    // database; only `--memory` keeps them in memory with everything else.
    let file_secrets =
        || -> Arc<dyn SecretStore> { Arc::new(FileSecrets::new(data.join(SECRETS_FILE))) };
    let (store, secrets, kept_in): (Arc<dyn Store>, Arc<dyn SecretStore>, String) = match choice {
        StoreChoice::Memory => (
            Arc::new(MemoryStore::new()),
            Arc::new(MemorySecrets::new()),
            "memory, not kept".to_owned(),
        ),
        StoreChoice::Dynamo => {
            let s = authgate_http::env::dynamo_store_from_env().await?;
            s.create_table().await?;
            let table = format!("DynamoDB table {}", s.table());
            (Arc::new(s), file_secrets(), table)
        }
        StoreChoice::Sqlite => {
            // Opened first: its lock file also keeps a second server from
            // writing the secrets file.
            let path = data.join(DB_FILE);
            let s = tokio::task::spawn_blocking(move || SqliteStore::open(&path)).await??;
            let kept_in = s.path().display().to_string();
            spawn_purge(s.clone());
            (Arc::new(s), file_secrets(), kept_in)
        }
    };
    // Without --config, the config already stored (an earlier run's, or
    // what `authgate import pocketbase` wrote) is served as it is.
    let doc = match (
        &config,
        load_deployed(store.as_ref(), secrets.as_ref()).await?,
    ) {
        (None, Some(stored)) => stored,
        _ => read_config(config.as_ref())?,
    };
    let cfg = apply_to(store.as_ref(), secrets.as_ref(), doc, false)
        .await?
        .config;
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
