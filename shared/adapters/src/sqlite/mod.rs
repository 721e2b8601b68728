//! The local store of `authgate serve`: every port on one SQLite file,
//! `<data>/authgate.db`, with the semantics of the DynamoDB store.
//!
//! - **One writer.** Every write runs on one connection behind a mutex, in
//!   one `BEGIN IMMEDIATE` transaction per port call, so a record and its
//!   unique markers, an OTP and its mail, a counter's read-and-bump are
//!   written all together or not at all. Reads use a small pool of other
//!   connections; WAL lets them run beside the writer and see every
//!   committed write.
//! - **Never on the executor.** rusqlite blocks; each call runs on
//!   `tokio::task::spawn_blocking`.
//! - **Durability.** WAL with `synchronous=NORMAL`: a commit is in the WAL
//!   file (in the OS page cache) before the call returns, so it survives the
//!   process being killed (`kill -9`, a panic, OOM); only an OS crash or
//!   power loss can take the last commits since the last checkpoint. `FULL`
//!   would add an fsync to every write, every rate-limit hit included; the
//!   trade is PocketBase's too.
//! - **One process.** An exclusive lock on `authgate.db.lock` beside the
//!   file keeps a second `authgate` off the same database (the OS drops the
//!   lock when the process dies, kill -9 included); other SQLite clients
//!   (`sqlite3`) still work, waiting up to [`BUSY_TIMEOUT`] for the writer.
//! - **Schema.** `PRAGMA user_version` names the schema (`schema`); a newer
//!   one than this binary knows is refused, never guessed at.
//!
//! Layout as in `dynamodb/`: this file opens the store and runs work on its
//! connections; `schema` creates and migrates the tables; one file per port
//! family: `records`, `counters`, `single_use` (OTPs and MFA sessions),
//! `links` (OAuth2 identities), `outbox`, `config`.

mod config;
mod counters;
mod links;
mod outbox;
mod records;
mod schema;
mod single_use;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authgate_core::model::Timestamp;
use authgate_core::ports::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub use schema::SCHEMA_VERSION;

/// The database's file name in the data directory.
pub const DB_FILE: &str = "authgate.db";

/// How long a statement waits for a lock held by another connection (the
/// writer, a checkpoint, a `sqlite3` shell) before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader connections kept open for reuse.
const IDLE_READERS: usize = 8;

/// Why the store could not be opened: each is one clear line for the CLI.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data directory {dir} is not writable: {reason}")]
    NotWritable { dir: PathBuf, reason: String },
    #[error(
        "database {db} is in use by another authgate process (lock held on {lock}); stop it first"
    )]
    Locked { db: PathBuf, lock: PathBuf },
    #[error(
        "database {db} has schema version {found}, newer than this authgate knows ({known}); \
         run a newer authgate"
    )]
    NewerSchema { db: PathBuf, found: i64, known: i64 },
    #[error("cannot open database {db}: {reason}")]
    Sqlite { db: PathBuf, reason: String },
}

/// SQLite implementation of every store port (see the module docs).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Held (locked) for the store's life.
    _lock: File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at
    /// `path`, takes the process lock and brings the schema up to date.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let not_writable = |reason: String| OpenError::NotWritable {
            dir: dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| not_writable(e.to_string()))?;
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| not_writable(e.to_string()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    db: path.to_path_buf(),
                    lock: lock_path,
                })
            }
            Err(TryLockError::Error(e)) => {
                return Err(not_writable(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )))
            }
        }
        let sqlite = |e: rusqlite::Error| open_error(path, &dir, e);
        let mut writer = connect(path).map_err(sqlite)?;
        if writer.is_readonly(rusqlite::MAIN_DB).map_err(sqlite)? {
            return Err(not_writable(format!("{} is read-only", path.display())));
        }
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        schema::migrate(&mut writer, path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                _lock: lock,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction on the writer, off
    /// the async executor. An `Err` from `work` rolls everything back.
    async fn write<T, F>(&self, op: &'static str, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(op, move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| StoreError::Backend("SQLite writer lock poisoned".into()))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| backend(op, e))?;
            let out = work(&tx)?;
            tx.commit().map_err(|e| backend(op, e))?;
            Ok(out)
        })
        .await
    }

    /// Runs `work` on a reader connection, off the async executor.
    async fn read<T, F>(&self, op: &'static str, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(op, move || {
            let idle = inner
                .readers
                .lock()
                .map_err(|_| StoreError::Backend("SQLite reader pool poisoned".into()))?
                .pop();
            let conn = match idle {
                Some(c) => c,
                None => connect(&inner.path).map_err(|e| backend(op, e))?,
            };
            let out = work(&conn);
            if let Ok(mut idle) = inner.readers.lock() {
                if idle.len() < IDLE_READERS {
                    idle.push(conn);
                }
            }
            out
        })
        .await
    }

    /// Deletes what has expired at `now` (OTPs, MFA sessions, ended counter
    /// windows, outbox mail kept past its replay time): DynamoDB's TTL, run
    /// by `authgate serve` now and then. Reads never rely on it; they
    /// compare the timestamps themselves. Returns the rows deleted.
    pub async fn purge_expired(&self, now: Timestamp) -> StoreResult<usize> {
        self.write("purge expired", move |tx| {
            let mut n = 0;
            for sql in [
                "DELETE FROM otps WHERE expires_at <= ?1",
                "DELETE FROM mfa_sessions WHERE expires_at <= ?1",
                "DELETE FROM counters WHERE window_end <= ?1",
                "DELETE FROM outbox WHERE expires_at <= ?1",
            ] {
                n += tx
                    .execute(sql, [now.0])
                    .map_err(|e| backend("purge expired", e))?;
            }
            Ok(n)
        })
        .await
    }
}

/// The lock file beside the database: `authgate.db.lock`.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// A connection with the settings every one shares.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn open_error(db: &Path, dir: &Path, e: rusqlite::Error) -> OpenError {
    use rusqlite::ErrorCode::{CannotOpen, ReadOnly};
    let reason = e.to_string();
    match e.sqlite_error_code() {
        Some(ReadOnly | CannotOpen) => OpenError::NotWritable {
            dir: dir.to_path_buf(),
            reason,
        },
        _ => OpenError::Sqlite {
            db: db.to_path_buf(),
            reason,
        },
    }
}

/// Runs `work` on the blocking pool.
async fn blocking<T, F>(op: &'static str, work: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend(format!("SQLite {op}: worker failed: {e}")))?
}

/// A SQLite failure, for logs.
fn backend(op: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("SQLite {op} failed: {e}"))
}

/// `map_err` helper: `.map_err(fail("insert record"))`.
fn fail(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| backend(op, e)
}
