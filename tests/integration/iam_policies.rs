//! Least privilege: every function's DynamoDB calls, recorded by the store's
//! call log (an SDK interceptor) while its route (`routes::single::<fn>`,
//! what its Lambda binary runs) answers its shipped API Gateway event and
//! the success and failure paths around it on moto, must be allowed by that
//! function's policy in `template.yaml`: the action, and the partition key
//! by `dynamodb:LeadingKeys`. No function may write the config item, every
//! table statement must be scoped by `LeadingKeys`, and every grant must be
//! used by some recorded call (a function gets only what it calls).
//!
//! A new function in the template without a scenario here, a statement on
//! the table without `LeadingKeys`, or a new call without a policy change
//! fails this test: add the scenario, then the grant (docs/security.md,
//! "Least privilege").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use authgate_adapters::dynamodb::{Call, CallLog, DynamoStore};
use authgate_adapters::mailbox::LocalMailbox;
use authgate_adapters::secrets::MemorySecrets;
use authgate_adapters::system::OsRandom;
use authgate_core::config::{fill_secrets, split_secrets};
use authgate_core::ports::{ConfigStore, RecordStore, SecretStore, Store};
use authgate_core::service::Ctx;
use authgate_http::config_source::{CachedStoreConfig, ConfigSource};
use authgate_http::routes::single;
use authgate_http::AppState;
use authgate_tests::{
    config_with, dynamodb_client, repo_root, temp_dir, unique, unique_email, Options, TestApp,
};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use serde_json::{json, Value};
use serde_norway::Value as Yaml;
use tower::ServiceExt;

use crate::lambda::event;
use crate::oauth2::{authorize, collection as oauth2_collection, REDIRECT};
use crate::otp::otp_collection;

const PASSWORD: &str = "1234567890";

// ---------------------------------------------------------------------------
// The policies, read from template.yaml.

/// What one function may do to the table's items.
#[derive(Debug, Default)]
struct Policy {
    /// (action, partition key patterns) per statement.
    grants: Vec<(BTreeSet<String>, Vec<String>)>,
    /// Statements that break the rules (unscoped, wildcards, …).
    problems: Vec<String>,
}

impl Policy {
    fn allows(&self, action: &str, pk: &str) -> bool {
        self.grants
            .iter()
            .any(|(actions, keys)| actions.contains(action) && keys.iter().any(|k| like(k, pk)))
    }
}

/// IAM's `StringLike`: `*` any run of characters, `?` one.
fn like(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
}

fn strings(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(l) => l.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// `!GetAtt X.Y` / `!Ref X` / `!Sub "…"` as text, to tell resources apart.
fn resource_names(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::Sequence(l) => l.iter().flat_map(resource_names).collect(),
        Yaml::Tagged(t) => strings(&t.value)
            .into_iter()
            .map(|s| format!("{} {s}", t.tag))
            .collect(),
        Yaml::String(s) => vec![s.clone()],
        other => vec![format!("{other:?}")],
    }
}

/// Every DynamoDB action that reads or writes items.
fn is_item_action(action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    a == "dynamodb:*"
        || a.starts_with("dynamodb:partiql")
        || [
            "getitem",
            "putitem",
            "updateitem",
            "deleteitem",
            "query",
            "scan",
            "batchgetitem",
            "batchwriteitem",
            "conditioncheckitem",
            "transactgetitems",
            "transactwriteitems",
        ]
        .iter()
        .any(|x| a == format!("dynamodb:{x}"))
}

/// Each function of the template by its binary name, with its policy.
fn policies() -> BTreeMap<String, Policy> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let doc: Yaml = serde_norway::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for (name, res) in doc["Resources"].as_mapping().unwrap() {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let binary = res["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no Metadata.BuildProperties.Binary"))
            .to_owned();
        let mut policy = Policy::default();
        let policies = res["Properties"]["Policies"].as_sequence();
        for doc in policies.into_iter().flatten() {
            let Some(statements) = doc["Statement"].as_sequence() else {
                policy.problems.push(format!(
                    "{name}: a policy that is not a statement list: {doc:?}"
                ));
                continue;
            };
            for st in statements {
                let sid = st["Sid"].as_str().unwrap_or("?");
                let actions: BTreeSet<String> = strings(&st["Action"]).into_iter().collect();
                if !actions.iter().any(|a| is_item_action(a)) {
                    continue;
                }
                let resources = resource_names(&st["Resource"]);
                if resources.iter().all(|r| r.ends_with("Table.StreamArn")) {
                    continue;
                }
                if st["Effect"].as_str() != Some("Allow") {
                    continue;
                }
                if resources != ["!GetAtt Table.Arn"] {
                    policy
                        .problems
                        .push(format!("{name}/{sid}: item actions on {resources:?}"));
                }
                let cond = &st["Condition"];
                let keys = strings(&cond["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                    .into_iter()
                    .chain(strings(
                        &cond["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"],
                    ))
                    .collect::<Vec<_>>();
                if keys.is_empty() {
                    policy.problems.push(format!(
                        "{name}/{sid}: not scoped by ForAllValues dynamodb:LeadingKeys"
                    ));
                }
                if keys.iter().any(|k| k == "*" || k.starts_with('*')) {
                    policy
                        .problems
                        .push(format!("{name}/{sid}: a leading-key wildcard {keys:?}"));
                }
                if actions.iter().any(|a| a.contains('*')) {
                    policy
                        .problems
                        .push(format!("{name}/{sid}: an action wildcard {actions:?}"));
                }
                policy.grants.push((actions, keys));
            }
        }
        out.insert(binary, policy);
    }
    out
}

// ---------------------------------------------------------------------------
// The functions' calls, recorded on moto.

