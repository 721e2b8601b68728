//! `POST /api/collections/{c}/records` (sign-up).

use authgate_tests::{config_with, unique_email, TestApp};
use serde_json::json;

#[tokio::test]
async fn sign_up_returns_the_record_without_its_email() {
    let app = TestApp::spawn().await;
    let e = unique_email("signup");
    let (status, body) = app
        .post("users", "records", json!({"email": e, "password": "1234567890", "passwordConfirm": "1234567890", "name": "Ann"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("email").is_none(),
        "email hidden unless visible: {body}"
    );
    assert_eq!(body["collectionName"], "users");
    assert_eq!(body["name"], "Ann");
    assert_eq!(body["verified"], false);
    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), 15);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert!(body.get("password").is_none() && body.get("tokenKey").is_none());
    assert!(body["created"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn sign_up_shows_the_email_when_email_visibility_is_on() {
    let app = TestApp::spawn().await;
    let e = unique_email("signup");
    let (status, body) = app
        .post("users", "records", json!({"email": e, "emailVisibility": true, "password": "1234567890", "passwordConfirm": "1234567890"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["email"], e.as_str());
}

#[tokio::test]
async fn sign_up_rejects_bad_input_with_pocketbase_field_codes() {
    let app = TestApp::spawn().await;
    let taken = unique_email("signup");
    app.sign_up("users", &taken, "1234567890").await;
    let cases = [
        (
            json!({"email": unique_email("signup"), "password": "1234567890", "passwordConfirm": "0987654321"}),
            "passwordConfirm",
            "validation_values_mismatch",
        ),
        (
            json!({"email": taken.to_uppercase(), "password": "1234567890", "passwordConfirm": "1234567890"}),
            "email",
            "validation_not_unique",
        ),
        (
            json!({"email": unique_email("signup"), "password": "1234567890", "passwordConfirm": "1234567890", "verified": true}),
            "verified",
            "validation_values_mismatch",
        ),
        (
            json!({"password": "1234567890", "passwordConfirm": "1234567890"}),
            "email",
            "validation_required",
        ),
        (
            json!({"email": "not-an-email", "password": "1234567890", "passwordConfirm": "1234567890"}),
            "email",
            "validation_is_email",
        ),
        (
            json!({"email": unique_email("signup"), "password": "short", "passwordConfirm": "short"}),
            "password",
            "validation_min_text_constraint",
        ),
        (
            json!({"email": unique_email("signup"), "password": "1234567890", "passwordConfirm": "1234567890", "name": "x".repeat(300)}),
            "name",
            "validation_max_text_constraint",
        ),
    ];
    for (body, field, code) in cases {
        let (status, res) = app.post("users", "records", body.clone()).await;
        assert_eq!(status, 400, "{body} → {res}");
        assert_eq!(res["message"], "Failed to create record.", "{res}");
        assert_eq!(res["data"][field]["code"], code, "{body} → {res}");
    }
}

#[tokio::test]
async fn system_fields_in_the_sign_up_body_are_ignored() {
    let app = TestApp::spawn().await;
    let e = unique_email("signup");
    let (status, body) = app
        .post("users", "records", json!({
            "email": e, "password": "1234567890", "passwordConfirm": "1234567890",
            "id": "aaaaaaaaaaaaaaa", "tokenKey": "attacker-chosen-token-key-attacker-chosen-key",
            "created": "2000-01-01 00:00:00.000Z", "collectionId": "other", "verified": false
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["id"], "aaaaaaaaaaaaaaa");
    assert_ne!(body["created"], "2000-01-01 00:00:00.000Z");
    assert_eq!(body["collectionId"], "_pb_users_auth_");
    let stored = app
        .store
        .get_record("_pb_users_auth_", body["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        stored.token_key,
        "attacker-chosen-token-key-attacker-chosen-key"
    );
    assert!(stored
        .password_hash
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

#[tokio::test]
async fn custom_fields_are_validated_as_pocketbase_does() {
    let app = TestApp::with_config(config_with(vec![json!({
        "name": "members", "type": "auth",
        "fields": [
            {"name": "age", "type": "number", "min": 18, "onlyInt": true},
            {"name": "site", "type": "url"},
            {"name": "nick", "type": "text", "required": true, "pattern": "^[a-z]+$"},
            {"name": "plan", "type": "select", "values": ["free", "pro"]},
            {"name": "avatar", "type": "file"}
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_nick ON members (nick)"]
    })]))
    .await;
    let base = |extra: serde_json::Value| {
        let mut b = json!({"email": unique_email("signup"), "password": "1234567890", "passwordConfirm": "1234567890", "nick": "abc"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases = [
        (
            json!({"age": 12}),
            "age",
            "validation_min_number_constraint",
        ),
        (
            json!({"age": 20.5}),
            "age",
            "validation_only_int_constraint",
        ),
        (json!({"site": "nope"}), "site", "validation_is_url"),
        (json!({"nick": ""}), "nick", "validation_required"),
        (json!({"nick": "ABC"}), "nick", "validation_invalid_format"),
        (json!({"plan": "gold"}), "plan", "validation_invalid_value"),
    ];
    for (extra, field, code) in cases {
        let (status, res) = app.post("members", "records", base(extra.clone())).await;
        assert_eq!(status, 400, "{extra} → {res}");
        assert_eq!(res["data"][field]["code"], code, "{extra} → {res}");
    }
    let (status, ok) = app
        .post(
            "members",
            "records",
            base(json!({"age": "30", "plan": "pro", "avatar": "x.png"})),
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["age"], 30);
    assert!(
        ok.get("avatar").is_none(),
        "unsupported field types stay out of writes"
    );
    let (status, dup) = app.post("members", "records", base(json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(
        dup["data"]["nick"]["code"], "validation_not_unique",
        "{dup}"
    );
}

#[tokio::test]
async fn unknown_and_non_auth_collections_answer_404_before_reading_the_body() {
    let app =
        TestApp::with_config(config_with(vec![json!({"name": "posts", "type": "base"})])).await;
    let res = app
        .http
        .post(app.url("nope", "records"))
        .body("{bad")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": 404, "message": "Missing or invalid collection context.", "data": {}})
    );
    let (status, body) = app.post("posts", "records", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "Missing or invalid auth collection context."
    );
}

#[tokio::test]
async fn malformed_json_gets_the_400_envelope() {
    let app = TestApp::spawn().await;
    for bad in ["{bad", "[1,2]", "\"str\""] {
        let res = app.post_malformed("users", "records", bad, None).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            body,
            json!({"status": 400, "message": "An error occurred while loading the submitted data.", "data": {}}),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let big = json!({"email": unique_email("signup"), "name": "x".repeat(70 * 1024)});
    let (status, body) = app.post("users", "records", big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["status"], 413);
}

#[tokio::test]
async fn an_unknown_collection_is_404_even_for_a_body_over_64_kib() {
    let app = TestApp::spawn().await;
    let big = json!({"email": unique_email("signup"), "name": "x".repeat(70 * 1024)});
    let (status, body) = app.post("nope", "records", big).await;
    assert_eq!(
        status, 404,
        "the collection is checked before the body is read: {body}"
    );
}
