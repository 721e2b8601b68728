//! Mail templates: PocketBase's placeholders (`{APP_NAME}`, `{APP_URL}`,
//! `{TOKEN}`, `{OTP}`, `{OTP_ID}`, `{RECORD:field}`) filled into a
//! collection's template. Links are built from the configured `appURL`,
//! never from a request's `Host`. Values are HTML-escaped in the HTML part.

use crate::config::{Collection, Meta, Template};
use crate::model::{MailFlow, Record};
use crate::ports::MailMessage;
use crate::validate::cast_string;

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A plain-text rendering of simple HTML: links become `text (url)`, block
/// tags become line breaks, other tags are dropped, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut pending_href: Option<String> = None;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            out.push_str(&rest[lt..]);
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name == "a" && !tag.starts_with('/') {
            pending_href = attr(tag, "href");
        } else if name == "a" {
            if let Some(href) = pending_href.take() {
                out.push_str(&format!(" ({href})"));
            }
        } else if matches!(
            name.as_str(),
            "p" | "br" | "div" | "tr" | "li" | "h1" | "h2" | "h3"
        ) && (tag.starts_with('/') || name == "br")
        {
            out.push('\n');
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    let lines: Vec<&str> = decoded.lines().map(str::trim).collect();
    let mut text = String::new();
    let mut blank = 0;
    for l in lines {
        if l.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        text.push_str(l);
        text.push('\n');
    }
    text.trim().to_owned()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let idx = lower.find(&format!("{name}="))? + name.len() + 1;
    let rest = &tag[idx..];
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        let end = rest[1..].find(quote)?;
        Some(decode_entities(&rest[1..1 + end]))
    } else {
        Some(rest.split_whitespace().next()?.to_owned())
    }
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Values substituted into a template.
#[derive(Debug, Default, Clone)]
pub struct Placeholders<'a> {
    pub token: Option<&'a str>,
    pub otp: Option<&'a str>,
    pub otp_id: Option<&'a str>,
}

