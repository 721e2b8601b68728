//! Attacks an auth API must resist: alg confusion, forged and cross-type
//! tokens, secrets in logs, racing sign-ups.

use std::sync::Arc;

use authgate_core::ports::Store;
use authgate_core::token::peek;
use authgate_core::validate::identity_key;
use authgate_tests::{
    captured_logs, dynamo_store, dynamodb_client, forged_jwt, jwt_segment, unique, unique_email,
    Options, TestApp,
};
use serde_json::json;

#[tokio::test]
async fn alg_none_and_other_algorithms_are_rejected_even_with_the_right_key() {
    let app = TestApp::spawn().await;
    let e = unique_email("sec");
    app.sign_up("users", &e, "1234567890").await;
    let token = app.login("users", &e, "1234567890").await;
    let claims = serde_json::to_value(peek(&token).unwrap()).unwrap();
    let payload = jwt_segment(&claims);

    let none = format!(
        "{}.{payload}.",
        jwt_segment(&json!({"alg": "none", "typ": "JWT"}))
    );
    // HS512 signed with the real key: right secret, wrong algorithm.
    let coll = app.config.collection("users").unwrap();
    let record = app.stored_record("users", &e).await;
    let key = format!("{}{}", record.token_key, coll.auth_token.secret.expose());
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap();
    for forged in [none, hs512] {
        let (status, _) = app
            .post_auth("users", "auth-refresh", json!({}), Some(&forged))
            .await;
        assert_eq!(status, 401, "{forged}");
    }
}

#[tokio::test]
async fn a_correctly_signed_token_of_another_type_is_not_an_auth_token() {
    let app = TestApp::spawn().await;
    let e = unique_email("sec");
    app.sign_up("users", &e, "1234567890").await;
    let coll = app.config.collection("users").unwrap();
    let record = app.stored_record("users", &e).await;
    let now = authgate_core::ports::Clock::now(app.clock.as_ref());
    let mut tokens = Vec::new();
    for kind in [
        authgate_core::token::TokenKind::Verification,
        authgate_core::token::TokenKind::PasswordReset,
    ] {
        let t = authgate_core::token::issue(coll, &record, kind, now, Default::default()).unwrap();
        tokens.push((format!("{kind:?}"), t));
    }
    // A PocketBase file token (a type Authgate never issues), signed as
    // PocketBase signs it: HS256 with the record's key and the file secret.
    let key = format!("{}{}", record.token_key, coll.file_token.secret.expose());
    let claims = json!({"collectionId": coll.id, "exp": now.seconds() + 180, "id": record.id, "type": "file"});
    let file = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap();
    tokens.push(("File".to_owned(), file));
    for (kind, t) in tokens {
        let (status, _) = app
            .post_auth("users", "auth-refresh", json!({}), Some(&t))
            .await;
        assert_eq!(status, 401, "{kind:?}");
    }
}

