//! `authgate import pocketbase`: moves a PocketBase app's auth collections
//! (config, records with their bcrypt hashes and `tokenKey`s, OAuth2 links)
//! into any [`Store`], so that passwords and sessions keep working.
//!
//! - [`source`] reads `data.db` read-only, in one snapshot.
//! - [`map`] turns PocketBase's shapes into Authgate's, narrowing (and
//!   reporting) what Authgate does not enforce.
//! - this module writes: the config through [`authgate_core::config::apply`]
//!   (what `authgate collections apply` does), records and links through the
//!   store ports. Idempotent: records keep their ids, an existing record is
//!   updated with a version check only when it differs, nothing is ever
//!   duplicated; a dry run reads the store and writes nothing.

pub mod map;
pub mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use authgate_core::config::{self, fill_secrets, AppConfig, Collection, ConfigWriter};
use authgate_core::model::{Record, Timestamp};
use authgate_core::password;
use authgate_core::ports::{Random, Store, StoreError};
use authgate_core::validate::unique_keys;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use source::Source;

/// Records read from `data.db` at a time.
const PAGE: usize = 1_000;
/// Record writes in flight at once (DynamoDB round trips overlap).
const IN_FLIGHT: usize = 16;
/// Attempts of one record update that keeps losing to concurrent writes.
const UPDATE_ATTEMPTS: usize = 3;

/// Why an import stopped. Each reads as one line.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{p}: no PocketBase data.db there (--from names the pb_data directory)", p = .0.display())]
    NotFound(PathBuf),
    #[error("{p}: not a PocketBase database ({why})", p = .0.display(), why = .1)]
    NotPocketBase(PathBuf, String),
    #[error("{p}: written by PocketBase before v0.23 (it has _admins / a schema column); start PocketBase v0.23 or newer on it once to migrate it, then import", p = .0.display())]
    TooOld(PathBuf),
    #[error("{p}: migrated by a newer PocketBase than this importer knows (migration {m}; checked up to {rel}); not guessing its schema", p = .0.display(), m = .1, rel = source::CHECKED_RELEASE)]
    TooNew(PathBuf, String),
    #[error("{p}: unknown PocketBase schema ({why})", p = .0.display(), why = .1)]
    UnknownSchema(PathBuf, String),
    #[error("{p}: the database is locked by another process (stop PocketBase or retry when it is idle)", p = .0.display())]
    Locked(PathBuf),
    #[error("cannot read data.db: {0}")]
    Read(String),
    #[error("the imported collections config is invalid: {0}")]
    Config(String),
    #[error("store: {0}")]
    Store(String),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Read everything, compare with the store, write nothing.
    pub dry_run: bool,
    /// A `\r` progress counter on stderr.
    pub progress: bool,
}

/// What happened (or, in a dry run, would happen) to one kind of item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub imported: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

/// The summary of an import.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub from: PathBuf,
    pub dry_run: bool,
    /// The auth collections imported, by name.
    pub collections: Vec<String>,
    /// Whether the stored collections config changed.
    pub config_changed: bool,
    pub records: Counts,
    pub links: Counts,
    /// Why items were skipped (one line each, at most [`Report::MAX_LINES`]).
    pub skipped: Vec<String>,
    /// What does not move or was narrowed.
    pub notes: Vec<String>,
}

impl Report {
    const MAX_LINES: usize = 50;

    fn skip(&mut self, why: String) {
        if self.skipped.len() < Self::MAX_LINES {
            self.skipped.push(why);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let would = if self.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        };
        writeln!(f, "PocketBase import from {}{would}", self.from.display())?;
        let config = match (self.config_changed, self.dry_run) {
            (true, true) => "would change",
            (true, false) => "changed",
            (false, _) => "unchanged",
        };
        writeln!(
            f,
            "collections: {} (config {config})",
            if self.collections.is_empty() {
                "none".to_owned()
            } else {
                self.collections.join(", ")
            }
        )?;
        let line = |c: &Counts| {
            format!(
                "{} imported, {} changed, {} unchanged, {} skipped",
                c.imported, c.changed, c.unchanged, c.skipped
            )
        };
        writeln!(f, "records: {}", line(&self.records))?;
        writeln!(f, "OAuth2 links: {}", line(&self.links))?;
        if !self.skipped.is_empty() {
            writeln!(f, "skipped:")?;
            for s in &self.skipped {
                writeln!(f, "  - {s}")?;
            }
        }
        if !self.notes.is_empty() {
            writeln!(f, "not imported or narrowed:")?;
            for n in &self.notes {
                writeln!(f, "  - {n}")?;
            }
        }
        Ok(())
    }
}

