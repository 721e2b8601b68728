//! What a first login creates: `createData` and the mapped fields, validated
//! like a sign-up, never setting system fields.

use authgate_tests::unique_email;
use serde_json::json;

use super::{app_with, login_as};

#[tokio::test]
async fn create_data_applies_only_on_creation_and_never_sets_system_fields() {
    let app = app_with(json!({})).await;
    let email = unique_email("cdata");
    // `verified` cannot be chosen by the client, exactly like sign-up.
    let (status, res) = login_as(
        &app,
        &email,
        &[],
        json!({"createData": {"verified": true, "name": "N"}}),
    )
    .await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to create record.");
    assert_eq!(
        res["data"]["verified"]["code"],
        "validation_values_mismatch"
    );

    let create = json!({"createData": {
        "tokenKey": "x", "id": "chosenid1234567", "name": "N", "verified": false,
        "created": "2000-01-01 00:00:00.000Z", "emailVisibility": true
    }});
    let unverified = [("mock_email_verified", "false")];
    let (status, res) = login_as(&app, &email, &unverified, create).await;
    assert_eq!(status, 200, "{res}");
    let record = &res["record"];
    assert_eq!(record["name"], "N", "createData applies on creation");
    assert_ne!(record["id"], "chosenid1234567");
    assert_ne!(record["created"], "2000-01-01 00:00:00.000Z");
    assert_eq!(record["emailVisibility"], true);
    assert_eq!(
        record["verified"], false,
        "the provider did not vouch for the email"
    );
    assert_eq!(
        res["meta"]["email"], "",
        "meta carries only a verified email"
    );
    let collection_id = &app.config.collection("people").expect("people").id;
    let id = record["id"].as_str().expect("id");
    let stored = app
        .store
        .get_record(collection_id, id)
        .await
        .expect("store")
        .expect("record");
    assert_ne!(
        stored.token_key, "x",
        "tokenKey is never taken from createData"
    );

    let (status, again) = login_as(
        &app,
        &email,
        &unverified,
        json!({"createData": {"name": "Other"}}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["record"]["id"], record["id"]);
    assert_eq!(
        again["record"]["name"], "N",
        "createData is ignored for existing records"
    );
}

#[tokio::test]
async fn create_data_is_validated_like_sign_up() {
    let app = app_with(json!({})).await;
    let email = unique_email("cvalid");
    let body = json!({"createData": {"handle": "Not Valid!", "password": "short", "passwordConfirm": "other"}});
    let (status, res) = login_as(&app, &email, &[], body).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to create record.");
    assert_eq!(
        res["data"]["handle"]["code"], "validation_invalid_format",
        "{res}"
    );
    assert_eq!(
        res["data"]["password"]["code"], "validation_min_text_constraint",
        "{res}"
    );
    assert_eq!(
        res["data"]["passwordConfirm"]["code"], "validation_values_mismatch",
        "{res}"
    );
}

#[tokio::test]
async fn a_create_data_password_needs_password_confirm_as_in_sign_up() {
    let app = app_with(json!({})).await;
    let email = unique_email("cconfirm");
    // PocketBase sends `createData` through its records create request, so
    // a password without `passwordConfirm` fails exactly as a sign-up does.
    let body = json!({"createData": {"password": "long-enough-password"}});
    let (status, res) = login_as(&app, &email, &[], body).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to create record.");
    assert_eq!(
        res["data"]["passwordConfirm"]["code"], "validation_required",
        "{res}"
    );
    let (status, res) = app
        .post(
            "people",
            "records",
            json!({"email": unique_email("cconfirm"), "password": "long-enough-password"}),
        )
        .await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(
        res["data"]["passwordConfirm"]["code"], "validation_required",
        "{res}"
    );
}

#[tokio::test]
async fn a_taken_username_is_not_mapped_and_does_not_block_the_sign_up() {
    let app = app_with(json!({})).await;
    let first = unique_email("dupname");
    let (status, a) = login_as(&app, &first, &[], json!({})).await;
    assert_eq!(status, 200, "{a}");
    let handle = a["record"]["handle"].as_str().expect("handle").to_owned();
    // Same preferred_username (local part), another provider user and email.
    let second = first.replace("@example.com", "@other.example.com");
    let (status, b) = login_as(&app, &second, &[], json!({})).await;
    assert_eq!(status, 200, "{b}");
    assert_ne!(b["record"]["id"], a["record"]["id"]);
    assert_ne!(b["record"]["handle"], handle.as_str(), "{b}");
}

#[tokio::test]
async fn a_provider_without_an_email_needs_one_in_create_data() {
    let app = app_with(json!({})).await;
    let hint = unique_email("noemail");
    let (status, res) = login_as(&app, &hint, &[("mock_no_email", "1")], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["data"]["email"]["code"], "validation_required");
    let chosen = unique_email("chosen");
    let (status, res) = login_as(
        &app,
        &hint,
        &[("mock_no_email", "1")],
        json!({"createData": {"email": chosen}}),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["record"]["email"], chosen.as_str());
    assert_eq!(res["record"]["verified"], false);
}
