//! View, list, update and delete of one's own record.

use std::sync::Arc;

use authgate_core::ports::Store;
use authgate_tests::unique_email;
use reqwest::Method;
use serde_json::json;

use super::{account, app, delete, on_both_stores, patch, send, users_like, view};

on_both_stores!(
    the_owner_views_its_record_with_email_and_nobody_else_finds_it,
    the_list_holds_the_callers_own_record_only,
    an_owner_updates_profile_fields_and_they_are_validated,
    system_fields_in_an_update_body_are_refused_or_ignored,
    a_password_change_needs_the_right_old_password_and_ends_every_session,
    wrong_old_passwords_count_against_the_account_cap,
    concurrent_updates_keep_each_others_fields,
    a_deleted_account_is_gone_with_its_tokens_and_its_email_is_free,
    an_otp_of_a_deleted_account_logs_nobody_in_not_even_its_new_namesake,
    another_users_record_cannot_be_updated_or_deleted,
    auth_revoke_ends_every_session_of_the_caller,
    the_update_tag_rule_limits_updates_and_preflights_allow_patch_and_delete,
);

async fn users(store: Option<Arc<dyn Store>>) -> authgate_tests::TestApp {
    app(store, vec![users_like("members", json!({}))]).await
}

pub(super) async fn the_owner_views_its_record_with_email_and_nobody_else_finds_it(
    store: Option<Arc<dyn Store>>,
) {
    let app = users(store).await;
    let (a_email, b_email) = (unique_email("view-a"), unique_email("view-b"));
    let (a, ta) = account(&app, "members", &a_email).await;
    let (b, _) = account(&app, "members", &b_email).await;

    let (status, own) = view(&app, "members", &a, Some(&ta)).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["id"], a.as_str());
    assert_eq!(own["email"], a_email.as_str(), "the owner sees its email");
    assert!(own.get("tokenKey").is_none() && own.get("password").is_none());
    assert!(
        own.get("secret").is_none(),
        "hidden fields never leave: {own}"
    );

    // Another user's, anonymous, unknown, bogus ids, an invalid token: the same 404.
    let not_found =
        json!({"data": {}, "message": "The requested resource wasn't found.", "status": 404});
    for (id, token) in [
        (b.as_str(), Some(ta.as_str())),
        (a.as_str(), None),
        ("aaaaaaaaaaaaaaa", Some(ta.as_str())),
        ("~", Some(ta.as_str())),
        (a.as_str(), Some("not-a-token")),
    ] {
        let (status, body) = view(&app, "members", id, token).await;
        assert_eq!((status, &body), (404, &not_found), "{id} {token:?}");
    }
    // `?fields=` picks keys.
    let (status, body) = send(
        &app,
        Method::GET,
        &format!("members/records/{a}?fields=id,email"),
        Some(&ta),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"id": a, "email": a_email}));
    // A token of `members` does not open a `users` record.
    let (status, _) = view(&app, "users", &a, Some(&ta)).await;
    assert_eq!(status, 404);
}

pub(super) async fn the_list_holds_the_callers_own_record_only(store: Option<Arc<dyn Store>>) {
    let app = users(store).await;
    let (a, ta) = account(&app, "members", &unique_email("list-a")).await;
    account(&app, "members", &unique_email("list-b")).await;

    let (status, body) = send(&app, Method::GET, "members/records", Some(&ta), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["items"][0]["id"], a.as_str());
    assert_eq!(
        (
            body["page"].clone(),
            body["perPage"].clone(),
            body["totalItems"].clone(),
            body["totalPages"].clone()
        ),
        (json!(1), json!(30), json!(1), json!(1))
    );
    // What the SDK's getFullList sends.
    let path = "members/records?page=1&perPage=1000&skipTotal=1&fields=id";
    let (status, body) = send(&app, Method::GET, path, Some(&ta), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([{"id": a}]));
    assert_eq!(
        (body["totalItems"].clone(), body["totalPages"].clone()),
        (json!(-1), json!(-1))
    );

    let (status, body) = send(&app, Method::GET, "members/records", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["totalItems"], 0);

    let path = "members/records?filter=email%3D%27x%40example.com%27";
    let (status, body) = send(&app, Method::GET, path, Some(&ta), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("filter"),
        "{body}"
    );
}

