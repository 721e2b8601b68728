//! The production secret store: one AWS Secrets Manager secret per stack
//! (encrypted with the stack's customer-managed KMS key), holding the
//! secrets document as its `SecretString`.

use async_trait::async_trait;
use authgate_core::ports::{SecretStore, StoreError, StoreResult};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::Client;
use serde_json::Value;

/// The secret `secret_id` (a name or an ARN).
#[derive(Debug, Clone)]
pub struct SecretsManagerSecrets {
    client: Client,
    secret_id: String,
}

impl SecretsManagerSecrets {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }
}

fn sdk_error<E, R>(op: &str, err: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(format!(
        "Secrets Manager {op} failed: {}",
        DisplayErrorContext(err)
    ))
}

#[async_trait]
impl SecretStore for SecretsManagerSecrets {
    async fn load_secrets(&self) -> StoreResult<Option<Value>> {
        let out = match self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(sdk_error("GetSecretValue", &e)),
        };
        let Some(text) = out.secret_string() else {
            return Ok(None);
        };
        // The template creates the secret with a random placeholder (no
        // secrets document yet) until the first `collections apply`: no
        // secrets. The value is never put in an error message.
        Ok(serde_json::from_str::<Value>(text)
            .ok()
            .filter(|doc| doc.get("collections").is_some_and(Value::is_object)))
    }

    async fn save_secrets(&self, secrets: &Value) -> StoreResult<()> {
        let text = serde_json::to_string(secrets)
            .map_err(|e| StoreError::Backend(format!("cannot encode secrets: {e}")))?;
        let put = self
            .client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(&text)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            // Outside a stack (tests, a table of one's own) the secret may not
            // exist yet: create it.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.client
                    .create_secret()
                    .name(&self.secret_id)
                    .secret_string(text)
                    .send()
                    .await
                    .map_err(|e| sdk_error("CreateSecret", &e))?;
                Ok(())
            }
            Err(e) => Err(sdk_error("PutSecretValue", &e)),
        }
    }
}
