//! Test harness shared by the integration-test modules: spawn the real
//! router on a free port (embedded or DynamoDB store, local mailbox in a
//! temp dir, a clock tests can move), read mail, run the PocketBase JS SDK,
//! capture logs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use authgate_adapters::mailbox::LocalMailbox;
use authgate_adapters::memory::MemoryStore;
use authgate_adapters::system::OsRandom;
use authgate_core::config::{fill_secrets, AppConfig};
use authgate_core::model::Timestamp;
use authgate_core::ports::{Clock, Mailer, Store};
use authgate_core::service::Ctx;
use authgate_http::config_source::StaticConfig;
use authgate_http::AppState;
use serde_json::{json, Value};

/// Real time plus an offset tests can move forward instead of sleeping.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

fn wall_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl ManualClock {
    pub fn new() -> Self {
        Self(AtomicI64::new(0))
    }
    pub fn now_secs(&self) -> i64 {
        self.now().seconds()
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(wall_millis() + self.0.load(Ordering::SeqCst))
    }
}

/// A unique suffix for emails, prefixes and temp dirs.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh temp directory.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("authgate-{prefix}-")));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// The default collections document plus whatever a test needs.
pub fn config_with(collections: Vec<Value>) -> Value {
    let mut doc = AppConfig::default_document();
    doc["meta"]["appURL"] = json!("https://app.example.test");
    if let Some(list) = doc["collections"].as_array_mut() {
        list.extend(collections);
    }
    doc
}

/// Options for [`TestApp::spawn`].
pub struct Options {
    pub config: Value,
    pub store: Option<Arc<dyn Store>>,
    pub mailer: Option<Arc<dyn Mailer>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: config_with(vec![]),
            store: None,
            mailer: None,
        }
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
    pub http: reqwest::Client,
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

    pub async fn spawn_with(opts: Options) -> Self {
        init_logs();
        let mut doc = opts.config;
        fill_secrets(&mut doc, None, &OsRandom);
        let config = Arc::new(AppConfig::from_json(&doc).expect("test config is valid"));
        let store = opts
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn Store>);
        let mail_dir = temp_dir("mail");
        let mailer = opts
            .mailer
            .unwrap_or_else(|| Arc::new(LocalMailbox::new(mail_dir.clone())) as Arc<dyn Mailer>);
        let clock = Arc::new(ManualClock::new());
        let ctx = Ctx::new(store.clone(), mailer, clock.clone(), Arc::new(OsRandom))
            .expect("context")
            .with_oauth2(Arc::new(
                authgate_adapters::oauth2::HttpOAuth2Client::new().expect("OAuth2 client"),
            ));
        let state = AppState::new(ctx, Arc::new(StaticConfig(config.clone())));
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
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
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
        let (status, body) = self
            .post(
                collection,
                "auth-with-password",
                json!({"identity": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login failed: {body}");
        body["token"].as_str().expect("token").to_owned()
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

    /// Every `.eml` written so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        read_mails(&self.mail_dir)
    }

    /// Mails sent to `to` (case-insensitive).
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.to_ascii_lowercase().contains(&to.to_ascii_lowercase()))
            .collect()
    }
}

/// A mail read back from the local mailbox.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

impl Mail {
    /// The token at the end of a `…/confirm-*/{TOKEN}` link.
    pub fn token_after(&self, marker: &str) -> Option<String> {
        let hay = if self.text.contains(marker) {
            &self.text
        } else {
            &self.html
        };
        let start = hay.find(marker)? + marker.len();
        let token: String = hay[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    }
}

pub fn read_mails(dir: &Path) -> Vec<Mail> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|raw| {
            let head_end = raw.find("\r\n\r\n").unwrap_or(raw.len());
            let headers = &raw[..head_end];
            Mail {
                to: authgate_adapters::mailbox::header_value(headers, "To").unwrap_or_default(),
                subject: authgate_adapters::mailbox::header_value(headers, "Subject")
                    .unwrap_or_default(),
                text: authgate_adapters::mailbox::extract_text(&raw),
                html: authgate_adapters::mailbox::extract_html(&raw),
                raw,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Log capture: every log line of the test process goes to one buffer, so a
// test can check that its secrets never appear in any log.

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Buffer> = OnceLock::new();

/// Installs the capturing subscriber (TRACE level, so nothing hides).
pub fn init_logs() {
    LOGS.get_or_init(|| {
        let buf = Buffer::default();
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,hyper=info,h2=info,aws_smithy_runtime=debug",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buf
    });
}

/// Everything logged so far by this test process.
pub fn captured_logs() -> String {
    LOGS.get()
        .and_then(|b| {
            b.0.lock()
                .ok()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Emulators and node.

/// An environment variable the test command (`make test`) sets; failing
/// loudly when missing, since a skipped check is not a passed one.
pub fn require_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with `make test`, which starts the emulators")
    })
}

/// Runs `node <script>` from `infra/node` (where the pinned SDK lives) with
/// extra env; returns (success, combined output).
pub async fn run_node(script: &Path, env: &[(&str, String)]) -> (bool, String) {
    let node_dir = PathBuf::from(require_env("AUTHGATE_NODE_DIR"));
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).current_dir(&node_dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The repository root (for scripts and events).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(Path::parent).map(Path::to_path_buf))
        .unwrap_or_else(|| repo_root().join("target/debug"))
}

// ---------------------------------------------------------------------------
// One-time passwords.

/// The OTP code in a mail: the first word of 4 to 32 digits (words are split
/// on anything but ASCII letters and digits, so digits inside an OTP id or
/// a link never count).
pub fn otp_code(mail: &Mail) -> Option<String> {
    mail.text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| (4..=32).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

impl TestApp {
    /// POSTs `request-otp` for `email` and returns `(otpId, code)`, the code
    /// read from the mail whose text carries that `otpId` (templates with
    /// `{OTP_ID}`), else from the newest mail to `email`. Panics without one.
    pub async fn request_otp(&self, collection: &str, email: &str) -> (String, String) {
        let (status, body) = self
            .post(collection, "request-otp", json!({ "email": email }))
            .await;
        assert_eq!(status, 200, "request-otp failed: {body}");
        let otp_id = body["otpId"].as_str().expect("otpId").to_owned();
        let mails = self.mails_to(email);
        let mail = mails
            .iter()
            .find(|m| m.text.contains(&otp_id))
            .or_else(|| mails.last())
            .unwrap_or_else(|| panic!("no OTP mail to {email}"));
        let code = otp_code(mail).unwrap_or_else(|| panic!("no code in {:?}", mail.text));
        (otp_id, code)
    }
}
