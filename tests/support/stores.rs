//! Stores beyond the default in-memory one: [`sqlite_store`] here, the
//! DynamoDB one in [`crate::emulators::dynamo_store`].

use std::sync::Arc;

use authgate_adapters::sqlite::{SqliteStore, DB_FILE};

use crate::names::temp_dir;

/// A `SqliteStore` on a fresh file in a temp directory of its own.
pub fn sqlite_store() -> Arc<SqliteStore> {
    let path = temp_dir("sqlite").join(DB_FILE);
    match SqliteStore::open(&path) {
        Ok(store) => Arc::new(store),
        Err(e) => panic!("cannot open a SQLite store at {}: {e}", path.display()),
    }
}
