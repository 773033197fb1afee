//! `app.agents`: managed agents and their keys (App only), and `Agent::me`.
//! These calls use their own error mapper (`error::map_agents_error`).

use crate::backend::lenient;
use crate::client::Client;
use crate::error::{self, Details, Error, Result};
use crate::principals::{Agent, App};
use crate::transport::{encode_segment, Call, Site};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

fn literal<'de, D: Deserializer<'de>>(
    d: D,
    allowed: &[&str],
    what: &str,
) -> std::result::Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if allowed.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!("unexpected {what} {s:?}")))
    }
}

fn agent_type<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    literal(d, &["agent", "service"], "type")
}

fn agent_status<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    literal(d, &["active", "inactive", "revoked"], "status")
}

fn non_empty_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        Err(serde::de::Error::custom("expected a non-empty string"))
    } else {
        Ok(s)
    }
}

/// A UUID in any standard spelling, kept in canonical lowercase form.
fn uuid_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let s = String::deserialize(d)?;
    crate::principals::normalize_uuid(&s).ok_or_else(|| serde::de::Error::custom("expected a UUID"))
}

fn opt_uuid_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => crate::principals::normalize_uuid(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected a UUID")),
    }
}

/// A managed agent's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Canonical lowercase UUID.
    #[serde(deserialize_with = "uuid_string")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `agent` or `service`.
    #[serde(rename = "type", deserialize_with = "agent_type")]
    pub agent_type: String,
    /// `active`, `inactive` (paused) or `revoked`.
    #[serde(deserialize_with = "agent_status")]
    pub status: String,
    #[serde(default)]
    pub scopes: Map<String, Value>,
    #[serde(default)]
    pub scopes_pending: Option<Map<String, Value>>,
    #[serde(default)]
    pub scopes_applies_at: Option<String>,
    #[serde(default)]
    pub policy: Map<String, Value>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub rate_limit_per_minute: Option<i64>,
    pub version: i64,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default, deserialize_with = "opt_uuid_string")]
    pub parent_agent_id: Option<String>,
    #[serde(default)]
    pub stored_legacy_managed_secret_names: Vec<String>,
}

/// `agents.create`: the record plus the plaintext key, shown once (`None`
/// on an idempotent replay).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCreateResult {
    #[serde(flatten)]
    pub agent: AgentInfo,
    /// Always present on the wire; `null` on an idempotent replay.
    #[serde(deserialize_with = "lenient::nullable")]
    pub api_key: Option<String>,
    #[serde(deserialize_with = "uuid_string")]
    pub key_id: String,
}

impl fmt::Debug for AgentCreateResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentCreateResult")
            .field("agent", &self.agent)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// One page of agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentListResult {
    #[serde(alias = "items")]
    pub agents: Vec<AgentInfo>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub has_more: bool,
}

/// A per-agent key (never its plaintext).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentKey {
    #[serde(deserialize_with = "uuid_string")]
    pub key_id: String,
    #[serde(deserialize_with = "non_empty_string")]
    pub key_prefix: String,
    #[serde(deserialize_with = "non_empty_string")]
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub deprecated_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
    #[serde(default)]
    pub last_used_at: Option<String>,
}

impl AgentKey {
    /// `revoked`, else `deprecated`, else `active`; derived, never on the wire.
    pub fn status(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.deprecated_at.is_some() {
            "deprecated"
        } else {
            "active"
        }
    }
}

/// `agents.mint_key`: the key plus its plaintext, shown once.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentKeyMintResult {
    #[serde(flatten)]
    pub key: AgentKey,
    /// Always present on the wire.
    #[serde(deserialize_with = "lenient::nullable")]
    pub api_key: Option<String>,
}

impl fmt::Debug for AgentKeyMintResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKeyMintResult")
            .field("key", &self.key)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// All keys of an agent, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentKeyList {
    pub items: Vec<AgentKey>,
}

/// Arguments of `agents.create`.
#[derive(Debug, Clone, Default)]
pub struct CreateAgent {
    pub name: String,
    /// `None` sends no `scopes` field: the agent reaches exactly the grants
    /// bound or delegated to it. (The hosted backend may insist on it.)
    pub scopes: Option<Map<String, Value>>,
    pub display_name: Option<String>,
    /// `agent` (default) or `service`.
    pub agent_type: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub policy: Option<Map<String, Value>>,
    pub idempotency_key: Option<String>,
}

