//! Reading PocketBase's `data.db` (v0.23+ schema), read-only: the schema
//! checks, the collections, the records of an auth collection (in pages),
//! the OAuth2 links and the app settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde_json::{Map, Value};

use super::ImportError;

/// The newest system migration of the PocketBase release this importer was
/// checked against (v0.40.6): a `data.db` migrated further was written by a
/// newer PocketBase whose schema may differ.
pub const NEWEST_KNOWN_MIGRATION: i64 = 1_778_828_400;
pub const CHECKED_RELEASE: &str = "v0.40.6";

/// How long a read waits for a lock held by a running PocketBase.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The columns of `_collections` this importer reads.
const COLLECTION_COLUMNS: [&str; 11] = [
    "id",
    "type",
    "name",
    "fields",
    "indexes",
    "listRule",
    "viewRule",
    "createRule",
    "updateRule",
    "deleteRule",
    "options",
];

/// One row of `_collections`, its JSON columns parsed.
#[derive(Debug, Clone)]
pub struct PbCollection {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub system: bool,
    pub fields: Vec<Value>,
    pub indexes: Vec<String>,
    /// `listRule` … `deleteRule` (`None` is SQL NULL: locked).
    pub rules: Vec<(&'static str, Option<String>)>,
    pub options: Map<String, Value>,
}

/// One row of `_externalAuths`.
#[derive(Debug, Clone)]
pub struct PbExternalAuth {
    pub collection_ref: String,
    pub record_ref: String,
    pub provider: String,
    pub provider_id: String,
    pub created: String,
}

/// An open, read-only `data.db`, inside one read transaction so that every
/// read sees the same snapshot even while PocketBase runs.
pub struct Source {
    conn: Connection,
    pub path: PathBuf,
}

fn db_error(path: &Path, e: rusqlite::Error) -> ImportError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            ImportError::Locked(path.to_path_buf())
        }
        Some(ErrorCode::NotADatabase) => {
            ImportError::NotPocketBase(path.to_path_buf(), "not an SQLite database".into())
        }
        _ => ImportError::Read(format!("{}: {e}", path.display())),
    }
}

