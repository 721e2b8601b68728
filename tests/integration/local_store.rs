//! `authgate serve` keeps its data in `<data>/authgate.db` (SQLite): what is
//! committed survives a `kill -9`, a second server on the same data is
//! refused, and a data directory it cannot use fails the start with one
//! clear line. The store's semantics are the store contract's
//! (`store_contract::sqlite`); this is the real binary, killed for real.

use std::ffi::OsString;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authgate_core::config::{has_inline_secrets, secret_values, AppConfig};
use authgate_tests::{bin_dir, temp_dir, unique_email, LocalServer};
use serde_json::json;

const PASSWORD: &str = "durable-Passw0rd";

fn authgate() -> std::path::PathBuf {
    bin_dir().join("authgate")
}

/// What these tests do on a running server.
trait Accounts {
    async fn sign_up(&self, http: &reqwest::Client, email: &str) -> Result<u16, reqwest::Error>;
    async fn login_status(&self, http: &reqwest::Client, email: &str) -> u16;
}

impl Accounts for LocalServer {
    async fn sign_up(&self, http: &reqwest::Client, email: &str) -> Result<u16, reqwest::Error> {
        sign_up(&self.url, http, email).await
    }

    async fn login_status(&self, http: &reqwest::Client, email: &str) -> u16 {
        http.post(format!(
            "{}/api/collections/users/auth-with-password",
            self.url
        ))
        .json(&json!({"identity": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
    }
}

async fn sign_up(url: &str, http: &reqwest::Client, email: &str) -> Result<u16, reqwest::Error> {
    let res = http
        .post(format!("{url}/api/collections/users/records"))
        .json(&json!({"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD}))
        .send()
        .await?;
    Ok(res.status().as_u16())
}

/// `authgate serve <args>` in `cwd` expected to fail at start: its output.
async fn failed_start(cwd: &Path, args: &[OsString]) -> Output {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(authgate())
            .args(["serve", "--http", "127.0.0.1:0"])
            .args(args)
            .current_dir(cwd)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("serve gives up at start instead of running")
    .unwrap();
    assert!(!out.status.success(), "exit code ≠ 0");
    out
}

/// The one line a failed start prints.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

fn arg(s: impl Into<OsString>) -> OsString {
    s.into()
}

/// The acceptance path with the README's first command and its defaults:
/// `authgate serve` in a fresh directory (only `--http` differs, a free port
/// instead of 8090, so parallel runs don't collide): sign up, `kill -9`,
/// start again, log in.
#[tokio::test]
async fn a_sign_up_survives_kill_9_with_the_default_data_dir() {
    let cwd = temp_dir("readme");
    let http = reqwest::Client::new();
    let email = unique_email("readme");
    let server = LocalServer::start(Some(&cwd), &[]).await;
    assert_eq!(server.sign_up(&http, &email).await.unwrap(), 200);
    server.kill_9().await;
    assert!(
        cwd.join(".data/authgate.db").is_file(),
        "kept in .data/authgate.db"
    );

    let server = LocalServer::start(Some(&cwd), &[]).await;
    assert_eq!(server.login_status(&http, &email).await, 200);
    // Tokens outlive restarts too: the collection secrets are kept.
    let res = http
        .post(format!(
            "{}/api/collections/users/auth-with-password",
            server.url
        ))
        .json(&json!({"identity": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = res.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    server.kill_9().await;
    let server = LocalServer::start(Some(&cwd), &[]).await;
    let res = http
        .post(format!("{}/api/collections/users/auth-refresh", server.url))
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a token issued before the restart");
    server.kill_9().await;
    assert_secrets_only_in_the_secrets_file(&cwd.join(".data"));
    let _ = std::fs::remove_dir_all(&cwd);
}

/// The token secrets are in `<data>/secrets.json` (mode 0600) and nowhere in
/// the SQLite files (database, WAL, shared memory): byte scans, so a secret
/// inside the config row's JSON or a stale WAL page counts too.
fn assert_secrets_only_in_the_secrets_file(data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let file = data.join("secrets.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let secrets = secret_values(&stored);
    assert_eq!(secrets.len(), 5, "the users collection's token secrets");
    let db_files: Vec<_> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("authgate.db")
        })
        .collect();
    assert!(db_files.iter().any(|p| p.ends_with("authgate.db")));
    for path in &db_files {
        let bytes = std::fs::read(path).unwrap();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a token secret in {}",
                path.display()
            );
        }
    }
    // The config row is there, without them.
    let db = rusqlite::Connection::open(data.join("authgate.db")).unwrap();
    let doc: String = db
        .query_row(
            "SELECT doc FROM config WHERE name = 'collections'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["collections"][0]["name"], "users");
    assert!(!has_inline_secrets(&doc), "{doc}");
}

/// `--memory` is the throwaway mode: nothing is kept.
#[tokio::test]
async fn serve_memory_keeps_nothing_across_restarts() {
    let cwd = temp_dir("memory");
    let http = reqwest::Client::new();
    let email = unique_email("memory");
    let server = LocalServer::start(Some(&cwd), &[arg("--memory")]).await;
    assert_eq!(server.sign_up(&http, &email).await.unwrap(), 200);
    server.kill_9().await;
    assert!(!cwd.join(".data/authgate.db").exists());
    assert!(
        !cwd.join(".data/secrets.json").exists(),
        "the secrets stay in memory too"
    );
    let server = LocalServer::start(Some(&cwd), &[arg("--memory")]).await;
    assert_eq!(server.login_status(&http, &email).await, 400);
    let _ = std::fs::remove_dir_all(&cwd);
}

/// Concurrent sign-ups, `kill -9` in the middle of them, start again: every
/// sign-up that was answered 200 logs in, and the file holds no unique
/// marker without its record nor a record without its email marker.
#[tokio::test]
async fn kill_9_under_concurrent_sign_ups_loses_no_committed_record_and_orphans_no_marker() {
    let cwd = temp_dir("kill9");
    let data = cwd.join("data");
    // Latency, not limits: the default rate limits would refuse this flood.
    let mut doc = AppConfig::default_document();
    doc["rateLimits"] = json!({"enabled": false});
    let config = cwd.join("config.json");
    std::fs::write(&config, doc.to_string()).unwrap();
    let args = [arg("--data"), arg(&data), arg("--config"), arg(&config)];
    let server = LocalServer::start(Some(&cwd), &args).await;
    let http = reqwest::Client::new();

    let committed = Arc::new(Mutex::new(Vec::<String>::new()));
    let unanswered = Arc::new(Mutex::new(0usize));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (url, http) = (server.url.clone(), http.clone());
            let (committed, unanswered) = (committed.clone(), unanswered.clone());
            tokio::spawn(async move {
                loop {
                    let email = unique_email("kill9");
                    match sign_up(&url, &http, &email).await {
                        Ok(200) => committed.lock().unwrap().push(email),
                        Ok(status) => panic!("sign-up answered {status}"),
                        Err(_) => {
                            *unanswered.lock().unwrap() += 1;
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Kill while the workers are still signing up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while committed.lock().unwrap().len() < 16 {
        assert!(tokio::time::Instant::now() < deadline, "sign-ups too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_9().await;
    for w in workers {
        w.await.unwrap();
    }
    let committed = committed.lock().unwrap().clone();
    assert_eq!(*unanswered.lock().unwrap(), 8, "every worker was cut off");

    // The file as the kill left it (the WAL is replayed on open).
    {
        let db = rusqlite::Connection::open(data.join("authgate.db")).unwrap();
        let one = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        assert_eq!(
            one("SELECT COUNT(*) FROM unique_values u WHERE NOT EXISTS \
                 (SELECT 1 FROM records r WHERE r.collection_id = u.collection_id AND r.id = u.record_id)"),
            0,
            "markers without a record"
        );
        assert_eq!(
            one("SELECT COUNT(*) FROM records r WHERE NOT EXISTS \
                 (SELECT 1 FROM unique_values u WHERE u.collection_id = r.collection_id \
                  AND u.record_id = r.id AND u.field = 'email' AND u.value = lower(r.email))"),
            0,
            "records without their email marker"
        );
        let stored = one("SELECT COUNT(*) FROM records");
        assert!(
            stored >= committed.len() as i64,
            "{stored} records stored, {} answered 200",
            committed.len()
        );
    }

    let server = LocalServer::start(Some(&cwd), &args).await;
    for email in &committed {
        assert_eq!(server.login_status(&http, email).await, 200, "{email}");
    }
    server.kill_9().await;
    let _ = std::fs::remove_dir_all(&cwd);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_is_refused_clearly() {
    let cwd = temp_dir("locked");
    let first = LocalServer::start(Some(&cwd), &[]).await;
    let out = failed_start(&cwd, &[]).await;
    let line = error_line(&out);
    assert!(
        line.contains(".data/authgate.db is in use by another authgate process"),
        "{line}"
    );
    // The first one still serves.
    let http = reqwest::Client::new();
    assert_eq!(
        first.sign_up(&http, &unique_email("locked")).await.unwrap(),
        200
    );
    first.kill_9().await;
    let _ = std::fs::remove_dir_all(&cwd);
}

#[tokio::test]
async fn a_database_from_a_newer_authgate_is_refused_clearly() {
    let cwd = temp_dir("newer");
    std::fs::create_dir_all(cwd.join(".data")).unwrap();
    let db = rusqlite::Connection::open(cwd.join(".data/authgate.db")).unwrap();
    db.execute_batch("CREATE TABLE later (x); PRAGMA user_version = 99;")
        .unwrap();
    drop(db);
    let line = error_line(&failed_start(&cwd, &[]).await);
    assert!(
        line.contains("has schema version 99, newer than this authgate knows (1)"),
        "{line}"
    );
    let db = rusqlite::Connection::open(cwd.join(".data/authgate.db")).unwrap();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99, "left as it was");
    let _ = std::fs::remove_dir_all(&cwd);
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_written_is_refused_clearly() {
    let cwd = temp_dir("unwritable");
    // A file where the directory should be: refused whoever runs the test
    // (permission bits do not stop root).
    std::fs::write(cwd.join("blocked"), "").unwrap();
    let line = error_line(&failed_start(&cwd, &[arg("--data"), arg("blocked/data")]).await);
    assert!(
        line.contains("data directory blocked/data is not writable"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&cwd);
}

/// What DynamoDB's TTL does for the SQLite file: expired OTPs, MFA
/// sessions, ended counter windows and outbox mail past its replay time go;
/// live ones stay.
#[tokio::test]
async fn purging_deletes_only_what_has_expired() {
    use authgate_adapters::sqlite::{SqliteStore, DB_FILE};
    use authgate_core::model::{AuthMethod, CounterKey, MfaSession, Otp, Timestamp};
    use authgate_core::ports::{CounterStore, MfaStore, OtpStore};

    let dir = temp_dir("purge");
    let store = SqliteStore::open(&dir.join(DB_FILE)).unwrap();
    let now = Timestamp(1_764_000_000_000);
    let otp = |id: &str, expires_at| Otp {
        id: id.to_owned(),
        collection_id: "c".to_owned(),
        record_id: "r".to_owned(),
        code_hash: "h".to_owned(),
        sent_to: "a@b.io".to_owned(),
        created: Timestamp(0),
        expires_at,
    };
    store.insert_otp(&otp("old", now)).await.unwrap();
    store
        .insert_otp(&otp("live", now.plus_secs(1)))
        .await
        .unwrap();
    store
        .insert_mfa(&MfaSession {
            id: "oldmfa".to_owned(),
            collection_id: "c".to_owned(),
            record_id: "r".to_owned(),
            method: AuthMethod::Password,
            created: Timestamp(0),
            expires_at: Timestamp(now.0 - 1),
        })
        .await
        .unwrap();
    let ended = CounterKey::RateLimit {
        scope: "s",
        client: "ended",
    };
    let live = CounterKey::RateLimit {
        scope: "s",
        client: "live",
    };
    store.hit(&ended, 5, 10, now.plus_secs(-10)).await.unwrap();
    store.hit(&live, 1, 10, now.plus_secs(-5)).await.unwrap();

    assert_eq!(store.purge_expired(now).await.unwrap(), 3);
    assert!(store.get_otp("c", "old").await.unwrap().is_none());
    assert!(store.get_otp("c", "live").await.unwrap().is_some());
    assert!(store.get_mfa("c", "oldmfa").await.unwrap().is_none());
    assert!(
        !store.hit(&live, 1, 10, now).await.unwrap(),
        "the live window kept its hit"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
