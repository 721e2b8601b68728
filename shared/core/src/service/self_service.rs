//! What the self-service endpoints (`records` list/view/update/delete,
//! `_externalAuths`, `auth-revoke`) share: the API rule gate and finding
//! the record a rule admits, and PocketBase's list envelope.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Collection, Rule};
use crate::error::{Error, Result};
use crate::model::{is_plausible_id, Record};

use super::Ctx;

/// The record `id` of `collection` if `rule` lets `caller` (the record its
/// auth token names in this collection, if any) act on it. A `null` rule is
/// PocketBase's 403 before anything is read; a record that does not exist
/// or that the rule hides is the same 404, so nobody learns which ids
/// exist. The caller's own record is the one its token was checked against
/// (a strongly consistent read of this request): no second read.
pub async fn admitted_record(
    ctx: &Ctx,
    collection: &Collection,
    rule: Rule,
    caller: Option<&Record>,
    id: &str,
) -> Result<Record> {
    if rule == Rule::Nobody {
        return Err(Error::only_superusers());
    }
    if !is_plausible_id(id) || !rule.admits(caller.map(|r| r.id.as_str()), id) {
        return Err(Error::record_not_found());
    }
    if let Some(own) = caller.filter(|r| r.id == id) {
        return Ok(own.clone());
    }
    ctx.store
        .get_record(&collection.id, id)
        .await?
        .ok_or_else(Error::record_not_found)
}

/// Whether `caller` owns `record` (it then sees its own `email`).
pub fn is_owner(caller: Option<&Record>, record: &Record) -> bool {
    caller.is_some_and(|c| c.id == record.id && c.collection_id == record.collection_id)
}

/// The list query parameters PocketBase reads (`fields` is the HTTP
/// layer's; `expand` is ignored: auth records here have no relations).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListQuery {
    pub page: Option<String>,
    pub per_page: Option<String>,
    pub skip_total: Option<String>,
    pub filter: Option<String>,
    pub sort: Option<String>,
}

/// PocketBase's defaults and ceiling for `perPage`.
pub const DEFAULT_PER_PAGE: i64 = 30;
pub const MAX_PER_PAGE: i64 = 1000;

impl ListQuery {
    fn int(v: Option<&String>) -> i64 {
        v.and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    /// `page`, at least 1.
    pub fn page(&self) -> i64 {
        Self::int(self.page.as_ref()).max(1)
    }

    /// `perPage`: 30 when unset or ≤ 0, at most 1000.
    pub fn per_page(&self) -> i64 {
        match Self::int(self.per_page.as_ref()) {
            n if n <= 0 => DEFAULT_PER_PAGE,
            n => n.min(MAX_PER_PAGE),
        }
    }

    pub fn skip_total(&self) -> bool {
        self.skip_total
            .as_deref()
            .is_some_and(|v| crate::validate::cast_bool(&Value::String(v.to_owned())))
    }

    /// The filter, `None` when blank.
    pub fn filter(&self) -> Option<&str> {
        self.filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
    }

    /// PocketBase's list answer over everything the rule and filter admit
    /// (`all`, already in order): the requested page of it, with the totals
    /// (`-1` each with `skipTotal`).
    pub fn page_of(&self, all: Vec<Value>) -> Value {
        let (page, per_page) = (self.page(), self.per_page());
        let total = all.len() as i64;
        let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let take = usize::try_from(per_page).unwrap_or(0);
        let items: Vec<Value> = all.into_iter().skip(skip).take(take).collect();
        let (total_items, total_pages) = if self.skip_total() {
            (-1, -1)
        } else {
            (total, (total + per_page - 1) / per_page)
        };
        json!({
            "items": items,
            "page": page,
            "perPage": per_page,
            "totalItems": total_items,
            "totalPages": total_pages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: &str, per_page: &str, skip: &str) -> ListQuery {
        ListQuery {
            page: Some(page.into()),
            per_page: Some(per_page.into()),
            skip_total: Some(skip.into()),
            ..Default::default()
        }
    }

    #[test]
    fn pages_and_totals_follow_pocketbase() {
        let one = || vec![json!({"id": "a"})];
        let v = ListQuery::default().page_of(one());
        assert_eq!(v["page"], 1);
        assert_eq!(v["perPage"], 30);
        assert_eq!(v["totalItems"], 1);
        assert_eq!(v["totalPages"], 1);
        assert_eq!(v["items"].as_array().map(Vec::len), Some(1));

        let v = q("2", "1", "").page_of(one());
        assert_eq!(v["items"], json!([]));
        assert_eq!(v["totalItems"], 1);

        let v = q("0", "5000", "1").page_of(one());
        assert_eq!(
            (v["page"].clone(), v["perPage"].clone()),
            (json!(1), json!(1000))
        );
        assert_eq!(
            (v["totalItems"].clone(), v["totalPages"].clone()),
            (json!(-1), json!(-1))
        );

        let v = q("x", "-3", "false").page_of(vec![]);
        assert_eq!(
            (v["page"].clone(), v["perPage"].clone()),
            (json!(1), json!(30))
        );
        assert_eq!(
            (v["totalItems"].clone(), v["totalPages"].clone()),
            (json!(0), json!(0))
        );
    }
}
