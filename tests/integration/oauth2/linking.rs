//! Account linking: a verified provider email takes over a pre-created
//! account (pre-account hijacking), an unverified one never links, a
//! logged-in user links another identity, and links stay exactly one.

use authgate_tests::{dynamo_store, unique, unique_email};
use serde_json::json;

use super::{app_on, app_with, authorize, links_of, login_as, REDIRECT};

#[tokio::test]
async fn a_verified_provider_email_takes_over_a_pre_created_unverified_account() {
    let app = app_with(json!({})).await;
    let victim = unique_email("victim");
    // The attacker registers the victim's address with a password...
    let signed_up = app.sign_up("people", &victim, "attacker-pass-1").await;
    let attacker_token = app.login("people", &victim, "attacker-pass-1").await;
    // ...and links their own provider account that claims it, unverified.
    let attacker_sub = unique("attacker-sub-");
    let pre = [
        ("mock_sub", attacker_sub.as_str()),
        ("mock_email_verified", "false"),
    ];
    let (status, res) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 400, "an unverified email never links: {res}");

    // The victim signs in with a provider that verified the address.
    let (status, res) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["meta"]["isNew"], false);
    assert_eq!(
        res["record"]["id"], signed_up["id"],
        "linked to the existing record"
    );
    assert_eq!(res["record"]["verified"], true);

    assert_eq!(
        app.login_status("people", &victim, "attacker-pass-1").await,
        400,
        "the attacker's password no longer works"
    );
    assert_eq!(
        app.refresh_status("people", &attacker_token).await,
        401,
        "the attacker's session is revoked"
    );
}

#[tokio::test]
async fn linking_an_unverified_record_drops_its_other_provider_links() {
    let app = app_with(json!({})).await;
    let victim = unique_email("prelinked");
    let attacker_sub = unique("attacker-sub-");
    // The attacker creates the account through a provider that does not
    // verify emails: an unverified record linked to the attacker's identity.
    let pre = [
        ("mock_sub", attacker_sub.as_str()),
        ("mock_email_verified", "false"),
    ];
    let (status, created) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["record"]["verified"], false);
    let (status, again) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(
        (status, &again["record"]["id"]),
        (200, &created["record"]["id"])
    );

    // The real owner arrives with a verified email: takes the record over.
    let (status, owner) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{owner}");
    assert_eq!(owner["record"]["id"], created["record"]["id"]);
    assert_eq!(owner["record"]["verified"], true);

    // The attacker's identity is no longer linked: it would need a new
    // record, and the email is taken.
    let (status, res) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(
        res["data"]["email"]["code"], "validation_not_unique",
        "{res}"
    );
}

#[tokio::test]
async fn the_takeover_of_a_pre_created_account_also_holds_on_dynamodb() {
    takeover_fails_on(dynamo_store().await).await;
}

#[tokio::test]
async fn the_takeover_of_a_pre_created_account_also_holds_on_sqlite() {
    takeover_fails_on(authgate_tests::sqlite_store()).await;
}

async fn takeover_fails_on(store: std::sync::Arc<dyn authgate_core::ports::Store>) {
    let app = app_on(store).await;
    let victim = unique_email("ddb-victim");
    let attacker_sub = unique("ddb-attacker-");
    let pre = [
        ("mock_sub", attacker_sub.as_str()),
        ("mock_email_verified", "false"),
    ];
    let (status, created) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 200, "{created}");
    let (status, owner) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{owner}");
    assert_eq!(owner["record"]["id"], created["record"]["id"]);
    assert_eq!(owner["record"]["verified"], true);
    let (status, again) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(
        (status, &again["meta"]["isNew"]),
        (200, &json!(false)),
        "{again}"
    );
    let (status, res) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 400, "the attacker's link is gone: {res}");
}

