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