/// Arguments of `agents.update`; absent fields are left alone.
#[derive(Debug, Clone, Default)]
pub struct UpdateAgent {
    pub display_name: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub scopes: Option<Map<String, Value>>,
    pub expected_version: Option<i64>,
    pub grace_seconds: Option<i64>,
    pub policy: Option<Map<String, Value>>,
}

fn trimmed_non_empty(s: &str) -> bool {
    !s.is_empty() && s.trim() == s
}

/// The scope allowlist rules shared by create and update.
pub fn validate_agent_scopes(scopes: &Map<String, Value>) -> Result<()> {
    for (k, v) in scopes {
        if !trimmed_non_empty(k) {
            return Err(Error::value(
                "scopes keys must be non-empty strings without surrounding whitespace",
            ));
        }
        let list = v.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
            Error::value(format!("scopes[{k:?}] must be a non-empty list of strings"))
        })?;
        if !list
            .iter()
            .all(|s| s.as_str().is_some_and(trimmed_non_empty))
        {
            return Err(Error::value(format!(
                "scopes[{k:?}] entries must be non-empty strings without surrounding whitespace"
            )));
        }
    }
    let size = crate::json::compact_utf8(&Value::Object(scopes.clone())).len();
    if size > 12288 {
        return Err(Error::value("scopes exceed 12288 bytes once encoded"));
    }
    Ok(())
}

fn require(name: &str, v: &str) -> Result<()> {
    if v.is_empty() {
        Err(Error::value(format!("{name} must be a non-empty string")))
    } else {
        Ok(())
    }
}

/// The `agents.create` body: `name`, `type`, `scopes` (only when given),
/// `metadata` (always), then `display_name` and `policy` when given.
pub(crate) fn create_body(a: &CreateAgent) -> Result<Value> {
    require("name", &a.name)?;
    let agent_type = a.agent_type.clone().unwrap_or_else(|| "agent".into());
    if agent_type != "agent" && agent_type != "service" {
        return Err(Error::value("type must be 'agent' or 'service'"));
    }
    if let Some(s) = &a.scopes {
        validate_agent_scopes(s)?;
    }
    let mut body = Map::new();
    body.insert("name".into(), a.name.as_str().into());
    body.insert("type".into(), agent_type.into());
    if let Some(s) = &a.scopes {
        body.insert("scopes".into(), Value::Object(s.clone()));
    }
    body.insert(
        "metadata".into(),
        Value::Object(a.metadata.clone().unwrap_or_default()),
    );
    if let Some(d) = &a.display_name {
        body.insert("display_name".into(), d.as_str().into());
    }
    if let Some(p) = &a.policy {
        body.insert("policy".into(), Value::Object(p.clone()));
    }
    Ok(Value::Object(body))
}

impl Client {
    /// Sends a call through the agents mapper and parses the 2xx body.
    pub(crate) async fn agents_call<T: DeserializeOwned>(
        &self,
        call: Call,
        what: &str,
    ) -> Result<T> {
        self.ensure_open()?;
        // Namespace calls carry the actor set with the ambient trace context.
        let call = call.actor(crate::backend::ambient_actor()?);
        let reply = self.shared.send(&self.local, &call).await?;
        if reply.status >= 400 {
            return Err(error::map_agents_error(&reply.failure()));
        }
        let value: Value = if reply.status == 204 || reply.body.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(&reply.body).map_err(|_| {
                let mut d = Details::new();
                d.insert("status_code".into(), reply.status.into());
                Error::backend("Backend returned non-JSON 2xx body", d, Some(reply.status))
            })?
        };
        serde_json::from_value(value).map_err(|e| {
            let mut d = Details::new();
            d.insert("status_code".into(), reply.status.into());
            d.insert(
                "validation_errors".into(),
                vec![Value::from(e.to_string())].into(),
            );
            Error::backend(
                format!("{what}: backend response failed validation"),
                d,
                Some(reply.status),
            )
        })
    }
}

/// The `agents` namespace of an [`App`].
#[derive(Debug, Clone, Copy)]
pub struct Agents<'a> {
    client: &'a Client,
}

impl App {
    /// Managed agents and their keys.
    pub fn agents(&self) -> Agents<'_> {
        Agents { client: self }
    }
}

