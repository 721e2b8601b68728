//! PocketBase's `?fields=` projection: a comma-separated list of dot paths,
//! `*` meaning every key at that level (`?fields=token,record.id,record.*`).

use serde_json::{Map, Value};

/// Keeps only the listed paths of `value`. An empty list keeps everything.
pub fn project(value: Value, fields: Option<&str>) -> Value {
    let paths: Vec<Vec<&str>> = fields
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        // Modifiers like `:excerpt(200)` are not supported; keep the path.
        .map(|p| p.split(':').next().unwrap_or(p).split('.').collect())
        .collect();
    if paths.is_empty() {
        return value;
    }
    pick(value, &paths.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

/// [`project`] applied to each of a list answer's `items`, as PocketBase
/// applies `?fields=` to list results.
pub fn project_items(mut value: Value, fields: Option<&str>) -> Value {
    if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            *item = project(std::mem::take(item), fields);
        }
    }
    value
}

fn pick(value: Value, paths: &[&[&str]]) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    if paths.iter().any(|p| p.len() == 1 && p[0] == "*") {
        return Value::Object(map);
    }
    let mut out = Map::new();
    for (key, v) in map {
        let sub: Vec<&[&str]> = paths
            .iter()
            .filter(|p| p.first() == Some(&key.as_str()) || p.first() == Some(&"*"))
            .map(|p| &p[1..])
            .collect();
        if sub.is_empty() {
            continue;
        }
        if sub.iter().any(|p| p.is_empty()) {
            out.insert(key, v);
        } else {
            out.insert(key, pick(v, &sub));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_only_the_listed_paths() {
        let v = json!({"token":"t","record":{"id":"r","email":"e"},"meta":{"x":1}});
        assert_eq!(
            project(v.clone(), Some("token,record.id")),
            json!({"token":"t","record":{"id":"r"}})
        );
        assert_eq!(
            project(v.clone(), Some("record.*")),
            json!({"record":{"id":"r","email":"e"}})
        );
        assert_eq!(project(v.clone(), None), v);
        assert_eq!(project(v, Some("nope")), json!({}));
    }
}