#[tokio::test]
async fn an_unverified_provider_email_never_links_to_an_existing_account() {
    let app = app_with(json!({})).await;
    let owner = unique_email("owner");
    let signed_up = app.sign_up("people", &owner, "owner-pass-1").await;
    let (status, res) =
        login_as(&app, &owner, &[("mock_email_verified", "false")], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to create record.");
    assert_eq!(res["data"]["email"]["code"], "validation_not_unique");
    // Nothing changed for the owner.
    let token = app.login("people", &owner, "owner-pass-1").await;
    assert!(!token.is_empty());
    // Verified, it links (and the record id is the signed-up one).
    let (status, res) = login_as(&app, &owner, &[], json!({})).await;
    assert_eq!(
        (status, &res["record"]["id"]),
        (200, &signed_up["id"]),
        "{res}"
    );
}

#[tokio::test]
async fn a_logged_in_user_links_another_provider_identity_to_their_account() {
    let app = app_with(json!({})).await;
    let me = unique_email("me");
    let signed_up = app.sign_up("people", &me, "my-pass-123").await;
    let token = app.login("people", &me, "my-pass-123").await;
    let provider_email = unique_email("elsewhere");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &provider_email)]).await;
    let body = json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
    let (status, res) = app
        .post_auth("people", "auth-with-oauth2", body, Some(&token))
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["record"]["id"], signed_up["id"]);
    assert_eq!(res["meta"]["isNew"], false);
    // The caller's own password survives (it is their logged-in record).
    app.login("people", &me, "my-pass-123").await;
    // Later, the provider identity alone finds the account.
    let (status, res) = login_as(&app, &provider_email, &[], json!({})).await;
    assert_eq!(
        (status, &res["record"]["id"]),
        (200, &signed_up["id"]),
        "{res}"
    );
}

#[tokio::test]
async fn logins_to_an_unverified_record_keep_exactly_its_one_link() {
    let app = app_with(json!({})).await;
    let email = unique_email("onelink");
    let sub = unique("onelink-sub-");
    let opts = [("mock_sub", sub.as_str()), ("mock_email_verified", "false")];
    let (status, first) = login_as(&app, &email, &opts, json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["record"]["verified"], false);
    let id = first["record"]["id"].as_str().expect("id").to_owned();
    let original = links_of(&app, &id).await;
    assert_eq!(original.len(), 1, "{original:?}");
    for _ in 0..2 {
        let (status, again) = login_as(&app, &email, &opts, json!({})).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["record"]["id"], id.as_str());
        assert_eq!(again["meta"]["isNew"], false);
        let links = links_of(&app, &id).await;
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(
            (
                links[0].provider.as_str(),
                &links[0].provider_id,
                links[0].created
            ),
            ("oidc", &sub, original[0].created),
            "the link in use is kept, not deleted and re-added"
        );
    }
}

#[tokio::test]
async fn a_logged_in_unverified_user_keeps_their_links_when_linking_another_identity() {
    let app = app_with(json!({})).await;
    let me = unique_email("unverified-me");
    let signed_up = app.sign_up("people", &me, "my-pass-123").await;
    assert_eq!(signed_up["verified"], false);
    let id = signed_up["id"].as_str().expect("id").to_owned();
    let token = app.login("people", &me, "my-pass-123").await;
    let mut subs = Vec::new();
    for n in 0..2 {
        let sub = unique(&format!("mine-{n}-"));
        let provider_email = unique_email("mine-elsewhere");
        let user = [
            ("login_hint", provider_email.as_str()),
            ("mock_sub", sub.as_str()),
        ];
        let (code, verifier) = authorize(&app, "people", &user).await;
        let body = json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
        let (status, res) = app
            .post_auth("people", "auth-with-oauth2", body, Some(&token))
            .await;
        assert_eq!((status, &res["record"]["id"]), (200, &json!(id)), "{res}");
        assert_eq!(res["record"]["verified"], false, "{res}");
        subs.push(sub);
    }
    let mut linked: Vec<String> = links_of(&app, &id)
        .await
        .into_iter()
        .map(|l| l.provider_id)
        .collect();
    linked.sort();
    subs.sort();
    assert_eq!(
        linked, subs,
        "linking from the caller's own record keeps its other links"
    );
    // The owner's password survives too.
    app.login("people", &me, "my-pass-123").await;
}
