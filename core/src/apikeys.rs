//! The `keys` namespace (App and Agent): derive narrower short-lived keys,
//! rotate and revoke keys (agents-and-keys.md §6). Not to be confused with
//! `keys.rs`, the key grammar. Errors go through the main mapper, so a 404
//! arrives as `GrantNotFoundError`.

use crate::backend::{self, model};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::transport::{encode_segment, Call, Site};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A scoped API key's record (never its plaintext).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct APIKeyInfo {
    pub id: String,
    pub name: String,
    pub key_prefix: String,
    /// `rk`, `ak`, `dk` or `pk`.
    pub key_type: String,
    pub scopes: Vec<String>,
    pub scope_version: i64,
    #[serde(default)]
    pub cidr_allowlist: Option<Vec<String>>,
    /// The per-key override; `None` means no override (not unlimited).
    #[serde(default)]
    pub rate_limit_rpm: Option<i64>,
    #[serde(default)]
    pub effective_rate_limit_rpm: Option<i64>,
    /// `key`, `organization` or `platform_default`.
    #[serde(default)]
    pub rate_limit_source: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub deprecated_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
    #[serde(default)]
    pub parent_key_id: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
}

impl APIKeyInfo {
    /// `revoked`, else `rotated` (deprecated by a rotation), else `active`.
    pub fn status(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.deprecated_at.is_some() {
            "rotated"
        } else {
            "active"
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        if !["rk", "ak", "dk", "pk"].contains(&self.key_type.as_str()) {
            return Err(format!("unexpected key_type {:?}", self.key_type));
        }
        if crate::principals::normalize_uuid(&self.id).is_none() {
            return Err("id must be a UUID".into());
        }
        if self.effective_rate_limit_rpm.is_some() != self.rate_limit_source.is_some() {
            return Err(
                "effective_rate_limit_rpm and rate_limit_source must be both set or both null"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A freshly minted key: its record plus the plaintext, shown once.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct MintedKey {
    #[serde(flatten)]
    pub info: APIKeyInfo,
    pub api_key: String,
}

impl fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedKey")
            .field("info", &self.info)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// Arguments of `keys.derive`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeriveKey {
    /// A subset of the caller's scopes; never `keys:derive`.
    pub scopes: Vec<String>,
    /// Seconds; capped by the org policy and the caller's own expiry.
    pub expires_in: i64,
    /// Inherited from the caller when `None`; must narrow it otherwise.
    pub cidr_allowlist: Option<Vec<String>>,
    pub name: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    /// Per-key requests-per-minute override (the docs' argument).
    pub rate_limit_rpm: Option<i64>,
}

impl DeriveKey {
    /// The request body: `scopes`, `expires_in`, then the optional fields
    /// in order.
    pub(crate) fn body(&self) -> Result<Value> {
        if self.scopes.is_empty() || self.scopes.iter().any(String::is_empty) {
            return Err(Error::value(
                "scopes must be a non-empty list of non-empty scope strings",
            ));
        }
        if self.scopes.iter().any(|s| s == "keys:derive") {
            return Err(Error::value(
                "a derived key cannot carry keys:derive (derived keys may not derive)",
            ));
        }
        if self.expires_in <= 0 {
            return Err(Error::value("expires_in must be a positive integer"));
        }
        if self.rate_limit_rpm.is_some_and(|r| r <= 0) {
            return Err(Error::value("rate_limit_rpm must be a positive integer"));
        }
        let strings = |l: &[String]| Value::Array(l.iter().map(|s| s.as_str().into()).collect());
        let mut m = Map::new();
        m.insert("scopes".into(), strings(&self.scopes));
        m.insert("expires_in".into(), self.expires_in.into());
        if let Some(c) = &self.cidr_allowlist {
            m.insert("cidr_allowlist".into(), strings(c));
        }
        if let Some(n) = &self.name {
            m.insert("name".into(), n.as_str().into());
        }
        if let Some(md) = &self.metadata {
            m.insert("metadata".into(), Value::Object(md.clone()));
        }
        if let Some(r) = self.rate_limit_rpm {
            m.insert("rate_limit_rpm".into(), r.into());
        }
        Ok(Value::Object(m))
    }
}

/// The `keys` namespace.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    client: &'a Client,
}

impl Client {
    /// Scoped API keys: derive, rotate, revoke.
    pub fn keys(&self) -> Keys<'_> {
        Keys { client: self }
    }
}

fn key_segment(key_id: &str) -> Result<String> {
    if key_id.trim().is_empty() {
        return Err(Error::value("key_id must be a non-empty string"));
    }
    Ok(encode_segment(key_id))
}

impl Keys<'_> {
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        call: Call,
        what: &str,
        check: impl FnOnce(&T) -> std::result::Result<(), String>,
    ) -> Result<T> {
        self.client.ensure_open()?;
        let call = call.actor(backend::ambient_actor()?);
        let reply = self.client.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, what)?;
        model(obj, what, reply.status, check)
    }

    /// A new key with a subset of this key's scopes and a bounded lifetime.
    pub async fn derive(&self, args: &DeriveKey) -> Result<MintedKey> {
        let body = args.body()?;
        let call = Call::new(Method::POST, "/sdk/keys/derive", Site::Namespace).json(&body);
        self.send(call, "keys.derive", check_minted).await
    }

    /// A successor with the same scopes; the old key keeps working for
    /// `overlap_days` (0–30, default 7).
    pub async fn rotate(&self, key_id: &str, overlap_days: i64) -> Result<MintedKey> {
        let seg = key_segment(key_id)?;
        if !(0..=30).contains(&overlap_days) {
            return Err(Error::value("overlap_days must be an integer from 0 to 30"));
        }
        let call = Call::new(
            Method::POST,
            format!("/sdk/keys/{seg}/rotate"),
            Site::Namespace,
        )
        .json(&serde_json::json!({ "overlap_days": overlap_days }));
        self.send(call, "keys.rotate", check_minted).await
    }

    /// Revokes a key and every key derived from it; a managed agent's last
    /// active key needs `force`.
    pub async fn revoke(&self, key_id: &str, force: bool) -> Result<APIKeyInfo> {
        let seg = key_segment(key_id)?;
        let mut target = format!("/sdk/keys/{seg}");
        if force {
            target.push_str("?force=true");
        }
        let call = Call::new(Method::DELETE, target, Site::Namespace).idempotent(true);
        self.send(call, "keys.revoke", APIKeyInfo::check).await
    }
}