/// Imports `pb_data` (the directory, or its `data.db`) into `store`, the
/// collections config through `config` (what `authgate collections apply`
/// stores with; [`config::InStore`] keeps it whole in `store`).
pub async fn import(
    store: Arc<dyn Store>,
    config: &dyn ConfigWriter,
    pb_data: &Path,
    opts: &Options,
    now: Timestamp,
) -> Result<Report, ImportError> {
    let source = Source::open(pb_data)?;
    let mut report = Report {
        from: source.path.clone(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let all = source.collections()?;
    let auth: Vec<_> = all
        .iter()
        .filter(|c| c.kind == "auth" && !c.system)
        .cloned()
        .collect();
    not_moving(&source, &all, &mut report)?;

    // The config, through the same step as `authgate collections apply`.
    let existing = config.load().await.map_err(apply_error)?;
    let mut doc = existing
        .clone()
        .unwrap_or_else(|| json!({"collections": []}));
    if let Some(meta) = source.settings()?.and_then(|s| s.get("meta").cloned()) {
        merge_meta(&mut doc, &meta);
    } else {
        report.notes.push(
            "app settings (meta) are encrypted or absent: appName, appURL and sender kept".into(),
        );
    }
    for pb in &auth {
        let coll = map::collection_doc(pb, &mut report.notes);
        put_collection(&mut doc, coll);
        report.collections.push(pb.name.clone());
    }
    fix_until_valid(&mut doc, existing.as_ref(), &mut report.notes)?;
    let applied = config.apply(doc, opts.dry_run).await.map_err(apply_error)?;
    report.config_changed = applied.changed;

    for pb in &auth {
        let Some(coll) = applied.config.collection_by_id(&pb.id) else {
            continue;
        };
        records(
            &source,
            store.clone(),
            Arc::new(coll.clone()),
            opts,
            now,
            &mut report,
        )
        .await?;
    }
    links(
        &source,
        store.as_ref(),
        &applied.config,
        opts,
        now,
        &mut report,
    )
    .await?;
    Ok(report)
}

fn apply_error(e: config::ApplyError) -> ImportError {
    match e {
        config::ApplyError::Invalid(e) => ImportError::Config(e.to_string()),
        config::ApplyError::Store(e) => e.into(),
    }
}

/// Random bytes for secrets that are thrown away: [`fix_until_valid`]
/// validates a copy whose missing secrets it fills, and stores nothing.
struct Throwaway;

impl Random for Throwaway {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0);
    }
}

/// Notes for what stays behind: superusers, base and view collections.
fn not_moving(
    source: &Source,
    all: &[source::PbCollection],
    report: &mut Report,
) -> Result<(), ImportError> {
    for c in all.iter().filter(|c| c.kind == "auth" && c.system) {
        let n = source.count(&c.name).unwrap_or(0);
        report.notes.push(format!(
            "{}: {n} superuser(s) not imported (Authgate has no superusers; use the AWS console/CLI)",
            c.name
        ));
    }
    let others: Vec<&str> = all
        .iter()
        .filter(|c| c.kind != "auth" && !c.system)
        .map(|c| c.name.as_str())
        .collect();
    if !others.is_empty() {
        report.notes.push(format!(
            "base/view collections not imported (Authgate serves auth collections only): {}",
            others.join(", ")
        ));
    }
    report.notes.push(
        "not moved: uploaded files (pb_data/storage), logs, settings other than meta (SMTP, S3, backups, rate limits: Authgate's own apply), MFA/OTP sessions in flight".into(),
    );
    Ok(())
}

fn merge_meta(doc: &mut Value, meta: &Value) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let target = obj.entry("meta").or_insert_with(|| json!({}));
    for key in ["appName", "appURL", "senderName", "senderAddress"] {
        if let (Some(t), Some(v)) = (
            target.as_object_mut(),
            meta.get(key)
                .filter(|v| v.as_str().is_some_and(|s| !s.is_empty())),
        ) {
            t.insert(key.into(), v.clone());
        }
    }
}

