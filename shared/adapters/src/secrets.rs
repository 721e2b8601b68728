//! Secret stores outside AWS: in memory (tests) and a file only its owner
//! can read (`authgate serve`). The AWS one is [`crate::secrets_manager`].

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use authgate_core::ports::{SecretStore, StoreError, StoreResult};
use serde_json::Value;
use tokio::sync::RwLock;

/// Secrets in memory.
#[derive(Default)]
pub struct MemorySecrets(RwLock<Option<Value>>);

impl MemorySecrets {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn load_secrets(&self) -> StoreResult<Option<Value>> {
        Ok(self.0.read().await.clone())
    }

    async fn save_secrets(&self, secrets: &Value) -> StoreResult<()> {
        *self.0.write().await = Some(secrets.clone());
        Ok(())
    }
}

/// No secret store: every secret must be inline in the config item (a
/// function deployed without `AUTHGATE_SECRET_ID`, i.e. from a template older
/// than the secret store). Saving is refused.
pub struct NoSecrets;

#[async_trait]
impl SecretStore for NoSecrets {
    async fn load_secrets(&self) -> StoreResult<Option<Value>> {
        Ok(None)
    }

    async fn save_secrets(&self, _: &Value) -> StoreResult<()> {
        Err(StoreError::Backend("no secret store configured".into()))
    }
}

/// The secrets file's name in `authgate serve`'s data directory.
pub const SECRETS_FILE: &str = "secrets.json";

/// Secrets in a JSON file readable and writable by its owner only (mode
/// 0600), replaced atomically (written beside it, then renamed).
pub struct FileSecrets {
    path: PathBuf,
}

impl FileSecrets {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

fn io_error(what: &str, path: &std::path::Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("cannot {what} {}: {e}", path.display()))
}

#[async_trait]
impl SecretStore for FileSecrets {
    async fn load_secrets(&self) -> StoreResult<Option<Value>> {
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &self.path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("{} is not JSON: {e}", self.path.display())))
    }

    async fn save_secrets(&self, secrets: &Value) -> StoreResult<()> {
        let text = serde_json::to_vec_pretty(secrets)
            .map_err(|e| StoreError::Backend(format!("cannot encode secrets: {e}")))?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_private(&path, &text))
            .await
            .map_err(|e| StoreError::Backend(format!("secret file writer failed: {e}")))?
    }
}

/// Writes `text` to `path` with mode 0600 from the first byte on.
fn write_private(path: &std::path::Path, text: &[u8]) -> StoreResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(|e| io_error("create", &tmp, e))?;
    file.write_all(text)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", &tmp, e))?;
    drop(file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("restrict", &tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io_error("replace", path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn the_file_store_round_trips_and_only_its_owner_can_read_it() {
        let dir = std::env::temp_dir().join(format!("authgate-secrets-{}", std::process::id()));
        let store = FileSecrets::new(dir.join("secrets.json"));
        assert_eq!(store.load_secrets().await.unwrap(), None);
        let doc = serde_json::json!({"collections": {"c": {"authToken": "x"}}});
        store.save_secrets(&doc).await.unwrap();
        store.save_secrets(&doc).await.unwrap();
        assert_eq!(store.load_secrets().await.unwrap(), Some(doc));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
