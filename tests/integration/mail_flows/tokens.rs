//! Tokens: each type only where it belongs, and not after it expired.

use authgate_tests::{unique_email, TestApp};

use super::{
    code, confirm_change, confirm_reset, confirm_verification, record, request_change,
    request_reset, request_verification, sign_up, token_in_mail, CHANGE, PASSWORD, RESET, VERIFY,
};

/// A fresh unverified user with one valid token of every kind.
struct Tokens {
    email: String,
    id: String,
    auth: String,
    verification: String,
    reset: String,
    change: String,
}

async fn tokens(app: &TestApp) -> Tokens {
    let email = unique_email("kinds");
    let id = sign_up(app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    request_verification(app, &email).await;
    request_reset(app, &email).await;
    let new_email = unique_email("kinds-new");
    assert_eq!(request_change(app, &auth, &new_email).await.0, 204);
    Tokens {
        verification: token_in_mail(app, &email, VERIFY).await,
        reset: token_in_mail(app, &email, RESET).await,
        change: token_in_mail(app, &new_email, CHANGE).await,
        email,
        id,
        auth,
    }
}

#[tokio::test]
async fn a_token_of_one_type_is_refused_by_the_other_endpoints_and_as_an_auth_token() {
    let app = TestApp::spawn().await;
    let t = tokens(&app).await;

    for (token, kind) in [
        (&t.reset, "reset"),
        (&t.change, "change"),
        (&t.auth, "auth"),
    ] {
        let (status, body) = confirm_verification(&app, token).await;
        assert_eq!(status, 400, "{kind} at confirm-verification: {body}");
        assert!(
            code(&body, "token").starts_with("validation_invalid_token"),
            "{kind} at confirm-verification: {body}"
        );
    }
    for (token, kind) in [
        (&t.verification, "verification"),
        (&t.change, "change"),
        (&t.auth, "auth"),
    ] {
        let (status, body) = confirm_reset(&app, token, "other-Passw0rd").await;
        assert_eq!(status, 400, "{kind} at confirm-password-reset: {body}");
        assert_eq!(
            code(&body, "token"),
            "validation_invalid_token",
            "{kind} at confirm-password-reset: {body}"
        );
    }
    for (token, kind) in [
        (&t.verification, "verification"),
        (&t.reset, "reset"),
        (&t.auth, "auth"),
    ] {
        let (status, body) = confirm_change(&app, token, PASSWORD).await;
        assert_eq!(status, 400, "{kind} at confirm-email-change: {body}");
        assert!(
            code(&body, "token").starts_with("validation_invalid_token"),
            "{kind} at confirm-email-change: {body}"
        );
    }
    for (token, kind) in [
        (&t.verification, "verification"),
        (&t.reset, "reset"),
        (&t.change, "change"),
    ] {
        assert_eq!(
            app.refresh_status("users", token).await,
            401,
            "{kind} as auth-refresh token"
        );
        let (status, _) = request_change(&app, token, &unique_email("nope")).await;
        assert_eq!(status, 401, "{kind} as request-email-change token");
    }

    let r = record(&app, &t.id).await;
    assert!(!r.verified && r.email == t.email, "nothing changed: {r:?}");
    // Each token still works where it belongs.
    assert_eq!(confirm_verification(&app, &t.verification).await.0, 204);
    assert_eq!(
        confirm_reset(&app, &t.reset, "brand-new-Passw0rd").await.0,
        204
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let t = tokens(&app).await;
    // passwordReset and emailChange live 1800 s, verification 86400 s.
    app.clock.advance_secs(1801);
    let (status, body) = confirm_reset(&app, &t.reset, "other-Passw0rd").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");
    let (status, body) = confirm_change(&app, &t.change, PASSWORD).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");

    app.clock.advance_secs(86_400 - 1801 + 1);
    let (status, body) = confirm_verification(&app, &t.verification).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");

    let r = record(&app, &t.id).await;
    assert!(!r.verified && r.email == t.email, "nothing changed: {r:?}");
    assert_eq!(app.login_status("users", &t.email, PASSWORD).await, 200);
}