impl Agent {
    /// The calling agent's own record; works while the agent is paused.
    pub async fn me(&self) -> Result<AgentInfo> {
        self.agents_call(
            Call::new(Method::GET, "/sdk/agents/me", Site::Namespace),
            "me",
        )
        .await
    }
}

impl Agents<'_> {
    /// Creates a managed agent and its first key; the plaintext key is in
    /// the result once (`None` on an idempotent replay).
    pub async fn create(&self, a: CreateAgent) -> Result<AgentCreateResult> {
        let body = create_body(&a)?;
        let mut call = Call::new(Method::POST, "/sdk/agents", Site::Namespace).json(&body);
        if let Some(k) = a.idempotency_key {
            if k.contains('\r') || k.contains('\n') {
                return Err(Error::value("idempotency_key must not contain CR or LF"));
            }
            let v = HeaderValue::from_str(&k)
                .map_err(|_| Error::value("idempotency_key contains invalid characters"))?;
            call.extra_headers
                .push((HeaderName::from_static("idempotency-key"), v));
            // With an idempotency key a repeat returns the same agent.
            call = call.idempotent(true);
        }
        let result: AgentCreateResult = self.client.agents_call(call, "agents.create").await?;
        if result.api_key.as_deref() == Some("") {
            return Err(Error::backend(
                "agents.create: backend returned an empty api_key",
                Details::new(),
                None,
            ));
        }
        Ok(result)
    }

    pub async fn list(
        &self,
        include_revoked: bool,
        limit: i64,
        offset: i64,
    ) -> Result<AgentListResult> {
        if !(1..=1000).contains(&limit) {
            return Err(Error::value("limit must be an integer between 1 and 1000"));
        }
        if offset < 0 {
            return Err(Error::value("offset must be a non-negative integer"));
        }
        let target =
            format!("/sdk/agents?include_revoked={include_revoked}&limit={limit}&offset={offset}");
        self.client
            .agents_call(
                Call::new(Method::GET, target, Site::Namespace),
                "agents.list",
            )
            .await
    }

    pub async fn get(&self, agent_id: &str) -> Result<AgentInfo> {
        require("agent_id", agent_id)?;
        let target = format!("/sdk/agents/{}", encode_segment(agent_id));
        self.client
            .agents_call(
                Call::new(Method::GET, target, Site::Namespace),
                "agents.get",
            )
            .await
    }

    /// `None` when no non-revoked agent has this name.
    pub async fn get_by_name(&self, name: &str) -> Result<Option<AgentInfo>> {
        require("name", name)?;
        let mut q = String::new();
        crate::signing::form_encode(name, &mut q);
        #[derive(Deserialize)]
        struct Page {
            items: Vec<AgentInfo>,
        }
        let page: Page = self
            .client
            .agents_call(
                Call::new(
                    Method::GET,
                    format!("/sdk/agents?name={q}"),
                    Site::Namespace,
                ),
                "agents.get_by_name",
            )
            .await?;
        Ok(page.items.into_iter().next())
    }

    pub async fn update(&self, agent_id: &str, u: UpdateAgent) -> Result<AgentInfo> {
        require("agent_id", agent_id)?;
        if let Some(s) = &u.scopes {
            validate_agent_scopes(s)?;
            match u.expected_version {
                Some(v) if v >= 1 => {}
                _ => {
                    return Err(Error::value(
                        "expected_version (an integer >= 1) is required when scopes is given",
                    ))
                }
            }
        }
        if let Some(g) = u.grace_seconds {
            if u.scopes.is_none() {
                return Err(Error::value("grace_seconds requires scopes"));
            }
            if !(0..=604_800).contains(&g) {
                return Err(Error::value("grace_seconds must be between 0 and 604800"));
            }
        }
        let mut target = format!("/sdk/agents/{}", encode_segment(agent_id));
        let mut params = Vec::new();
        if let Some(g) = u.grace_seconds {
            params.push(format!("grace_seconds={g}"));
        }
        if let Some(v) = u.expected_version {
            params.push(format!("expected_version={v}"));
        }
        if !params.is_empty() {
            target.push('?');
            target.push_str(&params.join("&"));
        }
        let mut body = Map::new();
        if let Some(d) = u.display_name {
            body.insert("display_name".into(), d.into());
        }
        if let Some(m) = u.metadata {
            body.insert("metadata".into(), Value::Object(m));
        }
        if let Some(s) = u.scopes {
            body.insert("scopes".into(), Value::Object(s));
        }
        if let Some(p) = u.policy {
            body.insert("policy".into(), Value::Object(p));
        }
        let call = Call::new(Method::PATCH, target, Site::Namespace).json(&Value::Object(body));
        self.client.agents_call(call, "agents.update").await
    }

    async fn set_status(&self, agent_id: &str, status: &str) -> Result<AgentInfo> {
        require("agent_id", agent_id)?;
        let target = format!("/sdk/agents/{}", encode_segment(agent_id));
        let call = Call::new(Method::PATCH, target, Site::Namespace)
            .json(&serde_json::json!({ "status": status }))
            .idempotent(true);
        self.client.agents_call(call, "agents.update").await
    }

    /// Pauses the agent: its keys get `agent_inactive` everywhere but `me()`.
    pub async fn suspend(&self, agent_id: &str) -> Result<AgentInfo> {
        self.set_status(agent_id, "inactive").await
    }

    pub async fn resume(&self, agent_id: &str) -> Result<AgentInfo> {
        self.set_status(agent_id, "active").await
    }

    /// Terminal: revokes the agent and every key it has.
    pub async fn delete(&self, agent_id: &str) -> Result<AgentInfo> {
        require("agent_id", agent_id)?;
        let target = format!("/sdk/agents/{}", encode_segment(agent_id));
        let call = Call::new(Method::DELETE, target, Site::Namespace).idempotent(true);
        self.client.agents_call(call, "agents.delete").await
    }

    pub async fn mint_key(&self, agent_id: &str) -> Result<AgentKeyMintResult> {
        require("agent_id", agent_id)?;
        let target = format!("/sdk/agents/{}/keys", encode_segment(agent_id));
        let call =
            Call::new(Method::POST, target, Site::Namespace).json(&Value::Object(Map::new()));
        let r: AgentKeyMintResult = self.client.agents_call(call, "agents.mint_key").await?;
        if r.api_key.as_deref() == Some("") {
            return Err(Error::backend(
                "agents.mint_key: backend returned an empty api_key",
                Details::new(),
                None,
            ));
        }
        Ok(r)
    }

    pub async fn list_keys(&self, agent_id: &str) -> Result<AgentKeyList> {
        require("agent_id", agent_id)?;
        let target = format!("/sdk/agents/{}/keys", encode_segment(agent_id));
        self.client
            .agents_call(
                Call::new(Method::GET, target, Site::Namespace),
                "agents.list_keys",
            )
            .await
    }

    async fn key_action(&self, agent_id: &str, key_id: &str, action: &str) -> Result<AgentKey> {
        require("agent_id", agent_id)?;
        require("key_id", key_id)?;
        let target = format!(
            "/sdk/agents/{}/keys/{}/{action}",
            encode_segment(agent_id),
            encode_segment(key_id)
        );
        let call = Call::new(Method::PATCH, target, Site::Namespace)
            .json(&Value::Object(Map::new()))
            .idempotent(true);
        self.client.agents_call(call, "agents.key").await
    }

    /// Soft-revokes a key: it keeps working, and every response says so.
    pub async fn deprecate_key(&self, agent_id: &str, key_id: &str) -> Result<AgentKey> {
        self.key_action(agent_id, key_id, "deprecate").await
    }

    pub async fn undeprecate_key(&self, agent_id: &str, key_id: &str) -> Result<AgentKey> {
        self.key_action(agent_id, key_id, "undeprecate").await
    }

    /// Revokes a key; the last active key needs `force`.
    pub async fn revoke_key(&self, agent_id: &str, key_id: &str, force: bool) -> Result<AgentKey> {
        require("agent_id", agent_id)?;
        require("key_id", key_id)?;
        let mut target = format!(
            "/sdk/agents/{}/keys/{}",
            encode_segment(agent_id),
            encode_segment(key_id)
        );
        if force {
            target.push_str("?force=true");
        }
        let call = Call::new(Method::DELETE, target, Site::Namespace).idempotent(true);
        self.client.agents_call(call, "agents.revoke_key").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn create_body_order_and_checks() {
        let minimal = CreateAgent {
            name: "research-bot".into(),
            ..Default::default()
        };
        assert_eq!(
            crate::json::compact_ascii(&create_body(&minimal).unwrap()),
            r#"{"name":"research-bot","type":"agent","metadata":{}}"#
        );
        let full = CreateAgent {
            name: "bot".into(),
            scopes: Some(obj(
                json!({"google": ["openid"], "managed_secret_slugs": ["stripe"]}),
            )),
            display_name: Some("Bot".into()),
            agent_type: Some("service".into()),
            metadata: Some(obj(json!({"team": "x"}))),
            policy: Some(obj(json!({"requires_approval": false}))),
            idempotency_key: None,
        };
        assert_eq!(
            crate::json::compact_ascii(&create_body(&full).unwrap()),
            r#"{"name":"bot","type":"service","scopes":{"google":["openid"],"managed_secret_slugs":["stripe"]},"metadata":{"team":"x"},"display_name":"Bot","policy":{"requires_approval":false}}"#
        );
        let deny_all = CreateAgent {
            scopes: Some(Map::new()),
            ..minimal.clone()
        };
        assert!(create_body(&deny_all).is_ok());
        for bad in [
            CreateAgent {
                name: String::new(),
                ..minimal.clone()
            },
            CreateAgent {
                agent_type: Some("robot".into()),
                ..minimal.clone()
            },
            CreateAgent {
                scopes: Some(obj(json!({"google": []}))),
                ..minimal.clone()
            },
            CreateAgent {
                scopes: Some(obj(json!({" google": ["x"]}))),
                ..minimal.clone()
            },
            CreateAgent {
                scopes: Some(obj(json!({"google": ["x "]}))),
                ..minimal.clone()
            },
            CreateAgent {
                scopes: Some(obj(json!({"google": "x"}))),
                ..minimal.clone()
            },
            CreateAgent {
                scopes: Some(obj(json!({"google": vec!["s".repeat(100); 130]}))),
                ..minimal.clone()
            },
        ] {
            assert_eq!(create_body(&bad).unwrap_err().kind(), "AlterValueError");
        }
    }

    fn agent_json() -> Value {
        json!({"id": "0B6F2D7E-52C4-4C1D-9E55-2A8F3C9D1E00", "name": "bot", "type": "agent",
            "status": "inactive", "version": 2, "created_at": "2026-01-01T00:00:00Z"})
    }

    #[test]
    fn agent_models() {
        let a: AgentInfo = serde_json::from_value(agent_json()).unwrap();
        assert_eq!(a.id, "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00");
        assert!(a.scopes.is_empty() && a.stored_legacy_managed_secret_names.is_empty());
        for (k, v) in [
            ("type", json!("robot")),
            ("status", json!("paused")),
            ("id", json!("x")),
        ] {
            let mut bad = agent_json();
            bad[k] = v;
            assert!(serde_json::from_value::<AgentInfo>(bad).is_err(), "{k}");
        }
        let mut created = agent_json();
        created["key_id"] = json!("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e01");
        // `api_key` must be present, possibly null.
        assert!(serde_json::from_value::<AgentCreateResult>(created.clone()).is_err());
        created["api_key"] = Value::Null;
        let replay: AgentCreateResult = serde_json::from_value(created.clone()).unwrap();
        assert_eq!(replay.api_key, None);
        created["api_key"] = json!("alter_key_secret");
        let fresh: AgentCreateResult = serde_json::from_value(created).unwrap();
        assert!(!format!("{fresh:?}").contains("alter_key_secret"));

        let key = json!({"key_id": "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e01", "key_prefix": "alter_key_ab",
            "name": "bot-1", "created_at": "t", "deprecated_at": "t"});
        let k: AgentKey = serde_json::from_value(key.clone()).unwrap();
        assert_eq!(k.status(), "deprecated");
        let mut empty_prefix = key.clone();
        empty_prefix["key_prefix"] = json!("");
        assert!(serde_json::from_value::<AgentKey>(empty_prefix).is_err());
        assert!(serde_json::from_value::<AgentKeyMintResult>(key.clone()).is_err());
        let mut minted = key;
        minted["api_key"] = json!("alter_key_secret");
        let m: AgentKeyMintResult = serde_json::from_value(minted).unwrap();
        assert!(!format!("{m:?}").contains("alter_key_secret"));
        let list: AgentListResult = serde_json::from_value(json!({
            "items": [agent_json()], "total": 1, "limit": 100, "offset": 0, "has_more": false
        }))
        .unwrap();
        assert_eq!(list.agents.len(), 1);
    }
}
