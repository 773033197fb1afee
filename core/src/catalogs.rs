//! The two read-only catalogs: `oauth_providers` (the OAuth providers the
//! vault can connect, cached for 300 s per client) and `provider_specs`
//! (the API descriptions behind operation matching). Both need
//! `providers:read` and use the main error mapper, so a 404 arrives as
//! `GrantNotFoundError` with `details["error"]` naming what was missing.

use crate::backend::{self, model};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::principals::{Agent, App};
use crate::transport::{encode_segment, Call, Site};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long `oauth_providers.list` serves its cached copy.
pub const OAUTH_CATALOG_TTL: Duration = Duration::from_secs(300);

/// The per-client cache of the OAuth provider catalog.
#[derive(Debug, Clone, Default)]
pub(crate) struct CatalogCache(Arc<Mutex<Option<(Instant, OAuthProviderCatalog)>>>);

/// What one OAuth scope means for a provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OAuthProviderScopeInfo {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub is_default: bool,
    /// Scopes this one needs alongside it.
    #[serde(default)]
    pub requires: Vec<String>,
}

/// One connectable OAuth provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthProviderCatalogItem {
    pub id: String,
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub supports_refresh: bool,
    #[serde(default)]
    pub supports_pkce: bool,
    /// Scope → what it means.
    #[serde(default)]
    pub available_scopes: BTreeMap<String, OAuthProviderScopeInfo>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    pub status: String,
}

/// The OAuth providers the vault can connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthProviderCatalog {
    pub providers: Vec<OAuthProviderCatalogItem>,
}

impl OAuthProviderCatalog {
    fn item(&self, provider: &str) -> Option<&OAuthProviderCatalogItem> {
        self.providers.iter().find(|p| p.id == provider)
    }

    /// The scopes a Connect session asks for by default (empty when the
    /// provider is unknown).
    pub fn get_default_scopes(&self, provider: &str) -> Vec<String> {
        self.item(provider)
            .map(|p| p.default_scopes.clone())
            .unwrap_or_default()
    }

    /// The scopes a grant on this provider always carries (empty when the
    /// provider is unknown).
    pub fn get_required_scopes(&self, provider: &str) -> Vec<String> {
        self.item(provider)
            .map(|p| p.required_scopes.clone())
            .unwrap_or_default()
    }
}

/// The `oauth_providers` namespace.
#[derive(Debug, Clone, Copy)]
pub struct OAuthProviders<'a> {
    client: &'a Client,
    cache: &'a CatalogCache,
}

impl App {
    /// The OAuth provider catalog.
    pub fn oauth_providers(&self) -> OAuthProviders<'_> {
        OAuthProviders {
            client: self,
            cache: self.catalog_cache(),
        }
    }
}

impl Agent {
    /// The OAuth provider catalog.
    pub fn oauth_providers(&self) -> OAuthProviders<'_> {
        OAuthProviders {
            client: self,
            cache: self.catalog_cache(),
        }
    }
}

impl OAuthProviders<'_> {
    /// The catalog, from this client's 300-second cache unless
    /// `force_refresh`. Each call returns its own copy.
    pub async fn list(&self, force_refresh: bool) -> Result<OAuthProviderCatalog> {
        self.client.ensure_open()?;
        if !force_refresh {
            if let Some((at, cat)) = crate::guard::lock(&self.cache.0).as_ref() {
                if at.elapsed() < OAUTH_CATALOG_TTL {
                    return Ok(cat.clone());
                }
            }
        }
        let call = Call::new(Method::GET, "/sdk/oauth/provider-catalog", Site::Namespace)
            .actor(backend::ambient_actor()?);
        let reply = self.client.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "oauth_providers.list")?;
        let cat: OAuthProviderCatalog = model(
            obj,
            "oauth_providers.list",
            reply.status,
            |_: &OAuthProviderCatalog| Ok(()),
        )?;
        *crate::guard::lock(&self.cache.0) = Some((Instant::now(), cat.clone()));
        Ok(cat)
    }
}

// =============================================================================
// provider_specs
// =============================================================================

/// One stored API description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderSpec {
    /// `oauth` or `managed`.
    pub provider_kind: String,
    pub provider_id: String,
    pub version: Value,
    pub provenance: String,
    #[serde(default)]
    pub source_url: Option<String>,
    pub content_hash: String,
    pub operation_count: i64,
    pub fetched_at: String,
    pub changed_at: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub spec_version: Option<String>,
}

/// One operation of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecOperation {
    pub operation_id: String,
    pub method: String,
    pub path_template: String,
    #[serde(default)]
    pub summary: Option<String>,
}

/// A page of a spec's operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecOperationsPage {
    pub items: Vec<SpecOperation>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub has_more: bool,
    pub spec: ProviderSpec,
}

/// One operation with its schemas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecOperationDetail {
    pub operation_id: String,
    pub method: String,
    pub path_template: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub params_schema: Option<Value>,
    #[serde(default)]
    pub request_schema: Option<Value>,
    #[serde(default)]
    pub response_schema: Option<Value>,
    pub spec: ProviderSpec,
}

/// The `provider_specs` namespace.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpecs<'a> {
    client: &'a Client,
}

impl Client {
    /// Provider API descriptions.
    pub fn provider_specs(&self) -> ProviderSpecs<'_> {
        ProviderSpecs { client: self }
    }
}

