//! `authgate import pocketbase`, against the real PocketBase: an app set up
//! through PocketBase's own API moves into an Authgate store, and its users
//! keep their passwords, their sessions and their OAuth2 identities.

use std::path::Path;
use std::sync::Arc;

use authgate_adapters::memory::MemoryStore;
use authgate_adapters::pocketbase::{import, ImportError, Options, Report};
use authgate_adapters::secrets::MemorySecrets;
use authgate_adapters::system::OsRandom;
use authgate_core::config::{has_inline_secrets, load_deployed, Deployed};
use authgate_core::model::Timestamp;
use authgate_core::ports::SecretStore;
use authgate_core::ports::Store;
use authgate_tests::pocketbase::PocketBase;
use authgate_tests::{bin_dir, oauth2_mock_url, temp_dir, unique, LocalServer, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

use crate::oauth2::{authorize, REDIRECT};

const APP_URL: &str = "https://app.example.test";

fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default(),
    )
}

/// A `members` auth collection as a PocketBase app would have it: custom
/// fields (one of a type Authgate does not serve), a unique username that
/// is also an identity, rules of every kind, a too-short OTP and the OAuth2
/// mock as its OIDC provider.
fn members() -> Value {
    let m = oauth2_mock_url();
    json!({
        "name": "members",
        "type": "auth",
        "fields": [
            {"name": "username", "type": "text", "min": 3, "max": 32},
            {"name": "age", "type": "number"},
            {"name": "newsletter", "type": "bool"},
            {"name": "prefs", "type": "json"},
            {"name": "avatar", "type": "file", "maxSelect": 1},
            {"name": "created", "type": "autodate", "onCreate": true},
            {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_username ON members (username COLLATE NOCASE)"],
        "listRule": "id = @request.auth.id",
        "viewRule": "id=@request.auth.id",
        "createRule": "",
        "updateRule": "id = @request.auth.id && verified = true",
        "deleteRule": null,
        "passwordAuth": {"enabled": true, "identityFields": ["email", "username"]},
        "otp": {"enabled": true, "length": 5, "duration": 300},
        "oauth2": {
            "enabled": true,
            "providers": [{
                "name": "oidc",
                "clientId": "authgate-test",
                "clientSecret": "authgate-test-secret",
                "displayName": "Mock IdP",
                "authURL": format!("{m}/authorize"),
                "tokenURL": format!("{m}/token"),
                "userInfoURL": format!("{m}/userinfo")
            }],
            "mappedFields": {"name": "", "username": "username"}
        }
    })
}

/// A user created in PocketBase: (email, password, record id).
struct PbUser {
    email: String,
    password: String,
    id: String,
}

async fn create_user(pb: &PocketBase, collection: &str, extra: Value) -> PbUser {
    let email = format!("{}@example.com", unique("pb"));
    let password = format!("{}-pw", unique("s"));
    let mut body = json!({"email": email, "password": password, "passwordConfirm": password,
                          "verified": true});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let path = format!("/api/collections/{collection}/records");
    let (status, rec) = pb.admin(Method::POST, &path, body).await;
    assert_eq!(status, 200, "create user: {rec}");
    PbUser {
        email,
        password,
        id: rec["id"].as_str().expect("id").to_owned(),
    }
}

/// The PocketBase app every test imports: settings, `members`, three users
/// (ann linked to the mock's OIDC identity), and a session token of ann's.
struct PbApp {
    pb: PocketBase,
    members_id: String,
    ann: PbUser,
    bob: PbUser,
    carl: PbUser,
    /// A `users` record that changes its password in Authgate (with
    /// `oldPassword`, checked against the bcrypt hash) before any login.
    dana: PbUser,
    ann_token: String,
    dana_token: String,
    ann_sub: String,
}

async fn pocketbase_app() -> PbApp {
    let pb = PocketBase::start().await;
    let meta = json!({"meta": {"appName": "PB App", "appURL": APP_URL,
                     "senderName": "PB App", "senderAddress": "support@app.example.test"}});
    let (status, body) = pb.admin(Method::PATCH, "/api/settings", meta).await;
    assert_eq!(status, 200, "settings: {body}");
    let (status, coll) = pb.admin(Method::POST, "/api/collections", members()).await;
    assert_eq!(status, 200, "collection: {coll}");
    let members_id = coll["id"].as_str().expect("id").to_owned();
    let ann = create_user(
        &pb,
        "members",
        json!({"username": unique("ann").to_lowercase(), "age": 41, "newsletter": true,
               "prefs": {"theme": "dark"}}),
    )
    .await;
    let bob = create_user(
        &pb,
        "members",
        json!({"username": unique("bob").to_lowercase(), "age": 7.5}),
    )
    .await;
    let carl = create_user(&pb, "users", json!({"name": "Carl"})).await;
    let dana = create_user(&pb, "users", json!({"name": "Dana"})).await;
    let ann_sub = format!("sub-{}", unique("ann"));
    let link = json!({"collectionRef": members_id, "recordRef": ann.id,
                      "provider": "oidc", "providerId": ann_sub});
    let (status, body) = pb
        .admin(
            Method::POST,
            "/api/collections/_externalAuths/records",
            link,
        )
        .await;
    assert_eq!(status, 200, "link: {body}");
    let (status, auth) = pb
        .post(
            "/api/collections/members/auth-with-password",
            json!({"identity": ann.email, "password": ann.password}),
        )
        .await;
    assert_eq!(status, 200, "PocketBase login: {auth}");
    let ann_token = auth["token"].as_str().expect("token").to_owned();
    let (status, auth) = pb
        .post(
            "/api/collections/users/auth-with-password",
            json!({"identity": dana.email, "password": dana.password}),
        )
        .await;
    assert_eq!(status, 200, "PocketBase login: {auth}");
    let dana_token = auth["token"].as_str().expect("token").to_owned();
    PbApp {
        pb,
        members_id,
        ann,
        bob,
        carl,
        dana,
        ann_token,
        dana_token,
        ann_sub,
    }
}

/// A store and the secret store beside it, as `collections apply` leaves
/// a deployment.
struct Target {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretStore>,
}

fn target(store: Arc<dyn Store>) -> Target {
    Target {
        store,
        secrets: Arc::new(MemorySecrets::new()),
    }
}

async fn run_import(t: &Target, from: &Path, dry_run: bool) -> Report {
    let opts = Options {
        dry_run,
        progress: false,
    };
    let config = Deployed {
        store: t.store.as_ref(),
        secrets: t.secrets.as_ref(),
        rng: &OsRandom,
    };
    import(t.store.clone(), &config, from, &opts, now())
        .await
        .expect("import")
}

/// Authgate serving what was imported (the deployed config: the store's
/// document with its secrets), rate limit rules off: every test request
/// comes from 127.0.0.1.
async fn serve(t: &Target) -> TestApp {
    let mut config = load_deployed(t.store.as_ref(), t.secrets.as_ref())
        .await
        .unwrap()
        .expect("imported config");
    config["rateLimits"] = json!({"enabled": false});
    TestApp::spawn_with(authgate_tests::Options {
        config,
        store: Some(t.store.clone()),
        ..Default::default()
    })
    .await
}

fn is_argon2id(hash: &str) -> bool {
    hash.starts_with("$argon2id$")
}

#[tokio::test]
async fn a_pocketbase_app_moves_with_its_passwords_sessions_and_oauth2_links() {
    let mut src = pocketbase_app().await;
    src.pb.stop().await;
    let t = target(Arc::new(MemoryStore::new()));
    let store = t.store.clone();
    let report = run_import(&t, src.pb.pb_data(), false).await;
    let summary = report.to_string();
    assert_eq!(report.collections, ["users", "members"], "{summary}");
    assert_eq!(report.records.imported, 4, "{summary}");
    assert_eq!(report.links.imported, 1, "{summary}");
    assert_eq!(
        report.records.skipped + report.links.skipped,
        0,
        "{summary}"
    );
    for note in [
        "members.updateRule",
        "imported as null (locked)",
        "members.otp.length: 5 raised to 6",
        "_superusers: 1 superuser(s) not imported",
    ] {
        assert!(summary.contains(note), "{note:?} missing in:\n{summary}");
    }

    // The config: PocketBase's settings, secrets and rules, narrowed where
    // Authgate enforces less.
    let doc = store.load_config().await.unwrap().unwrap();
    assert!(!has_inline_secrets(&doc), "secrets go to the secret store");
    assert!(t.secrets.load_secrets().await.unwrap().is_some());
    assert_eq!(doc["meta"]["appURL"], APP_URL);
    let members = doc["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "members")
        .unwrap();
    assert_eq!(members["id"], src.members_id.as_str());
    assert_eq!(members["listRule"], "id = @request.auth.id");
    assert_eq!(members["createRule"], "");
    assert_eq!(members["updateRule"], Value::Null);
    assert_eq!(members["otp"]["length"], 6);

    let app = serve(&t).await;

    // The session PocketBase issued before the move refreshes.
    assert_eq!(app.refresh_status("members", &src.ann_token).await, 200);

    // A password change checks `oldPassword` against the bcrypt hash.
    let wrong = json!({"oldPassword": "not-it", "password": "dana-new-password",
                       "passwordConfirm": "dana-new-password"});
    let (status, res) =
        crate::self_service::patch(&app, "users", &src.dana.id, Some(&src.dana_token), wrong).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(
        res["data"]["oldPassword"]["code"],
        "validation_invalid_old_password"
    );
    let right = json!({"oldPassword": src.dana.password, "password": "dana-new-password",
                       "passwordConfirm": "dana-new-password"});
    let (status, res) =
        crate::self_service::patch(&app, "users", &src.dana.id, Some(&src.dana_token), right).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(
        app.login_status("users", &src.dana.email, "dana-new-password")
            .await,
        200
    );
    assert_eq!(
        app.login_status("users", &src.dana.email, &src.dana.password)
            .await,
        400
    );
    assert!(is_argon2id(
        &app.stored_record("users", &src.dana.email)
            .await
            .password_hash
    ));

    // Every user logs in with the same password (by username too), and the
    // stored hash is argon2id afterwards.
    for (coll, user) in [
        ("members", &src.ann),
        ("members", &src.bob),
        ("users", &src.carl),
    ] {
        let before = app.stored_record(coll, &user.email).await;
        assert!(before.password_hash.starts_with("$2a$"), "imported as is");
        assert_eq!(before.id, user.id, "same id");
        assert_eq!(
            app.login_status(coll, &user.email, "wrong-password").await,
            400
        );
        let (status, body) = app.password_login(coll, &user.email, &user.password).await;
        assert_eq!(status, 200, "{coll} {}: {body}", user.email);
        assert_eq!(body["record"]["id"], user.id.as_str());
        let after = app.stored_record(coll, &user.email).await;
        assert!(is_argon2id(&after.password_hash), "{coll}: rehashed");
        assert_eq!(
            app.login_status(coll, &user.email, &user.password).await,
            200
        );
    }
    let ann = app.stored_record("members", &src.ann.email).await;
    let username = ann.fields["username"].as_str().unwrap().to_owned();
    assert_eq!(
        app.login_status("members", &username.to_uppercase(), &src.ann.password)
            .await,
        200,
        "username identity, unique without case"
    );
    assert_eq!(ann.fields["age"], 41);
    assert_eq!(ann.fields["newsletter"], true);
    assert_eq!(ann.fields["prefs"], json!({"theme": "dark"}));
    assert!(ann.fields.get("avatar").is_none(), "file fields stay out");
    let bob = app.stored_record("members", &src.bob.email).await;
    assert_eq!(bob.fields["age"], 7.5);
    assert_eq!(app.refresh_status("members", &src.ann_token).await, 200);

    // The OAuth2 identity logs into the same record.
    let user = [
        ("login_hint", "ann-oauth@example.com"),
        ("mock_sub", src.ann_sub.as_str()),
    ];
    let (code, verifier) = authorize(&app, "members", &user).await;
    let (status, body) = app
        .post(
            "members",
            "auth-with-oauth2",
            json!({"provider": "oidc", "code": code, "codeVerifier": verifier,
                   "redirectURL": REDIRECT}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["id"], src.ann.id.as_str());
    assert_eq!(body["meta"]["isNew"], false);
}

#[tokio::test]
async fn re_running_the_import_changes_nothing_and_a_dry_run_writes_nothing() {
    let mut src = pocketbase_app().await;
    src.pb.stop().await;
    let from = src.pb.pb_data().to_path_buf();

    // A dry run into an empty store reports everything and writes nothing.
    let t = target(Arc::new(MemoryStore::new()));
    let store = t.store.clone();
    let dry = run_import(&t, &from, true).await;
    assert!(dry.dry_run && dry.config_changed);
    assert_eq!((dry.records.imported, dry.links.imported), (4, 1));
    assert!(dry.to_string().contains("dry run: nothing written"));
    assert!(store.load_config().await.unwrap().is_none());
    assert!(t.secrets.load_secrets().await.unwrap().is_none());
    let members_id = src.members_id.as_str();
    assert!(store
        .get_record(members_id, &src.ann.id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_external_auth(members_id, "oidc", &src.ann_sub)
        .await
        .unwrap()
        .is_none());

    run_import(&t, &from, false).await;
    let again = run_import(&t, &from, false).await;
    assert!(!again.config_changed, "{again}");
    assert_eq!(again.records.unchanged, 4, "{again}");
    assert_eq!(again.links.unchanged, 1, "{again}");
    assert_eq!(again.records.imported + again.records.changed, 0, "{again}");
    assert!(again.to_string().contains("4 unchanged"), "{again}");

    // A login upgrades ann's hash in Authgate: a later import keeps it.
    let app = serve(&t).await;
    assert_eq!(
        app.login_status("members", &src.ann.email, &src.ann.password)
            .await,
        200
    );
    let upgraded = app.stored_record("members", &src.ann.email).await;
    let third = run_import(&t, &from, false).await;
    assert_eq!(third.records.unchanged, 4, "{third}");
    assert_eq!(app.stored_record("members", &src.ann.email).await, upgraded);

    // A change made in PocketBase meanwhile is one changed record; the dry
    // run reports it and leaves the store as it was.
    src.pb.restart().await;
    let path = format!("/api/collections/members/records/{}", src.bob.id);
    let (status, body) = src.pb.admin(Method::PATCH, &path, json!({"age": 8})).await;
    assert_eq!(status, 200, "{body}");
    src.pb.stop().await;
    let before = app.stored_record("members", &src.bob.email).await;
    let dry = run_import(&t, &from, true).await;
    assert_eq!(
        (dry.records.changed, dry.records.unchanged),
        (1, 3),
        "{dry}"
    );
    assert_eq!(app.stored_record("members", &src.bob.email).await, before);
    let real = run_import(&t, &from, false).await;
    assert_eq!(
        (real.records.changed, real.records.unchanged),
        (1, 3),
        "{real}"
    );
    let after = app.stored_record("members", &src.bob.email).await;
    assert_eq!(after.fields["age"], 8);
    assert_eq!(after.version, before.version + 1);
    assert_eq!(
        app.login_status("members", &src.bob.email, &src.bob.password)
            .await,
        200
    );
}

fn sqlite(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

async fn import_error(from: &Path) -> ImportError {
    let (store, secrets) = (MemoryStore::new(), MemorySecrets::new());
    let config = Deployed {
        store: &store,
        secrets: &secrets,
        rng: &OsRandom,
    };
    match import(
        Arc::new(MemoryStore::new()),
        &config,
        from,
        &Options::default(),
        now(),
    )
    .await
    {
        Ok(r) => panic!("imported: {r}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn wrong_paths_and_other_databases_are_clear_errors() {
    let dir = temp_dir("pbimport");
    let missing = dir.join("nope");
    let e = import_error(&missing).await;
    assert!(matches!(e, ImportError::NotFound(_)), "{e}");
    assert!(e.to_string().contains("no PocketBase data.db"), "{e}");

    let text = dir.join("text");
    std::fs::create_dir_all(&text).unwrap();
    std::fs::write(
        text.join("data.db"),
        "not a database, just text ".repeat(100),
    )
    .unwrap();
    let e = import_error(&text).await;
    assert!(matches!(e, ImportError::NotPocketBase(..)), "{e}");

    let other = dir.join("other.db");
    sqlite(&other, "CREATE TABLE things (id TEXT)");
    let e = import_error(&other).await;
    assert!(e.to_string().contains("no _collections table"), "{e}");

    // PocketBase before v0.23: `_admins` and a `schema` column.
    let old = dir.join("old.db");
    sqlite(
        &old,
        "CREATE TABLE _admins (id TEXT); CREATE TABLE _collections (id TEXT, name TEXT, type TEXT, schema TEXT, options TEXT)",
    );
    let e = import_error(&old).await;
    assert!(matches!(e, ImportError::TooOld(_)), "{e}");
    assert!(e.to_string().contains("before v0.23"), "{e}");
    assert_eq!(e.to_string().lines().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_newer_or_locked_database_is_refused_and_the_cli_exits_non_zero() {
    let mut src = PocketBase::start().await;
    src.stop().await;
    let dir = temp_dir("pbimport");

    // Migrated by a PocketBase newer than the importer knows.
    let newer = dir.join("newer.db");
    std::fs::copy(src.data_db(), &newer).unwrap();
    sqlite(
        &newer,
        "INSERT INTO _migrations (file, applied) VALUES ('1999999999_future_change.go', 0)",
    );
    let e = import_error(&newer).await;
    assert!(matches!(e, ImportError::TooNew(..)), "{e}");
    assert!(e.to_string().contains("1999999999_future_change.go"), "{e}");
    // An app's own (JS) migrations do not count.
    let app_migration = dir.join("app-migration.db");
    std::fs::copy(src.data_db(), &app_migration).unwrap();
    sqlite(
        &app_migration,
        "INSERT INTO _migrations (file, applied) VALUES ('1999999999_created_posts.js', 0)",
    );
    run_import(&target(Arc::new(MemoryStore::new())), &app_migration, true).await;

    // Locked: another process holds an exclusive lock.
    let locked = dir.join("locked.db");
    std::fs::copy(src.data_db(), &locked).unwrap();
    let holder = rusqlite::Connection::open(&locked).unwrap();
    holder
        .execute_batch("PRAGMA journal_mode=DELETE; BEGIN EXCLUSIVE;")
        .unwrap();
    let e = import_error(&locked).await;
    assert!(matches!(e, ImportError::Locked(_)), "{e}");
    assert!(e.to_string().contains("locked"), "{e}");

    // The CLI: one clear line, a failing exit code.
    let out = tokio::process::Command::new(bin_dir().join("authgate"))
        .args(["import", "pocketbase", "--dry-run", "--from"])
        .arg(&locked)
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("locked"),
        "{stderr}"
    );
    drop(holder);
    let out = tokio::process::Command::new(bin_dir().join("authgate"))
        .args(["import", "pocketbase", "--dry-run", "--from"])
        .arg(dir.join("missing"))
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no PocketBase data.db"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `authgate import pocketbase --from … --data DIR` with `extra` arguments.
async fn cli_import(from: &Path, data: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(bin_dir().join("authgate"))
        .args(["import", "pocketbase", "--from"])
        .arg(from)
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_two_commands_import_into_the_local_store_and_serve_it() {
    let mut src = pocketbase_app().await;
    src.pb.stop().await;
    let from = src.pb.pb_data().to_path_buf();
    let data = temp_dir("import-data");

    let (ok, out, err) = cli_import(&from, &data, &["--dry-run"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert!(out.contains("records: 4 imported"), "{out}");
    assert!(
        !data.join("authgate.db").exists(),
        "a dry run creates nothing"
    );

    let (ok, out, err) = cli_import(&from, &data, &[]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("records: 4 imported"), "{out}");
    assert!(out.contains("OAuth2 links: 1 imported"), "{out}");
    assert!(
        err.contains("members: 2/2 records"),
        "progress on stderr: {err}"
    );

    // `authgate serve` on that data directory serves the imported config.
    let serve = LocalServer::start(None, &["--data".into(), data.clone().into()]).await;
    let url = serve.url.clone();
    let http = reqwest::Client::new();
    let members = format!("{url}/api/collections/members");
    let res = http
        .post(format!("{members}/auth-refresh"))
        .header("Authorization", &src.ann_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "PocketBase's token refreshes");
    let res = http
        .post(format!("{members}/auth-with-password"))
        .json(&json!({"identity": src.ann.email, "password": src.ann.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "same password");
    serve.kill_9().await;

    // Again: nothing changes, ann's new argon2id hash stays.
    let (ok, out, err) = cli_import(&from, &data, &[]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("records: 0 imported, 0 changed, 4 unchanged, 0 skipped"),
        "{out}"
    );
    assert!(out.contains("config unchanged"), "{out}");
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_import_into_dynamodb_keeps_passwords_sessions_and_links_too() {
    let mut src = pocketbase_app().await;
    src.pb.stop().await;
    let t = target(authgate_tests::dynamo_store().await);
    let store = t.store.clone();
    let report = run_import(&t, src.pb.pb_data(), false).await;
    assert_eq!(
        (report.records.imported, report.links.imported),
        (4, 1),
        "{report}"
    );
    let again = run_import(&t, src.pb.pb_data(), false).await;
    assert_eq!(
        (again.records.unchanged, again.links.unchanged),
        (4, 1),
        "{again}"
    );
    let app = serve(&t).await;
    assert_eq!(app.refresh_status("members", &src.ann_token).await, 200);
    assert_eq!(
        app.login_status("users", &src.carl.email, &src.carl.password)
            .await,
        200
    );
    assert!(is_argon2id(
        &app.stored_record("users", &src.carl.email)
            .await
            .password_hash
    ));
    let link = store
        .find_external_auth(&src.members_id, "oidc", &src.ann_sub)
        .await
        .unwrap()
        .expect("link");
    assert_eq!(link.record_id, src.ann.id);
}
