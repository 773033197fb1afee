//! An async client for the operator API (`/_dev/*`), for Rust tests.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

/// An operator API call that failed.
#[derive(Debug)]
pub enum AdminError {
    /// The request did not complete.
    Transport(reqwest::Error),
    /// The server answered with an error status; `body` is its JSON (or the
    /// text as a JSON string).
    Status { status: u16, body: Value },
    /// The answer was not the expected JSON.
    Decode(String),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Transport(e) => write!(f, "operator API request failed: {e}"),
            AdminError::Status { status, body } => {
                write!(f, "operator API answered {status}: {body}")
            }
            AdminError::Decode(e) => write!(f, "operator API answer not understood: {e}"),
        }
    }
}

impl std::error::Error for AdminError {}

/// `POST /_dev/users` result.
#[derive(Debug, Clone, Deserialize)]
pub struct UserCreds {
    pub user_id: String,
    pub user_token: String,
}

/// `POST /_dev/oauth-grants` result.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthGrantIds {
    /// The user's (root) grant.
    pub grant_id: String,
    /// The agent's delegation under it, when an agent was named.
    pub delegation_grant_id: Option<String>,
    pub credential_id: String,
}

#[derive(Clone)]
pub struct Admin {
    base_url: String,
    token: String,
    http: reqwest::Client,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn field(v: &Value, name: &str) -> Result<String, AdminError> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| AdminError::Decode(format!("missing '{name}' in {v}")))
}

