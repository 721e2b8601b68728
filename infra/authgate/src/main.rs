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
    collection_id, fill_secrets, has_inline_secrets, merge_secrets, rotate_token_secrets,
    split_secrets, AppConfig,
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

/// Fills secrets (keeping stored ones), validates, and stores the document:
/// its secrets in `secrets`, the rest in `store`. Secrets found in the stored
/// config item (written before the secret store existed) are never kept: the
/// table and its backups may have been read, so the token secrets are
/// generated anew unless FILE names them.
async fn apply_to(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    mut doc: serde_json::Value,
) -> Result<AppConfig, BoxError> {
    let existing = store.load_config().await?;
    let stored = secrets.load_secrets().await?;
    let moved = existing.as_ref().is_some_and(has_inline_secrets);
    // What is deployed: the stored document (or, on a first apply, FILE
    // itself) without inline secrets, with the secret store's ones.
    let mut deployed = existing.unwrap_or_else(|| doc.clone());
    split_secrets(&mut deployed);
    if let Some(stored) = &stored {
        merge_secrets(&mut deployed, stored);
    }
    let generated = fill_secrets(&mut doc, Some(&deployed), &OsRandom);
    let cfg = AppConfig::from_json(&doc).map_err(|e| format!("invalid config: {e}"))?;
    let new_secrets = split_secrets(&mut doc);
    // Secrets first: a function reading in between merges the new secrets
    // into the old document, never old secrets into a new one.
    secrets.save_secrets(&new_secrets).await?;
    store.save_config(&doc).await?;
    if moved {
        tracing::warn!(
            "the stored config held secrets: moved to the secret store, token secrets rotated \
             (every session ends; the old values remain in the store's backups)"
        );
    }
    tracing::info!(
        collections = cfg.collections.len(),
        generated_secrets = generated,
        "collections config stored"
    );
    Ok(cfg)
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
    let cfg = apply_to(&store, &secrets, doc).await?;
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
    let doc = read_config(config.as_ref())?;
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
    let cfg = apply_to(store.as_ref(), secrets.as_ref(), doc).await?;
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