impl Source {
    /// Opens `pb_data/data.db` read-only and checks its schema.
    pub fn open(pb_data: &Path) -> Result<Self, ImportError> {
        let path = if pb_data.is_dir() {
            pb_data.join("data.db")
        } else {
            pb_data.to_path_buf()
        };
        if !path.is_file() {
            return Err(ImportError::NotFound(pb_data.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_error(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_error(&path, e))?;
        conn.execute_batch("BEGIN DEFERRED")
            .map_err(|e| db_error(&path, e))?;
        let source = Self { conn, path };
        source.check_schema()?;
        Ok(source)
    }

    fn err(&self, e: rusqlite::Error) -> ImportError {
        db_error(&self.path, e)
    }

    fn tables(&self) -> Result<Vec<String>, ImportError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The column names of `table`.
    pub fn columns(&self, table: &str) -> Result<Vec<String>, ImportError> {
        let mut stmt = self
            .conn
            .prepare(&format!("PRAGMA table_info({})", quote(table)))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(1))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// v0.23+ has `_collections` with `fields` and `options` columns and
    /// `_superusers`; before it, `_admins` and a `schema` column.
    fn check_schema(&self) -> Result<(), ImportError> {
        let tables = self.tables()?;
        let has = |t: &str| tables.iter().any(|x| x == t);
        if !has("_collections") {
            let why = if tables.is_empty() {
                "an empty database".to_owned()
            } else {
                "no _collections table".to_owned()
            };
            return Err(ImportError::NotPocketBase(self.path.clone(), why));
        }
        let columns = self.columns("_collections")?;
        let old = has("_admins") || columns.iter().any(|c| c == "schema");
        if old {
            return Err(ImportError::TooOld(self.path.clone()));
        }
        let missing: Vec<&str> = COLLECTION_COLUMNS
            .iter()
            .copied()
            .filter(|c| !columns.iter().any(|x| x == c))
            .collect();
        if !missing.is_empty() || !has("_externalAuths") {
            return Err(ImportError::UnknownSchema(
                self.path.clone(),
                format!(
                    "_collections lacks {} or there is no _externalAuths table",
                    missing.join(", ")
                ),
            ));
        }
        if let Some(newest) = self.newest_system_migration()? {
            if newest.0 > NEWEST_KNOWN_MIGRATION {
                return Err(ImportError::TooNew(self.path.clone(), newest.1));
            }
        }
        Ok(())
    }

    /// PocketBase's own migrations are recorded as `<unix time>_<name>.go`
    /// (an app's JS migrations end in `.js` and are not looked at).
    fn newest_system_migration(&self) -> Result<Option<(i64, String)>, ImportError> {
        let mut stmt = match self.conn.prepare("SELECT file FROM _migrations") {
            Ok(s) => s,
            Err(_) => return Ok(None),
        };
        let files = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(files
            .into_iter()
            .filter(|f| f.ends_with(".go"))
            .filter_map(|f| {
                let stamp = f.split('_').next()?.parse::<i64>().ok()?;
                Some((stamp, f))
            })
            .max())
    }

    /// Every collection, in creation order.
    pub fn collections(&self) -> Result<Vec<PbCollection>, ImportError> {
        let has_system = self.columns("_collections")?.iter().any(|c| c == "system");
        let sql = format!(
            "SELECT id, type, name, fields, indexes, listRule, viewRule, createRule, updateRule, \
             deleteRule, options, {} FROM _collections ORDER BY created, id",
            if has_system { "system" } else { "0" }
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let text = |i: usize| -> rusqlite::Result<String> {
                    Ok(as_text(r.get_ref(i)?).unwrap_or_default())
                };
                let rule =
                    |i: usize| -> rusqlite::Result<Option<String>> { Ok(as_text(r.get_ref(i)?)) };
                Ok((
                    text(0)?,
                    text(1)?,
                    text(2)?,
                    text(3)?,
                    text(4)?,
                    [rule(5)?, rule(6)?, rule(7)?, rule(8)?, rule(9)?],
                    text(10)?,
                    r.get_ref(11)?.as_i64().unwrap_or(0) != 0,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, name, fields, indexes, rules, options, system) =
                row.map_err(|e| self.err(e))?;
            let bad = |what: &str| {
                ImportError::Read(format!("collection {name:?}: {what} is not valid JSON"))
            };
            let fields: Vec<Value> = serde_json::from_str(&fields).map_err(|_| bad("fields"))?;
            let indexes: Vec<String> =
                serde_json::from_str(&indexes).map_err(|_| bad("indexes"))?;
            let options: Map<String, Value> = if options.trim().is_empty() {
                Map::new()
            } else {
                serde_json::from_str(&options).map_err(|_| bad("options"))?
            };
            let [list, view, create, update, delete] = rules;
            out.push(PbCollection {
                id,
                name,
                kind,
                system,
                fields,
                indexes,
                rules: vec![
                    ("listRule", list),
                    ("viewRule", view),
                    ("createRule", create),
                    ("updateRule", update),
                    ("deleteRule", delete),
                ],
                options,
            });
        }
        Ok(out)
    }

    /// How many rows `table` has.
    pub fn count(&self, table: &str) -> Result<u64, ImportError> {
        self.conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", quote(table)), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.err(e))
    }

    /// Up to `limit` rows of `table` with an id after `after`, by id: each
    /// row as column name → JSON value (TEXT as string, INTEGER and REAL as
    /// numbers, NULL as null, BLOB as UTF-8 text when it is).
    pub fn page(
        &self,
        table: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Map<String, Value>>, ImportError> {
        let sql = format!(
            "SELECT * FROM {} WHERE id > ?1 ORDER BY id LIMIT ?2",
            quote(table)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let rows = stmt
            .query_map(rusqlite::params![after, limit as i64], |r| {
                let mut m = Map::new();
                for (i, name) in names.iter().enumerate() {
                    m.insert(name.clone(), to_json(r.get_ref(i)?));
                }
                Ok(m)
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every row of `_externalAuths`.
    pub fn external_auths(&self) -> Result<Vec<PbExternalAuth>, ImportError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT collectionRef, recordRef, provider, providerId, created \
                 FROM _externalAuths ORDER BY created, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let text = |i: usize| -> rusqlite::Result<String> {
                    Ok(as_text(r.get_ref(i)?).unwrap_or_default())
                };
                Ok(PbExternalAuth {
                    collection_ref: text(0)?,
                    record_ref: text(1)?,
                    provider: text(2)?,
                    provider_id: text(3)?,
                    created: text(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The app settings (`_params` `settings`), when stored as plain JSON
    /// (`None` when absent or encrypted with `PB_ENCRYPTION_KEY`).
    pub fn settings(&self) -> Result<Option<Map<String, Value>>, ImportError> {
        let value =
            self.conn
                .query_row("SELECT value FROM _params WHERE id = 'settings'", [], |r| {
                    Ok(as_text(r.get_ref(0)?))
                });
        let value = match value {
            Ok(v) => v,
            Err(rusqlite::Error::QueryReturnedNoRows) => None,
            Err(e) => return Err(self.err(e)),
        };
        Ok(value.and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok()))
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn as_text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    }
}

fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            Value::String(String::from_utf8_lossy(t).into_owned())
        }
    }
}
