//! Real adapters and the SDK: the SES adapter against aws-ses-v2-local and
//! the PocketBase JS SDK against the local mailbox.

use std::sync::Arc;

use authgate_tests::{
    repo_root, run_node, ses_mailer, ses_mails_to, token_after, unique_email, Options, TestApp,
};

use super::{
    confirm_reset, confirm_verification, record, request_reset, request_verification, sign_up,
    PASSWORD, RESET, VERIFY,
};

/// The token in the newest mail to `to` in aws-ses-v2-local's store whose
/// text has a `marker` link, after `app` has delivered everything it queued
/// (through its SES mailer).
async fn ses_token(app: &TestApp, to: &str, marker: &str) -> String {
    app.deliver_mail().await;
    let mails = ses_mails_to(to).await;
    mails
        .iter()
        .rev()
        .find_map(|m| {
            m["body"]["text"]
                .as_str()
                .and_then(|t| token_after(t, marker))
        })
        .unwrap_or_else(|| panic!("no SES mail to {to} with {marker}: {mails:?}"))
}

#[tokio::test]
async fn verification_and_reset_work_end_to_end_through_the_ses_adapter() {
    let app = TestApp::spawn_with(Options {
        mailer: Some(Arc::new(ses_mailer().await)),
        ..Default::default()
    })
    .await;
    let email = unique_email("ses");
    let id = sign_up(&app, &email).await;

    assert_eq!(request_verification(&app, &email).await.0, 204);
    let token = ses_token(&app, &email, VERIFY).await;
    assert_eq!(confirm_verification(&app, &token).await.0, 204);
    assert!(record(&app, &id).await.verified);

    assert_eq!(request_reset(&app, &email).await.0, 204);
    let token = ses_token(&app, &email, RESET).await;
    let (status, body) = confirm_reset(&app, &token, "ses-Passw0rd-2").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        app.login_status("users", &email, "ses-Passw0rd-2").await,
        200
    );
    assert_eq!(app.login_status("users", &email, PASSWORD).await, 400);
    assert!(
        app.mails().await.is_empty(),
        "nothing went to the local mailbox"
    );
}

#[tokio::test]
async fn the_pocketbase_sdk_runs_verification_reset_and_email_change() {
    sdk_mail_flows(TestApp::spawn().await).await;
}

#[tokio::test]
async fn the_pocketbase_sdk_runs_verification_reset_and_email_change_on_dynamodb() {
    let store: std::sync::Arc<dyn authgate_core::ports::Store> =
        authgate_tests::dynamo_store().await;
    sdk_mail_flows(TestApp::on_store(store).await).await;
}

#[tokio::test]
async fn the_pocketbase_sdk_runs_verification_reset_and_email_change_on_sqlite() {
    sdk_mail_flows(TestApp::on_store(authgate_tests::sqlite_store()).await).await;
}

/// The JS SDK's mail flows against `app`, its mail sent by the app's
/// background sender (as `authgate serve` sends it).
async fn sdk_mail_flows(app: TestApp) {
    let script = repo_root().join("infra/node/sdk-mail.mjs");
    let (ok, out) = run_node(
        &script,
        &[
            ("BASE_URL", app.base.clone()),
            ("MAIL_DIR", app.mail_dir.display().to_string()),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("sdk mail: ok"), "{out}");
}