/// Partition keys grouped as the policies grant them: the item kind, and
/// for counters their family (`CNT#rl:*`, `CNT#mail:verification:*`, …).
fn key_group(pk: &str) -> String {
    if pk == "CONFIG" {
        return pk.into();
    }
    if let Some(counter) = pk.strip_prefix("CNT#") {
        let parts: Vec<&str> = counter.split(':').collect();
        let depth = match parts[0] {
            "mail" | "mailto" | "otp" => 2,
            _ => 1,
        };
        return format!("CNT#{}:*", parts[..depth.min(parts.len())].join(":"));
    }
    if pk.starts_with("REC#") && pk.ends_with("#~") {
        return "REC#*#~".into();
    }
    match pk.split_once('#') {
        Some((kind, _)) => format!("{kind}#*"),
        None => pk.into(),
    }
}

/// The world the scenarios run in: one table with the config applied (its
/// secrets in a memory secret store), a full server on it for the set-up
/// steps (sign-ups, reading mailed tokens), and each function's own route
/// on a recording store.
struct World {
    app: TestApp,
    table: String,
    secrets: Arc<MemorySecrets>,
    log: CallLog,
}

impl World {
    async fn new() -> Self {
        let table = unique("authgate-iam-");
        let plain = DynamoStore::new(dynamodb_client().await, table.clone());
        plain.create_table().await.unwrap();
        let mut doc = config_with(vec![
            otp_collection("otpusers", json!({"authAlert": {"enabled": true}})),
            otp_collection(
                "mfausers",
                json!({"mfa": {"enabled": true, "duration": 60}}),
            ),
            oauth2_collection(
                "people",
                json!({"authAlert": {"enabled": true}, "otp": {"enabled": true, "duration": 60,
                    "emailTemplate": {"subject": "Code", "body": "<p>{OTP}</p><p>{OTP_ID}</p>"}}}),
            ),
            oauth2_collection(
                "mfapeople",
                json!({"mfa": {"enabled": true, "duration": 60}}),
            ),
        ]);
        doc["collections"][0]["authAlert"] = json!({"enabled": true});
        // Rate limits on, as a deployed config has them (their counters are
        // calls too), high enough never to refuse here.
        doc["rateLimits"] = json!({"enabled": true, "rules": [
            {"label": "*:auth", "maxRequests": 1000, "duration": 10},
            {"label": "/api/", "maxRequests": 1000, "duration": 10}
        ]});
        fill_secrets(&mut doc, None, &OsRandom);
        let secrets = Arc::new(MemorySecrets::new());
        let stored = split_secrets(&mut doc);
        secrets.save_secrets(&stored).await.unwrap();
        plain.save_config(&doc).await.unwrap();
        let app = TestApp::spawn_with(Options {
            store: Some(Arc::new(plain) as Arc<dyn Store>),
            secrets: Some(secrets.clone()),
            sender: None,
            ..Default::default()
        })
        .await;
        Self {
            app,
            table,
            secrets,
            log: CallLog::new(),
        }
    }

    /// Deletes every collection's stand-in record, so that each function
    /// whose lookups write it (on the first miss in a collection) does so in
    /// its own scenario, whatever ran before.
    async fn forget_stand_ins(&self) {
        let client = dynamodb_client().await;
        for c in &self.app.config.collections {
            client
                .delete_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(format!("REC#{}#~", c.id)))
                .key("sk", AttributeValue::S("REC".into()))
                .send()
                .await
                .unwrap();
        }
    }

    /// The recording store alone (for store operations no request can
    /// reach on purpose).
    async fn recording_store(&self) -> DynamoStore {
        DynamoStore::new(dynamodb_client().await, self.table.clone())
            .with_call_log(self.log.clone())
    }

    /// A cold start of a function: its context on the recording store,
    /// its config read through the cache as in AWS.
    async fn state(&self) -> AppState {
        let store = Arc::new(
            DynamoStore::new(dynamodb_client().await, self.table.clone())
                .with_call_log(self.log.clone()),
        );
        let mailer = Arc::new(LocalMailbox::new(temp_dir("iam-mail")));
        let ctx = Ctx::new(
            store.clone(),
            mailer,
            self.app.clock.clone(),
            Arc::new(OsRandom),
        )
        .unwrap()
        .with_oauth2(Arc::new(
            authgate_adapters::oauth2::HttpOAuth2Client::new().unwrap(),
        ));
        let config: Arc<dyn ConfigSource> = Arc::new(CachedStoreConfig::new(
            store,
            self.secrets.clone(),
            self.app.clock.clone(),
            30,
        ));
        AppState::new(ctx, config)
    }

    /// Sends `slug`'s shipped v2 event, changed to target `collection` with
    /// `body`, `query` and `token`, to `router`; returns (status, body).
    async fn send(
        &self,
        router: &Router,
        slug: &str,
        collection: &str,
        body: Value,
        query: &str,
        token: Option<&str>,
    ) -> (u16, Value) {
        let path = format!("{collection}/{}", path_of(slug));
        let params = json!({ "collection": collection });
        self.send_to(router, slug, &path, params, body, query, token)
            .await
    }

    /// [`World::send`] to `path` (after `/api/collections/`) with the path
    /// parameters `params`, for the routes with a record id or without a
    /// `{collection}`.
    #[allow(clippy::too_many_arguments)]
    async fn send_to(
        &self,
        router: &Router,
        slug: &str,
        path: &str,
        params: Value,
        body: Value,
        query: &str,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut ev = event(&format!("{slug}.v2.json"));
        let path = format!("/api/collections/{path}");
        ev["rawPath"] = json!(path);
        ev["requestContext"]["http"]["path"] = json!(path);
        ev["pathParameters"] = params;
        ev["rawQueryString"] = json!(query);
        ev["queryStringParameters"] = Value::Null;
        if let Some(h) = ev["headers"].as_object_mut() {
            h.remove("content-length");
            h.remove("authorization");
            if let Some(t) = token {
                h.insert("authorization".into(), json!(t));
            }
        }
        if !body.is_null() {
            ev["body"] = json!(body.to_string());
            ev["isBase64Encoded"] = json!(false);
        }
        let req = lambda_http::request::from_str(&ev.to_string()).unwrap();
        let req = authgate_http::lambda::from_api_gateway(req);
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn path_of(slug: &str) -> &str {
    if slug == "records-create" {
        "records"
    } else {
        slug
    }
}

/// Every function's calls: (partition key group → actions), and each call.
type Recorded = BTreeMap<String, Vec<Call>>;

/// A signed-up record in `coll`; returns its email.
async fn member(w: &World, coll: &str) -> String {
    let e = unique_email("iam");
    w.app.sign_up(coll, &e, PASSWORD).await;
    e
}

/// An unverified record of `coll` (an OAuth2 collection) to which its
/// logged-in owner linked another provider identity: verifying it drops
/// that link (it may be a pre-hijacker's). Returns its email.
async fn linked_unverified(w: &World, coll: &str) -> String {
    let e = member(w, coll).await;
    let token = w.app.login(coll, &e, PASSWORD).await;
    let other = unique_email("iam-other");
    let (code, verifier) = authorize(&w.app, coll, &[("login_hint", other.as_str())]).await;
    let (st, res) = w
        .app
        .post_auth(
            coll,
            "auth-with-oauth2",
            json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}),
            Some(&token),
        )
        .await;
    assert_eq!(st, 200, "{res}");
    let record = w.app.stored_record(coll, &e).await;
    assert!(!record.verified);
    let links = w
        .app
        .store
        .list_external_auths(&record.collection_id, &record.id)
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    e
}