fn fill(
    template: &str,
    meta: &Meta,
    collection: &Collection,
    record: &Record,
    p: &Placeholders<'_>,
    html: bool,
) -> String {
    let esc = |s: &str| if html { escape_html(s) } else { s.to_owned() };
    // One forward pass over the template: substituted values are appended,
    // never searched again, so a value containing `{RECORD:name}` (a user
    // can put anything in their own fields) is inert.
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let Some(close) = tail.find('}') else {
            out.push_str(tail);
            rest = "";
            break;
        };
        let name = &tail[1..close];
        let value = match name {
            "APP_NAME" => Some(meta.app_name.clone()),
            "APP_URL" => Some(meta.app_url.clone()),
            "TOKEN" => Some(p.token.unwrap_or_default().to_owned()),
            "OTP" => Some(p.otp.unwrap_or_default().to_owned()),
            "OTP_ID" => Some(p.otp_id.unwrap_or_default().to_owned()),
            _ => name
                .strip_prefix("RECORD:")
                .map(|field| record_value(collection, record, field)),
        };
        match value {
            Some(v) => {
                out.push_str(&esc(&v));
                rest = &tail[close + 1..];
            }
            None => {
                // Not a placeholder: keep the brace and go on after it.
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A record field for `{RECORD:field}`; hidden fields (and the password
/// hash and token key) never leave the server, as in PocketBase.
fn record_value(collection: &Collection, record: &Record, field: &str) -> String {
    match field {
        "id" => record.id.clone(),
        "email" => record.email.clone(),
        "verified" => record.verified.to_string(),
        "emailVisibility" => record.email_visibility.to_string(),
        "collectionId" => collection.id.clone(),
        "collectionName" => collection.name.clone(),
        other => collection
            .fields
            .iter()
            .find(|f| f.name == other && !f.hidden)
            .and_then(|f| record.fields.get(&f.name))
            .map(cast_string)
            .unwrap_or_default(),
    }
}

/// Renders `template` for `record` into a message to `to`.
pub fn render(
    meta: &Meta,
    collection: &Collection,
    template: &Template,
    record: &Record,
    to: &str,
    placeholders: &Placeholders<'_>,
    kind: MailFlow,
) -> MailMessage {
    let subject = fill(
        &template.subject,
        meta,
        collection,
        record,
        placeholders,
        false,
    );
    let html = fill(&template.body, meta, collection, record, placeholders, true);
    let text = html_to_text(&html);
    MailMessage {
        from_name: meta.sender_name.clone(),
        from_address: meta.sender_address.clone(),
        to: to.to_owned(),
        subject,
        html,
        text,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    fn meta() -> Meta {
        Meta {
            app_name: "Acme <Inc>".into(),
            app_url: "https://app.example.com".into(),
            sender_name: "Acme".into(),
            sender_address: "no-reply@example.com".into(),
        }
    }

    fn record() -> Record {
        let mut fields = serde_json::Map::new();
        fields.insert("name".into(), "<b>Bob</b>".into());
        Record {
            id: "abc".into(),
            collection_id: "c".into(),
            email: "bob@example.com".into(),
            email_visibility: false,
            verified: false,
            password_hash: "h".into(),
            token_key: "secret-key".into(),
            created: Timestamp(0),
            updated: Timestamp(0),
            fields,
            version: 1,
        }
    }

    fn collection() -> Collection {
        let doc = serde_json::json!({"collections": [{
            "name": "users", "type": "auth",
            "fields": [{"name": "name", "type": "text"}, {"name": "secretNote", "type": "text", "hidden": true}]
        }]});
        let mut doc = doc;
        struct Zero;
        impl crate::ports::Random for Zero {
            fn fill(&self, buf: &mut [u8]) {
                buf.fill(1);
            }
        }
        crate::config::fill_secrets(&mut doc, None, &Zero);
        crate::config::AppConfig::from_json(&doc)
            .expect("valid")
            .collections
            .remove(0)
    }

    #[test]
    fn placeholders_are_filled_and_escaped_only_in_html() {
        let t = Template {
            subject: "Hi {RECORD:name} from {APP_NAME}".into(),
            body: "<p>Hi {RECORD:name} {RECORD:tokenKey}</p><p><a href=\"{APP_URL}/_/#/auth/confirm-verification/{TOKEN}\">Verify</a></p>".into(),
        };
        let p = Placeholders {
            token: Some("a.b.c"),
            ..Default::default()
        };
        let (meta, coll) = (meta(), collection());
        let subject = fill(&t.subject, &meta, &coll, &record(), &p, false);
        assert_eq!(subject, "Hi <b>Bob</b> from Acme <Inc>");
        let html = fill(&t.body, &meta, &coll, &record(), &p, true);
        assert!(html.contains("Hi &lt;b&gt;Bob&lt;/b&gt; </p>"), "{html}");
        assert!(!html.contains("secret-key"));
        let text = html_to_text(&html);
        assert!(
            text.contains("Verify (https://app.example.com/_/#/auth/confirm-verification/a.b.c)"),
            "{text}"
        );
        assert!(text.contains("Hi <b>Bob</b>"), "{text}");
    }

    #[test]
    fn values_that_look_like_placeholders_are_not_expanded_again() {
        let mut r = record();
        r.fields
            .insert("name".into(), "{RECORD:name}{RECORD:name}{TOKEN}".into());
        r.fields.insert("secretNote".into(), "hidden-value".into());
        let p = Placeholders {
            token: Some("tok"),
            ..Default::default()
        };
        let out = fill(
            "[{RECORD:name}] {RECORD:secretNote} {unknown} {",
            &meta(),
            &collection(),
            &r,
            &p,
            false,
        );
        assert_eq!(out, "[{RECORD:name}{RECORD:name}{TOKEN}]  {unknown} {");
    }
}