/// Replaces the collection with `coll`'s id (or name) in `doc`, or adds it.
fn put_collection(doc: &mut Value, coll: Value) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let list = obj.entry("collections").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    let same = |c: &Value, key: &str| c.get(key).is_some() && c.get(key) == coll.get(key);
    match list
        .iter()
        .position(|c| same(c, "id"))
        .or_else(|| list.iter().position(|c| same(c, "name")))
    {
        Some(i) => list[i] = coll,
        None => list.push(coll),
    }
}

/// Validates `doc` as the config will, and drops what Authgate refuses but
/// can do without (an OAuth2 provider it does not know or trust, a unique
/// index on a field it does not serve, an identity field without one, an
/// OAuth2 mapped field it cannot fill), with a note each. Anything else is
/// an error naming its path.
fn fix_until_valid(
    doc: &mut Value,
    existing: Option<&Value>,
    notes: &mut Vec<String>,
) -> Result<(), ImportError> {
    for _ in 0..100 {
        let mut probe = doc.clone();
        fill_secrets(&mut probe, existing, &Throwaway);
        let e = match AppConfig::from_json(&probe) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if !drop_refused(doc, &e.path, &e.message, notes) {
            return Err(ImportError::Config(e.to_string()));
        }
    }
    Err(ImportError::Config("too many refused settings".into()))
}

/// `collections[3].oauth2.providers[0].authURL` → `[("collections", Some(3)),
/// ("oauth2", None), ("providers", Some(0)), ("authURL", None)]`.
fn parse_path(path: &str) -> Vec<(String, Option<usize>)> {
    path.split('.')
        .map(|part| match part.split_once('[') {
            Some((name, rest)) => (
                name.to_owned(),
                rest.trim_end_matches(']').parse::<usize>().ok(),
            ),
            None => (part.to_owned(), None),
        })
        .collect()
}

fn drop_refused(doc: &mut Value, path: &str, message: &str, notes: &mut Vec<String>) -> bool {
    let parts = parse_path(path);
    let Some(("collections", Some(k))) = parts.first().map(|(n, i)| (n.as_str(), *i)) else {
        return false;
    };
    let Some(coll) = doc
        .get_mut("collections")
        .and_then(|c| c.get_mut(k))
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    let name = coll
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let rest: Vec<(&str, Option<usize>)> =
        parts[1..].iter().map(|(n, i)| (n.as_str(), *i)).collect();
    let mut remove_from = |section: Option<&str>, list: &str, j: usize, what: String| -> bool {
        let target = match section {
            Some(s) => coll.get_mut(s).and_then(|v| v.get_mut(list)),
            None => coll.get_mut(list),
        };
        match target.and_then(Value::as_array_mut) {
            Some(items) if j < items.len() => {
                let gone = items.remove(j);
                let shown = gone.get("name").cloned().unwrap_or(gone).to_string();
                notes.push(format!("{name}: {what} {shown} not imported: {message}"));
                true
            }
            _ => false,
        }
    };
    match rest.as_slice() {
        // An API rule in a form Authgate does not enforce: null (locked).
        [(key, None)] if RULE_KEYS.contains(key) => {
            let old = coll.insert((*key).to_owned(), Value::Null);
            notes.push(format!(
                "{name}.{key}: {} is not a rule Authgate enforces: imported as null (locked)",
                old.unwrap_or(Value::Null)
            ));
            true
        }
        [("oauth2", None), ("providers", Some(j)), ..] => {
            remove_from(Some("oauth2"), "providers", *j, "OAuth2 provider".into())
        }
        [("indexes", Some(j)), ..] => remove_from(None, "indexes", *j, "index".into()),
        [("passwordAuth", None), ("identityFields", Some(j)), ..] => remove_from(
            Some("passwordAuth"),
            "identityFields",
            *j,
            "identity field".into(),
        ),
        [("oauth2", None), ("mappedFields", None), (field, None), ..] => {
            let cleared = coll
                .get_mut("oauth2")
                .and_then(|o| o.get_mut("mappedFields"))
                .and_then(Value::as_object_mut)
                .and_then(|m| m.insert((*field).to_owned(), json!("")));
            if cleared.is_some() {
                notes.push(format!(
                    "{name}: oauth2.mappedFields.{field} not imported: {message}"
                ));
            }
            cleared.is_some()
        }
        _ => false,
    }
}

/// The API rules of a collection document.
const RULE_KEYS: [&str; 6] = [
    "listRule",
    "viewRule",
    "createRule",
    "updateRule",
    "deleteRule",
    "authRule",
];

/// What one record row came to.
enum Outcome {
    Imported,
    Changed,
    Unchanged,
    Skipped(String),
}

