//! The local mailer of `authgate serve`: every mail becomes one RFC 5322
//! `.eml` file in a directory, for developers and end-to-end tests to read.
//!
//! # Reading the files back
//!
//! Each file is named `<YYYYMMDD-HHMMSS-millis>-<kind>-<random6>.eml` (so a
//! directory listing sorts by time) and appears atomically: it is written
//! under a hidden `.…tmp` name and renamed, so a reader that only looks at
//! `*.eml` never sees half a message.
//!
//! The body is `multipart/alternative` with a `text/plain` and a `text/html`
//! part, both UTF-8. Parts whose lines all fit in 900 octets (every default
//! template) are sent `8bit`, so links and codes can be copied straight from
//! the file; parts with longer lines are `quoted-printable`. To decode those:
//! remove soft line breaks (`=` at the end of a line, i.e. `=\r\n`) and
//! replace each `=XX` with the byte `0xXX`. In JavaScript:
//!
//! ```js
//! const text = eml.replace(/=\r?\n/g, "")
//!   .replace(/(=[0-9A-F]{2})+/g, (m) => Buffer.from(m.replace(/=/g, ""), "hex").toString("utf8"));
//! const link = text.match(/https?:\/\/\S+\/_\/#\/auth\/confirm-verification\/[\w.-]+/)[0];
//! ```
//!
//! In Rust, [`extract_text`] and [`extract_html`] return the decoded parts.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use authgate_core::ports::{MailError, MailMessage, Mailer};
use base64::Engine;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use rand::Rng;

/// Writes every mail as an `.eml` file into `dir` (see the module docs).
#[derive(Debug, Clone)]
pub struct LocalMailbox {
    dir: PathBuf,
}

impl LocalMailbox {
    /// A mailbox writing into `dir`, which is created on first use.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn mail_error(what: &str, err: impl std::fmt::Display) -> MailError {
    MailError(format!("{what}: {err}"))
}

fn part(content_type: ContentType, text: &str) -> SinglePart {
    // 8bit keeps links copy-pasteable straight from the file (a person
    // reading `.data/mail/*.eml` sees the whole token on one line). lettre
    // only picks 8bit for lines under 76 octets, so the body is handed over
    // pre-encoded: valid as long as every line fits RFC 5322's 998 octets
    // (checked, with margin) and there is no NUL. Anything else goes out
    // quoted-printable, which cannot fail on long lines.
    let body = if text.lines().all(|l| l.len() <= 900) && !text.contains('\0') {
        let crlf = text.lines().collect::<Vec<_>>().join("\r\n");
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
    } else {
        Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::QuotedPrintable)
            .unwrap_or_else(|_| Body::new(text.to_owned()))
    };
    SinglePart::builder().header(content_type).body(body)
}

/// Builds the RFC 5322 message for `message`.
fn build(message: &MailMessage) -> Result<Vec<u8>, MailError> {
    let from_address: Address = message
        .from_address
        .parse()
        .map_err(|e| mail_error("invalid sender address", e))?;
    let to: Address = message
        .to
        .parse()
        .map_err(|e| mail_error("invalid recipient address", e))?;
    let from_name = Some(message.from_name.trim().to_owned()).filter(|n| !n.is_empty());
    let email = Message::builder()
        .from(Mailbox::new(from_name, from_address))
        .to(Mailbox::new(None, to))
        .subject(message.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &message.text))
                .singlepart(part(ContentType::TEXT_HTML, &message.html)),
        )
        .map_err(|e| mail_error("cannot build message", e))?;
    Ok(email.formatted())
}

fn file_name(kind: &str) -> String {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S-%3f");
    let kind: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut rng = rand::thread_rng();
    let random: String = (0..6)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
        .collect();
    format!("{stamp}-{kind}-{random}.eml")
}

/// Creates `dir`, writes `bytes` under a temporary name and renames it into
/// place, so readers never see a partial file.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    std::fs::write(&tmp, bytes)?;
    if let Err(err) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    Ok(path)
}

#[async_trait]
impl Mailer for LocalMailbox {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let bytes = build(message)?;
        let dir = self.dir.clone();
        let name = file_name(message.kind.as_str());
        // File I/O blocks: keep it off the async executor's threads.
        let path = tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .map_err(|e| mail_error("mail writer task failed", e))?
            .map_err(|e| mail_error("cannot write mail file", e))?;
        // Subject and body carry tokens and codes: never logged.
        tracing::info!(
            kind = message.kind.as_str(),
            to = %message.to,
            path = %path.display(),
            "mail written"
        );
        Ok(())
    }
}

/// The decoded `text/plain` part of an `.eml` written by [`LocalMailbox`]
/// (empty if there is none).
pub fn extract_text(eml: &str) -> String {
    extract_part(eml, "text/plain").unwrap_or_default()
}

/// The decoded `text/html` part of an `.eml` written by [`LocalMailbox`]
/// (empty if there is none).
pub fn extract_html(eml: &str) -> String {
    extract_part(eml, "text/html").unwrap_or_default()
}

/// The value of header `name` (case-insensitive, folded lines joined) in a
/// header block, as written (encoded words are not decoded).
pub fn header_value(headers: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in headers.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = found.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            if key.trim().eq_ignore_ascii_case(name) {
                found = Some(value.trim().to_owned());
            }
        }
    }
    found
}

/// Splits a message or MIME part into its header block and body.
fn split_head(entity: &str) -> (&str, &str) {
    entity.split_once("\n\n").unwrap_or((entity, ""))
}

fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn extract_part(eml: &str, mime: &str) -> Option<String> {
    let eml = eml.replace("\r\n", "\n");
    let (head, body) = split_head(&eml);
    let content_type = header_value(head, "Content-Type").unwrap_or_default();
    let Some(boundary) = param(&content_type, "boundary") else {
        return content_type
            .to_ascii_lowercase()
            .starts_with(mime)
            .then(|| decode_body(head, body));
    };
    let delimiter = format!("--{boundary}");
    body.split(delimiter.as_str())
        .skip(1)
        .take_while(|p| !p.starts_with("--"))
        .find_map(|p| {
            let p = p.strip_prefix('\n').unwrap_or(p);
            let (part_head, part_body) = split_head(p);
            let ct = header_value(part_head, "Content-Type").unwrap_or_default();
            if ct.to_ascii_lowercase().starts_with(mime) {
                // The newline before the next delimiter belongs to it.
                let part_body = part_body.strip_suffix('\n').unwrap_or(part_body);
                Some(decode_body(part_head, part_body))
            } else {
                None
            }
        })
}

fn decode_body(head: &str, body: &str) -> String {
    let encoding = header_value(head, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        }
        _ => body.to_owned(),
    }
}

/// Decodes quoted-printable text (RFC 2045 §6.7): soft line breaks (`=` at
/// the end of a line) are removed and `=XX` becomes byte `0xXX`. Line ends
/// come out as `\n`.
pub fn decode_quoted_printable(encoded: &str) -> String {
    let encoded = encoded.replace("\r\n", "\n");
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_soft_breaks_and_escapes_are_decoded() {
        assert_eq!(
            decode_quoted_printable("a=3Db=\r\nc caf=C3=A9\r\nnext"),
            "a=bc café\nnext"
        );
    }

    #[test]
    fn file_names_sort_by_time_and_carry_the_kind() {
        let name = file_name("password-reset");
        assert!(name.ends_with(".eml"));
        assert!(name.contains("-password-reset-"));
        assert_eq!(
            name.len(),
            "20261126-011436-865-password-reset-abc123.eml".len()
        );
    }
}
