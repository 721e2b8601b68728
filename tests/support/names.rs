//! Names no other test, and no earlier run against the same emulators, uses:
//! for emails, tables, key prefixes, provider user ids and temp paths.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// `{prefix}{pid}x{stamp}x{n}`: the process id, the process's first call in
/// milliseconds (hex) and a counter. Only ASCII letters and digits follow the
/// prefix, so the result also fits usernames, table names and key prefixes.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    static STAMP: OnceLock<u128> = OnceLock::new();
    let stamp = STAMP.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    });
    format!(
        "{prefix}{}x{stamp:x}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh address at example.com starting with `label`.
pub fn unique_email(label: &str) -> String {
    format!("{}@example.com", unique(label))
}

/// A fresh path in the temp directory, not created.
pub fn temp_path(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(unique(&format!("authgate-{prefix}-")))
}

/// A fresh temp directory.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = temp_path(prefix);
    let _ = std::fs::create_dir_all(&dir);
    dir
}
