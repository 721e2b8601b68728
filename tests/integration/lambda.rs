//! Every function binary runs as a real Lambda process: this harness serves
//! the Lambda Runtime API on loopback, hands the binary the API Gateway
//! events from `infra/events/` (HTTP API v2 and REST API v1) and checks the
//! responses it posts back. The binaries talk to DynamoDB on moto.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use authgate_adapters::dynamodb::DynamoStore;
use authgate_core::config::{fill_secrets, split_secrets, AppConfig};
use authgate_core::ports::{ConfigStore, SecretStore};
use authgate_tests::{bin_dir, dynamodb_client, moto_secrets, moto_url, repo_root, unique};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

struct Runtime {
    events: Mutex<VecDeque<(String, Value)>>,
    responses: mpsc::UnboundedSender<(String, Value)>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> (HeaderMap, String) {
    // Long-poll like the real Runtime API: wait until an event is queued.
    loop {
        if let Some((id, event)) = rt.events.lock().await.pop_front() {
            let mut h = HeaderMap::new();
            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            h.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:test"
                    .parse()
                    .unwrap(),
            );
            h.insert(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap(),
            );
            h.insert("content-type", "application/json".parse().unwrap());
            return (h, event.to_string());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn respond(
    State(rt): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: String,
) -> &'static str {
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = rt.responses.send((id, v));
    "{}"
}

async fn error(
    State(rt): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: String,
) -> &'static str {
    let _ = rt.responses.send((id, json!({"runtimeError": body})));
    "{}"
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: String) -> &'static str {
    let _ = rt
        .responses
        .send(("init".into(), json!({"initError": body})));
    "{}"
}

/// A table of its own with the default config applied, as
/// `authgate collections apply` would leave it.
async fn fresh_table() -> String {
    table_with_config(|_| {}).await
}

/// A table of its own holding the default config as changed by `edit`
/// (e.g. its `rateLimits`), as `authgate collections apply` leaves it: the
/// secrets in a Secrets Manager secret named after the table (on moto), the
/// rest in the table.
pub(crate) async fn table_with_config(edit: impl FnOnce(&mut Value)) -> String {
    let table = unique("authgate-lambda-");
    let store = DynamoStore::new(dynamodb_client().await, table.clone());
    store.create_table().await.expect("create table");
    let mut doc = AppConfig::default_document();
    edit(&mut doc);
    fill_secrets(&mut doc, None, &authgate_adapters::system::OsRandom);
    let secrets = split_secrets(&mut doc);
    moto_secrets(&table)
        .await
        .save_secrets(&secrets)
        .await
        .expect("save secrets");
    store.save_config(&doc).await.expect("save config");
    table
}

