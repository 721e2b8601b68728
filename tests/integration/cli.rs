//! The `authgate` developer CLI: `serve` and `collections apply`.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use authgate_adapters::dynamodb::DynamoStore;
use authgate_core::config::secret_values;
use authgate_core::ports::{ConfigStore, SecretStore};
use authgate_tests::{
    bin_dir, dynamodb_client, moto_secrets, moto_url, read_mails, repo_root, temp_dir, unique,
    unique_email, LocalServer,
};
use serde_json::json;

fn authgate() -> std::path::PathBuf {
    let bin = bin_dir().join("authgate");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins`",
        bin.display()
    );
    bin
}

/// `authgate collections apply <file>` into `table` on moto, secrets into
/// the Secrets Manager secret named after the table.
async fn collections_apply(file: &Path, table: &str) -> Output {
    collections(&["apply".as_ref(), file.as_os_str()], table).await
}

/// `authgate collections <args>` on `table` and its secret (same name) on moto.
pub(crate) async fn collections(args: &[&std::ffi::OsStr], table: &str) -> Output {
    tokio::process::Command::new(authgate())
        .arg("collections")
        .args(args)
        .env("AUTHGATE_TABLE", table)
        .env("AUTHGATE_SECRET_ID", table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto_url())
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn serve_starts_with_the_builtin_config_and_prints_where_it_listens() {
    let data = temp_dir("serve");
    let server = LocalServer::start(None, &["--data".into(), data.clone().into()]).await;
    let url = &server.url;
    let res = reqwest::get(format!("{url}/api/collections/users/auth-methods"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["password"]["identityFields"],
        serde_json::json!(["email"])
    );
    // The token secrets live in the data directory, readable by their owner only.
    let file = data.join("secrets.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(secret_values(&stored).len(), 5);
    server.kill_9().await;
}

/// Requests only queue mail, as in AWS; `serve` runs the sender that
/// delivers it, so the mail shows up in `<data>/mail` without anyone asking.
#[tokio::test]
async fn serve_delivers_queued_mail_to_the_local_mailbox_in_the_background() {
    let data = temp_dir("serve-mail");
    let server = LocalServer::start(None, &["--data".into(), data.clone().into()]).await;
    let url = &server.url;
    let http = reqwest::Client::new();
    let email = unique_email("serve");
    let password = "serve-Passw0rd";
    let res = http
        .post(format!("{url}/api/collections/users/records"))
        .json(&json!({"email": email, "password": password, "passwordConfirm": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .post(format!("{url}/api/collections/users/request-verification"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mails = loop {
        let mails: Vec<_> = read_mails(&data.join("mail"))
            .into_iter()
            .filter(|m| m.to.contains(&email))
            .collect();
        if !mails.is_empty() || tokio::time::Instant::now() > deadline {
            break mails;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mails.len(), 1, "one verification mail within 5 s");
    assert!(
        mails[0].token_after("/confirm-verification/").is_some(),
        "{}",
        mails[0].text
    );
    server.kill_9().await;
}

#[tokio::test]
async fn collections_apply_is_idempotent_keeps_secrets_and_never_prints_them() {
    let table = unique("authgate-apply-");
    let example = repo_root().join("infra/collections.example.json");
    let first = collections_apply(&example, &table).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let store = DynamoStore::new(dynamodb_client().await, table.clone());
    let secrets = moto_secrets(&table).await;
    let doc1 = store.load_config().await.unwrap().expect("stored");
    let secrets1 = secrets
        .load_secrets()
        .await
        .unwrap()
        .expect("secrets stored");
    let secret = secrets1["collections"]["_pb_users_auth_"]["authToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 50);
    let all = secret_values(&secrets1);
    assert_eq!(
        all.len(),
        6,
        "five token secrets and the GitHub client secret"
    );

    let second = collections_apply(&example, &table).await;
    assert!(second.status.success());
    let doc2 = store.load_config().await.unwrap().unwrap();
    assert_eq!(doc1, doc2, "a second apply changes nothing");
    assert_eq!(
        secrets.load_secrets().await.unwrap(),
        Some(secrets1.clone())
    );
    for out in [&first, &second] {
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for s in &all {
            assert!(!printed.contains(s.as_str()), "secrets are never printed");
        }
    }

    let bad = temp_dir("badcfg").join("bad.json");
    std::fs::write(&bad, r#"{"collections":[{"name":"a","type":"auth"},{"name":"b","type":"auth","otp":{"duration":5}}]}"#).unwrap();
    let out = collections_apply(&bad, &table).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("collections[1].otp.duration: must be ≥ 10")
    );
    assert_eq!(
        store.load_config().await.unwrap().unwrap(),
        doc1,
        "an invalid file stores nothing"
    );
}