#[tokio::test]
async fn logs_of_sign_up_and_login_never_contain_passwords_tokens_or_secrets() {
    let app = TestApp::spawn().await;
    let e = unique_email("sec");
    let password = format!("pw-{}", unique("secret"));
    app.sign_up("users", &e, &password).await;
    let token = app.login("users", &e, &password).await;
    assert_eq!(
        app.login_status("users", &e, "wrong-password-123").await,
        400
    );
    let (status, body) = app
        .post_auth("users", "auth-refresh", json!({}), Some(&token))
        .await;
    assert_eq!(status, 200);
    let coll = app.config.collection("users").unwrap();
    let record = app.stored_record("users", &e).await;
    let logs = captured_logs();
    assert!(!logs.is_empty(), "the capture works: requests were logged");
    for secret in [
        password.as_str(),
        "wrong-password-123",
        token.as_str(),
        body["token"].as_str().unwrap(),
        record.token_key.as_str(),
        record.password_hash.as_str(),
        coll.auth_token.secret.expose(),
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}

async fn race_sign_ups(store: Arc<dyn Store>) -> (Arc<dyn Store>, String, String) {
    let app = TestApp::on_store(store.clone()).await;
    let e = unique_email("sec");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let http = app.http.clone();
        let url = app.url("users", "records");
        // Mixed case: uniqueness is case-insensitive.
        let addr = if i % 2 == 0 {
            e.clone()
        } else {
            e.to_uppercase()
        };
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .json(&json!({"email": addr, "password": "1234567890", "passwordConfirm": "1234567890"}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => winners.push(body["id"].as_str().unwrap().to_owned()),
            400 => assert_eq!(
                body["data"]["email"]["code"], "validation_not_unique",
                "{body}"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one sign-up wins");
    let coll = app.config.collection("users").unwrap();
    let owner = store
        .find_record_by_unique(&coll.id, &identity_key(coll, "email", &e))
        .await
        .unwrap()
        .expect("marker points at a record");
    assert_eq!(owner.id, winners[0]);
    (store, coll.id.clone(), winners[0].clone())
}

#[tokio::test]
async fn twenty_concurrent_sign_ups_with_one_email_create_one_record_in_memory() {
    race_sign_ups(Arc::new(authgate_adapters::memory::MemoryStore::new())).await;
}

#[tokio::test]
async fn twenty_concurrent_sign_ups_with_one_email_create_one_record_in_dynamodb() {
    let store = dynamo_store().await;
    let table = store.table().to_owned();
    race_sign_ups(store).await;
    // The table is this test's own: exactly the winner's record and its one
    // email marker may exist (no orphan from the 19 losers).
    let items = dynamodb_client()
        .await
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let kinds: Vec<String> = items
        .items()
        .iter()
        .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert_eq!(items.count(), 2, "one record + one marker, got {kinds:?}");
}

#[tokio::test]
async fn forged_tokens_and_ids_of_any_size_are_a_clean_4xx_on_dynamodb() {
    let app = TestApp::spawn_with(Options {
        store: Some(dynamo_store().await),
        config: authgate_tests::config_with(vec![json!({
            "name": "secure", "type": "auth", "mfa": {"enabled": true}, "otp": {"enabled": true}
        })]),
        ..Default::default()
    })
    .await;
    let giant = "a".repeat(2100);
    let forged = |kind: &str| {
        forged_jwt(
            &json!({"collectionId": "_pb_users_auth_", "exp": 9_999_999_999i64, "id": giant,
            "type": kind, "email": "x@example.com", "newEmail": "y@example.com"}),
        )
    };
    let (status, _) = app
        .post_auth("users", "auth-refresh", json!({}), Some(&forged("auth")))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .post_auth(
            "users",
            "request-email-change",
            json!({"newEmail": "n@example.com"}),
            Some(&forged("auth")),
        )
        .await;
    assert_eq!(status, 401);
    for (action, kind, body) in [
        ("confirm-verification", "verification", json!({})),
        (
            "confirm-password-reset",
            "passwordReset",
            json!({"password": "1234567890", "passwordConfirm": "1234567890"}),
        ),
        (
            "confirm-email-change",
            "emailChange",
            json!({"password": "1234567890"}),
        ),
    ] {
        let mut body = body;
        body["token"] = json!(forged(kind));
        let (status, res) = app.post("users", action, body).await;
        assert_eq!(status, 400, "{action}: {res}");
    }
    let (status, _) = app
        .post(
            "secure",
            "auth-with-otp",
            json!({"otpId": giant, "password": "12345678"}),
        )
        .await;
    assert_eq!(status, 400);
    let e = unique_email("sec");
    app.sign_up("secure", &e, "1234567890").await;
    let (status, body) = app
        .post(
            "secure",
            &format!("auth-with-password?mfaId={giant}"),
            json!({"identity": e, "password": "1234567890"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Invalid or expired MFA session.");
}

/// The `Cache-Control` header of an answer ("" without one).
fn cache_control(res: &reqwest::Response) -> String {
    res.headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn answers_carrying_tokens_otp_ids_or_pkce_verifiers_forbid_caching() {
    use crate::oauth2::{authorize, collection, REDIRECT};
    let otp = json!({"otp": {"enabled": true, "duration": 60}});
    let mfa = json!({"mfa": {"enabled": true, "duration": 60}});
    let app = TestApp::with_config(authgate_tests::config_with(vec![
        collection("nostore", otp),
        collection("nostoremfa", mfa),
    ]))
    .await;
    let email = unique_email("nostore");
    app.sign_up("nostore", &email, "nostore-pass-1").await;
    app.sign_up("nostoremfa", &email, "nostore-pass-1").await;
    let post = |coll: &str, action: &str, body: serde_json::Value, auth: Option<&str>| {
        let mut req = app.http.post(app.url(coll, action)).json(&body);
        if let Some(t) = auth {
            req = req.header("Authorization", t);
        }
        req.send()
    };
    let mut seen = Vec::new();

    let res = app
        .http
        .get(app.url("nostore", "auth-methods"))
        .send()
        .await
        .expect("auth-methods");
    seen.push(("auth-methods", res.status().as_u16(), cache_control(&res)));

    let password = json!({"identity": email, "password": "nostore-pass-1"});
    let res = post("nostore", "auth-with-password", password.clone(), None)
        .await
        .expect("login");
    seen.push((
        "auth-with-password",
        res.status().as_u16(),
        cache_control(&res),
    ));
    let token = res.json::<serde_json::Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();

    let res = post("nostore", "auth-refresh", json!({}), Some(&token))
        .await
        .expect("refresh");
    seen.push(("auth-refresh", res.status().as_u16(), cache_control(&res)));

    let res = post("nostoremfa", "auth-with-password", password, None)
        .await
        .expect("mfa");
    seen.push(("MFA 401", res.status().as_u16(), cache_control(&res)));

    let res = post("nostore", "request-otp", json!({"email": email}), None)
        .await
        .expect("request-otp");
    seen.push(("request-otp", res.status().as_u16(), cache_control(&res)));
    // That OTP's mail goes out first, so the next one is the newest mail.
    app.mails_to(&email).await;
    let (otp_id, code) = app.request_otp("nostore", &email).await;
    let body = json!({"otpId": otp_id, "password": code});
    let res = post("nostore", "auth-with-otp", body, None)
        .await
        .expect("otp");
    seen.push(("auth-with-otp", res.status().as_u16(), cache_control(&res)));

    let (code, verifier) = authorize(&app, "nostore", &[("login_hint", &email)]).await;
    let body = json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
    let res = post("nostore", "auth-with-oauth2", body, None)
        .await
        .expect("oauth2");
    seen.push((
        "auth-with-oauth2",
        res.status().as_u16(),
        cache_control(&res),
    ));

    for (what, status, cc) in seen {
        assert!(status == 200 || status == 401, "{what}: status {status}");
        assert_eq!(cc, "no-store", "{what} must not be cached");
    }
}

/// A failed password or OTP login of a known account is logged with the
/// account's record id and the `auth_failed` outcome, never with the
/// address typed (docs/security.md, "Alarms, logs, abuse budget").
#[tokio::test]
async fn failed_logins_of_an_account_are_logged_by_record_id_not_by_address() {
    let app = TestApp::with_config(authgate_tests::config_with(vec![
        crate::otp::otp_collection("otplog", json!({})),
    ]))
    .await;
    let e = unique_email("faillog");
    app.sign_up("otplog", &e, "1234567890").await;
    let id = app.stored_record("otplog", &e).await.id;
    assert_eq!(app.login_status("otplog", &e, "wrong-password").await, 400);
    let (otp_id, _) = app.request_otp("otplog", &e).await;
    assert_eq!(
        app.auth_with_otp("otplog", &otp_id, "00000000").await.0,
        400
    );
    let logs = captured_logs();
    let failed: Vec<&str> = logs
        .lines()
        .filter(|l| {
            l.contains(&format!("record=\"{id}\"")) && l.contains("outcome=\"auth_failed\"")
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert!(failed.iter().all(|l| l.contains("collection=otplog")));
    // (The local mailbox of `authgate serve` and the tests names the
    // recipient of each file it writes; nothing on the request path does.)
    let leaks: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(&e) && !l.contains("authgate_adapters::mailbox"))
        .collect();
    assert!(leaks.is_empty(), "the address is never logged: {leaks:#?}");
}
