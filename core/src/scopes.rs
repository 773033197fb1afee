//! The scope catalog: every scope the vault knows, by resource
//! (agents-and-keys.md §7). Not cached.

use crate::backend::{self, model};
use crate::client::Client;
use crate::error::Result;
use crate::transport::{Call, Site};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The verbs one resource supports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceScopes {
    pub verbs: Vec<String>,
}

/// The server-published scope set at its current version. Scopes read
/// `resource:verb`, optionally narrowed to one instance as
/// `resource:verb:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeCatalog {
    pub scope_version: i64,
    pub resources: BTreeMap<String, ResourceScopes>,
    pub action_verbs: Vec<String>,
    #[serde(default)]
    pub deprecated: Vec<String>,
}

impl ScopeCatalog {
    /// Every `resource:verb` the catalog lists, sorted.
    pub fn all_scopes(&self) -> Vec<String> {
        self.resources
            .iter()
            .flat_map(|(r, s)| s.verbs.iter().map(move |v| format!("{r}:{v}")))
            .collect()
    }
}

/// The `scopes` namespace.
#[derive(Debug, Clone, Copy)]
pub struct Scopes<'a> {
    client: &'a Client,
}

impl Client {
    /// The scope catalog.
    pub fn scopes(&self) -> Scopes<'_> {
        Scopes { client: self }
    }
}

impl Scopes<'_> {
    /// `GET /sdk/scopes`.
    pub async fn list(&self) -> Result<ScopeCatalog> {
        self.client.ensure_open()?;
        let call =
            Call::new(Method::GET, "/sdk/scopes", Site::Namespace).actor(backend::ambient_actor()?);
        let reply = self.client.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "scopes.list")?;
        model(obj, "scopes.list", reply.status, |_: &ScopeCatalog| Ok(()))
    }

    /// The documented name of [`Scopes::list`].
    pub async fn get_catalog(&self) -> Result<ScopeCatalog> {
        self.list().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_model() {
        let c: ScopeCatalog = serde_json::from_value(serde_json::json!({
            "scope_version": 3,
            "resources": {"tokens": {"verbs": ["retrieve"]}, "grants": {"verbs": ["read", "write"]}},
            "action_verbs": ["read", "write", "retrieve"]
        }))
        .unwrap();
        assert!(c.deprecated.is_empty());
        assert_eq!(
            c.all_scopes(),
            vec!["grants:read", "grants:write", "tokens:retrieve"]
        );
    }
}