pub(crate) fn event(name: &str) -> Value {
    let path = repo_root().join("infra/events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Runs the function binary `slug` as a Lambda process, feeds it `events`
/// in order and returns the API Gateway responses it produced.
pub(crate) async fn invoke(slug: &str, table: &str, events: Vec<Value>) -> Vec<Value> {
    invoke_with(slug, table, &[], events).await.0
}

/// [`invoke`] with extra environment variables; also returns everything
/// the process logged (stderr).
pub(crate) async fn invoke_with(
    slug: &str,
    table: &str,
    env: &[(&str, String)],
    events: Vec<Value>,
) -> (Vec<Value>, String) {
    let bin = bin_dir().join(slug);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        bin.display()
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ids: Vec<String> = (0..events.len())
        .map(|i| format!("req-{slug}-{i}"))
        .collect();
    let rt = Arc::new(Runtime {
        events: Mutex::new(ids.iter().cloned().zip(events).collect()),
        responses: tx,
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(rt);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut child = tokio::process::Command::new(&bin)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", slug)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AUTHGATE_TABLE", table)
        .env("AUTHGATE_SECRET_ID", table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto_url())
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url())
        // As the template deploys them (outside the China regions).
        .env("AUTHGATE_TLS_ROOTS", "amazon")
        .env_remove("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH")
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    for id in &ids {
        let got = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await;
        let (rid, body) = got
            .unwrap_or_else(|_| panic!("{slug}: no response for {id}"))
            .unwrap();
        assert_eq!(&rid, id, "{slug}: {body}");
        out.push(body);
    }
    let _ = child.kill().await;
    server.abort();
    let mut logs = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = stderr.read_to_string(&mut logs).await;
    }
    (out, logs)
}

pub(crate) fn status(res: &Value) -> u64 {
    res["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("not an API Gateway response: {res}"))
}

pub(crate) fn body(res: &Value) -> Value {
    serde_json::from_str(res["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
async fn each_foundation_function_runs_as_a_lambda_with_v2_and_v1_events() {
    let table = fresh_table().await;

    let res = invoke(
        "records-create",
        &table,
        vec![
            event("records-create.v2.json"),
            event("records-create.v1.json"),
        ],
    )
    .await;
    assert_eq!(status(&res[0]), 200, "{}", res[0]);
    assert_eq!(body(&res[0])["collectionName"], "users");
    assert_eq!(status(&res[1]), 400, "same email again: {}", res[1]);
    assert_eq!(
        body(&res[1])["data"]["email"]["code"],
        "validation_not_unique"
    );

    let res = invoke(
        "auth-with-password",
        &table,
        vec![
            event("auth-with-password.v2.json"),
            event("auth-with-password.v1.json"),
        ],
    )
    .await;
    for r in &res {
        assert_eq!(status(r), 200, "{r}");
        assert!(body(r)["token"].is_string());
        let frame = r["headers"]["x-frame-options"]
            .as_str()
            .or(r["multiValueHeaders"]["x-frame-options"][0].as_str());
        assert_eq!(frame, Some("SAMEORIGIN"), "{r}");
    }
    let token = body(&res[0])["token"].as_str().unwrap().to_owned();

    let mut with_token = event("auth-refresh.v2.json");
    with_token["headers"]["authorization"] = json!(token);
    let res = invoke(
        "auth-refresh",
        &table,
        vec![
            event("auth-refresh.v2.json"),
            event("auth-refresh.v1.json"),
            with_token,
        ],
    )
    .await;
    assert_eq!(status(&res[0]), 401, "{}", res[0]);
    assert_eq!(status(&res[1]), 401, "{}", res[1]);
    assert_eq!(status(&res[2]), 200, "{}", res[2]);

    let res = invoke(
        "auth-methods",
        &table,
        vec![event("auth-methods.v2.json"), event("auth-methods.v1.json")],
    )
    .await;
    for r in &res {
        assert_eq!(status(r), 200, "{r}");
        assert_eq!(body(r)["password"]["enabled"], true, "{r}");
    }
}

#[tokio::test]
async fn every_other_function_binary_answers_its_api_gateway_event() {
    let table = fresh_table().await;
    // (binary, event, expected status) against the built-in config, where
    // `users` has password auth only: the point is that each binary boots as
    // a Lambda, reads the config from DynamoDB and answers through the router.
    let cases = [
        ("request-verification", "request-verification.v2.json", 204),
        ("confirm-verification", "confirm-verification.v2.json", 400),
        (
            "request-password-reset",
            "request-password-reset.v2.json",
            204,
        ),
        (
            "confirm-password-reset",
            "confirm-password-reset.v2.json",
            400,
        ),
        ("request-email-change", "request-email-change.v2.json", 401),
        ("confirm-email-change", "confirm-email-change.v2.json", 400),
        ("request-otp", "request-otp.v2.json", 403),
        ("auth-with-otp", "auth-with-otp.v2.json", 403),
        ("auth-with-oauth2", "auth-with-oauth2.v2.json", 403),
    ];
    // One after the other: nine processes at once would only compete for 2 cores.
    for (slug, file, want) in cases {
        let res = invoke(slug, &table, vec![event(file)]).await;
        assert_eq!(status(&res[0]), want, "{slug}: {}", res[0]);
    }
}

#[tokio::test]
async fn each_function_binary_serves_its_own_route_and_404s_every_other() {
    let table = fresh_table().await;
    // The auth-methods binary answers its own event, and PocketBase's 404
    // envelope for another endpoint's (v2 and v1): it serves one route.
    let res = invoke(
        "auth-methods",
        &table,
        vec![
            event("auth-methods.v2.json"),
            event("auth-with-password.v2.json"),
            event("auth-refresh.v1.json"),
        ],
    )
    .await;
    assert_eq!(status(&res[0]), 200, "{}", res[0]);
    for other in &res[1..] {
        assert_eq!(status(other), 404, "{other}");
        let body: Value = serde_json::from_str(other["body"].as_str().unwrap_or("{}")).unwrap();
        assert_eq!(
            body["message"], "The requested resource wasn't found.",
            "{other}"
        );
    }
    // And the other way round.
    let res = invoke(
        "auth-with-password",
        &table,
        vec![event("auth-methods.v2.json")],
    )
    .await;
    assert_eq!(status(&res[0]), 404, "{}", res[0]);
}

/// Every request leaves one JSON log line with the Lambda request id, the
/// function, the collection and the outcome; a login attempt for a known
/// account names its record id (never the identity typed), so failed logins
/// of one account can be queried (docs/security.md, "Logs").
#[tokio::test]
async fn request_logs_carry_request_id_function_collection_outcome_and_record() {
    let table = fresh_table().await;
    let res = invoke(
        "records-create",
        &table,
        vec![event("records-create.v2.json")],
    )
    .await;
    let record_id = body(&res[0])["id"].as_str().unwrap().to_owned();
    let mut wrong = event("auth-with-password.v2.json");
    wrong["body"] = json!(r#"{"identity":"lambda@example.com","password":"wrong-password"}"#);
    let (res, logs) = invoke_with(
        "auth-with-password",
        &table,
        &[],
        vec![wrong, event("auth-with-password.v2.json")],
    )
    .await;
    assert_eq!(status(&res[0]), 400);
    assert_eq!(status(&res[1]), 200);
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    for (line, (id, outcome)) in lines.iter().zip([
        ("req-auth-with-password-0", "auth_failed"),
        ("req-auth-with-password-1", "ok"),
    ]) {
        assert_eq!(line["span"]["request_id"], id, "{line}");
        assert_eq!(line["span"]["function"], "auth-with-password", "{line}");
        assert_eq!(line["span"]["collection"], "users", "{line}");
        assert_eq!(line["span"]["record"], record_id.as_str(), "{line}");
        assert_eq!(line["fields"]["outcome"], outcome, "{line}");
    }
    assert!(
        !logs.contains("lambda@example.com"),
        "no address in the logs"
    );
    assert!(!logs.contains("wrong-password"));
}

/// `event` with an `Authorization` header (v2 or v1 shape).
fn with_token(mut event: Value, token: &str) -> Value {
    if event["version"] == "2.0" {
        event["headers"]["authorization"] = json!(token);
    } else {
        event["headers"]["Authorization"] = json!(token);
        event["multiValueHeaders"]["Authorization"] = json!([token]);
    }
    event
}

/// `event` with the made-up record id of `infra/events` replaced by `id`
/// (path, path parameters, query).
fn with_id(event: Value, id: &str) -> Value {
    let text = event.to_string().replace("aaaaaaaaaaaaaaa", id);
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn each_self_service_function_runs_as_a_lambda_with_v2_and_v1_events() {
    // Three logins from the events' one source address: PocketBase's `*:auth`
    // rule (2 per 3 s, on by default) would answer the third with 429 on a
    // fast machine. Rate limits have their own Lambda tests.
    let table = table_with_config(|doc| doc["rateLimits"] = json!({"enabled": false})).await;
    let res = invoke(
        "records-create",
        &table,
        vec![event("records-create.v2.json")],
    )
    .await;
    assert_eq!(status(&res[0]), 200, "{}", res[0]);
    let id = body(&res[0])["id"].as_str().unwrap().to_owned();
    let login = || event("auth-with-password.v2.json");
    let res = invoke("auth-with-password", &table, vec![login()]).await;
    let token = body(&res[0])["token"].as_str().unwrap().to_owned();
    let mine = |name: &str| with_token(with_id(event(name), &id), &token);

    // Anonymous first (the events as stored), then as the owner.
    let cases: [(&str, &str, u64, u64); 5] = [
        ("records-view", "records-view", 404, 200),
        ("records-list", "records-list", 200, 200),
        ("records-update", "records-update", 404, 200),
        ("external-auths-list", "external-auths-list", 200, 200),
        ("external-auths-delete", "external-auths-delete", 404, 404),
    ];
    for (slug, file, anonymous, owner) in cases {
        let res = invoke(
            slug,
            &table,
            vec![
                event(&format!("{file}.v2.json")),
                event(&format!("{file}.v1.json")),
                mine(&format!("{file}.v2.json")),
                mine(&format!("{file}.v1.json")),
            ],
        )
        .await;
        for (r, want) in res.iter().zip([anonymous, anonymous, owner, owner]) {
            assert_eq!(status(r), want, "{slug}: {r}");
        }
        match slug {
            "records-view" => assert_eq!(body(&res[2])["email"], "lambda@example.com"),
            "records-list" => {
                assert_eq!(body(&res[0])["items"], json!([]));
                assert_eq!(body(&res[3])["items"][0]["id"], id.as_str());
            }
            "records-update" => assert_eq!(body(&res[3])["name"], "Lambda"),
            "external-auths-list" => assert_eq!(body(&res[2])["items"], json!([])),
            _ => {}
        }
    }

    // Log out everywhere: the token stops working.
    let res = invoke(
        "auth-revoke",
        &table,
        vec![
            event("auth-revoke.v2.json"),
            with_token(event("auth-revoke.v1.json"), &token),
            with_token(event("auth-revoke.v2.json"), &token),
        ],
    )
    .await;
    assert_eq!(
        res.iter().map(status).collect::<Vec<_>>(),
        vec![401, 204, 401],
        "{res:?}"
    );

    // Delete with a fresh token (v1), then nothing logs in.
    let res = invoke("auth-with-password", &table, vec![login()]).await;
    let token = body(&res[0])["token"].as_str().unwrap().to_owned();
    let res = invoke(
        "records-delete",
        &table,
        vec![
            event("records-delete.v2.json"),
            with_token(with_id(event("records-delete.v1.json"), &id), &token),
            with_token(with_id(event("records-delete.v2.json"), &id), &token),
        ],
    )
    .await;
    assert_eq!(
        res.iter().map(status).collect::<Vec<_>>(),
        vec![404, 204, 404],
        "{res:?}"
    );
    let res = invoke("auth-with-password", &table, vec![login()]).await;
    assert_eq!(status(&res[0]), 400, "{}", res[0]);
    let res = invoke(
        "auth-refresh",
        &table,
        vec![with_token(event("auth-refresh.v2.json"), &token)],
    )
    .await;
    assert_eq!(status(&res[0]), 401, "{}", res[0]);
}

#[tokio::test]
async fn the_records_and_external_auths_binaries_serve_only_their_own_routes() {
    let table = fresh_table().await;
    // (binary, another endpoint's event, status): PocketBase's 404 for
    // another path, 405 for another method on the binary's own path. The
    // `records-list` binary reads `_externalAuths` as a collection name,
    // which is no auth collection: 404 too (API Gateway sends that path to
    // `external-auths-list`, its static route being more specific).
    let cases = [
        ("records-view", "records-list.v2.json", 404),
        ("records-view", "records-delete.v1.json", 405),
        ("records-update", "records-view.v2.json", 405),
        ("records-delete", "records-update.v1.json", 405),
        ("records-delete", "external-auths-delete.v2.json", 404),
        ("records-list", "external-auths-list.v2.json", 404),
        ("records-list", "records-create.v2.json", 405),
        ("external-auths-list", "records-list.v1.json", 404),
        ("external-auths-delete", "records-delete.v2.json", 404),
        ("auth-revoke", "auth-refresh.v2.json", 404),
    ];
    for (slug, file, want) in cases {
        let res = invoke(slug, &table, vec![event(file)]).await;
        assert_eq!(status(&res[0]), want, "{slug} with {file}: {}", res[0]);
    }
}

#[test]
fn every_function_binary_has_a_template_function_and_a_sample_event() {
    let root = repo_root();
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    let mut slugs = Vec::new();
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        let slug = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            template.contains(&format!("Binary: {slug}\n")),
            "template.yaml has no function for {slug}"
        );
        if slug != "mailer" {
            let v2 = root.join("infra/events").join(format!("{slug}.v2.json"));
            assert!(v2.exists(), "{} is missing", v2.display());
        }
        slugs.push(slug);
    }
    assert!(slugs.len() >= 21, "{slugs:?}");
    // The SDK's update and delete go through API Gateway's CORS.
    assert!(
        template.contains("AllowMethods: [GET, POST, PATCH, DELETE, OPTIONS]"),
        "CORS methods"
    );
    // The static `_externalAuths` routes exist beside `{collection}/records…`.
    for route in [
        "Path: /api/collections/_externalAuths/records\n",
        "Path: /api/collections/_externalAuths/records/{id}\n",
        "Path: /api/collections/{collection}/records/{id}\n",
    ] {
        assert!(template.contains(route), "{route}");
    }
}