/// The newest token mailed to `email` after `marker`.
async fn mailed_token(w: &World, email: &str, marker: &str) -> String {
    let mails = w.app.mails_to(email).await;
    mails
        .iter()
        .rev()
        .find_map(|m| m.token_after(marker))
        .unwrap_or_else(|| panic!("no {marker} mail to {email}"))
}

/// A request to the full server (set-up steps), as `token`.
async fn send_full(
    w: &World,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let res = w
        .app
        .http
        .request(method, format!("{}/api/collections/{path}", w.app.base))
        .header("Authorization", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = res.status().as_u16();
    (st, res.json().await.unwrap_or(Value::Null))
}

async fn run_scenarios(w: &World) -> Recorded {
    let mut rec = Recorded::new();
    macro_rules! function {
        ($slug:literal, $route:ident, |$r:ident| $body:block) => {{
            w.forget_stand_ins().await;
            w.log.take();
            let $r = single::$route(w.state().await);
            $body
            rec.insert($slug.to_owned(), w.log.take());
        }};
    }

    // Set-up through the full server (not recorded).
    let a = member(w, "users").await;
    let token_a = w.app.login("users", &a, PASSWORD).await;
    let o = member(w, "otpusers").await;
    let m = member(w, "mfausers").await;

    function!("auth-methods", auth_methods, |r| {
        assert_eq!(
            w.send(&r, "auth-methods", "users", Value::Null, "", None)
                .await
                .0,
            200
        );
        assert_eq!(
            w.send(&r, "auth-methods", "people", Value::Null, "", None)
                .await
                .0,
            200
        );
        assert_eq!(
            w.send(&r, "auth-methods", "nope", Value::Null, "", None)
                .await
                .0,
            404
        );
    });

    function!("records-create", records_create, |r| {
        let e = unique_email("iam-new");
        let body = json!({"email": e, "password": PASSWORD, "passwordConfirm": PASSWORD});
        assert_eq!(
            w.send(&r, "records-create", "users", body.clone(), "", None)
                .await
                .0,
            200
        );
        assert_eq!(
            w.send(&r, "records-create", "users", body, "", None)
                .await
                .0,
            400,
            "taken"
        );
        let bad =
            json!({"email": "not-an-email", "password": PASSWORD, "passwordConfirm": PASSWORD});
        assert_eq!(
            w.send(&r, "records-create", "users", bad, "", None).await.0,
            400
        );
        let handle = json!({"email": unique_email("iam-h"), "password": PASSWORD,
            "passwordConfirm": PASSWORD, "handle": unique("h").to_lowercase()});
        assert_eq!(
            w.send(&r, "records-create", "people", handle, "", None)
                .await
                .0,
            200
        );
    });

    function!("auth-with-password", auth_with_password, |r| {
        let login = |id: &str, pw: &str| json!({"identity": id, "password": pw});
        let s = "auth-with-password";
        assert_eq!(
            w.send(&r, s, "users", login(&a, PASSWORD), "", None)
                .await
                .0,
            200
        );
        assert_eq!(
            w.send(&r, s, "users", login(&a, "wrong-password"), "", None)
                .await
                .0,
            400
        );
        let nobody = unique_email("iam-nobody");
        assert_eq!(
            w.send(&r, s, "users", login(&nobody, PASSWORD), "", None)
                .await
                .0,
            400
        );
        // New-location alert on (and its mail queued).
        assert_eq!(
            w.send(&r, s, "otpusers", login(&o, PASSWORD), "", None)
                .await
                .0,
            200
        );
        // MFA: password first (session created), then password second
        // after an OTP first factor (session read and consumed).
        let (st, first) = w
            .send(&r, s, "mfausers", login(&m, PASSWORD), "", None)
            .await;
        assert_eq!(st, 401, "{first}");
        let (otp_id, code) = w.app.request_otp("mfausers", &m).await;
        let (st, body) = w
            .app
            .post(
                "mfausers",
                "auth-with-otp",
                json!({"otpId": otp_id, "password": code}),
            )
            .await;
        assert_eq!(st, 401, "{body}");
        let q = format!("mfaId={}", body["mfaId"].as_str().unwrap());
        assert_eq!(
            w.send(&r, s, "mfausers", login(&m, PASSWORD), &q, None)
                .await
                .0,
            200
        );
    });

    function!("auth-refresh", auth_refresh, |r| {
        let s = "auth-refresh";
        assert_eq!(
            w.send(&r, s, "users", json!({}), "", Some(&token_a))
                .await
                .0,
            200
        );
        assert_eq!(w.send(&r, s, "users", json!({}), "", None).await.0, 401);
        assert_eq!(
            w.send(&r, s, "users", json!({}), "", Some("x.y.z")).await.0,
            401
        );
        assert_eq!(
            w.send(&r, s, "otpusers", json!({}), "", Some(&token_a))
                .await
                .0,
            403
        );
    });

    function!("request-verification", request_verification, |r| {
        let s = "request-verification";
        for e in [a.clone(), unique_email("iam-nobody")] {
            assert_eq!(
                w.send(&r, s, "users", json!({"email": e}), "", None)
                    .await
                    .0,
                204
            );
        }
        assert_eq!(
            w.send(&r, s, "users", json!({"email": a}), "", None)
                .await
                .0,
            204,
            "throttled"
        );
    });

    let verify = mailed_token(w, &a, "/confirm-verification/").await;
    let linked = linked_unverified(w, "people").await;
    let (st, _) = w
        .app
        .post("people", "request-verification", json!({"email": linked}))
        .await;
    assert_eq!(st, 204);
    let verify_linked = mailed_token(w, &linked, "/confirm-verification/").await;
    function!("confirm-verification", confirm_verification, |r| {
        let s = "confirm-verification";
        let t = json!({"token": verify_linked});
        assert_eq!(
            w.send(&r, s, "people", t, "", None).await.0,
            204,
            "links dropped"
        );
        assert_eq!(
            w.send(&r, s, "users", json!({"token": verify}), "", None)
                .await
                .0,
            204
        );
        assert_eq!(
            w.send(&r, s, "users", json!({"token": verify}), "", None)
                .await
                .0,
            204,
            "again"
        );
        assert_eq!(
            w.send(&r, s, "users", json!({"token": "x.y.z"}), "", None)
                .await
                .0,
            400
        );
    });

    function!("request-password-reset", request_password_reset, |r| {
        let s = "request-password-reset";
        for e in [a.clone(), unique_email("iam-nobody")] {
            assert_eq!(
                w.send(&r, s, "users", json!({"email": e}), "", None)
                    .await
                    .0,
                204
            );
        }
    });

    let reset = mailed_token(w, &a, "/confirm-password-reset/").await;
    function!("confirm-password-reset", confirm_password_reset, |r| {
        let s = "confirm-password-reset";
        let body = |t: &str| json!({"token": t, "password": PASSWORD, "passwordConfirm": PASSWORD});
        assert_eq!(w.send(&r, s, "users", body(&reset), "", None).await.0, 204);
        assert_eq!(
            w.send(&r, s, "users", body(&reset), "", None).await.0,
            400,
            "used"
        );
        assert_eq!(w.send(&r, s, "users", body("x.y.z"), "", None).await.0, 400);
    });

    let token_a = w.app.login("users", &a, PASSWORD).await;
    let new_email = unique_email("iam-changed");
    let taken = member(w, "users").await;
    function!("request-email-change", request_email_change, |r| {
        let s = "request-email-change";
        let t = Some(token_a.as_str());
        assert_eq!(
            w.send(&r, s, "users", json!({"newEmail": new_email}), "", t)
                .await
                .0,
            204
        );
        assert_eq!(
            w.send(&r, s, "users", json!({"newEmail": taken}), "", t)
                .await
                .0,
            400
        );
        assert_eq!(
            w.send(&r, s, "users", json!({"newEmail": new_email}), "", None)
                .await
                .0,
            401
        );
    });

    let change = mailed_token(w, &new_email, "/confirm-email-change/").await;
    function!("confirm-email-change", confirm_email_change, |r| {
        let s = "confirm-email-change";
        let body = |pw: &str| json!({"token": change, "password": pw});
        assert_eq!(
            w.send(&r, s, "users", body("wrong-password"), "", None)
                .await
                .0,
            400
        );
        assert_eq!(
            w.send(&r, s, "users", body(PASSWORD), "", None).await.0,
            204
        );
        assert_eq!(
            w.send(
                &r,
                s,
                "users",
                json!({"token": "x.y.z", "password": PASSWORD}),
                "",
                None
            )
            .await
            .0,
            400
        );
    });

    function!("request-otp", request_otp, |r| {
        let s = "request-otp";
        for e in [o.clone(), unique_email("iam-nobody")] {
            assert_eq!(
                w.send(&r, s, "otpusers", json!({"email": e}), "", None)
                    .await
                    .0,
                200
            );
        }
        assert_eq!(
            w.send(&r, s, "users", json!({"email": a}), "", None)
                .await
                .0,
            403
        );
    });

    // `fresh` has logged in before from the set-up server's network, so its
    // first OTP login (from the event's address) also queues the
    // new-location alert, and makes the record verified.
    let fresh = member(w, "otpusers").await;
    w.app.login("otpusers", &fresh, PASSWORD).await;
    let (otp_id, code) = w.app.request_otp("otpusers", &fresh).await;
    let (mfa_otp, mfa_code) = w.app.request_otp("mfausers", &m).await;
    let (st, mfa_first) = w
        .app
        .post(
            "mfausers",
            "auth-with-password",
            json!({"identity": m, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 401, "{mfa_first}");
    let (otp2, code2) = w.app.request_otp("mfausers", &m).await;
    // A verified record that logged in from the set-up server's network:
    // an OTP login from the event's address queues the new-location alert.
    let veteran = member(w, "otpusers").await;
    let (st, _) = w
        .app
        .post(
            "otpusers",
            "request-verification",
            json!({"email": veteran}),
        )
        .await;
    assert_eq!(st, 204);
    let t = mailed_token(w, &veteran, "/confirm-verification/").await;
    assert_eq!(
        w.app
            .post("otpusers", "confirm-verification", json!({"token": t}))
            .await
            .0,
        204
    );
    w.app.login("otpusers", &veteran, PASSWORD).await;
    let (vid, vcode) = w.app.request_otp("otpusers", &veteran).await;
    let linked = linked_unverified(w, "people").await;
    let (lid, lcode) = w.app.request_otp("people", &linked).await;
    function!("auth-with-otp", auth_with_otp, |r| {
        let s = "auth-with-otp";
        let body = |id: &str, c: &str| json!({"otpId": id, "password": c});
        assert_eq!(
            w.send(&r, s, "otpusers", body(&vid, &vcode), "", None)
                .await
                .0,
            200,
            "alert"
        );
        assert_eq!(
            w.send(&r, s, "people", body(&lid, &lcode), "", None)
                .await
                .0,
            200,
            "links dropped"
        );
        assert_eq!(
            w.send(&r, s, "otpusers", body(&otp_id, "00000000"), "", None)
                .await
                .0,
            400
        );
        // First login by OTP: the record becomes verified.
        assert_eq!(
            w.send(&r, s, "otpusers", body(&otp_id, &code), "", None)
                .await
                .0,
            200
        );
        assert_eq!(
            w.send(&r, s, "otpusers", body(&otp_id, &code), "", None)
                .await
                .0,
            400,
            "used"
        );
        assert_eq!(
            w.send(&r, s, "otpusers", body("nope", "123456"), "", None)
                .await
                .0,
            400
        );
        // MFA: OTP as first factor, then as second with the password's session.
        assert_eq!(
            w.send(&r, s, "mfausers", body(&mfa_otp, &mfa_code), "", None)
                .await
                .0,
            401
        );
        let q = format!("mfaId={}", mfa_first["mfaId"].as_str().unwrap());
        assert_eq!(
            w.send(&r, s, "mfausers", body(&otp2, &code2), &q, None)
                .await
                .0,
            200
        );
    });

    // OAuth2 through the mock provider: a new identity (new record and
    // link), the same identity again after its record vanished (the stale
    // link is deleted, the record created anew), a new identity whose email
    // has a record that logged in elsewhere before (link, verified, alert),
    // MFA (first factor, then second with a password session) and a bad code.
    let existing = member(w, "people").await;
    w.app.login("people", &existing, PASSWORD).await;
    let newcomer = unique_email("iam-oauth");
    let first = authorize(&w.app, "people", &[("login_hint", newcomer.as_str())]).await;
    let again = authorize(&w.app, "people", &[("login_hint", newcomer.as_str())]).await;
    let link = authorize(&w.app, "people", &[("login_hint", existing.as_str())]).await;
    let mfa_user = member(w, "mfapeople").await;
    let mfa_first = authorize(&w.app, "mfapeople", &[("login_hint", mfa_user.as_str())]).await;
    let mfa_second = authorize(&w.app, "mfapeople", &[("login_hint", mfa_user.as_str())]).await;
    let (st, pw_first) = w
        .app
        .post(
            "mfapeople",
            "auth-with-password",
            json!({"identity": mfa_user, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 401, "{pw_first}");
    // An OAuth2 user who signed in from the set-up server's network: signing
    // in from the event's address queues the new-location alert.
    let veteran = unique_email("iam-veteran");
    let (code, verifier) = authorize(&w.app, "people", &[("login_hint", veteran.as_str())]).await;
    let (st, res) = w
        .app
        .post("people", "auth-with-oauth2",
            json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}))
        .await;
    assert_eq!(st, 200, "{res}");
    let back = authorize(&w.app, "people", &[("login_hint", veteran.as_str())]).await;
    function!("auth-with-oauth2", auth_with_oauth2, |r| {
        let s = "auth-with-oauth2";
        let body = |(code, verifier): &(String, String)| json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
        let (st, created) = w.send(&r, s, "people", body(&first), "", None).await;
        assert_eq!(st, 200, "{created}");
        // The record vanishes (with its unique markers and links), and a
        // link inserted concurrently with the deletion stays, naming no
        // record.
        let people = w.app.config.collection("people").unwrap();
        let id = created["record"]["id"].as_str().unwrap();
        let gone = w
            .app
            .store
            .get_record(&people.id, id)
            .await
            .unwrap()
            .unwrap();
        let links = w
            .app
            .store
            .list_external_auths(&people.id, id)
            .await
            .unwrap();
        assert_eq!(links.len(), 1);
        let keys = authgate_core::validate::unique_keys(people, &gone);
        w.app.store.delete_record(&gone, &keys).await.unwrap();
        w.app.store.insert_external_auth(&links[0]).await.unwrap();
        let (st, res) = w.send(&r, s, "people", body(&again), "", None).await;
        assert_eq!(st, 200, "{res}");
        assert_ne!(res["record"]["id"], created["record"]["id"], "created anew");
        let (st, res) = w.send(&r, s, "people", body(&link), "", None).await;
        assert_eq!(st, 200, "{res}");
        let (st, res) = w.send(&r, s, "people", body(&back), "", None).await;
        assert_eq!(st, 200, "alert: {res}");
        assert_eq!(
            w.send(&r, s, "mfapeople", body(&mfa_first), "", None)
                .await
                .0,
            401
        );
        let q = format!("mfaId={}", pw_first["mfaId"].as_str().unwrap());
        assert_eq!(
            w.send(&r, s, "mfapeople", body(&mfa_second), &q, None)
                .await
                .0,
            200
        );
        let bad = json!({"provider": "oidc", "code": "bad", "codeVerifier": "x", "redirectURL": REDIRECT});
        assert_eq!(w.send(&r, s, "people", bad, "", None).await.0, 400);
        // Undoing a record whose link a concurrent login took (a race no
        // request here can lose on purpose): the store operation it uses.
        let store = w.recording_store().await;
        let e = unique_email("iam-undo");
        w.app.sign_up("people", &e, PASSWORD).await;
        let rec = w.app.stored_record("people", &e).await;
        let keys =
            authgate_core::validate::unique_keys(w.app.config.collection("people").unwrap(), &rec);
        store.delete_record(&rec, &keys).await.unwrap();
    });

    // Account self-service ([10]). `self_a`/`self_b` are two `users`, the
    // `people` records have an OAuth2 link each (and `deleted` a handle).
    let (self_a, self_b) = (member(w, "users").await, member(w, "users").await);
    let rec_a = w.app.stored_record("users", &self_a).await;
    let rec_b = w.app.stored_record("users", &self_b).await;
    let token_sa = w.app.login("users", &self_a, PASSWORD).await;
    let record_path = |id: &str| format!("users/records/{id}");
    let record_params = |coll: &str, id: &str| json!({"collection": coll, "id": id});

    function!("records-list", records_list, |r| {
        let s = "records-list";
        let q = "page=1&perPage=1000&skipTotal=1";
        let (st, list) = w
            .send_to(
                &r,
                s,
                "users/records",
                json!({"collection": "users"}),
                Value::Null,
                q,
                Some(&token_sa),
            )
            .await;
        assert_eq!(st, 200, "{list}");
        assert_eq!(list["items"][0]["id"], rec_a.id.as_str(), "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
        let (st, list) = w
            .send_to(
                &r,
                s,
                "users/records",
                json!({"collection": "users"}),
                Value::Null,
                q,
                None,
            )
            .await;
        assert_eq!((st, &list["items"]), (200, &json!([])), "anonymous");
        let (st, list) = w
            .send_to(
                &r,
                s,
                "users/records",
                json!({"collection": "users"}),
                Value::Null,
                q,
                Some("x.y.z"),
            )
            .await;
        assert_eq!((st, &list["items"]), (200, &json!([])), "bad token");
        let (st, _) = w
            .send_to(
                &r,
                s,
                "nope/records",
                json!({"collection": "nope"}),
                Value::Null,
                q,
                None,
            )
            .await;
        assert_eq!(st, 404);
    });

    function!("records-view", records_view, |r| {
        let s = "records-view";
        let (st, own) = w
            .send_to(
                &r,
                s,
                &record_path(&rec_a.id),
                record_params("users", &rec_a.id),
                Value::Null,
                "",
                Some(&token_sa),
            )
            .await;
        assert_eq!(st, 200, "{own}");
        assert_eq!(own["email"], self_a.as_str());
        for (id, token) in [
            (rec_b.id.as_str(), Some(token_sa.as_str())),
            (rec_a.id.as_str(), None),
            ("aaaaaaaaaaaaaaa", Some(token_sa.as_str())),
            (rec_a.id.as_str(), Some("x.y.z")),
        ] {
            let (st, body) = w
                .send_to(
                    &r,
                    s,
                    &record_path(id),
                    record_params("users", id),
                    Value::Null,
                    "",
                    token,
                )
                .await;
            assert_eq!(st, 404, "{id} {token:?}: {body}");
        }
    });

    // The update: profile field, a unique field (`people`' handle: its
    // marker moves), a refused email change, a wrong old password (counted),
    // someone else's record and no token, then the password change (its
    // sessions end).
    let updater = member(w, "people").await;
    let upd = w.app.stored_record("people", &updater).await;
    let token_u = w.app.login("people", &updater, PASSWORD).await;
    let token_b = w.app.login("users", &self_b, PASSWORD).await;
    function!("records-update", records_update, |r| {
        let s = "records-update";
        let path = format!("people/records/{}", upd.id);
        let params = record_params("people", &upd.id);
        let t = Some(token_u.as_str());
        let handle = unique("handle").to_lowercase();
        for body in [
            json!({"name": "Renamed"}),
            json!({"handle": handle}),
            json!({"handle": format!("{handle}2")}),
        ] {
            let (st, res) = w.send_to(&r, s, &path, params.clone(), body, "", t).await;
            assert_eq!(st, 200, "{res}");
        }
        let (st, res) = w
            .send_to(
                &r,
                s,
                &path,
                params.clone(),
                json!({"email": unique_email("iam-x")}),
                "",
                t,
            )
            .await;
        assert_eq!(st, 400, "email: {res}");
        let change = |old: &str| json!({"oldPassword": old, "password": "new-password-1", "passwordConfirm": "new-password-1"});
        let (st, res) = w
            .send_to(
                &r,
                s,
                &path,
                params.clone(),
                change("wrong-password"),
                "",
                t,
            )
            .await;
        assert_eq!(st, 400, "wrong old password: {res}");
        let other = format!("users/records/{}", rec_a.id);
        let (st, _) = w
            .send_to(
                &r,
                s,
                &other,
                record_params("users", &rec_a.id),
                json!({"name": "x"}),
                "",
                Some(&token_b),
            )
            .await;
        assert_eq!(st, 404, "someone else's");
        let (st, _) = w
            .send_to(&r, s, &path, params.clone(), json!({"name": "x"}), "", None)
            .await;
        assert_eq!(st, 404, "anonymous");
        let (st, res) = w
            .send_to(&r, s, &path, params.clone(), change(PASSWORD), "", t)
            .await;
        assert_eq!(st, 200, "password change: {res}");
        let (st, _) = w
            .send_to(&r, s, &path, params.clone(), json!({"name": "y"}), "", t)
            .await;
        assert_eq!(st, 404, "the session ended");
    });

    // Deletion of a record with an OAuth2 link and two unique values.
    let doomed = linked_unverified(w, "people").await;
    let token_d = w.app.login("people", &doomed, PASSWORD).await;
    let dead = w.app.stored_record("people", &doomed).await;
    let (st, res) = send_full(
        w,
        reqwest::Method::PATCH,
        &format!("people/records/{}", dead.id),
        &token_d,
        json!({"handle": unique("doomed").to_lowercase()}),
    )
    .await;
    assert_eq!(st, 200, "{res}");
    function!("records-delete", records_delete, |r| {
        let s = "records-delete";
        let path = format!("people/records/{}", dead.id);
        let params = record_params("people", &dead.id);
        let (st, _) = w
            .send_to(&r, s, &path, params.clone(), Value::Null, "", None)
            .await;
        assert_eq!(st, 404, "anonymous");
        let other = format!("users/records/{}", rec_b.id);
        let (st, _) = w
            .send_to(
                &r,
                s,
                &other,
                record_params("users", &rec_b.id),
                Value::Null,
                "",
                Some(&token_sa),
            )
            .await;
        assert_eq!(st, 404, "someone else's");
        let (st, res) = w
            .send_to(
                &r,
                s,
                &path,
                params.clone(),
                Value::Null,
                "",
                Some(&token_d),
            )
            .await;
        assert_eq!(st, 204, "{res}");
        let (st, _) = w
            .send_to(&r, s, &path, params, Value::Null, "", Some(&token_d))
            .await;
        assert_eq!(st, 404, "gone, its token too");
    });
    let people = w.app.config.collection("people").unwrap();
    assert!(w
        .app
        .store
        .list_external_auths(&people.id, &dead.id)
        .await
        .unwrap()
        .is_empty());

    // `_externalAuths`: the owner's links, and nobody else's.
    let linker = linked_unverified(w, "people").await;
    let token_l = w.app.login("people", &linker, PASSWORD).await;
    let lrec = w.app.stored_record("people", &linker).await;
    let filter = |id: &str| {
        format!(
            "page=1&perPage=1000&skipTotal=1&filter={}",
            url::form_urlencoded::byte_serialize(format!("recordRef = \"{id}\"").as_bytes())
                .collect::<String>()
        )
    };
    let mut link_ids = Vec::new();
    function!("external-auths-list", external_auths_list, |r| {
        let s = "external-auths-list";
        let path = "_externalAuths/records";
        let (st, list) = w
            .send_to(
                &r,
                s,
                path,
                Value::Null,
                Value::Null,
                &filter(&lrec.id),
                Some(&token_l),
            )
            .await;
        assert_eq!(st, 200, "{list}");
        for item in list["items"].as_array().unwrap() {
            link_ids.push(item["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(link_ids.len(), 1, "{list}");
        let (st, list) = w
            .send_to(
                &r,
                s,
                path,
                Value::Null,
                Value::Null,
                &filter(&lrec.id),
                Some(&token_sa),
            )
            .await;
        assert_eq!((st, &list["items"]), (200, &json!([])), "someone else's");
        let (st, list) = w
            .send_to(
                &r,
                s,
                path,
                Value::Null,
                Value::Null,
                &filter(&lrec.id),
                None,
            )
            .await;
        assert_eq!((st, &list["items"]), (200, &json!([])), "anonymous");
        let (st, _) = w
            .send_to(
                &r,
                s,
                path,
                Value::Null,
                Value::Null,
                "filter=provider%3D1",
                Some(&token_l),
            )
            .await;
        assert_eq!(st, 400, "unsupported filter");
    });

    function!("external-auths-delete", external_auths_delete, |r| {
        let s = "external-auths-delete";
        let id = link_ids[0].as_str();
        let path = format!("_externalAuths/records/{id}");
        let params = json!({ "id": id });
        for token in [None, Some(token_sa.as_str())] {
            let (st, _) = w
                .send_to(&r, s, &path, params.clone(), Value::Null, "", token)
                .await;
            assert_eq!(st, 404, "{token:?}");
        }
        let (st, res) = w
            .send_to(
                &r,
                s,
                &path,
                params.clone(),
                Value::Null,
                "",
                Some(&token_l),
            )
            .await;
        assert_eq!(st, 204, "{res}");
        let (st, _) = w
            .send_to(&r, s, &path, params, Value::Null, "", Some(&token_l))
            .await;
        assert_eq!(st, 404, "unlinked");
    });

    let token_rv = w.app.login("users", &self_b, PASSWORD).await;
    function!("auth-revoke", auth_revoke, |r| {
        let s = "auth-revoke";
        assert_eq!(w.send(&r, s, "users", Value::Null, "", None).await.0, 401);
        assert_eq!(
            w.send(&r, s, "users", Value::Null, "", Some(&token_rv))
                .await
                .0,
            204
        );
        assert_eq!(
            w.send(&r, s, "users", Value::Null, "", Some(&token_rv))
                .await
                .0,
            401,
            "revoked"
        );
        assert_eq!(
            w.send(&r, s, "otpusers", Value::Null, "", Some(&token_sa))
                .await
                .0,
            403,
            "another collection's token"
        );
    });

    // The mailer: the shipped stream event, pointed at a queued mail, then
    // at one that is gone.
    let e = member(w, "users").await;
    let (st, _) = w
        .app
        .post("users", "request-password-reset", json!({"email": e}))
        .await;
    assert_eq!(st, 204);
    let pending = w.app.pending_mail().await;
    let id = pending.last().unwrap().clone();
    {
        w.log.take();
        let state = w.state().await;
        let mailer =
            authgate_http::mailer::StreamMailer::new(state.ctx.clone(), state.config.clone());
        for target in [id.clone(), id.clone(), "gone".to_owned()] {
            let mut ev = event("mailer.stream.json");
            for r in ev["Records"].as_array_mut().unwrap() {
                r["dynamodb"]["Keys"]["pk"]["S"] = json!(format!("OUTBOX#{target}"));
                if let Some(img) = r["dynamodb"]["NewImage"].as_object_mut() {
                    img.insert("pk".into(), json!({"S": format!("OUTBOX#{target}")}));
                    img.insert("id".into(), json!({"S": target}));
                }
            }
            let ev = serde_json::from_value(ev).unwrap();
            let res = mailer.handle(ev).await;
            assert!(res.batch_item_failures.is_empty(), "{target}");
        }
        rec.insert("mailer".to_owned(), w.log.take());
    }
    rec
}

#[tokio::test]
async fn every_functions_calls_are_allowed_by_its_policy_and_it_gets_nothing_else() {
    let policies = policies();
    let w = World::new().await;
    let recorded = run_scenarios(&w).await;

    let mut failures = Vec::new();
    for (slug, policy) in &policies {
        failures.extend(policy.problems.iter().cloned());
        for write in [
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        ] {
            if policy.allows(write, "CONFIG") {
                failures.push(format!("{slug}: may {write} the CONFIG item"));
            }
        }
        let Some(calls) = recorded.get(slug) else {
            failures.push(format!(
                "{slug}: in template.yaml but no scenario in tests/integration/iam_policies.rs"
            ));
            continue;
        };
        assert!(!calls.is_empty(), "{slug}: the scenario recorded no call");
        let mut used = vec![false; policy.grants.len()];
        let mut denied = BTreeSet::new();
        for c in calls {
            let mut ok = false;
            for (i, (actions, keys)) in policy.grants.iter().enumerate() {
                if actions.contains(&c.action) && keys.iter().any(|k| like(k, &c.partition_key)) {
                    used[i] = true;
                    ok = true;
                }
            }
            if !ok {
                denied.insert(format!("{} on {}", c.action, key_group(&c.partition_key)));
            }
        }
        for d in denied {
            failures.push(format!(
                "{slug}: calls {d}, which its policy does not allow"
            ));
        }
        // Least privilege: every (action, key pattern) pair is used.
        for (actions, keys) in &policy.grants {
            for action in actions {
                for key in keys {
                    let hit = calls
                        .iter()
                        .any(|c| &c.action == action && like(key, &c.partition_key));
                    if !hit {
                        failures.push(format!("{slug}: may {action} on {key} but never does"));
                    }
                }
            }
        }
    }
    for slug in recorded.keys() {
        if !policies.contains_key(slug) {
            failures.push(format!(
                "{slug}: a scenario for a function not in template.yaml"
            ));
        }
    }
    // What each function does, for the docs (printed with --nocapture).
    for (slug, calls) in &recorded {
        let groups: BTreeSet<String> = calls
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c.action.trim_start_matches("dynamodb:"),
                    key_group(&c.partition_key)
                )
            })
            .collect();
        println!(
            "{slug}: {}",
            groups.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn string_like_matches_as_iam_does() {
    assert!(like("REC#*", "REC#c#id"));
    assert!(like("CONFIG", "CONFIG"));
    assert!(!like("CONFIG", "CONFIGX"));
    assert!(!like("REC#*", "RECEXT#c#id"));
    assert!(like("CNT#mail:?*", "CNT#mail:verification:c:r"));
    assert_eq!(
        key_group("CNT#mail:verification:c:r"),
        "CNT#mail:verification:*"
    );
    assert_eq!(key_group("CNT#rl:x:y"), "CNT#rl:*");
    assert_eq!(key_group("RECEXT#c#r"), "RECEXT#*");
}

/// Every function has its errors-and-throttles alarm (a new function
/// without one fails here), every alarm notifies the optional topic, and
/// the functions log to the group with retention.
#[test]
fn every_function_has_its_alarm_and_every_alarm_notifies_the_topic() {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let doc: Yaml = serde_norway::from_str(&text).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    let mut missing = Vec::new();
    let mut alarms = 0;
    for (name, res) in resources {
        let name = name.as_str().unwrap();
        match res["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                let alarm = &doc["Resources"][format!("{name}Alarm").as_str()];
                let refs = format!("{:?}", alarm["Properties"]["Metrics"]);
                if alarm["Type"].as_str() != Some("AWS::CloudWatch::Alarm")
                    || !refs.contains(name)
                    || !refs.contains("Throttles")
                    || !refs.contains("Errors")
                {
                    missing.push(format!(
                        "{name}: no {name}Alarm on its Errors and Throttles"
                    ));
                }
            }
            Some("AWS::CloudWatch::Alarm") => {
                alarms += 1;
                let actions = format!("{:?}", res["Properties"]["AlarmActions"]);
                if !actions.contains("HasAlarmTopic") || !actions.contains("AlarmTopicArn") {
                    missing.push(format!("{name}: does not notify AlarmTopicArn"));
                }
            }
            _ => {}
        }
    }
    assert!(
        alarms >= 4,
        "API 5xx and 4xx, mailer dead letters, functions"
    );
    let logging = format!("{:?}", doc["Globals"]["Function"]["LoggingConfig"]);
    assert!(logging.contains("FunctionLogs"), "{logging}");
    assert!(
        format!("{:?}", doc["Resources"]["FunctionLogs"]["Properties"])
            .contains("LogRetentionDays")
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
