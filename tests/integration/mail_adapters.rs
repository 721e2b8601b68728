//! The two mailers: `SesMailer` against aws-ses-v2-local (`AUTHGATE_TEST_SES`,
//! e.g. `http://127.0.0.1:8005`; `make test` starts it) and `LocalMailbox`
//! writing `.eml` files.

use std::time::Duration;

use authgate_adapters::mailbox::{extract_html, extract_text, header_value, LocalMailbox};
use authgate_adapters::ses::SesMailer;
use authgate_core::ports::{MailMessage, Mailer};
use authgate_tests::{ses_client, ses_mails_to, ses_url, temp_path, token_after, unique_email};
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;

/// A 3-part token shaped like the JWTs of verification links, long enough to
/// be folded by quoted-printable's 76-character lines.
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjb2xsZWN0aW9uSWQiOiJfcGJfdXNlcnNfYXV0aF8iLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwiZXhwIjoxNzY0MTAwMDAwLCJpZCI6InIxYWFhYWFhYWFhYWFhYSIsInR5cGUiOiJ2ZXJpZmljYXRpb24ifQ.Zm9vYmFyLWJhel9xdXgtMDEyMzQ1Njc4OV9hYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg";

fn message(to: &str) -> MailMessage {
    let link = format!("http://127.0.0.1:8090/_/#/auth/confirm-verification/{JWT}");
    MailMessage {
        from_name: "Acme, Inc.".into(),
        from_address: "no-reply@example.com".into(),
        to: to.into(),
        subject: "Verify your Acme email — “now”".into(),
        html: format!(
            "<p>Hello,</p><p>Thank you for joining us at Acme.</p><p><a class=\"btn\" href=\"{link}\" target=\"_blank\" rel=\"noopener\">Verify</a></p><p>Thanks,<br/>Acme team</p>"
        ),
        text: format!("Hello,\n\nClick to verify: {link}\n\nThanks,\nAcme team — café"),
        kind: authgate_core::model::MailFlow::Verification,
    }
}

#[tokio::test]
async fn ses_mailer_sends_sender_recipient_subject_text_and_html() {
    let mailer = SesMailer::new(ses_client(&ses_url(), |b| b).await)
        .with_configuration_set(Some("authgate-tests".into()));
    let to = unique_email("ses");
    let msg = message(&to);
    mailer.send(&msg).await.unwrap();

    let sent = ses_mails_to(&to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sent = &sent[0];
    assert_eq!(sent["from"], "\"Acme, Inc.\" <no-reply@example.com>");
    assert_eq!(sent["subject"], msg.subject.as_str());
    assert_eq!(sent["body"]["text"], msg.text.as_str());
    assert_eq!(sent["body"]["html"], msg.html.as_str());
}

#[tokio::test]
async fn ses_mailer_returns_a_mail_error_when_ses_is_unreachable() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let client = ses_client("http://127.0.0.1:9", |b| {
        b.retry_config(RetryConfig::disabled()).timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
    })
    .await;
    let err = SesMailer::new(client)
        .send(&message("nobody@example.com"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("SES SendEmail failed"), "{text}");
    assert!(text.contains("request id"), "{text}");
    assert!(
        !text.contains(JWT),
        "the error must not carry the body: {text}"
    );
}

#[tokio::test]
async fn local_mailbox_writes_one_eml_from_which_the_verification_link_reads_back_intact() {
    let dir = temp_path("mailbox");
    let mailbox = LocalMailbox::new(&dir);
    let msg = message("alice@example.com");
    mailbox.send(&msg).await.unwrap();

    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "exactly one file, no temp leftovers: {names:?}"
    );
    let name = &names[0];
    assert!(
        name.ends_with(".eml") && name.contains("-verification-"),
        "{name}"
    );

    let eml = std::fs::read_to_string(dir.join(name)).unwrap();
    let (head, _) = eml.split_once("\r\n\r\n").unwrap();
    let from = header_value(head, "From").unwrap();
    assert!(from.contains("<no-reply@example.com>"), "{from}");
    // lettre writes the display name as an RFC 2047 encoded word.
    assert!(from.starts_with("=?utf-8?b?"), "{from}");
    assert_eq!(header_value(head, "To").unwrap(), "alice@example.com");
    assert!(header_value(head, "Subject").is_some());
    assert!(header_value(head, "Date").is_some());
    assert!(header_value(head, "Content-Type")
        .unwrap()
        .starts_with("multipart/alternative"));

    let text = extract_text(&eml);
    let html = extract_html(&eml);
    assert_eq!(text, msg.text);
    assert_eq!(html, msg.html);
    let marker = "/_/#/auth/confirm-verification/";
    assert_eq!(token_after(&text, marker).as_deref(), Some(JWT));
    assert_eq!(token_after(&html, marker).as_deref(), Some(JWT));

    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn local_mailbox_rejects_an_invalid_recipient_without_writing() {
    let dir = temp_path("mailbox");
    let err = LocalMailbox::new(&dir)
        .send(&message("not an address"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("recipient"), "{err}");
    assert!(!dir.exists());
}
