//! Rate limits through the real function binaries (the harness of
//! `lambda.rs`): the client is API Gateway's `sourceIp`, never what the
//! caller wrote in `X-Forwarded-For`; the per-account password cap holds
//! whatever addresses the attempts come from; counters live in DynamoDB, so
//! a limit reached in one Lambda process holds in the next one.
//!
//! The binaries run on the real clock, so every window here is 60 s or more
//! (each test has a table, and so counters, of its own).

use serde_json::{json, Value};

use super::lambda::{body, event, invoke, status, table_with_config};

/// The 429 body, byte for byte.
const TOO_MANY: &str = r#"{"data":{},"message":"Too Many Requests.","status":429}"#;

/// The default config with these `rateLimits`.
async fn table_with_rate_limits(rate_limits: Value) -> String {
    table_with_config(|doc| doc["rateLimits"] = rate_limits).await
}

/// Sets a request header in a v2 (`headers`) or v1 (`headers` and
/// `multiValueHeaders`) event, whatever the case of its existing name.
fn set_header(mut ev: Value, name: &str, value: &str) -> Value {
    for (map, v) in [
        ("headers", json!(value)),
        ("multiValueHeaders", json!([value])),
    ] {
        let Some(headers) = ev.get_mut(map).and_then(Value::as_object_mut) else {
            continue;
        };
        let key = headers
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.to_owned());
        headers.insert(key, v);
    }
    ev
}

fn with_forwarded_for(ev: Value, xff: &str) -> Value {
    set_header(ev, "x-forwarded-for", xff)
}

/// The event as API Gateway would send it for a caller at `ip`:
/// `sourceIp` (v2 `requestContext.http`, v1 `requestContext.identity`) and
/// the `X-Forwarded-For` API Gateway writes.
fn from_ip(mut ev: Value, ip: &str) -> Value {
    let ctx = &mut ev["requestContext"];
    if ctx["http"].is_object() {
        ctx["http"]["sourceIp"] = json!(ip);
    } else {
        ctx["identity"]["sourceIp"] = json!(ip);
    }
    with_forwarded_for(ev, ip)
}

/// The event with another JSON body (and a matching `content-length`).
fn with_body(ev: Value, body: Value) -> Value {
    let text = body.to_string();
    let len = text.len().to_string();
    let mut ev = if ev["headers"].get("content-length").is_some() {
        set_header(ev, "content-length", &len)
    } else {
        ev
    };
    ev["body"] = json!(text);
    ev
}

fn login(identity: &str, password: &str) -> Value {
    with_body(
        event("auth-with-password.v2.json"),
        json!({"identity": identity, "password": password}),
    )
}

/// A response header of a v2 (`headers`) or v1 (`multiValueHeaders`) answer.
fn header<'a>(res: &'a Value, name: &str) -> Option<&'a str> {
    res["headers"][name]
        .as_str()
        .or(res["multiValueHeaders"][name][0].as_str())
}

fn assert_too_many(res: &Value, retry_after: &str) {
    assert_eq!(status(res), 429, "{res}");
    assert_eq!(res["body"].as_str(), Some(TOO_MANY), "{res}");
    assert_eq!(header(res, "retry-after"), Some(retry_after), "{res}");
}

