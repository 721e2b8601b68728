//! Signing in with OAuth2: the first login creates the record, later ones
//! find it; OAuth2 as an MFA factor; the PocketBase JS SDK's code flow.

use authgate_tests::{oauth2_mock_url, repo_root, run_node, unique_email};
use serde_json::json;

use super::{app_with, authorize, login_as, stats, REDIRECT};

#[tokio::test]
async fn a_first_login_creates_a_verified_record_and_the_next_one_finds_it() {
    let app = app_with(json!({})).await;
    let email = unique_email("first");
    let (status, body) = login_as(&app, &email, &[("mock_name", "Ada L")], json!({})).await;
    assert_eq!(status, 200, "{body}");
    let record = &body["record"];
    assert_eq!(record["email"], email.as_str());
    assert_eq!(record["verified"], true, "provider-verified email");
    assert_eq!(record["name"], "Ada L", "mapped name");
    let local = email.split('@').next().unwrap_or_default();
    assert_eq!(record["handle"], local, "mapped username");
    let meta = &body["meta"];
    assert_eq!(meta["isNew"], true);
    assert_eq!(meta["id"], format!("sub-{email}"));
    assert_eq!(meta["email"], email.as_str());
    assert_eq!(meta["name"], "Ada L");
    assert_eq!(meta["username"], local);
    assert!(
        meta["avatarURL"]
            .as_str()
            .is_some_and(|u| u.contains("/avatar/")),
        "{meta}"
    );
    assert!(
        meta["accessToken"].as_str().is_some_and(|t| !t.is_empty()),
        "{meta}"
    );
    assert!(
        meta["expiry"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{meta}"
    );
    assert_eq!(meta["rawUser"]["email"], email.as_str());
    let token = body["token"].as_str().expect("token");
    let (status, refreshed) = app
        .post_auth("people", "auth-refresh", json!({}), Some(token))
        .await;
    assert_eq!(status, 200, "the token works: {refreshed}");

    let (status, again) = login_as(&app, &email, &[("mock_name", "Renamed")], json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["meta"]["isNew"], false);
    assert_eq!(again["record"]["id"], record["id"], "same record");
    assert_eq!(
        again["record"]["name"], "Ada L",
        "profile data is not re-applied"
    );
    let s = stats(&app, &email).await;
    assert_eq!(
        (s["tokenOk"].as_u64(), s["userinfoOk"].as_u64()),
        (Some(2), Some(2)),
        "{s}"
    );
}

#[tokio::test]
async fn oauth2_works_as_an_mfa_factor_with_a_password() {
    let app = app_with(json!({"mfa": {"enabled": true, "duration": 600}})).await;
    let email = unique_email("mfa");
    let create =
        json!({"createData": {"password": "mfa-pass-123", "passwordConfirm": "mfa-pass-123"}});
    // OAuth2 first: the record is created and linked, then MFA is required.
    let (status, first) = login_as(&app, &email, &[], create).await;
    assert_eq!(status, 401, "{first}");
    let mfa_id = first["mfaId"].as_str().expect("mfaId").to_owned();
    assert_eq!(
        first.as_object().map(|o| o.len()),
        Some(1),
        "only mfaId: {first}"
    );
    let (status, done) = app
        .post(
            "people",
            "auth-with-password",
            json!({"identity": email, "password": "mfa-pass-123", "mfaId": mfa_id}),
        )
        .await;
    assert_eq!(status, 200, "{done}");

    // Password first, OAuth2 second (mfaId in the query, as the SDK sends it).
    let (status, first) = app.password_login("people", &email, "mfa-pass-123").await;
    assert_eq!(status, 401, "{first}");
    let mfa_id = first["mfaId"].as_str().expect("mfaId").to_owned();
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let (status, body) = app
        .post(
            "people",
            &format!("auth-with-oauth2?mfaId={mfa_id}"),
            json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["meta"]["isNew"], false, "{body}");
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));

    // OAuth2 twice is not two factors.
    let (status, first) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 401, "{first}");
    let mfa_id = first["mfaId"].as_str().expect("mfaId");
    let (status, res) = login_as(&app, &email, &[], json!({"mfaId": mfa_id})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(
        res["message"],
        "A different authentication method is required."
    );
}

#[tokio::test]
async fn the_pocketbase_sdk_completes_an_oauth2_login_with_the_code_flow() {
    let app = app_with(json!({})).await;
    let script = repo_root().join("infra/node/sdk-oauth2.mjs");
    let env = [
        ("BASE_URL", app.base.clone()),
        ("OAUTH2_URL", oauth2_mock_url()),
        ("COLLECTION", "people".to_owned()),
        ("REDIRECT_URL", REDIRECT.to_owned()),
    ];
    let (ok, out) = run_node(&script, &env).await;
    assert!(ok, "{out}");
    assert!(out.contains("sdk oauth2: ok"), "{out}");
}
