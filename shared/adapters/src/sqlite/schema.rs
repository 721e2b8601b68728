//! The tables, and the migrations between schema versions.
//!
//! `PRAGMA user_version` holds the schema version: 0 is a new file,
//! [`SCHEMA_VERSION`] the one this binary writes. Each step in [`STEPS`]
//! takes the file one version up, in the transaction that also sets the
//! version, so a migration is all done or not at all. A file from a newer
//! authgate is refused: its meaning is unknown here.
//!
//! Times are epoch milliseconds (`INTEGER`), as in the model. Tables are
//! named for what they hold, so `sqlite3 .data/authgate.db` reads plainly.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::OpenError;

/// The schema version this binary reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// `STEPS[n]` migrates from version `n` to `n + 1`.
const STEPS: &[&str] = &[V1];

const V1: &str = "
CREATE TABLE records (
    collection_id    TEXT NOT NULL,
    id               TEXT NOT NULL,
    email            TEXT NOT NULL,
    email_visibility INTEGER NOT NULL,
    verified         INTEGER NOT NULL,
    password_hash    TEXT NOT NULL,
    token_key        TEXT NOT NULL,
    created          INTEGER NOT NULL,
    updated          INTEGER NOT NULL,
    -- the collection's own fields, as a JSON object
    fields           TEXT NOT NULL,
    -- optimistic concurrency: bumped by every update
    version          INTEGER NOT NULL,
    PRIMARY KEY (collection_id, id)
) WITHOUT ROWID;

-- One row per unique value (email, unique fields): the primary key keeps a
-- value to one record; the foreign key keeps every marker on a live record
-- (checked at commit, so a record and its markers change in any order
-- within one transaction).
CREATE TABLE unique_values (
    collection_id TEXT NOT NULL,
    field         TEXT NOT NULL,
    value         TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    PRIMARY KEY (collection_id, field, value),
    FOREIGN KEY (collection_id, record_id) REFERENCES records (collection_id, id)
        DEFERRABLE INITIALLY DEFERRED
) WITHOUT ROWID;
CREATE INDEX unique_values_by_record ON unique_values (collection_id, record_id);

-- Fixed windows: rate limits, throttles, attempt caps.
CREATE TABLE counters (
    key        TEXT PRIMARY KEY,
    hits       INTEGER NOT NULL,
    window_end INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE otps (
    collection_id TEXT NOT NULL,
    id            TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    sent_to       TEXT NOT NULL,
    created       INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (collection_id, id)
) WITHOUT ROWID;

CREATE TABLE mfa_sessions (
    collection_id TEXT NOT NULL,
    id            TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    method        TEXT NOT NULL,
    created       INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (collection_id, id)
) WITHOUT ROWID;

-- OAuth2 identity links: the primary key links an identity to one record.
CREATE TABLE external_auths (
    collection_id TEXT NOT NULL,
    provider      TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    created       INTEGER NOT NULL,
    PRIMARY KEY (collection_id, provider, provider_id)
) WITHOUT ROWID;
CREATE INDEX external_auths_by_record ON external_auths (collection_id, record_id);

-- Mails waiting to be sent; `seq` keeps arrival order among equal `created`.
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    collection_id TEXT NOT NULL,
    flow          TEXT NOT NULL,
    sealed        TEXT NOT NULL,
    decoy         INTEGER NOT NULL,
    created       INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    -- when a sender claimed it; NULL while it waits
    claimed_at    INTEGER
);
CREATE INDEX outbox_by_created ON outbox (created, seq);

-- The collections config document (JSON), one row.
CREATE TABLE config (
    name TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
) WITHOUT ROWID;
";

/// Brings the file at `db` (open on `conn`) to [`SCHEMA_VERSION`].
pub(super) fn migrate(conn: &mut Connection, db: &Path) -> Result<(), OpenError> {
    let sqlite = |e: rusqlite::Error| OpenError::Sqlite {
        db: db.to_path_buf(),
        reason: e.to_string(),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(sqlite)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            db: db.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    let from = usize::try_from(found).map_err(|_| OpenError::Sqlite {
        db: db.to_path_buf(),
        reason: format!("invalid schema version {found}"),
    })?;
    for step in STEPS.iter().skip(from) {
        tx.execute_batch(step).map_err(sqlite)?;
    }
    if found < SCHEMA_VERSION {
        // PRAGMA takes no parameters; the value is our own constant.
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(sqlite)?;
    }
    tx.commit().map_err(sqlite)
}