#[tokio::test]
async fn events_with_different_x_forwarded_for_but_one_source_ip_share_one_limit() {
    let table = table_with_rate_limits(json!({"rules": [
        {"label": "*:auth", "maxRequests": 2, "duration": 60},
        {"label": "/api/", "maxRequests": 1000, "duration": 60},
    ]}))
    .await;
    let res = invoke(
        "records-create",
        &table,
        vec![event("records-create.v2.json")],
    )
    .await;
    assert_eq!(status(&res[0]), 200, "{}", res[0]);

    // All from sourceIp 203.0.113.10 (v2: requestContext.http, v1:
    // requestContext.identity), each claiming another client in
    // X-Forwarded-For. The right password, so only the rule can refuse.
    let v2 = || event("auth-with-password.v2.json");
    let v1 = || event("auth-with-password.v1.json");
    let res = invoke(
        "auth-with-password",
        &table,
        vec![
            with_forwarded_for(v2(), "198.51.100.1"),
            with_forwarded_for(v1(), "198.51.100.2, 198.51.100.3"),
        ],
    )
    .await;
    for r in &res {
        assert_eq!(status(r), 200, "{r}");
        assert!(body(r)["token"].is_string(), "{r}");
    }

    // A new process (another Lambda container): the counter is in DynamoDB.
    let res = invoke(
        "auth-with-password",
        &table,
        vec![
            with_forwarded_for(v2(), "198.51.100.4"),
            with_forwarded_for(v1(), "198.51.100.5, 198.51.100.6"),
            with_forwarded_for(v2(), "203.0.113.99"),
        ],
    )
    .await;
    for r in &res {
        assert_too_many(r, "60");
    }
}

#[tokio::test]
async fn ten_wrong_passwords_from_ten_addresses_cap_the_account_even_for_the_right_password_while_another_account_logs_in(
) {
    // Only a generous per-address rule: no address comes near it, so every
    // 429 below is the per-account cap (default 10 attempts per 900 s).
    let table = table_with_rate_limits(json!({"rules": [
        {"label": "/api/", "maxRequests": 1000, "duration": 60},
    ]}))
    .await;
    let other = with_body(
        event("records-create.v2.json"),
        json!({"email": "other@example.com", "password": "0987654321", "passwordConfirm": "0987654321"}),
    );
    let res = invoke(
        "records-create",
        &table,
        vec![event("records-create.v2.json"), other],
    )
    .await;
    for r in &res {
        assert_eq!(status(r), 200, "{r}");
    }

    let ip = |i: usize| format!("198.51.100.{i}");
    let mut events: Vec<Value> = (1..=10)
        .map(|i| from_ip(login("lambda@example.com", "wrong-password"), &ip(i)))
        .collect();
    events.push(from_ip(login("lambda@example.com", "1234567890"), &ip(11)));
    events.push(from_ip(login("other@example.com", "0987654321"), &ip(1)));
    events.push(from_ip(login("other@example.com", "0987654321"), &ip(11)));
    let res = invoke("auth-with-password", &table, events).await;

    for (i, r) in res[..10].iter().enumerate() {
        assert_eq!(status(r), 400, "attempt {}: {r}", i + 1);
        assert_eq!(body(r)["message"], "Failed to authenticate.", "{r}");
    }
    // The 11th attempt, from yet another address, with the right password.
    assert_too_many(&res[10], "900");
    // Another account, from the same addresses, is not affected.
    for r in &res[11..] {
        assert_eq!(status(r), 200, "{r}");
        assert!(body(r)["token"].is_string(), "{r}");
    }
}

#[tokio::test]
async fn ipv6_source_addresses_in_one_64_share_one_limit() {
    let table = table_with_rate_limits(json!({"rules": [
        {"label": "*:auth", "maxRequests": 2, "duration": 60},
    ]}))
    .await;
    // No account: every attempt that passes the rule is a 400.
    let res = invoke(
        "auth-with-password",
        &table,
        vec![
            from_ip(login("nobody@example.com", "1234567890"), "2001:db8:1:2::a"),
            from_ip(
                login("nobody@example.com", "1234567890"),
                "2001:db8:1:2:ffff::b",
            ),
            from_ip(
                login("nobody@example.com", "1234567890"),
                "2001:db8:1:2:1234:5678:9abc:def0",
            ),
            from_ip(login("nobody@example.com", "1234567890"), "2001:db8:1:3::a"),
        ],
    )
    .await;
    assert_eq!(status(&res[0]), 400, "{}", res[0]);
    assert_eq!(status(&res[1]), 400, "{}", res[1]);
    assert_too_many(&res[2], "60");
    assert_eq!(status(&res[3]), 400, "another /64: {}", res[3]);
}
