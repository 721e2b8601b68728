//! The production mailer: SES v2 `SendEmail` with simple (subject, text and
//! HTML) content.

use async_trait::async_trait;
use authgate_core::ports::{MailError, MailMessage, Mailer};
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::operation::RequestId;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;
use base64::Engine;

/// Sends mail through Amazon SES v2.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer without a configuration set.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            configuration_set: None,
        }
    }

    /// Sends through the given SES configuration set (event publishing,
    /// dedicated IPs, …); `None` uses the account default.
    pub fn with_configuration_set(mut self, configuration_set: Option<String>) -> Self {
        self.configuration_set = configuration_set.filter(|s| !s.is_empty());
        self
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError(format!("cannot build SES request: {e}")))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let content = EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(utf8(&message.subject)?)
                    .body(
                        Body::builder()
                            .text(utf8(&message.text)?)
                            .html(utf8(&message.html)?)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(format_mailbox(&message.from_name, &message.from_address))
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(content)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::info!(
                    kind = message.kind.as_str(),
                    message_id = out.message_id().unwrap_or_default(),
                    "mail sent"
                );
                Ok(())
            }
            Err(err) => {
                let request_id = err.request_id().unwrap_or("none").to_owned();
                let detail = DisplayErrorContext(&err).to_string();
                // Subject and body carry tokens and codes: never logged.
                tracing::error!(
                    kind = message.kind.as_str(),
                    request_id = %request_id,
                    error = %detail,
                    "SES SendEmail failed"
                );
                Err(MailError(format!(
                    "SES SendEmail failed: {detail} (request id: {request_id})"
                )))
            }
        }
    }
}

/// `Name <address>` with the display name made safe for an RFC 5322 header:
/// kept as is when it is a plain phrase, quoted when it has specials like
/// `,` or `"`, and MIME encoded-word (RFC 2047, which SES requires) when it
/// is not ASCII. Control characters are dropped so a name can't inject
/// headers.
pub fn format_mailbox(name: &str, address: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    if name.is_empty() {
        return address.to_owned();
    }
    let is_atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let plain_phrase = name
        .split(' ')
        .all(|w| !w.is_empty() && w.chars().all(is_atext));
    if plain_phrase {
        return format!("{name} <{address}>");
    }
    if name.is_ascii() {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        return format!("\"{escaped}\" <{address}>");
    }
    // An encoded word may be at most 75 characters: split the name on
    // character boundaries into chunks of at most 45 bytes (60 in base64).
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in name.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(encoded_word(&chunk));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(encoded_word(&chunk));
    }
    format!("{} <{address}>", words.join(" "))
}

fn encoded_word(text: &str) -> String {
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::format_mailbox;

    #[test]
    fn plain_names_are_left_alone() {
        assert_eq!(
            format_mailbox("Acme Support", "no-reply@acme.io"),
            "Acme Support <no-reply@acme.io>"
        );
    }

    #[test]
    fn names_with_specials_are_quoted_and_escaped() {
        assert_eq!(
            format_mailbox("Acme, Inc. \"HQ\"", "a@acme.io"),
            "\"Acme, Inc. \\\"HQ\\\"\" <a@acme.io>"
        );
    }

    #[test]
    fn non_ascii_names_become_encoded_words() {
        assert_eq!(
            format_mailbox("Café", "a@acme.io"),
            "=?UTF-8?B?Q2Fmw6k=?= <a@acme.io>"
        );
    }

    #[test]
    fn empty_names_and_control_characters_are_dropped() {
        assert_eq!(format_mailbox(" ", "a@acme.io"), "a@acme.io");
        assert_eq!(
            format_mailbox("Evil\r\nBcc: x@y.z", "a@acme.io"),
            "\"EvilBcc: x@y.z\" <a@acme.io>"
        );
    }
}
