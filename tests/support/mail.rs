//! Reading sent mail back: the local mailbox's `.eml` files, the token of a
//! `…/confirm-*/{TOKEN}` link, the code of an OTP mail.

use std::path::{Path, PathBuf};

/// A mail read back from the local mailbox.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

impl Mail {
    /// The token at the end of a `…/confirm-*/{TOKEN}` link, in the text
    /// part if it has the link, else in the HTML part.
    pub fn token_after(&self, marker: &str) -> Option<String> {
        let hay = if self.text.contains(marker) {
            &self.text
        } else {
            &self.html
        };
        token_after(hay, marker)
    }
}

/// What a simple regex like `confirm-verification/([\w.-]+)` captures after
/// the first `marker` in `haystack`; `None` without the marker or a token.
pub fn token_after(haystack: &str, marker: &str) -> Option<String> {
    let start = haystack.find(marker)? + marker.len();
    let token: String = haystack[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// Every `.eml` in `dir`, oldest first.
pub fn read_mails(dir: &Path) -> Vec<Mail> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|raw| {
            let head_end = raw.find("\r\n\r\n").unwrap_or(raw.len());
            let headers = &raw[..head_end];
            Mail {
                to: authgate_adapters::mailbox::header_value(headers, "To").unwrap_or_default(),
                subject: authgate_adapters::mailbox::header_value(headers, "Subject")
                    .unwrap_or_default(),
                text: authgate_adapters::mailbox::extract_text(&raw),
                html: authgate_adapters::mailbox::extract_html(&raw),
                raw,
            }
        })
        .collect()
}

/// The OTP code in a mail: the first word of 4 to 32 digits (words are split
/// on anything but ASCII letters and digits, so digits inside an OTP id or
/// a link never count).
pub fn otp_code(mail: &Mail) -> Option<String> {
    mail.text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| (4..=32).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}
