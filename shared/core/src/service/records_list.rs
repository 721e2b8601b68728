//! `GET records` of an auth collection.
//!
//! `listRule` is `null` (403) or the owner rule (see `config::Rules`: `""`
//! is refused at config load, as listing everyone would need a table scan),
//! so the list holds at most the caller's own record: no store call at
//! all, the record is the one the caller's token was checked against.

use serde_json::Value;

use crate::config::{Collection, Rule};
use crate::error::{Error, Result};
use crate::model::Record;

use super::record_json;
use super::self_service::ListQuery;

/// PocketBase's list of what `listRule` admits: the caller's own record,
/// or nothing for an anonymous caller (200 with empty `items`, as
/// PocketBase answers). `sort` is accepted and moot (one record at most);
/// a `filter` is refused with a 400 that says why.
pub fn records_list(
    collection: &Collection,
    caller: Option<&Record>,
    query: &ListQuery,
) -> Result<Value> {
    match collection.rules.list {
        Rule::Nobody => return Err(Error::only_superusers()),
        Rule::Anyone | Rule::Owner => {}
    }
    if query.filter().is_some() {
        return Err(Error::bad_request(
            "Authgate's records list takes no filter: it lists the caller's own record \
             (listRule \"id = @request.auth.id\"). Use getOne(id) instead.",
        ));
    }
    let items = caller
        .filter(|r| collection.rules.list.admits(Some(&r.id), &r.id))
        .map(|r| vec![record_json(collection, r, true)])
        .unwrap_or_default();
    Ok(query.page_of(items))
}