async fn records(
    source: &Source,
    store: Arc<dyn Store>,
    coll: Arc<Collection>,
    opts: &Options,
    now: Timestamp,
    report: &mut Report,
) -> Result<(), ImportError> {
    let total = source.count(&coll.name)?;
    let mut done = 0u64;
    let mut after = String::new();
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    let mut unusable_hashes = 0u64;
    loop {
        let rows = source.page(&coll.name, &after, PAGE)?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            match map::record_from_row(&coll, row, now) {
                Ok(map::Row {
                    record,
                    dropped: gone,
                    dated,
                }) => {
                    for f in gone {
                        *dropped.entry(f).or_default() += 1;
                    }
                    let h = &record.password_hash;
                    if !h.is_empty() && !password::is_legacy(h) && !h.starts_with("$argon2id$") {
                        unusable_hashes += 1;
                    }
                    batch.push((record, dated));
                }
                Err(why) => {
                    report.records.skipped += 1;
                    report.skip(format!("{}: {why}", coll.name));
                }
            }
        }
        for chunk in batch.chunks(IN_FLIGHT) {
            let mut tasks = JoinSet::new();
            for (record, dated) in chunk {
                let (store, coll, record) = (store.clone(), coll.clone(), record.clone());
                let (dry_run, dated) = (opts.dry_run, *dated);
                tasks.spawn(async move {
                    let id = record.id.clone();
                    let outcome = put_record(store.as_ref(), &coll, record, dated, dry_run).await;
                    (id, outcome)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                let (id, outcome) = joined.map_err(|e| ImportError::Store(e.to_string()))?;
                match outcome? {
                    Outcome::Imported => report.records.imported += 1,
                    Outcome::Changed => report.records.changed += 1,
                    Outcome::Unchanged => report.records.unchanged += 1,
                    Outcome::Skipped(why) => {
                        report.records.skipped += 1;
                        report.skip(format!("{}/{id}: {why}", coll.name));
                    }
                }
            }
        }
        done += rows.len() as u64;
        if opts.progress {
            progress(&coll.name, done, total);
        }
    }
    if opts.progress && done > 0 {
        eprintln!();
    }
    for (field, n) in dropped {
        let kind = coll
            .fields
            .iter()
            .find(|f| f.name == field)
            .map(|f| match &f.kind {
                authgate_core::config::FieldKind::Unsupported(t) => t.clone(),
                _ => String::new(),
            })
            .unwrap_or_default();
        report.notes.push(format!(
            "{}.{field} ({kind}): {n} value(s) not imported (field type not served by Authgate)",
            coll.name
        ));
    }
    if unusable_hashes > 0 {
        report.notes.push(format!(
            "{}: {unusable_hashes} record(s) with a password hash Authgate cannot verify (bcrypt cost over {}, or another scheme): they must reset their password",
            coll.name,
            password::BCRYPT_MAX_COST
        ));
    }
    Ok(())
}

fn progress(name: &str, done: u64, total: u64) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{name}: {done}/{total} records");
    let _ = err.flush();
}