fn check_kind(kind: &str) -> Result<()> {
    if kind == "oauth" || kind == "managed" {
        Ok(())
    } else {
        Err(Error::value("kind must be 'oauth' or 'managed'"))
    }
}

fn check_provider_id(id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Error::value("provider_id must be a non-empty string"));
    }
    if id.chars().any(|c| c == '?' || c == '#' || c.is_control()) {
        return Err(Error::value(
            "provider_id must not contain '?', '#' or control characters",
        ));
    }
    Ok(())
}

fn spec_base(kind: &str, provider_id: &str) -> Result<String> {
    check_kind(kind)?;
    check_provider_id(provider_id)?;
    Ok(format!(
        "/sdk/provider-specs/{kind}/{}",
        encode_segment(provider_id)
    ))
}

fn form(v: &str) -> String {
    let mut out = String::new();
    crate::signing::form_encode(v, &mut out);
    out
}

impl ProviderSpecs<'_> {
    async fn get_object(&self, target: String, what: &str) -> Result<(Map<String, Value>, u16)> {
        self.client.ensure_open()?;
        let call = Call::new(Method::GET, target, Site::Namespace).actor(backend::ambient_actor()?);
        let reply = self.client.backend_reply(&call).await?;
        Ok((backend::json_object(&reply, what)?, reply.status))
    }

    /// Every stored spec, optionally of one kind (`oauth` / `managed`).
    pub async fn list(&self, kind: Option<&str>) -> Result<Vec<ProviderSpec>> {
        let mut target = "/sdk/provider-specs".to_string();
        if let Some(k) = kind {
            check_kind(k)?;
            target.push_str(&format!("?kind={k}"));
        }
        let (obj, status) = self.get_object(target, "provider_specs.list").await?;
        #[derive(Deserialize)]
        struct Page {
            items: Vec<ProviderSpec>,
        }
        let page: Page = model(obj, "provider_specs.list", status, |_: &Page| Ok(()))?;
        Ok(page.items)
    }

    /// One spec (404 `provider_spec_not_found` → `GrantNotFoundError`).
    pub async fn get(&self, kind: &str, provider_id: &str) -> Result<ProviderSpec> {
        let target = spec_base(kind, provider_id)?;
        let (obj, status) = self.get_object(target, "provider_specs.get").await?;
        model(obj, "provider_specs.get", status, |_: &ProviderSpec| Ok(()))
    }

    /// A page of a spec's operations, optionally filtered by `search`
    /// (1–200 characters); `limit` 1–500, `offset` ≥ 0.
    pub async fn list_operations(
        &self,
        kind: &str,
        provider_id: &str,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<SpecOperationsPage> {
        let base = spec_base(kind, provider_id)?;
        if let Some(s) = search {
            let n = s.chars().count();
            if !(1..=200).contains(&n) {
                return Err(Error::value("search must be 1 to 200 characters"));
            }
        }
        if !(1..=500).contains(&limit) {
            return Err(Error::value("limit must be an integer between 1 and 500"));
        }
        if offset < 0 {
            return Err(Error::value("offset must be a non-negative integer"));
        }
        let mut target = format!("{base}/operations?limit={limit}&offset={offset}");
        if let Some(s) = search {
            target.push_str(&format!("&search={}", form(s)));
        }
        let (obj, status) = self
            .get_object(target, "provider_specs.list_operations")
            .await?;
        model(
            obj,
            "provider_specs.list_operations",
            status,
            |_: &SpecOperationsPage| Ok(()),
        )
    }

    /// One operation with its schemas (404 `operation_not_found` →
    /// `GrantNotFoundError`).
    pub async fn get_operation(
        &self,
        kind: &str,
        provider_id: &str,
        operation_id: &str,
    ) -> Result<SpecOperationDetail> {
        let base = spec_base(kind, provider_id)?;
        if operation_id.trim().is_empty()
            || operation_id.chars().count() > 512
            || operation_id.chars().any(char::is_control)
        {
            return Err(Error::value(
                "operation_id must be 1 to 512 characters without control characters",
            ));
        }
        let target = format!("{base}/operation?operation_id={}", form(operation_id));
        let (obj, status) = self
            .get_object(target, "provider_specs.get_operation")
            .await?;
        model(
            obj,
            "provider_specs.get_operation",
            status,
            |_: &SpecOperationDetail| Ok(()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_paths_and_checks() {
        assert_eq!(
            spec_base("oauth", "google/x").unwrap(),
            "/sdk/provider-specs/oauth/google%2Fx"
        );
        assert!(spec_base("other", "google").is_err());
        assert!(spec_base("oauth", " ").is_err());
        assert!(spec_base("oauth", "a?b").is_err());
        assert!(spec_base("managed", "a#b").is_err());
        assert_eq!(form("send mail"), "send+mail");
    }

    #[test]
    fn catalog_helpers() {
        let cat: OAuthProviderCatalog = serde_json::from_value(json!({"providers": [{
            "id": "google", "name": "google", "display_name": "Google", "status": "active",
            "default_scopes": ["openid"], "required_scopes": ["email"],
            "available_scopes": {"openid": {"description": "id", "is_default": true}}
        }]}))
        .unwrap();
        assert_eq!(cat.get_default_scopes("google"), vec!["openid"]);
        assert_eq!(cat.get_required_scopes("google"), vec!["email"]);
        assert!(cat.get_default_scopes("slack").is_empty());
        assert!(cat.providers[0].available_scopes["openid"].is_default);
    }
}
