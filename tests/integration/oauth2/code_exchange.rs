//! The `auth-with-oauth2` request: PKCE and single-use codes, the redirect
//! URL allow-list, form errors, a stray Authorization header, and secrets
//! kept out of the logs.

use authgate_tests::{captured_logs, config_with, dynamo_store, forged_jwt, unique_email, TestApp};
use serde_json::json;

use super::{app_on, app_with, authorize, collection, exchange, stats, CLIENT_SECRET, REDIRECT};

#[tokio::test]
async fn a_wrong_code_verifier_or_a_reused_code_is_a_token_error() {
    let app = app_with(json!({})).await;
    let email = unique_email("pkce");
    let (code, _verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let wrong = "x".repeat(43);
    let (status, body) = exchange(&app, "people", &code, &wrong, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Failed to fetch OAuth2 token.");
    assert_eq!(body["data"], json!({}));

    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let (status, ok) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(status, 200, "{ok}");
    let (status, body) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Failed to fetch OAuth2 token."))
    );
}

#[tokio::test]
async fn a_redirect_url_off_the_allow_list_is_refused_before_the_provider_is_called() {
    let app = app_with(json!({})).await;
    let email = unique_email("redir");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    for bad in [
        "https://evil.example/oauth2-redirect",
        "https://app.example.test/oauth2-redirect/../x",
        "https://app.example.test/oauth2-redirect?next=1",
    ] {
        let body = json!({"redirectURL": bad});
        let (status, res) = exchange(&app, "people", &code, &verifier, body).await;
        assert_eq!(status, 400, "{bad}: {res}");
        assert_eq!(
            res["message"],
            "An error occurred while loading the submitted data."
        );
        assert_eq!(
            res["data"]["redirectURL"]["code"], "validation_invalid_redirect_url",
            "{bad}"
        );
    }
    let s = stats(&app, &email).await;
    assert_eq!(s["token"], 0, "no token request reached the provider: {s}");
    // The same code still works with the allowed URL, also under the legacy key.
    let body = json!({"redirectURL": "", "redirectUrl": REDIRECT});
    let (status, res) = exchange(&app, "people", &code, &verifier, body).await;
    assert_eq!(status, 200, "{res}");
}

#[tokio::test]
async fn without_an_allow_list_only_urls_under_the_app_url_are_accepted() {
    let mut c = collection("people", json!({}));
    c["oauth2"]["redirectURLs"] = json!([]);
    let app = TestApp::with_config(config_with(vec![c])).await;
    let email = unique_email("appurl");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let body = json!({"redirectURL": "https://app.example.test.evil.example/oauth2-redirect"});
    let (status, res) = exchange(&app, "people", &code, &verifier, body).await;
    assert_eq!(
        (status, &res["data"]["redirectURL"]["code"]),
        (400, &json!("validation_invalid_redirect_url"))
    );
    let (status, res) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(status, 200, "a URL below appURL is fine: {res}");
}

#[tokio::test]
async fn bad_requests_name_the_field_and_a_disabled_collection_is_forbidden() {
    let mut disabled = collection("closed", json!({}));
    disabled["oauth2"]["enabled"] = json!(false);
    let app =
        TestApp::with_config(config_with(vec![collection("people", json!({})), disabled])).await;
    let cases = [
        (
            json!({"provider": "github", "code": "c", "redirectURL": REDIRECT}),
            "provider",
            "validation_invalid_provider",
        ),
        (
            json!({"provider": "", "code": "c", "redirectURL": REDIRECT}),
            "provider",
            "validation_required",
        ),
        (
            json!({"provider": "oidc", "code": "", "redirectURL": REDIRECT}),
            "code",
            "validation_required",
        ),
        (
            json!({"provider": "oidc", "code": "c"}),
            "redirectURL",
            "validation_required",
        ),
    ];
    for (body, field, code) in cases {
        let (status, res) = app.post("people", "auth-with-oauth2", body.clone()).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["data"][field]["code"], code, "{body}: {res}");
    }
    let (status, res) = app
        .post(
            "closed",
            "auth-with-oauth2",
            json!({"provider": "oidc", "code": "c", "redirectURL": REDIRECT}),
        )
        .await;
    assert_eq!(status, 403, "{res}");
    assert_eq!(
        res["message"],
        "The collection is not configured to allow OAuth2 authentication."
    );
    let malformed = app
        .post_malformed("closed", "auth-with-oauth2", "{not json", None)
        .await;
    assert_eq!(malformed.status(), 403, "403 comes before reading the body");
    let (_, methods) = app.get("closed", "auth-methods").await;
    assert_eq!(
        methods["oauth2"],
        json!({"enabled": false, "providers": []})
    );
    let (status, res) = app.post("nope", "auth-with-oauth2", json!({})).await;
    assert_eq!(status, 404, "{res}");
}

#[tokio::test]
async fn an_invalid_authorization_header_is_ignored_as_pocketbase_does() {
    let app = app_on(dynamo_store().await).await;
    let collection_id = app.config.collection("people").expect("people").id.clone();
    let forged = |id: &str| {
        forged_jwt(
            &json!({"collectionId": collection_id, "exp": 9_999_999_999i64,
            "id": id, "type": "auth", "refreshable": true}),
        )
    };
    let headers = [
        "garbage".to_owned(),
        "Bearer not.a.jwt".to_owned(),
        forged("abcdefghijklmno"),
        forged(&"a".repeat(1500)),
        forged(&"a".repeat(5000)),
    ];
    for header in headers {
        let email = unique_email("forged");
        let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
        let body = json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
        let (status, res) = app
            .post_auth("people", "auth-with-oauth2", body, Some(&header))
            .await;
        let shown = &header[..header.len().min(60)];
        assert_eq!(status, 200, "{shown}: {res}");
        assert_eq!(res["meta"]["isNew"], true, "{shown}: not logged in");
        assert_eq!(res["record"]["email"], email.as_str());
    }
}

#[tokio::test]
async fn codes_verifiers_and_provider_tokens_never_reach_the_logs() {
    let app = app_with(json!({})).await;
    let email = unique_email("logs");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let (status, res) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(status, 200, "{res}");
    // A failing exchange logs its reason, still without the secrets.
    let (code2, _) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let (status, _) = exchange(&app, "people", &code2, &"y".repeat(43), json!({})).await;
    assert_eq!(status, 400);
    let logs = captured_logs();
    assert!(
        logs.contains("OAuth2 token exchange failed"),
        "the failure itself is logged"
    );
    let access = res["meta"]["accessToken"].as_str().expect("access token");
    for (what, secret) in [
        ("code", code.as_str()),
        ("second code", code2.as_str()),
        ("verifier", verifier.as_str()),
        ("access token", access),
        ("client secret", CLIENT_SECRET),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