/// Inserts `record`, or updates the stored one when it differs (with a
/// version check, re-read after a lost race). A password changed in
/// Authgate since the last import (no longer the imported bcrypt hash)
/// is kept, with the `tokenKey` that goes with it; so are the stored
/// `created`/`updated` when the row had none (`dated` false).
async fn put_record(
    store: &dyn Store,
    coll: &Collection,
    record: Record,
    dated: bool,
    dry_run: bool,
) -> Result<Outcome, ImportError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(stored) = store.get_record(&coll.id, &record.id).await? else {
            if dry_run {
                return Ok(Outcome::Imported);
            }
            return match store
                .insert_record(&record, &unique_keys(coll, &record))
                .await
            {
                Ok(()) => Ok(Outcome::Imported),
                Err(StoreError::Conflict { field }) => Ok(Outcome::Skipped(format!(
                    "its {field} belongs to another record"
                ))),
                // Inserted by a concurrent run since the read: compare again.
                Err(StoreError::Stale) => continue,
                Err(e) => Err(e.into()),
            };
        };
        let mut wanted = record.clone();
        wanted.version = stored.version;
        if !dated {
            wanted.created = stored.created;
            wanted.updated = stored.updated;
        }
        if !password::is_legacy(&stored.password_hash) && !stored.password_hash.is_empty() {
            wanted.password_hash = stored.password_hash.clone();
            wanted.token_key = stored.token_key.clone();
        }
        if wanted == stored {
            return Ok(Outcome::Unchanged);
        }
        if dry_run {
            return Ok(Outcome::Changed);
        }
        wanted.version = stored.version + 1;
        match store
            .update_record(
                &stored,
                &wanted,
                &unique_keys(coll, &stored),
                &unique_keys(coll, &wanted),
            )
            .await
        {
            Ok(()) => return Ok(Outcome::Changed),
            Err(StoreError::Stale) => continue,
            Err(StoreError::Conflict { field }) => {
                return Ok(Outcome::Skipped(format!(
                    "its new {field} belongs to another record"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Outcome::Skipped(
        "changed concurrently while importing; run the import again".into(),
    ))
}

async fn links(
    source: &Source,
    store: &dyn Store,
    cfg: &AppConfig,
    opts: &Options,
    now: Timestamp,
    report: &mut Report,
) -> Result<(), ImportError> {
    for row in source.external_auths()? {
        let link = map::link_from_row(&row, now);
        let Some(coll) = cfg.collection_by_id(&link.collection_id) else {
            report.links.skipped += 1;
            report.skip(format!(
                "OAuth2 link {}/{}: its collection {} is not imported",
                link.provider, link.provider_id, link.collection_id
            ));
            continue;
        };
        let found = store
            .find_external_auth(&coll.id, &link.provider, &link.provider_id)
            .await?;
        match found {
            Some(l) if l.record_id == link.record_id => report.links.unchanged += 1,
            Some(_) => {
                report.links.skipped += 1;
                report.skip(format!(
                    "OAuth2 link {}/{}: linked to another record in Authgate",
                    link.provider, link.provider_id
                ));
            }
            None => {
                let exists = store.get_record(&coll.id, &link.record_id).await?.is_some();
                if !exists && !opts.dry_run {
                    report.links.skipped += 1;
                    report.skip(format!(
                        "OAuth2 link {}/{}: record {} not imported",
                        link.provider, link.provider_id, link.record_id
                    ));
                    continue;
                }
                if !opts.dry_run {
                    match store.insert_external_auth(&link).await {
                        Ok(()) => {}
                        Err(StoreError::Conflict { .. }) => {
                            report.links.skipped += 1;
                            report.skip(format!(
                                "OAuth2 link {}/{}: already linked",
                                link.provider, link.provider_id
                            ));
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                report.links.imported += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use authgate_core::ports::RecordStore;

    /// A PocketBase collection document with `rules` set.
    fn with_rules(rules: Value) -> Value {
        let mut c = json!({"id": "c1", "name": "members", "type": "auth"});
        if let (Some(c), Value::Object(r)) = (c.as_object_mut(), rules) {
            c.extend(r);
        }
        json!({"collections": [c]})
    }

    #[test]
    fn rules_outside_the_forms_the_config_enforces_become_null_with_a_note() {
        let mut doc = with_rules(json!({
            "listRule": "",
            "viewRule": "verified = true",
            "createRule": "",
            "updateRule": "id = @request.auth.id && verified = true",
            "deleteRule": " id =  @request.auth.id ",
            "authRule": "verified = true",
        }));
        let mut notes = Vec::new();
        fix_until_valid(&mut doc, None, &mut notes).unwrap();
        let c = &doc["collections"][0];
        assert_eq!(c["listRule"], Value::Null, "listing everyone: refused");
        assert_eq!(c["viewRule"], Value::Null);
        assert_eq!(c["createRule"], "");
        assert_eq!(c["updateRule"], Value::Null);
        assert_eq!(c["deleteRule"], " id =  @request.auth.id ");
        assert_eq!(c["authRule"], Value::Null, "logins locked, never opened");
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert!(notes
            .iter()
            .any(|n| n.starts_with("members.authRule: \"verified = true\" is not a rule")));
        // Supported forms pass untouched, without notes.
        let mut doc = with_rules(json!({"listRule": "id=@request.auth.id", "viewRule": null,
                                        "createRule": null, "authRule": ""}));
        let before = doc.clone();
        let mut notes = Vec::new();
        fix_until_valid(&mut doc, None, &mut notes).unwrap();
        assert_eq!(doc, before);
        assert!(notes.is_empty(), "{notes:?}");
    }

    fn plain_collection() -> Collection {
        let mut doc = json!({"collections": [{"id": "c1", "name": "plain", "type": "auth",
                              "fields": [{"name": "nick", "type": "text"}]}]});
        struct Fixed;
        impl Random for Fixed {
            fn fill(&self, buf: &mut [u8]) {
                buf.fill(7);
            }
        }
        fill_secrets(&mut doc, None, &Fixed);
        AppConfig::from_json(&doc).unwrap().collections.remove(0)
    }

    fn record(now: i64, nick: &str, hash: &str) -> Record {
        let mut fields = serde_json::Map::new();
        fields.insert("nick".into(), json!(nick));
        Record {
            id: "r1".into(),
            collection_id: "c1".into(),
            email: "a@example.com".into(),
            email_visibility: false,
            verified: true,
            password_hash: hash.into(),
            token_key: "k".repeat(50),
            created: Timestamp(now),
            updated: Timestamp(now),
            fields,
            version: 1,
        }
    }

    const BCRYPT: &str = "$2a$10$7T/QEIfawAlNdLU7mV1Jf.QC98vgbbHQC9jokv9bXnzsnE9SjCBce";

    #[tokio::test]
    async fn re_imports_compare_what_pocketbase_has_and_keep_what_authgate_changed() {
        let store = crate::memory::MemoryStore::new();
        let coll = plain_collection();
        let put = |r: Record, dated: bool, dry: bool| {
            let (store, coll) = (&store, &coll);
            async move { put_record(store, coll, r, dated, dry).await.unwrap() }
        };
        assert!(matches!(
            put(record(1, "a", BCRYPT), false, false).await,
            Outcome::Imported
        ));
        // No autodate columns: the import time differs, the record does not.
        assert!(matches!(
            put(record(2, "a", BCRYPT), false, false).await,
            Outcome::Unchanged
        ));
        // With them, a new `updated` is a change.
        assert!(matches!(
            put(record(3, "a", BCRYPT), true, true).await,
            Outcome::Changed
        ));
        assert_eq!(
            store.get_record("c1", "r1").await.unwrap().unwrap().created,
            Timestamp(1)
        );
        assert!(matches!(
            put(record(1, "b", BCRYPT), false, false).await,
            Outcome::Changed
        ));
        let stored = store.get_record("c1", "r1").await.unwrap().unwrap();
        assert_eq!(
            (stored.fields["nick"].clone(), stored.version),
            (json!("b"), 2)
        );
        // Authgate's own hash (an upgraded or changed password) stays, with its key.
        let mut upgraded = stored.clone();
        upgraded.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$x$y".into();
        upgraded.token_key = "n".repeat(50);
        upgraded.version = 3;
        let keys = unique_keys(&coll, &stored);
        store
            .update_record(&stored, &upgraded, &keys, &keys)
            .await
            .unwrap();
        assert!(matches!(
            put(record(1, "b", BCRYPT), false, false).await,
            Outcome::Unchanged
        ));
        assert_eq!(
            store.get_record("c1", "r1").await.unwrap().unwrap(),
            upgraded
        );
    }

    #[test]
    fn config_paths_split_into_names_and_indexes() {
        assert_eq!(
            parse_path("collections[3].oauth2.providers[0].authURL"),
            vec![
                ("collections".into(), Some(3)),
                ("oauth2".into(), None),
                ("providers".into(), Some(0)),
                ("authURL".into(), None)
            ]
        );
    }

    #[test]
    fn refused_providers_and_indexes_are_dropped_with_a_note_other_errors_are_not() {
        let mut doc = json!({"collections": [{"name": "m", "type": "auth",
            "indexes": ["a", "b"],
            "oauth2": {"providers": [{"name": "nope"}, {"name": "github"}]}}]});
        let mut notes = Vec::new();
        assert!(drop_refused(
            &mut doc,
            "collections[0].oauth2.providers[0].name",
            "unknown provider",
            &mut notes
        ));
        assert_eq!(
            doc["collections"][0]["oauth2"]["providers"][0]["name"],
            "github"
        );
        assert!(drop_refused(
            &mut doc,
            "collections[0].indexes[1]",
            "x",
            &mut notes
        ));
        assert_eq!(doc["collections"][0]["indexes"], json!(["a"]));
        assert!(!drop_refused(
            &mut doc,
            "collections[0].otp.duration",
            "x",
            &mut notes
        ));
        assert!(!drop_refused(&mut doc, "meta.appURL", "x", &mut notes));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("OAuth2 provider \"nope\""), "{notes:?}");
    }
}