impl Admin {
    pub fn new(base_url: &str, admin_token: &str) -> Admin {
        Admin {
            base_url: base_url.trim_end_matches('/').to_string(),
            token: admin_token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Any operator call; returns the JSON answer (`null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = rb.send().await.map_err(AdminError::Transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(AdminError::Transport)?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status >= 400 {
            return Err(AdminError::Status {
                status,
                body: value,
            });
        }
        Ok(value)
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, AdminError> {
        self.call(Method::POST, path, Some(&body)).await
    }

    /// `GET /_dev/health`.
    pub async fn health(&self) -> Result<Value, AdminError> {
        self.call(Method::GET, "/_dev/health", None).await
    }

    /// `POST /_dev/managed-secrets` with the full body; returns the id.
    pub async fn create_managed_secret(&self, body: Value) -> Result<String, AdminError> {
        field(
            &self.post("/_dev/managed-secrets", body).await?,
            "managed_secret_id",
        )
    }

    /// A bearer-style managed secret with default injection.
    pub async fn managed_secret(&self, slug: &str, credential: &str) -> Result<String, AdminError> {
        self.create_managed_secret(json!({"slug": slug, "credential": credential}))
            .await
    }

    /// `POST /_dev/managed-secrets/{id}/grants` with the full body.
    pub async fn create_managed_secret_grant(
        &self,
        managed_secret_id: &str,
        body: Value,
    ) -> Result<String, AdminError> {
        let path = format!("/_dev/managed-secrets/{managed_secret_id}/grants");
        field(&self.post(&path, body).await?, "grant_id")
    }

    /// A grant of a managed secret bound to an agent (or a system grant).
    pub async fn managed_secret_grant(
        &self,
        managed_secret_id: &str,
        agent_id: Option<&str>,
        label: &str,
    ) -> Result<String, AdminError> {
        self.create_managed_secret_grant(
            managed_secret_id,
            json!({"agent_id": agent_id, "label": label}),
        )
        .await
    }

    /// `POST /_dev/users`.
    pub async fn create_user(&self, email: &str) -> Result<UserCreds, AdminError> {
        let v = self.post("/_dev/users", json!({ "email": email })).await?;
        serde_json::from_value(v).map_err(|e| AdminError::Decode(e.to_string()))
    }

    /// `POST /_dev/oauth-grants` with the full body.
    pub async fn create_oauth_grant(&self, body: Value) -> Result<OAuthGrantIds, AdminError> {
        let v = self.post("/_dev/oauth-grants", body).await?;
        serde_json::from_value(v).map_err(|e| AdminError::Decode(e.to_string()))
    }

    /// `POST /_dev/grants/{id}`: toggles grant flags; returns the grant.
    pub async fn update_grant(&self, grant_id: &str, body: Value) -> Result<Value, AdminError> {
        self.post(&format!("/_dev/grants/{grant_id}"), body).await
    }

    /// `GET /_dev/approvals/{id}`.
    pub async fn approval(&self, approval_id: &str) -> Result<Value, AdminError> {
        self.call(Method::GET, &format!("/_dev/approvals/{approval_id}"), None)
            .await
    }

    /// `POST /_dev/approvals/{id}/decision` (`approve`, `deny` or `expire`);
    /// returns the approval status after the decision (and execution).
    pub async fn decide(
        &self,
        approval_id: &str,
        decision: &str,
        reason: Option<&str>,
    ) -> Result<Value, AdminError> {
        self.post(
            &format!("/_dev/approvals/{approval_id}/decision"),
            json!({"decision": decision, "reason": reason}),
        )
        .await
    }

    /// `GET /_dev/audit`: every stored audit event.
    pub async fn audit(&self) -> Result<Vec<Value>, AdminError> {
        let v = self.call(Method::GET, "/_dev/audit", None).await?;
        v.get("events")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| AdminError::Decode(format!("no events in {v}")))
    }

    /// `POST /_dev/faults`.
    pub async fn add_fault(&self, body: Value) -> Result<Value, AdminError> {
        self.post("/_dev/faults", body).await
    }

    /// `DELETE /_dev/faults`.
    pub async fn clear_faults(&self) -> Result<Value, AdminError> {
        self.call(Method::DELETE, "/_dev/faults", None).await
    }

    /// `GET /_dev/requests`: how many requests reached a path starting with
    /// `prefix` (outside `/_dev/`) since the vault started or the counts
    /// were cleared.
    pub async fn requests_to(&self, prefix: &str) -> Result<u64, AdminError> {
        let v = self.call(Method::GET, "/_dev/requests", None).await?;
        let counts = v["requests"].as_object().cloned().unwrap_or_default();
        Ok(counts
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .filter_map(|(_, n)| n.as_u64())
            .sum())
    }

    /// `DELETE /_dev/requests`.
    pub async fn clear_request_counts(&self) -> Result<Value, AdminError> {
        self.call(Method::DELETE, "/_dev/requests", None).await
    }

    /// `POST /_dev/keys`: adjusts a key named by `api_key` or `key_id`
    /// (`rate_limit_rpm`, `scopes`, `deprecated`, `revoked`, `expires_at`).
    pub async fn update_key(&self, body: Value) -> Result<Value, AdminError> {
        self.post("/_dev/keys", body).await
    }

    /// `POST /_dev/users` with the full body (`email`, `ttl_seconds`,
    /// `display_name`, `groups`).
    pub async fn create_user_with(&self, body: Value) -> Result<UserCreds, AdminError> {
        let v = self.post("/_dev/users", body).await?;
        serde_json::from_value(v).map_err(|e| AdminError::Decode(e.to_string()))
    }

    /// `POST /_dev/oauth-providers`: configures an OAuth provider (scopes,
    /// `onward_sharing`, `depth_ceiling`, `api_base_url`).
    pub async fn configure_oauth_provider(&self, body: Value) -> Result<Value, AdminError> {
        self.post("/_dev/oauth-providers", body).await
    }

    /// `POST /_dev/managed-secrets/{id}`: template and delegation policy
    /// (`template_slug`, `max_delegation_ttl_days`, `onward_delegation`,
    /// `depth_ceiling`, `hitl`).
    pub async fn update_managed_secret(
        &self,
        managed_secret_id: &str,
        body: Value,
    ) -> Result<Value, AdminError> {
        self.post(&format!("/_dev/managed-secrets/{managed_secret_id}"), body)
            .await
    }

    /// `POST /_dev/managed-secrets/{id}/credentials`: another developer
    /// credential; returns its id.
    pub async fn add_secret_credential(
        &self,
        managed_secret_id: &str,
        body: Value,
    ) -> Result<String, AdminError> {
        let path = format!("/_dev/managed-secrets/{managed_secret_id}/credentials");
        field(&self.post(&path, body).await?, "credential_id")
    }

    /// `GET /_dev/connect/{token}`: a Connect session as stored, with its
    /// poll answer under `poll`.
    pub async fn connect_session(&self, session_token: &str) -> Result<Value, AdminError> {
        self.call(Method::GET, &format!("/_dev/connect/{session_token}"), None)
            .await
    }

    /// `POST /_dev/connect/{token}`: approves, denies, declines, fails or
    /// expires a Connect session as the consent page would; returns the
    /// poll answer.
    pub async fn drive_connect(
        &self,
        session_token: &str,
        body: Value,
    ) -> Result<Value, AdminError> {
        self.post(&format!("/_dev/connect/{session_token}"), body)
            .await
    }

    /// `POST /_dev/auth-sessions/{token}`: completes (`{action: "complete",
    /// email}`), fails or expires a sign-in session; returns the poll
    /// answer.
    pub async fn drive_auth(&self, session_token: &str, body: Value) -> Result<Value, AdminError> {
        self.post(&format!("/_dev/auth-sessions/{session_token}"), body)
            .await
    }

    /// `POST /_dev/agents/{id}` (`rate_limit_per_minute`, `status`).
    pub async fn update_agent(&self, agent_id: &str, body: Value) -> Result<Value, AdminError> {
        self.post(&format!("/_dev/agents/{agent_id}"), body).await
    }
}
