//! The providers: how `auth-methods` lists them, how their config is
//! checked, and what their answers (user info, id token, user id) mean.

use authgate_core::config::{fill_secrets, AppConfig};
use authgate_tests::{config_with, oauth2_mock_url, unique, unique_email, TestApp};
use serde_json::json;

use super::{app_with, collection, login_as, mock_provider, stats, CLIENT_ID};

#[tokio::test]
async fn auth_methods_lists_each_provider_with_fresh_pkce_and_state() {
    let app = app_with(json!({})).await;
    let (_, a) = app.get("people", "auth-methods").await;
    let (_, b) = app.get("people", "auth-methods").await;
    assert_eq!(a["oauth2"]["enabled"], true);
    let p = &a["oauth2"]["providers"][0];
    assert_eq!(p["name"], "oidc");
    assert_eq!(p["displayName"], "Mock IdP");
    assert_eq!(p["codeChallengeMethod"], "S256");
    let state = p["state"].as_str().expect("state");
    let verifier = p["codeVerifier"].as_str().expect("verifier");
    let challenge = p["codeChallenge"].as_str().expect("challenge");
    assert_eq!(state.len(), 30, "{state}");
    assert_eq!(verifier.len(), 43, "{verifier}");
    assert_eq!(
        challenge.len(),
        43,
        "S256 base64url without padding: {challenge}"
    );
    let auth_url = p["authURL"].as_str().expect("authURL");
    let wanted = [
        format!("{}/authorize?", oauth2_mock_url()),
        format!("client_id={CLIENT_ID}&"),
        format!("&code_challenge={challenge}&code_challenge_method=S256&"),
        "&response_type=code&".to_owned(),
        "&scope=openid+email+profile&".to_owned(),
        format!("&state={state}&redirect_uri="),
    ];
    for w in wanted {
        assert!(auth_url.contains(&w), "{auth_url} lacks {w}");
    }
    assert!(auth_url.ends_with("&redirect_uri="), "{auth_url}");
    assert_eq!(p["authUrl"], p["authURL"], "legacy key");
    assert_eq!(a["authProviders"][0]["name"], "oidc", "legacy list");
    assert_eq!(a["emailPassword"], true);
    let q = &b["oauth2"]["providers"][0];
    assert_ne!(p["state"], q["state"], "state is fresh per call");
    assert_ne!(
        p["codeVerifier"], q["codeVerifier"],
        "verifier is fresh per call"
    );
    assert_ne!(p["codeChallenge"], q["codeChallenge"]);
}

#[tokio::test]
async fn the_identity_is_the_provider_user_id_not_the_email() {
    let app = app_with(json!({})).await;
    let email = unique_email("ident");
    let other = email.replace("ident", "ident-new");
    let sub = unique("stable-sub-");
    let (status, first) = login_as(&app, &email, &[("mock_sub", &sub)], json!({})).await;
    assert_eq!(status, 200, "{first}");
    // Same provider user, new email at the provider: still the same record.
    let (status, second) = login_as(&app, &other, &[("mock_sub", &sub)], json!({})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["record"]["id"], first["record"]["id"]);
    assert_eq!(
        second["record"]["email"],
        email.as_str(),
        "record email unchanged"
    );
}

#[tokio::test]
async fn a_failing_user_info_endpoint_is_a_user_error() {
    let mut provider = mock_provider();
    provider["userInfoURL"] = json!(format!("{}/no-such-userinfo", oauth2_mock_url()));
    let mut c = collection("people", json!({}));
    c["oauth2"]["providers"] = json!([provider]);
    let app = TestApp::with_config(config_with(vec![c])).await;
    let email = unique_email("userinfo");
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to fetch OAuth2 user.");
    assert_eq!(stats(&app, &email).await["tokenOk"], 1);
}

#[tokio::test]
async fn without_a_user_info_url_the_id_token_claims_identify_the_user() {
    let mut provider = mock_provider();
    provider["userInfoURL"] = json!("");
    let mut c = collection("people", json!({}));
    c["oauth2"]["providers"] = json!([provider]);
    let app = TestApp::with_config(config_with(vec![c])).await;
    let email = unique_email("idtoken");
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["meta"]["id"], format!("sub-{email}"));
    assert_eq!(res["record"]["verified"], true);
    assert_eq!(
        stats(&app, &email).await["userinfo"],
        0,
        "no user-info call"
    );
}

#[test]
fn provider_config_errors_name_their_path() {
    let m = "http://127.0.0.1:1";
    let cases = [
        (
            json!({"name": "myspace", "clientId": "a", "clientSecret": "b"}),
            "collections[1].oauth2.providers[0].name",
        ),
        (
            json!({"name": "oidc", "clientId": "a", "clientSecret": "b"}),
            "collections[1].oauth2.providers[0].authURL",
        ),
        (
            json!({"name": "oidc", "clientId": "a", "clientSecret": "b", "authURL": format!("{m}/a")}),
            "collections[1].oauth2.providers[0].tokenURL",
        ),
        (
            json!({"name": "google", "clientSecret": "b"}),
            "collections[1].oauth2.providers[0].clientId",
        ),
        (
            json!({"name": "google", "clientId": "a", "clientSecret": "b", "userInfoURL": "not a url"}),
            "collections[1].oauth2.providers[0].userInfoURL",
        ),
        (
            json!({"name": "oidc", "clientId": "a", "clientSecret": "b", "authURL": "https://id.example/a", "tokenURL": "http://id.example/token"}),
            "collections[1].oauth2.providers[0].tokenURL",
        ),
        (
            json!({"name": "microsoft", "clientId": "a", "clientSecret": "b", "extra": {"idTokenEmailClaim": "email"}}),
            "collections[1].oauth2.providers[0].extra.idTokenEmailClaim",
        ),
    ];
    for (provider, want) in cases {
        let mut doc = config_with(vec![json!({
            "name": "people", "type": "auth",
            "oauth2": {"enabled": true, "providers": [provider]}
        })]);
        fill_secrets(&mut doc, None, &authgate_adapters::system::OsRandom);
        let got = AppConfig::from_json(&doc)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            got.as_ref().is_err_and(|e| e.starts_with(want)),
            "want {want}, got {got:?}"
        );
    }
}

#[tokio::test]
async fn an_overlong_provider_user_id_is_a_user_error() {
    let app = app_with(json!({})).await;
    let email = unique_email("longsub");
    let sub = "s".repeat(256);
    let (status, res) = login_as(&app, &email, &[("mock_sub", &sub)], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to fetch OAuth2 user.");
}
