//! [`TestApp`]: the real router on a free port (embedded or DynamoDB store,
//! local mailbox in a temp dir, a clock tests can move), with the requests
//! tests make again and again.
//!
//! Mail goes through the outbox as everywhere: requests queue it, and the
//! local sender (`authgate_http::local_sender`, as in `authgate serve`)
//! sends it in the background. Tests that read mail go through
//! [`TestApp::mails`], which first delivers everything queued itself, so
//! what they read never depends on the background task's timing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authgate_adapters::mailbox::LocalMailbox;
use authgate_adapters::memory::MemoryStore;
use authgate_adapters::system::OsRandom;
use authgate_core::config::{fill_secrets, split_secrets, AppConfig};
use authgate_core::ports::{Clock, Mailer, SecretStore, Store};
use authgate_core::service::mail_sender::{self, Delivery};
use authgate_core::service::Ctx;
use authgate_http::config_source::{CachedStoreConfig, ConfigSource, StaticConfig};
use authgate_http::AppState;
use serde_json::{json, Value};

use crate::fakes::ManualClock;
use crate::logs::init_logs;
use crate::mail::{otp_code, read_mails, Mail};
use crate::names::temp_dir;

/// The default collections document plus whatever a test needs. Rate
/// limit rules are off here (every test request comes from 127.0.0.1 and
/// the test clock stands still); `rate_limits.rs` tests them, and the
/// per-account password cap, which stays on.
pub fn config_with(collections: Vec<Value>) -> Value {
    let mut doc = AppConfig::default_document();
    doc["meta"]["appURL"] = json!("https://app.example.test");
    doc["rateLimits"] = json!({"enabled": false});
    if let Some(list) = doc["collections"].as_array_mut() {
        list.extend(collections);
    }
    doc
}

/// Sets every key of the object `extra` on the object `base` (a shallow
/// merge: `extra` wins).
pub fn merge_keys(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
}

/// Options for [`TestApp::spawn_with`].
pub struct Options {
    pub config: Value,
    pub store: Option<Arc<dyn Store>>,
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Proxy hops whose `X-Forwarded-For` is trusted (lets a test speak
    /// from many addresses).
    pub trusted_proxy_hops: usize,
    /// The background mail sender's poll interval; `None` runs no sender,
    /// so mail leaves only through [`TestApp::deliver_mail`] (tests that
    /// count a mailer's attempts, or time requests without a poller beside
    /// them).
    pub sender: Option<Duration>,
    /// Read the config the way the Lambdas do: from `store` (as `authgate
    /// collections apply` left it) with its secrets from this secret store,
    /// cached for 30 s of the test clock. `config` is then not used.
    pub secrets: Option<Arc<dyn SecretStore>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: config_with(vec![]),
            store: None,
            mailer: None,
            trusted_proxy_hops: 0,
            sender: Some(authgate_http::local_sender::DEFAULT_INTERVAL),
            secrets: None,
        }
    }
}

impl Options {
    /// These options with `config` applied the way `authgate collections
    /// apply` leaves it: token and OAuth2 client secrets filled in and kept
    /// in `secrets`, the rest saved to `store` (a memory store when none is
    /// given); the server then reads it the way the Lambdas do
    /// ([`Options::secrets`], merged at each cache refresh).
    pub async fn applied(mut self, secrets: Arc<dyn SecretStore>) -> Self {
        let store = self
            .store
            .take()
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn Store>);
        let mut doc = std::mem::take(&mut self.config);
        fill_secrets(&mut doc, None, &OsRandom);
        let stored = split_secrets(&mut doc);
        secrets.save_secrets(&stored).await.expect("save secrets");
        store.save_config(&doc).await.expect("save config");
        self.store = Some(store);
        self.secrets = Some(secrets);
        self
    }
}