pub(super) async fn an_owner_updates_profile_fields_and_they_are_validated(
    store: Option<Arc<dyn Store>>,
) {
    let app = users(store).await;
    let email = unique_email("update");
    let (a, ta) = account(&app, "members", &email).await;
    let before = app.stored_record("members", &email).await;

    let (status, body) = patch(
        &app,
        "members",
        &a,
        Some(&ta),
        json!({"name": "Ann", "age": "42", "emailVisibility": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Ann");
    assert_eq!(body["age"], 42, "cast as on sign-up");
    assert_eq!(body["emailVisibility"], true);
    assert_eq!(body["email"], email.as_str());
    assert_ne!(body["updated"], body["created"], "updated moves: {body}");
    let after = app.stored_record("members", &email).await;
    assert_eq!(after.fields["name"], "Ann");
    assert_eq!(after.version, before.version + 1);
    assert_eq!(
        after.token_key, before.token_key,
        "a profile edit keeps sessions"
    );
    assert_eq!(app.refresh_status("members", &ta).await, 200);

    // Field rules as on sign-up; nothing is written when one fails.
    let (status, body) = patch(
        &app,
        "members",
        &a,
        Some(&ta),
        json!({"name": "x".repeat(21), "bio": "fine", "age": 1.5}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Failed to update record.");
    assert_eq!(
        body["data"]["name"]["code"],
        "validation_max_text_constraint"
    );
    assert_eq!(
        body["data"]["age"]["code"],
        "validation_only_int_constraint"
    );
    let unchanged = app.stored_record("members", &email).await;
    assert_eq!(unchanged.fields["bio"], "", "{:?}", unchanged.fields);

    // A unique value taken by another record.
    let other = unique_email("update-other");
    let (b, tb) = account(&app, "members", &other).await;
    let (status, _) = patch(&app, "members", &b, Some(&tb), json!({"handle": "taken"})).await;
    assert_eq!(status, 200);
    let (status, body) = patch(&app, "members", &a, Some(&ta), json!({"handle": "taken"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["data"]["handle"]["code"], "validation_not_unique");
    // Freed by b, claimable by a.
    patch(
        &app,
        "members",
        &b,
        Some(&tb),
        json!({"handle": "free-now"}),
    )
    .await;
    let (status, body) = patch(&app, "members", &a, Some(&ta), json!({"handle": "taken"})).await;
    assert_eq!(status, 200, "{body}");

    // A malformed body.
    let res = app
        .http
        .patch(format!("{}/api/collections/members/records/{a}", app.base))
        .header("Authorization", &ta)
        .header("Content-Type", "application/json")
        .body("[1,2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

pub(super) async fn system_fields_in_an_update_body_are_refused_or_ignored(
    store: Option<Arc<dyn Store>>,
) {
    let app = users(store).await;
    let email = unique_email("massassign");
    let (a, ta) = account(&app, "members", &email).await;
    let before = app.stored_record("members", &email).await;

    // As PocketBase: a different `verified`, `email` or `id` is a 400 …
    for (body, field, code) in [
        (
            json!({"verified": true}),
            "verified",
            "validation_values_mismatch",
        ),
        (
            json!({"email": unique_email("other")}),
            "email",
            "validation_values_mismatch",
        ),
        (
            json!({"id": "aaaaaaaaaaaaaaa"}),
            "id",
            "validation_pk_change",
        ),
    ] {
        let (status, res) = patch(&app, "members", &a, Some(&ta), body.clone()).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["message"], "Failed to update record.");
        assert_eq!(res["data"][field]["code"], code, "{res}");
    }
    // … their current values pass, and every other system key is ignored.
    let (status, res) = patch(
        &app,
        "members",
        &a,
        Some(&ta),
        json!({
            "verified": false, "email": email, "id": a,
            "tokenKey": "attacker-chosen", "passwordHash": "$argon2id$x", "password_hash": "x",
            "created": "2001-01-01 00:00:00.000Z", "updated": "2001-01-01 00:00:00.000Z",
            "collectionId": "other", "collectionName": "users", "secret": "set-by-client",
            "version": 99, "expand": {"x": 1}, "name": "Still Ann"
        }),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["collectionName"], "members");
    let after = app.stored_record("members", &email).await;
    assert_eq!(after.token_key, before.token_key);
    assert_eq!(after.password_hash, before.password_hash);
    assert_eq!(after.created, before.created);
    assert!(!after.verified);
    assert_eq!(
        after.fields["secret"], before.fields["secret"],
        "hidden fields stay"
    );
    assert_eq!(after.fields["created"], before.fields["created"]);
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.fields["name"], "Still Ann");
    assert_eq!(app.login_status("members", &email, "1234567890").await, 200);
}

pub(super) async fn a_password_change_needs_the_right_old_password_and_ends_every_session(
    store: Option<Arc<dyn Store>>,
) {
    let app = users(store).await;
    let email = unique_email("pwchange");
    let (a, ta) = account(&app, "members", &email).await;
    let other_session = app.login("members", &email, "1234567890").await;

    let cases = [
        (
            json!({"password": "new-password-1", "passwordConfirm": "new-password-1"}),
            "oldPassword",
            "validation_required",
        ),
        (
            json!({"oldPassword": "wrong-one", "password": "new-password-1", "passwordConfirm": "new-password-1"}),
            "oldPassword",
            "validation_invalid_old_password",
        ),
        (
            json!({"oldPassword": "1234567890", "password": "new-password-1", "passwordConfirm": "other"}),
            "passwordConfirm",
            "validation_values_mismatch",
        ),
        (
            json!({"oldPassword": "1234567890", "password": "new-password-1"}),
            "passwordConfirm",
            "validation_required",
        ),
        (
            json!({"oldPassword": "1234567890", "passwordConfirm": "x"}),
            "password",
            "validation_required",
        ),
        (
            json!({"oldPassword": "1234567890", "password": "short", "passwordConfirm": "short"}),
            "password",
            "validation_min_text_constraint",
        ),
    ];
    for (body, field, code) in cases {
        let (status, res) = patch(&app, "members", &a, Some(&ta), body.clone()).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["data"][field]["code"], code, "{body}: {res}");
    }
    assert_eq!(
        app.refresh_status("members", &ta).await,
        200,
        "failures change nothing"
    );

    let (status, res) = patch(
        &app,
        "members",
        &a,
        Some(&ta),
        json!({"oldPassword": "1234567890", "password": "new-password-1", "passwordConfirm": "new-password-1"}),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["id"], a.as_str());
    assert!(
        res.get("token").is_none(),
        "PocketBase answers the record: {res}"
    );
    for t in [&ta, &other_session] {
        assert_eq!(
            app.refresh_status("members", t).await,
            401,
            "every session ends"
        );
    }
    assert_eq!(app.login_status("members", &email, "1234567890").await, 400);
    assert_eq!(
        app.login_status("members", &email, "new-password-1").await,
        200
    );
}

pub(super) async fn wrong_old_passwords_count_against_the_account_cap(
    store: Option<Arc<dyn Store>>,
) {
    let mut doc = authgate_tests::config_with(vec![users_like("members", json!({}))]);
    doc["rateLimits"] = json!({"enabled": true, "rules": [], "failedLoginsPerAccount": 3});
    let app = super::app_with(store, doc).await;
    let email = unique_email("pwcap");
    let (a, ta) = account(&app, "members", &email).await;
    let guess = |old: &str| json!({"oldPassword": old, "password": "new-password-1", "passwordConfirm": "new-password-1"});
    for i in 0..3 {
        let (status, res) =
            patch(&app, "members", &a, Some(&ta), guess(&format!("guess-{i}"))).await;
        assert_eq!(status, 400, "{res}");
    }
    // The cap is the account's: the right password waits too, as at login.
    let (status, res) = patch(&app, "members", &a, Some(&ta), guess("1234567890")).await;
    assert_eq!(status, 429, "{res}");
    assert_eq!(app.login_status("members", &email, "1234567890").await, 429);
}

pub(super) async fn concurrent_updates_keep_each_others_fields(store: Option<Arc<dyn Store>>) {
    let app = Arc::new(users(store).await);
    let email = unique_email("concurrent");
    let (a, ta) = account(&app, "members", &email).await;
    let bodies = [
        json!({"name": "Ann"}),
        json!({"bio": "Writes things"}),
        json!({"age": 7}),
    ];
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (app, a, ta) = (app.clone(), a.clone(), ta.clone());
            tokio::spawn(async move { patch(&app, "members", &a, Some(&ta), body).await })
        })
        .collect();
    for t in tasks {
        let (status, res) = t.await.unwrap();
        assert_eq!(status, 200, "{res}");
    }
    let (_, got) = view(&app, "members", &a, Some(&ta)).await;
    assert_eq!(
        (got["name"].clone(), got["bio"].clone(), got["age"].clone()),
        (json!("Ann"), json!("Writes things"), json!(7)),
        "{got}"
    );
    assert_eq!(app.stored_record("members", &email).await.version, 4);
}

pub(super) async fn a_deleted_account_is_gone_with_its_tokens_and_its_email_is_free(
    store: Option<Arc<dyn Store>>,
) {
    let app = users(store).await;
    let email = unique_email("delete");
    let (a, ta) = account(&app, "members", &email).await;
    patch(
        &app,
        "members",
        &a,
        Some(&ta),
        json!({"handle": "gone-handle"}),
    )
    .await;
    let coll = app.config.collection("members").unwrap().id.clone();

    assert_eq!(delete(&app, "members", &a, Some(&ta)).await, 204);
    assert_eq!(app.store.get_record(&coll, &a).await.unwrap(), None);
    assert_eq!(app.refresh_status("members", &ta).await, 401);
    assert_eq!(view(&app, "members", &a, Some(&ta)).await.0, 404);
    assert_eq!(app.login_status("members", &email, "1234567890").await, 400);
    assert_eq!(
        delete(&app, "members", &a, Some(&ta)).await,
        404,
        "already gone"
    );

    // The email and the unique handle are free again.
    let again = app
        .sign_up("members", &email.to_uppercase(), "0987654321")
        .await;
    assert_ne!(again["id"], a.as_str());
    let tb = app.login("members", &email, "0987654321").await;
    let b = again["id"].as_str().unwrap();
    let (status, res) = patch(
        &app,
        "members",
        b,
        Some(&tb),
        json!({"handle": "gone-handle"}),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(
        app.refresh_status("members", &ta).await,
        401,
        "the old token opens nothing"
    );
}

pub(super) async fn an_otp_of_a_deleted_account_logs_nobody_in_not_even_its_new_namesake(
    store: Option<Arc<dyn Store>>,
) {
    let app = users(store).await;
    let email = unique_email("delete-otp");
    let (a, ta) = account(&app, "members", &email).await;
    let (otp_id, code) = app.request_otp("members", &email).await;
    assert_eq!(delete(&app, "members", &a, Some(&ta)).await, 204);
    let (status, body) = app.auth_with_otp("members", &otp_id, &code).await;
    assert_eq!(status, 400, "{body}");
    // Someone signs up with the address again: the old code is for the old id.
    app.sign_up("members", &email, "0987654321").await;
    let (status, body) = app.auth_with_otp("members", &otp_id, &code).await;
    assert_eq!(status, 400, "{body}");
    // The new account's own codes work.
    let (otp_id, code) = app.request_otp("members", &email).await;
    let (status, body) = app.auth_with_otp("members", &otp_id, &code).await;
    assert_eq!(status, 200, "{body}");
}

pub(super) async fn another_users_record_cannot_be_updated_or_deleted(
    store: Option<Arc<dyn Store>>,
) {
    let app = users(store).await;
    let (a_email, b_email) = (unique_email("victim"), unique_email("attacker"));
    let (a, _) = account(&app, "members", &a_email).await;
    let (_, tb) = account(&app, "members", &b_email).await;
    let before = app.stored_record("members", &a_email).await;
    for token in [Some(tb.as_str()), None] {
        let (status, _) = patch(&app, "members", &a, token, json!({"name": "pwned"})).await;
        assert_eq!(status, 404);
        assert_eq!(delete(&app, "members", &a, token).await, 404);
    }
    assert_eq!(app.stored_record("members", &a_email).await, before);
}

pub(super) async fn auth_revoke_ends_every_session_of_the_caller(store: Option<Arc<dyn Store>>) {
    let app = users(store).await;
    let email = unique_email("revoke");
    let (_, t1) = account(&app, "members", &email).await;
    let t2 = app.login("members", &email, "1234567890").await;
    let (_, other) = account(&app, "members", &unique_email("revoke-other")).await;

    let (status, body) = app
        .post_auth("members", "auth-revoke", json!({}), None)
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app
        .post_auth("members", "auth-revoke", json!({}), Some(&t1))
        .await;
    assert_eq!(status, 204, "{body}");
    for t in [&t1, &t2] {
        assert_eq!(app.refresh_status("members", t).await, 401);
        assert_eq!(
            app.post_auth("members", "auth-revoke", json!({}), Some(t))
                .await
                .0,
            401
        );
    }
    assert_eq!(
        app.refresh_status("members", &other).await,
        200,
        "others keep theirs"
    );
    let fresh = app.login("members", &email, "1234567890").await;
    assert_eq!(app.refresh_status("members", &fresh).await, 200);
}

pub(super) async fn the_update_tag_rule_limits_updates_and_preflights_allow_patch_and_delete(
    store: Option<Arc<dyn Store>>,
) {
    let mut doc = authgate_tests::config_with(vec![users_like("members", json!({}))]);
    doc["rateLimits"] = json!({"enabled": true, "rules": [
        {"label": "members:update", "maxRequests": 1, "duration": 60}
    ]});
    let app = super::app_with(store, doc).await;
    let (a, ta) = account(&app, "members", &unique_email("tagrule")).await;
    assert_eq!(
        patch(&app, "members", &a, Some(&ta), json!({"name": "one"}))
            .await
            .0,
        200
    );
    let (status, body) = patch(&app, "members", &a, Some(&ta), json!({"name": "two"})).await;
    assert_eq!(
        status, 429,
        "the tag check reads {{collection}} beside {{id}}: {body}"
    );
    assert_eq!(
        view(&app, "members", &a, Some(&ta)).await.0,
        200,
        "other actions unaffected"
    );

    let res = app
        .http
        .request(
            Method::OPTIONS,
            format!("{}/api/collections/members/records/{a}", app.base),
        )
        .header("Origin", "https://app.example.test")
        .header("Access-Control-Request-Method", "PATCH")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let allowed = res.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        allowed.contains("PATCH") && allowed.contains("DELETE"),
        "{allowed}"
    );
}
