//! The API rules of the collection JSON: `null`, `""` and the owner rule.

use std::sync::Arc;

use authgate_core::config::AppConfig;
use authgate_core::ports::Store;
use authgate_tests::{config_with, unique_email};
use reqwest::Method;
use serde_json::json;

use super::{account, app, delete, on_both_stores, patch, send, users_like, view};

on_both_stores!(
    null_rules_close_each_action_with_pocketbases_403,
    a_public_view_rule_shows_other_records_without_their_email,
    an_auth_rule_of_null_refuses_every_login_and_refresh,
);

pub(super) async fn null_rules_close_each_action_with_pocketbases_403(
    store: Option<Arc<dyn Store>>,
) {
    let closed = json!({
        "listRule": null, "viewRule": null, "updateRule": null, "deleteRule": null
    });
    let app = app(
        store,
        vec![
            users_like("closed", closed),
            users_like("staff", json!({"createRule": null})),
        ],
    )
    .await;
    let (id, token) = account(&app, "closed", &unique_email("closed")).await;
    let forbidden =
        json!({"data": {}, "message": "Only superusers can perform this action.", "status": 403});
    let t = Some(token.as_str());
    assert_eq!(view(&app, "closed", &id, t).await, (403, forbidden.clone()));
    assert_eq!(
        send(&app, Method::GET, "closed/records", t, None).await,
        (403, forbidden.clone())
    );
    assert_eq!(
        patch(&app, "closed", &id, t, json!({"name": "x"})).await,
        (403, forbidden.clone())
    );
    assert_eq!(delete(&app, "closed", &id, t).await, 403);
    // The owner can still log in, refresh and revoke its sessions.
    assert_eq!(app.refresh_status("closed", &token).await, 200);

    // `createRule: null`: no sign-up (an imported `staff` collection).
    let email = unique_email("staff");
    let (status, body) = app
        .post(
            "staff",
            "records",
            json!({"email": email, "password": "1234567890", "passwordConfirm": "1234567890"}),
        )
        .await;
    assert_eq!((status, body), (403, forbidden));
    let coll = &app.config.collection("staff").unwrap().id;
    let key = authgate_core::validate::identity_key(
        app.config.collection("staff").unwrap(),
        "email",
        &email,
    );
    assert!(app
        .store
        .find_record_by_unique(coll, &key)
        .await
        .unwrap()
        .is_none());
}

pub(super) async fn a_public_view_rule_shows_other_records_without_their_email(
    store: Option<Arc<dyn Store>>,
) {
    let app = app(
        store,
        vec![users_like(
            "public",
            json!({"viewRule": "", "updateRule": "id=@request.auth.id"}),
        )],
    )
    .await;
    let (a_email, b_email) = (unique_email("pub-a"), unique_email("pub-b"));
    let (a, ta) = account(&app, "public", &a_email).await;
    let (b, tb) = account(&app, "public", &b_email).await;
    patch(&app, "public", &a, Some(&ta), json!({"name": "Ann"})).await;
    for token in [Some(tb.as_str()), None] {
        let (status, body) = view(&app, "public", &a, token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "Ann");
        assert!(
            body.get("email").is_none(),
            "email hidden from others: {body}"
        );
    }
    // emailVisibility shows it.
    patch(
        &app,
        "public",
        &a,
        Some(&ta),
        json!({"emailVisibility": true}),
    )
    .await;
    let (_, body) = view(&app, "public", &a, None).await;
    assert_eq!(body["email"], a_email.as_str());
    // Still only the owner updates.
    assert_eq!(
        patch(&app, "public", &a, Some(&tb), json!({"name": "x"}))
            .await
            .0,
        404
    );
    assert_eq!(
        view(&app, "public", &b, Some(&tb)).await.1["email"],
        b_email.as_str()
    );
}

pub(super) async fn an_auth_rule_of_null_refuses_every_login_and_refresh(
    store: Option<Arc<dyn Store>>,
) {
    let app = app(store, vec![users_like("locked", json!({"authRule": null}))]).await;
    let email = unique_email("locked");
    app.sign_up("locked", &email, "1234567890").await;
    let (status, body) = app.password_login("locked", &email, "1234567890").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["message"],
        "The request doesn't satisfy the collection requirements to authenticate."
    );
    // A wrong password is still the usual 400 (checked first).
    assert_eq!(
        app.login_status("locked", &email, "nope-nope-nope").await,
        400
    );
    let (otp_id, code) = app.request_otp("locked", &email).await;
    assert_eq!(app.auth_with_otp("locked", &otp_id, &code).await.0, 403);
}

#[test]
fn unsupported_rules_are_refused_at_config_load_naming_the_path() {
    for (key, value) in [
        ("viewRule", json!("verified = true")),
        ("listRule", json!("")),
        ("createRule", json!("@request.auth.id != ''")),
        ("authRule", json!("verified = true")),
        ("deleteRule", json!(7)),
    ] {
        let mut extra = serde_json::Map::new();
        extra.insert(key.to_owned(), value.clone());
        let doc = config_with(vec![users_like("staff", serde_json::Value::Object(extra))]);
        let mut doc = doc;
        authgate_core::config::fill_secrets(&mut doc, None, &authgate_adapters::system::OsRandom);
        let err = AppConfig::from_json(&doc).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(&format!("collections[1].{key}")), "{text}");
        assert!(text.contains("Authgate supports"), "{text}");
    }
}