/// A running server on 127.0.0.1 with its own store and mailbox.
pub struct TestApp {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub mail_dir: PathBuf,
    pub config: Arc<AppConfig>,
    /// The context the server runs with (its store, mailer and clock).
    pub ctx: Ctx,
    pub http: reqwest::Client,
    /// Taken by each poll of the background sender and by
    /// [`TestApp::deliver_mail`], so the two never interleave.
    send_gate: Arc<tokio::sync::Mutex<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn with_config(config: Value) -> Self {
        Self::spawn_with(Options {
            config,
            ..Default::default()
        })
        .await
    }

    /// The default config on `store` (a DynamoDB one, typically).
    pub async fn on_store(store: Arc<dyn Store>) -> Self {
        Self::spawn_with(Options {
            store: Some(store),
            ..Default::default()
        })
        .await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        init_logs();
        let store = opts
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn Store>);
        let clock = Arc::new(ManualClock::new());
        let (config, source): (Arc<AppConfig>, Arc<dyn ConfigSource>) = match opts.secrets {
            Some(secrets) => {
                let source = CachedStoreConfig::new(store.clone(), secrets, clock.clone(), 30);
                let config = source.current().await.expect("stored config");
                (config, Arc::new(source))
            }
            None => {
                let mut doc = opts.config;
                fill_secrets(&mut doc, None, &OsRandom);
                let config = Arc::new(AppConfig::from_json(&doc).expect("test config is valid"));
                (config.clone(), Arc::new(StaticConfig(config)))
            }
        };
        let mail_dir = temp_dir("mail");
        let mailer = opts
            .mailer
            .unwrap_or_else(|| Arc::new(LocalMailbox::new(mail_dir.clone())) as Arc<dyn Mailer>);
        let ctx = Ctx::new(store.clone(), mailer, clock.clone(), Arc::new(OsRandom))
            .expect("context")
            .with_oauth2(Arc::new(
                authgate_adapters::oauth2::HttpOAuth2Client::new().expect("OAuth2 client"),
            ));
        let state =
            AppState::new(ctx.clone(), source).with_trusted_proxy_hops(opts.trusted_proxy_hops);
        let send_gate = Arc::new(tokio::sync::Mutex::new(()));
        if let Some(interval) = opts.sender {
            authgate_http::local_sender::spawn_with(
                state.clone(),
                authgate_http::local_sender::Options {
                    interval,
                    gate: Some(send_gate.clone()),
                },
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(authgate_http::serve(listener, state));
        Self {
            base: format!("http://{addr}"),
            addr,
            clock,
            store,
            mail_dir,
            config,
            ctx,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            send_gate,
        }
    }

    pub fn url(&self, collection: &str, action: &str) -> String {
        format!("{}/api/collections/{collection}/{action}", self.base)
    }

    /// POSTs JSON and returns (status, body as JSON or Null).
    pub async fn post(&self, collection: &str, action: &str, body: Value) -> (u16, Value) {
        self.post_auth(collection, action, body, None).await
    }

    pub async fn post_auth(
        &self,
        collection: &str,
        action: &str,
        body: Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.post(self.url(collection, action)).json(&body);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs JSON and returns the status and the exact body text, to compare
    /// answers byte for byte.
    pub async fn post_text(&self, collection: &str, action: &str, body: Value) -> (u16, String) {
        let res = self
            .http
            .post(self.url(collection, action))
            .json(&body)
            .send()
            .await
            .expect("request");
        (res.status().as_u16(), res.text().await.expect("body text"))
    }

    /// POSTs `body` as is, labelled as JSON (malformed bodies), with an
    /// optional `Authorization` header; returns the raw response.
    pub async fn post_malformed(
        &self,
        collection: &str,
        action: &str,
        body: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url(collection, action))
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, collection: &str, action: &str) -> (u16, Value) {
        let res = self
            .http
            .get(self.url(collection, action))
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Signs up `email` with `password` in `collection`; panics on failure.
    pub async fn sign_up(&self, collection: &str, email: &str, password: &str) -> Value {
        let (status, body) = self
            .post(
                collection,
                "records",
                json!({"email": email, "password": password, "passwordConfirm": password}),
            )
            .await;
        assert_eq!(status, 200, "sign-up failed: {body}");
        body
    }

    /// Logs in and returns the token; panics on failure.
    pub async fn login(&self, collection: &str, email: &str, password: &str) -> String {
        let (status, body) = self.password_login(collection, email, password).await;
        assert_eq!(status, 200, "login failed: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// POSTs `auth-with-password` for `identity`.
    pub async fn password_login(
        &self,
        collection: &str,
        identity: &str,
        password: &str,
    ) -> (u16, Value) {
        self.post(
            collection,
            "auth-with-password",
            json!({"identity": identity, "password": password}),
        )
        .await
    }

    /// The status of an `auth-with-password` for `identity`.
    pub async fn login_status(&self, collection: &str, identity: &str, password: &str) -> u16 {
        self.password_login(collection, identity, password).await.0
    }

    /// The status of an `auth-refresh` with `token` as the Authorization header.
    pub async fn refresh_status(&self, collection: &str, token: &str) -> u16 {
        self.post_auth(collection, "auth-refresh", json!({}), Some(token))
            .await
            .0
    }

    /// The stored record owning `email` in `collection`; panics if none.
    pub async fn stored_record(
        &self,
        collection: &str,
        email: &str,
    ) -> authgate_core::model::Record {
        let coll = self.config.collection(collection).expect("collection");
        let key = authgate_core::validate::identity_key(coll, "email", email);
        self.store
            .find_record_by_unique(&coll.id, &key)
            .await
            .expect("store read")
            .expect("record exists")
    }

    /// Delivers every item waiting in the outbox once, now (what the
    /// background sender does on its own schedule): what became of each,
    /// oldest first. Never runs during one of the sender's polls.
    pub async fn deliver_mail(&self) -> Vec<(String, Delivery)> {
        let _gate = self.send_gate.lock().await;
        mail_sender::deliver_pending(&self.ctx, &self.config, self.clock.now())
            .await
            .expect("outbox delivery")
    }

    /// The ids of the items waiting in the outbox, oldest first.
    pub async fn pending_mail(&self) -> Vec<String> {
        self.store.pending_mail(10_000).await.expect("outbox list")
    }

    /// Every `.eml` written so far, oldest first, after delivering whatever
    /// is still queued ([`TestApp::deliver_mail`]).
    pub async fn mails(&self) -> Vec<Mail> {
        self.deliver_mail().await;
        read_mails(&self.mail_dir)
    }

    /// Mails sent to `to` (case-insensitive), after delivering whatever is
    /// still queued.
    pub async fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .await
            .into_iter()
            .filter(|m| m.to.to_ascii_lowercase().contains(&to.to_ascii_lowercase()))
            .collect()
    }

    /// POSTs `request-otp` for `email` and returns `(otpId, code)`, the code
    /// read from the mail whose text carries that `otpId` (templates with
    /// `{OTP_ID}`), else from the newest mail to `email`. Panics without one.
    pub async fn request_otp(&self, collection: &str, email: &str) -> (String, String) {
        let (status, body) = self
            .post(collection, "request-otp", json!({ "email": email }))
            .await;
        assert_eq!(status, 200, "request-otp failed: {body}");
        let otp_id = body["otpId"].as_str().expect("otpId").to_owned();
        let mails = self.mails_to(email).await;
        let mail = mails
            .iter()
            .find(|m| m.text.contains(&otp_id))
            .or_else(|| mails.last())
            .unwrap_or_else(|| panic!("no OTP mail to {email}"));
        let code = otp_code(mail).unwrap_or_else(|| panic!("no code in {:?}", mail.text));
        (otp_id, code)
    }

    /// POSTs `auth-with-otp` with `otp_id` and `code`.
    pub async fn auth_with_otp(&self, collection: &str, otp_id: &str, code: &str) -> (u16, Value) {
        self.post(
            collection,
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await
    }
}
