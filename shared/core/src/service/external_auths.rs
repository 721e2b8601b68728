//! The `_externalAuths` system collection as the SDK reads it
//! (`listExternalAuths`, `unlinkExternalAuth`): a record's OAuth2 links,
//! owner only, as PocketBase's rule for that collection says
//! (`recordRef = @request.auth.id && collectionRef = @request.auth.collectionId`).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::Collection;
use crate::error::{Error, Result};
use crate::model::{ExternalAuth, Record};

use super::self_service::ListQuery;
use super::Ctx;

/// PocketBase's name and id of the system collection.
pub const COLLECTION_NAME: &str = "_externalAuths";
pub const COLLECTION_ID: &str = "pbc_2281828961";

/// A link's id: 15 `[a-z0-9]` derived from its identity (collection,
/// provider, provider's user id), so links need no stored id. Not a
/// secret: only the link's owner ever sees or uses it.
pub fn link_id(link: &ExternalAuth) -> String {
    let mut h = Sha256::new();
    for part in [&link.collection_id, &link.provider, &link.provider_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    h.finalize()
        .iter()
        .take(15)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// A link as PocketBase renders an `_externalAuths` record.
pub fn link_json(link: &ExternalAuth) -> Value {
    let created = link.created.to_pocketbase();
    json!({
        "collectionId": COLLECTION_ID,
        "collectionName": COLLECTION_NAME,
        "id": link_id(link),
        "collectionRef": link.collection_id,
        "recordRef": link.record_id,
        "provider": link.provider,
        "providerId": link.provider_id,
        "created": created,
        "updated": created,
    })
}

/// What a filter asks for.
#[derive(Debug, PartialEq, Eq)]
struct LinkFilter {
    record_ref: Option<String>,
    provider: Option<String>,
}

/// The filters the SDK sends: `recordRef = "…"` (listExternalAuths) and
/// `recordRef = "…" && provider = "…"` (unlinkExternalAuth), in either
/// order, with `'` or `"` quotes (the SDK's `pb.filter` writes `"`), any
/// spacing; `None` for anything else.
fn parse_filter(filter: &str) -> Option<LinkFilter> {
    let mut out = LinkFilter {
        record_ref: None,
        provider: None,
    };
    for term in filter.split("&&") {
        let (key, value) = term.split_once('=')?;
        let key = key.trim();
        let value = unquote(value.trim())?;
        let slot = match key {
            "recordRef" => &mut out.record_ref,
            "provider" => &mut out.provider,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    out.record_ref.as_ref()?;
    Some(out)
}

/// A quoted string literal of PocketBase's filter syntax (`\` escapes the
/// quote); `None` when it is not exactly one literal.
fn unquote(s: &str) -> Option<String> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut out = String::new();
    let mut chars = s[1..].chars();
    loop {
        match chars.next()? {
            '\\' => out.push(chars.next()?),
            c if c == quote => break,
            c => out.push(c),
        }
    }
    chars.next().is_none().then_some(out)
}

/// `GET /api/collections/_externalAuths/records`: the caller's links that
/// the filter names, as PocketBase's list. Without a valid auth token, or
/// with a filter for another record, the list is empty (PocketBase's rule
/// filters those out). A filter the SDK never sends is a 400 naming the
/// forms supported.
pub async fn external_auths_list(
    ctx: &Ctx,
    caller: Option<(&Collection, &Record)>,
    query: &ListQuery,
) -> Result<Value> {
    let filter = match query.filter() {
        None => None,
        Some(f) => Some(parse_filter(f).ok_or_else(|| {
            Error::bad_request(
                "Unsupported filter: Authgate's _externalAuths list takes the filters the SDK \
                 sends, recordRef = '…' optionally followed by && provider = '…'.",
            )
        })?),
    };
    let Some((collection, record)) = caller else {
        return Ok(query.page_of(vec![]));
    };
    if filter
        .as_ref()
        .and_then(|f| f.record_ref.as_deref())
        .is_some_and(|r| r != record.id)
    {
        return Ok(query.page_of(vec![]));
    }
    let mut links = ctx
        .store
        .list_external_auths(&collection.id, &record.id)
        .await?;
    if let Some(p) = filter.as_ref().and_then(|f| f.provider.as_deref()) {
        links.retain(|l| l.provider == p);
    }
    // PocketBase's default order: oldest first.
    links.sort_by(|a, b| (a.created, &a.provider).cmp(&(b.created, &b.provider)));
    Ok(query.page_of(links.iter().map(link_json).collect()))
}

/// `DELETE /api/collections/_externalAuths/records/{id}`: unlinks one of
/// the caller's providers. Anyone else's link, an unknown id or no valid
/// auth token is PocketBase's 404.
pub async fn external_auths_delete(
    ctx: &Ctx,
    caller: Option<(&Collection, &Record)>,
    id: &str,
) -> Result<()> {
    let Some((collection, record)) = caller else {
        return Err(Error::record_not_found());
    };
    let links = ctx
        .store
        .list_external_auths(&collection.id, &record.id)
        .await?;
    let link = links
        .iter()
        .find(|l| link_id(l) == id)
        .ok_or_else(Error::record_not_found)?;
    ctx.store.delete_external_auth(link).await?;
    tracing::info!(collection = %collection.name, record = %record.id, provider = %link.provider, "OAuth2 link removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(record: &str, provider: Option<&str>) -> Option<LinkFilter> {
        Some(LinkFilter {
            record_ref: Some(record.into()),
            provider: provider.map(Into::into),
        })
    }

    #[test]
    fn the_sdk_filters_parse_and_nothing_else_does() {
        assert_eq!(parse_filter(r#"recordRef = "abc""#), f("abc", None));
        assert_eq!(parse_filter("recordRef='abc'"), f("abc", None));
        assert_eq!(
            parse_filter(r#"recordRef = "abc" && provider = "google""#),
            f("abc", Some("google"))
        );
        assert_eq!(
            parse_filter(r#" provider = 'gh' && recordRef = 'a\'b' "#),
            f("a'b", Some("gh"))
        );
        for bad in [
            r#"provider = "google""#,
            r#"recordRef != "abc""#,
            r#"recordRef = "abc" || provider = "x""#,
            r#"recordRef = "abc" && recordRef = "def""#,
            r#"recordRef = abc"#,
            r#"recordRef = "abc" "x""#,
            r#"collectionRef = "c""#,
            r#"recordRef ~ "a""#,
        ] {
            assert_eq!(parse_filter(bad), None, "{bad}");
        }
    }

    #[test]
    fn link_ids_look_like_record_ids_and_differ_per_identity() {
        let link = |p: &str, id: &str| ExternalAuth {
            collection_id: "c".into(),
            record_id: "r".into(),
            provider: p.into(),
            provider_id: id.into(),
            created: crate::model::Timestamp(0),
        };
        let a = link_id(&link("google", "1"));
        assert_eq!(a.len(), 15);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_eq!(a, link_id(&link("google", "1")));
        assert_ne!(a, link_id(&link("google", "2")));
        assert_ne!(a, link_id(&link("github", "1")));
    }
}
