//! The repository around the tests: its root, the built binaries and the
//! pinned PocketBase JS SDK scripts run with node.

use std::path::{Path, PathBuf};

use crate::emulators::require_env;

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

/// A running `authgate serve --http 127.0.0.1:0 ARGS` (killed when dropped).
pub struct LocalServer {
    pub child: tokio::process::Child,
    /// Where it listens, as it printed it (`http://127.0.0.1:PORT`).
    pub url: String,
}

impl LocalServer {
    /// Starts `authgate serve` with `args` in `cwd` (the test's own
    /// directory when `None`) and waits for the line naming its address;
    /// its output keeps being read, so a full pipe never blocks it.
    pub async fn start(cwd: Option<&Path>, args: &[std::ffi::OsString]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(bin_dir().join("authgate"));
        cmd.args(["serve", "--http", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().expect("authgate serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let url = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
                .await
                .expect("serve prints its address")
                .expect("serve's output is readable")
                .expect("serve keeps running");
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                break url.to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, url }
    }

    /// SIGKILL (no shutdown code runs), then waits for the process to end.
    pub async fn kill_9(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }
}