fn check_minted(k: &MintedKey) -> std::result::Result<(), String> {
    if k.api_key.is_empty() {
        return Err("api_key must be non-empty".into());
    }
    k.info.check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn derive_body() {
        let d = DeriveKey {
            scopes: vec!["tokens:retrieve".into()],
            expires_in: 3600,
            ..Default::default()
        };
        assert_eq!(
            crate::json::compact_ascii(&d.body().unwrap()),
            r#"{"scopes":["tokens:retrieve"],"expires_in":3600}"#
        );
        let mut md = Map::new();
        md.insert("team".into(), "x".into());
        let full = DeriveKey {
            cidr_allowlist: Some(vec!["10.0.0.0/8".into()]),
            name: Some("ci".into()),
            metadata: Some(md),
            rate_limit_rpm: Some(60),
            ..d.clone()
        };
        assert_eq!(
            crate::json::compact_ascii(&full.body().unwrap()),
            r#"{"scopes":["tokens:retrieve"],"expires_in":3600,"cidr_allowlist":["10.0.0.0/8"],"name":"ci","metadata":{"team":"x"},"rate_limit_rpm":60}"#
        );
        for bad in [
            DeriveKey {
                scopes: vec![],
                ..d.clone()
            },
            DeriveKey {
                scopes: vec![String::new()],
                ..d.clone()
            },
            DeriveKey {
                scopes: vec!["keys:derive".into()],
                ..d.clone()
            },
            DeriveKey {
                expires_in: 0,
                ..d.clone()
            },
            DeriveKey {
                rate_limit_rpm: Some(0),
                ..d.clone()
            },
        ] {
            assert_eq!(bad.body().unwrap_err().kind(), "AlterValueError");
        }
        assert!(key_segment(" ").is_err());
        assert_eq!(key_segment("a/b").unwrap(), "a%2Fb");
    }

    #[test]
    fn key_models() {
        let base = json!({"id": "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00", "name": "derived",
            "key_prefix": "alter_dk_abcd", "key_type": "dk", "scopes": ["tokens:retrieve"],
            "scope_version": 1, "created_at": "t", "api_key": "alter_dk_secret"});
        let parse = |v: Value| -> Result<MintedKey> {
            let Value::Object(m) = v else { unreachable!() };
            model(m, "keys.derive", 201, check_minted)
        };
        let k = parse(base.clone()).unwrap();
        assert_eq!(k.info.status(), "active");
        assert!(!format!("{k:?}").contains("alter_dk_secret"));
        let mut rotated = base.clone();
        rotated["deprecated_at"] = json!("t");
        assert_eq!(parse(rotated).unwrap().info.status(), "rotated");
        let mut one_sided = base.clone();
        one_sided["effective_rate_limit_rpm"] = json!(60);
        assert!(parse(one_sided.clone()).is_err());
        one_sided["rate_limit_source"] = json!("key");
        assert!(parse(one_sided).is_ok());
        let mut bad_type = base.clone();
        bad_type["key_type"] = json!("xk");
        assert!(parse(bad_type).is_err());
        let mut no_key = base;
        no_key.as_object_mut().unwrap().remove("api_key");
        assert!(parse(no_key).is_err());
    }
}
