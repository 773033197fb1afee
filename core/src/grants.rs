//! Grants and delegation: `list_grants`, `revoke_grant`,
//! `create_managed_secret_grant` with its four principals and the grant
//! policy, `mint_grant`, `delegate` and `revoke_delegation`
//! (grants-and-connect.md §2–§3).

use crate::backend::{self, lenient, model};
use crate::client::{Client, Principal};
use crate::error::{Error, Result};
use crate::principals::{Agent, App};
use crate::transport::{Actor, Call, Site};
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

// =============================================================================
// Grant policy (input)
// =============================================================================

/// A grant's lifetime policy as the caller sets it. Only these three keys
/// exist; TTLs are whole seconds greater than zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantPolicyInput {
    /// ISO 8601 instant after which the grant stops working.
    pub expires_at: Option<String>,
    pub max_ttl_seconds: Option<i64>,
    pub default_ttl_seconds: Option<i64>,
}

const POLICY_KEYS: [&str; 3] = ["expires_at", "max_ttl_seconds", "default_ttl_seconds"];

impl GrantPolicyInput {
    /// Validates a dict-shaped policy (as a binding receives it): `null` is
    /// the empty policy; only the three keys; TTLs numbers (not booleans)
    /// that are whole and positive (`60.0` counts as `60`); `expires_at` a
    /// non-empty ISO 8601 string. Nulls mean unset.
    pub fn from_value(v: &Value) -> Result<GrantPolicyInput> {
        let obj = match v {
            Value::Null => return Ok(GrantPolicyInput::default()),
            Value::Object(o) => o,
            _ => return Err(Error::value("grant_policy must be an object")),
        };
        let mut p = GrantPolicyInput::default();
        for (k, val) in obj {
            match k.as_str() {
                "expires_at" => match val {
                    Value::Null => {}
                    Value::String(s) if !s.is_empty() => p.expires_at = Some(s.clone()),
                    _ => {
                        return Err(Error::value(
                            "grant_policy.expires_at must be a non-empty ISO 8601 string",
                        ))
                    }
                },
                "max_ttl_seconds" | "default_ttl_seconds" => {
                    let ttl = match val {
                        Value::Null => None,
                        Value::Number(n) => Some(whole_seconds(k, n)?),
                        _ => {
                            return Err(Error::value(format!(
                                "grant_policy.{k} must be a number of seconds"
                            )))
                        }
                    };
                    if k == "max_ttl_seconds" {
                        p.max_ttl_seconds = ttl;
                    } else {
                        p.default_ttl_seconds = ttl;
                    }
                }
                other => {
                    return Err(Error::value(format!(
                        "grant_policy has an unknown key {other:?} (allowed: {})",
                        POLICY_KEYS.join(", ")
                    )))
                }
            }
        }
        p.validate()?;
        Ok(p)
    }

    /// The model checks: TTLs > 0, `expires_at` parses as ISO 8601.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("max_ttl_seconds", self.max_ttl_seconds),
            ("default_ttl_seconds", self.default_ttl_seconds),
        ] {
            if v.is_some_and(|s| s <= 0) {
                return Err(Error::value(format!(
                    "grant_policy.{name} must be greater than 0"
                )));
            }
        }
        if let Some(e) = &self.expires_at {
            if !backend::is_iso_datetime(e) {
                return Err(Error::value(
                    "grant_policy.expires_at must be an ISO 8601 date-time",
                ));
            }
        }
        Ok(())
    }

    /// The wire object: set fields only, always in the order `expires_at`,
    /// `max_ttl_seconds`, `default_ttl_seconds`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(e) = &self.expires_at {
            m.insert("expires_at".into(), e.as_str().into());
        }
        if let Some(t) = self.max_ttl_seconds {
            m.insert("max_ttl_seconds".into(), t.into());
        }
        if let Some(t) = self.default_ttl_seconds {
            m.insert("default_ttl_seconds".into(), t.into());
        }
        Value::Object(m)
    }
}

fn whole_seconds(name: &str, n: &serde_json::Number) -> Result<i64> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(Error::value(format!(
            "grant_policy.{name} must be a whole number of seconds"
        ))),
    }
}

/// The validated wire policy; `{}` when none was given.
pub(crate) fn policy_json(p: Option<&GrantPolicyInput>) -> Result<Value> {
    match p {
        None => Ok(Value::Object(Map::new())),
        Some(p) => {
            p.validate()?;
            Ok(p.to_json())
        }
    }
}

/// The policy of a `mint_grant` sibling: a typed policy (its set fields are
/// sent; `default_ttl_seconds` is refused) or a raw object sent verbatim
/// (refused only when it has a `default_ttl_seconds` key). The server
/// accepts `expires_at`, `max_ttl_seconds`, `restrictions` and
/// `requires_approval`, and only ever tightens.
#[derive(Debug, Clone, PartialEq)]
pub enum MintGrantPolicy {
    Typed(GrantPolicyInput),
    Raw(Map<String, Value>),
}

impl MintGrantPolicy {
    fn to_json(&self) -> Result<Value> {
        match self {
            MintGrantPolicy::Typed(p) => {
                if p.default_ttl_seconds.is_some() {
                    return Err(Error::value(
                        "default_ttl_seconds is not accepted by mint_grant",
                    ));
                }
                p.validate()?;
                Ok(p.to_json())
            }
            MintGrantPolicy::Raw(m) => {
                if m.contains_key("default_ttl_seconds") {
                    return Err(Error::value(
                        "default_ttl_seconds is not accepted by mint_grant",
                    ));
                }
                Ok(Value::Object(m.clone()))
            }
        }
    }
}

// =============================================================================
// Principals
// =============================================================================

/// An end user, identified by their IdP token.
#[derive(Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    pub user_token: String,
    pub label: String,
}

impl fmt::Debug for UserPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPrincipal")
            .field("user_token", &"<redacted>")
            .field("label", &self.label)
            .finish()
    }
}

/// Every current and future member of an IdP group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPrincipal {
    pub external_group_id: String,
    pub idp_id: String,
    pub label: String,
}

/// The application itself (no caller identity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemPrincipal {
    pub label: Option<String>,
}

/// A managed agent. Carries no agent id: the server binds the grant to the
/// agent whose key signed the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentPrincipal {
    pub label: Option<String>,
}

/// Who a managed-secret grant is issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantPrincipal {
    User(UserPrincipal),
    Group(GroupPrincipal),
    System(SystemPrincipal),
    Agent(AgentPrincipal),
}

fn check_len(field: &str, v: &str, min: usize, max: usize) -> Result<()> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(Error::value(format!(
            "principal {field} must be {min} to {max} characters"
        )));
    }
    Ok(())
}

impl GrantPrincipal {
    /// Builds a principal from its wire object (as a binding receives a
    /// dict): `type` picks the kind and any key the kind does not have is
    /// refused.
    pub fn from_value(v: &Value) -> Result<GrantPrincipal> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::value("principal must be an object with a 'type'"))?;
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or_default();
        let allowed: &[&str] = match kind {
            "user" => &["type", "user_token", "label"],
            "group" => &["type", "external_group_id", "idp_id", "label"],
            "system" | "agent" => &["type", "label"],
            _ => {
                return Err(Error::value(
                    "principal type must be one of user, group, system, agent",
                ))
            }
        };
        if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::value(format!(
                "principal of type {kind} has an unknown key {extra:?}"
            )));
        }
        let req = |k: &str| -> Result<String> {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Error::value(format!("principal {k} must be a string")))
        };
        let opt = |k: &str| -> Result<Option<String>> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::value(format!(
                    "principal {k} must be a string or null"
                ))),
            }
        };
        let p = match kind {
            "user" => GrantPrincipal::User(UserPrincipal {
                user_token: req("user_token")?,
                label: req("label")?,
            }),
            "group" => GrantPrincipal::Group(GroupPrincipal {
                external_group_id: req("external_group_id")?,
                idp_id: req("idp_id")?,
                label: req("label")?,
            }),
            "system" => GrantPrincipal::System(SystemPrincipal {
                label: opt("label")?,
            }),
            _ => GrantPrincipal::Agent(AgentPrincipal {
                label: opt("label")?,
            }),
        };
        p.validate()?;
        Ok(p)
    }

    /// The length rules of each kind.
    pub fn validate(&self) -> Result<()> {
        match self {
            GrantPrincipal::User(u) => {
                check_len("user_token", &u.user_token, 1, 8192)?;
                check_len("label", &u.label, 1, 255)
            }
            GrantPrincipal::Group(g) => {
                check_len("external_group_id", &g.external_group_id, 1, 255)?;
                check_len("idp_id", &g.idp_id, 1, 255)?;
                check_len("label", &g.label, 1, 255)
            }
            GrantPrincipal::System(SystemPrincipal { label })
            | GrantPrincipal::Agent(AgentPrincipal { label }) => match label {
                Some(l) => check_len("label", l, 0, 255),
                None => Ok(()),
            },
        }
    }

    /// `user`, `group`, `system` or `agent`.
    pub fn kind(&self) -> &'static str {
        match self {
            GrantPrincipal::User(_) => "user",
            GrantPrincipal::Group(_) => "group",
            GrantPrincipal::System(_) => "system",
            GrantPrincipal::Agent(_) => "agent",
        }
    }

    /// The wire object, keys in the documented order (`label` always
    /// present for system and agent principals, `null` when unset).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), self.kind().into());
        match self {
            GrantPrincipal::User(u) => {
                m.insert("user_token".into(), u.user_token.as_str().into());
                m.insert("label".into(), u.label.as_str().into());
            }
            GrantPrincipal::Group(g) => {
                m.insert(
                    "external_group_id".into(),
                    g.external_group_id.as_str().into(),
                );
                m.insert("idp_id".into(), g.idp_id.as_str().into());
                m.insert("label".into(), g.label.as_str().into());
            }
            GrantPrincipal::System(SystemPrincipal { label })
            | GrantPrincipal::Agent(AgentPrincipal { label }) => {
                m.insert(
                    "label".into(),
                    label.clone().map_or(Value::Null, Value::String),
                );
            }
        }
        Value::Object(m)
    }
}

impl From<UserPrincipal> for GrantPrincipal {
    fn from(p: UserPrincipal) -> Self {
        GrantPrincipal::User(p)
    }
}
impl From<GroupPrincipal> for GrantPrincipal {
    fn from(p: GroupPrincipal) -> Self {
        GrantPrincipal::Group(p)
    }
}
impl From<SystemPrincipal> for GrantPrincipal {
    fn from(p: SystemPrincipal) -> Self {
        GrantPrincipal::System(p)
    }
}
impl From<AgentPrincipal> for GrantPrincipal {
    fn from(p: AgentPrincipal) -> Self {
        GrantPrincipal::Agent(p)
    }
}

// =============================================================================
// Response models
// =============================================================================

fn ownership() -> String {
    "ownership".into()
}

/// A grant's policy as the server reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrantPolicy {
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub expires_at: Option<String>,
    /// `developer` or `end_user`.
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub created_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub created_at: Option<String>,
}

/// An OAuth grant row of `list_grants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthGrantItem {
    pub grant_id: String,
    pub provider_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub account_identifier: Option<String>,
    #[serde(default)]
    pub account_display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::https_origin")]
    pub api_base_url: Option<String>,
    pub status: String,
    #[serde(default)]
    pub scope_mismatch: bool,
    #[serde(default)]
    pub needs_reconnect: bool,
    /// Provider-token expiry (refreshed automatically).
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub expires_at: Option<String>,
    /// When the permission lapses; `None` = until revoked.
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub grant_expires_at: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// `user`, `system` or `agent`.
    pub principal_type: String,
    /// `ownership` or `oauth_delegation`.
    #[serde(default = "ownership")]
    pub access_via: String,
    #[serde(default)]
    pub delegated_at: Option<String>,
    #[serde(default)]
    pub delegated_agent_ids: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub label: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub credential_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub grant_policy: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub parent_grant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::int_or_zero")]
    pub depth: i64,
    #[serde(default, deserialize_with = "lenient::true_only")]
    pub delegable: bool,
    #[serde(default, deserialize_with = "lenient::opt_str_list")]
    pub scope_constraint: Option<Vec<String>>,
}

/// A managed-secret grant row of `list_grants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedSecretGrantItem {
    pub grant_id: String,
    pub managed_secret_id: String,
    /// The value `provider=` / `provider_id=` take.
    pub managed_secret_slug: String,
    pub managed_secret_name: String,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub label: Option<String>,
    pub status: String,
    #[serde(default)]
    pub account_identifier: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub grant_policy: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub expires_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub grant_expires_at: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// `user`, `group`, `system` or `agent`.
    pub principal_type: String,
    /// `ownership` or `ms_delegation`.
    #[serde(default = "ownership")]
    pub access_via: String,
    #[serde(default)]
    pub delegated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub parent_grant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::int_or_zero")]
    pub depth: i64,
    #[serde(default, deserialize_with = "lenient::true_only")]
    pub delegable: bool,
    #[serde(default, deserialize_with = "lenient::opt_str_list")]
    pub scope_constraint: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub credential_id: Option<String>,
    /// `developer` or `end_user`; anything else reads as `None`.
    #[serde(default, deserialize_with = "credential_kind")]
    pub credential_kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub credential_label: Option<String>,
}

fn credential_kind<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(lenient::opt_str(d)?.filter(|k| k == "developer" || k == "end_user"))
}

/// One row of `list_grants`, told apart by `grant_kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "grant_kind")]
pub enum GrantListItem {
    #[serde(rename = "oauth")]
    OAuth(OAuthGrantItem),
    #[serde(rename = "managed_secret")]
    ManagedSecret(ManagedSecretGrantItem),
}

impl GrantListItem {
    /// `oauth` or `managed_secret`.
    pub fn grant_kind(&self) -> &'static str {
        match self {
            GrantListItem::OAuth(_) => "oauth",
            GrantListItem::ManagedSecret(_) => "managed_secret",
        }
    }

    pub fn grant_id(&self) -> &str {
        match self {
            GrantListItem::OAuth(g) => &g.grant_id,
            GrantListItem::ManagedSecret(g) => &g.grant_id,
        }
    }

    pub fn status(&self) -> &str {
        match self {
            GrantListItem::OAuth(g) => &g.status,
            GrantListItem::ManagedSecret(g) => &g.status,
        }
    }

    pub fn label(&self) -> Option<&str> {
        match self {
            GrantListItem::OAuth(g) => g.label.as_deref(),
            GrantListItem::ManagedSecret(g) => g.label.as_deref(),
        }
    }

    pub fn principal_type(&self) -> &str {
        match self {
            GrantListItem::OAuth(g) => &g.principal_type,
            GrantListItem::ManagedSecret(g) => &g.principal_type,
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        let (pt, pt_ok, via, via_ok) = match self {
            GrantListItem::OAuth(g) => (
                &g.principal_type,
                ["user", "system", "agent"].contains(&g.principal_type.as_str()),
                &g.access_via,
                ["ownership", "oauth_delegation"].contains(&g.access_via.as_str()),
            ),
            GrantListItem::ManagedSecret(g) => (
                &g.principal_type,
                ["user", "group", "system", "agent"].contains(&g.principal_type.as_str()),
                &g.access_via,
                ["ownership", "ms_delegation"].contains(&g.access_via.as_str()),
            ),
        };
        if !pt_ok {
            return Err(format!("unexpected principal_type {pt:?}"));
        }
        if !via_ok {
            return Err(format!("unexpected access_via {via:?}"));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for GrantListItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = Value::deserialize(d)?;
        let item = match v.get("grant_kind").and_then(Value::as_str) {
            Some("oauth") => OAuthGrantItem::deserialize(v).map(GrantListItem::OAuth),
            Some("managed_secret") => {
                ManagedSecretGrantItem::deserialize(v).map(GrantListItem::ManagedSecret)
            }
            _ => return Err(D::Error::custom("grant_kind missing or unknown")),
        }
        .map_err(D::Error::custom)?;
        item.check().map_err(D::Error::custom)?;
        Ok(item)
    }
}

/// One page of `list_grants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnifiedGrantListResult {
    pub grants: Vec<GrantListItem>,
    /// Matches before pagination.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub has_more: bool,
}

/// `revoke_grant`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeGrantResult {
    pub success: bool,
    pub message: String,
    pub grant_id: String,
    pub revoked_at: String,
}

/// `create_managed_secret_grant`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateGrantResult {
    pub grant_id: String,
    /// `user`, `group`, `system` or `agent`.
    pub principal_type: String,
    /// Always present on the wire; `None` when the grant has no label.
    #[serde(deserialize_with = "lenient::nullable")]
    pub label: Option<String>,
    pub created_at: String,
    #[serde(default, deserialize_with = "lenient::opt_non_empty_str")]
    pub credential_id: Option<String>,
}

/// A single grant record (`mint_grant`'s answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantInfo {
    pub grant_id: String,
    pub provider_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub account_identifier: Option<String>,
    #[serde(default)]
    pub account_display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::https_origin")]
    pub api_base_url: Option<String>,
    pub status: String,
    #[serde(default)]
    pub scope_mismatch: bool,
    #[serde(default)]
    pub expires_at: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    pub principal_type: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub credential_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_object")]
    pub grant_policy: Option<Map<String, Value>>,
}

/// `delegate`'s answer: the child grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegationResult {
    pub grant_id: String,
    /// `oauth` or `managed_secret`.
    pub grant_kind: String,
    pub parent_grant_id: String,
    pub depth: i64,
    pub delegable: bool,
    pub status: String,
    #[serde(default, deserialize_with = "lenient::opt_str")]
    pub expires_at: Option<String>,
}

const PRINCIPAL_TYPES: [&str; 4] = ["user", "group", "system", "agent"];

// =============================================================================
// Arguments
// =============================================================================

/// Filters and page of `list_grants`.
#[derive(Clone, PartialEq, Eq)]
pub struct ListGrants {
    /// An OAuth provider id or a managed-secret provider slug.
    pub provider_id: Option<String>,
    pub status: Option<String>,
    /// Exact `account_identifier`.
    pub account: Option<String>,
    pub label: Option<String>,
    /// Narrows to one end user's grants. An App falls back to its
    /// `user_token_getter`; an Agent sends only an explicit token.
    pub end_user_token: Option<String>,
    /// 1–1000; default 100.
    pub limit: i64,
    /// ≥ 0; default 0.
    pub offset: i64,
}

impl Default for ListGrants {
    fn default() -> Self {
        ListGrants {
            provider_id: None,
            status: None,
            account: None,
            label: None,
            end_user_token: None,
            limit: 100,
            offset: 0,
        }
    }
}

impl fmt::Debug for ListGrants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListGrants")
            .field("provider_id", &self.provider_id)
            .field("status", &self.status)
            .field("account", &self.account)
            .field("label", &self.label)
            .field(
                "end_user_token",
                &self.end_user_token.as_ref().map(|_| "<redacted>"),
            )
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .finish()
    }
}

impl ListGrants {
    fn validate(&self) -> Result<()> {
        if !(1..=1000).contains(&self.limit) {
            return Err(Error::value("limit must be an integer between 1 and 1000"));
        }
        if self.offset < 0 {
            return Err(Error::value("offset must be a non-negative integer"));
        }
        backend::opt_non_empty("provider_id", self.provider_id.as_deref())?;
        backend::opt_non_empty("status", self.status.as_deref())?;
        backend::opt_non_empty("account", self.account.as_deref())?;
        backend::opt_non_empty("label", self.label.as_deref())?;
        backend::opt_non_empty("end_user_token", self.end_user_token.as_deref())
    }

    /// The request body, keys in the documented order.
    pub(crate) fn body(&self, user_token: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("limit".into(), self.limit.into());
        m.insert("offset".into(), self.offset.into());
        for (k, v) in [
            ("provider_id", &self.provider_id),
            ("status", &self.status),
            ("account", &self.account),
            ("label", &self.label),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.as_str().into());
            }
        }
        if let Some(t) = user_token {
            m.insert("user_token".into(), t.into());
        }
        Value::Object(m)
    }
}

/// Options of `Agent::delegate`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelegateOptions {
    /// Whether the new holder may delegate onward; `None` keeps an existing
    /// child's setting (a new child is a leaf).
    pub delegable: Option<bool>,
    /// A narrower subset of the provider scopes; `None` inherits.
    pub scope_constraint: Option<Vec<String>>,
    /// The child's lifetime, capped by the holder's.
    pub ttl_seconds: Option<i64>,
}

/// The scope-constraint rules shared by `delegate` and Connect sessions:
/// 1–100 atoms; each, once trimmed, non-empty, not `*`, ≤ 512 characters,
/// and made of RFC 6749 scope-token characters. The list is sent as given.
pub fn validate_scope_constraint(atoms: &[String]) -> Result<()> {
    if atoms.is_empty() || atoms.len() > 100 {
        return Err(Error::value(
            "scope_constraint must be a list of 1 to 100 scopes",
        ));
    }
    for atom in atoms {
        let a = atom.trim();
        if a.is_empty() || a == "*" {
            return Err(Error::value(
                "scope_constraint entries must be non-empty and never '*'",
            ));
        }
        if a.chars().count() > 512 {
            return Err(Error::value(
                "scope_constraint entries must be at most 512 characters",
            ));
        }
        let token_char = |c: char| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
        if !a.chars().all(token_char) {
            return Err(Error::value(format!(
                "scope_constraint entry {a:?} is not a valid OAuth scope token"
            )));
        }
    }
    Ok(())
}

// =============================================================================
// Operations
// =============================================================================

impl Client {
    /// Grants this client can see (an App: the operator view; an Agent: its
    /// own and delegated grants of both kinds), one page at a time.
    pub async fn list_grants(&self, q: &ListGrants) -> Result<UnifiedGrantListResult> {
        q.validate()?;
        self.ensure_open()?;
        let user_token = match self.shared.principal {
            Principal::App => {
                self.user_token_or_getter(q.end_user_token.as_deref())
                    .await?
            }
            Principal::Agent => q.end_user_token.clone(),
        };
        let call = Call::new(Method::POST, "/sdk/grants/list", Site::Namespace)
            .json(&q.body(user_token.as_deref()))
            .idempotent(true)
            .actor(backend::ambient_actor()?);
        let reply = self.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "list_grants")?;
        model(
            obj,
            "list_grants",
            reply.status,
            |_: &UnifiedGrantListResult| Ok(()),
        )
    }

    async fn create_ms_grant(
        &self,
        managed_secret_id: &str,
        principal: &GrantPrincipal,
        grant_policy: Option<&GrantPolicyInput>,
        credential_id: Option<&str>,
    ) -> Result<CreateGrantResult> {
        let body = create_grant_body(managed_secret_id, principal, grant_policy, credential_id)?;
        self.ensure_open()?;
        let call = Call::new(
            Method::POST,
            format!("/sdk/managed-secrets/{managed_secret_id}/grants"),
            Site::Token,
        )
        .json(&body)
        .actor(Actor::id_only());
        let reply = self.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "create_managed_secret_grant")?;
        if !obj.contains_key("label") {
            return Err(backend::malformed_field(
                "create_managed_secret_grant",
                reply.status,
                "label",
            ));
        }
        model(
            obj,
            "create_managed_secret_grant",
            reply.status,
            |r: &CreateGrantResult| {
                if PRINCIPAL_TYPES.contains(&r.principal_type.as_str()) {
                    Ok(())
                } else {
                    Err(format!("unexpected principal_type {:?}", r.principal_type))
                }
            },
        )
    }

    async fn delete_delegation(&self, target: String) -> Result<()> {
        self.ensure_open()?;
        let call = Call::new(Method::DELETE, target, Site::Token)
            .idempotent(true)
            .actor(Actor::id_only());
        self.backend_reply(&call).await?;
        Ok(())
    }
}

/// The `create_managed_secret_grant` body (validated).
pub(crate) fn create_grant_body(
    managed_secret_id: &str,
    principal: &GrantPrincipal,
    grant_policy: Option<&GrantPolicyInput>,
    credential_id: Option<&str>,
) -> Result<Value> {
    backend::raw_segment("managed_secret_id", managed_secret_id)?;
    principal.validate()?;
    let policy = policy_json(grant_policy)?;
    if credential_id.is_some_and(str::is_empty) {
        return Err(Error::value(
            "credential_id must be a non-empty string when provided",
        ));
    }
    let mut m = Map::new();
    m.insert("principal".into(), principal.to_json());
    m.insert("grant_policy".into(), policy);
    if let Some(c) = credential_id {
        m.insert("credential_id".into(), c.into());
    }
    Ok(Value::Object(m))
}

/// The `mint_grant` body (validated).
pub(crate) fn mint_body(
    source_grant_id: &str,
    label: &str,
    grant_policy: Option<&MintGrantPolicy>,
    grant_tags: Option<&[String]>,
) -> Result<Value> {
    backend::raw_segment("source_grant_id", source_grant_id)?;
    backend::require_non_empty("label", label)?;
    let mut m = Map::new();
    m.insert("label".into(), label.into());
    if let Some(p) = grant_policy {
        m.insert("grant_policy".into(), p.to_json()?);
    }
    if let Some(tags) = grant_tags {
        if tags.iter().any(String::is_empty) {
            return Err(Error::value("grant_tags must be non-empty strings"));
        }
        m.insert(
            "grant_tags".into(),
            Value::Array(tags.iter().map(|t| t.as_str().into()).collect()),
        );
    }
    Ok(Value::Object(m))
}

/// The `delegate` body (validated).
pub(crate) fn delegate_body(
    grant_id: &str,
    to_agent_id: &str,
    o: &DelegateOptions,
) -> Result<Value> {
    backend::raw_segment("grant_id", grant_id)?;
    backend::require_non_empty("to_agent_id", to_agent_id)?;
    if let Some(sc) = &o.scope_constraint {
        validate_scope_constraint(sc)?;
    }
    if o.ttl_seconds.is_some_and(|t| t <= 0) {
        return Err(Error::value("ttl_seconds must be a positive integer"));
    }
    let mut m = Map::new();
    m.insert("to_agent_id".into(), to_agent_id.into());
    if let Some(d) = o.delegable {
        m.insert("delegable".into(), d.into());
    }
    if let Some(sc) = &o.scope_constraint {
        m.insert(
            "scope_constraint".into(),
            Value::Array(sc.iter().map(|s| s.as_str().into()).collect()),
        );
    }
    if let Some(t) = o.ttl_seconds {
        m.insert("ttl_seconds".into(), t.into());
    }
    Ok(Value::Object(m))
}

fn check_delegation(r: &DelegationResult) -> std::result::Result<(), String> {
    if r.grant_id.is_empty() || r.parent_grant_id.is_empty() || r.status.is_empty() {
        return Err("grant_id, parent_grant_id and status must be non-empty".into());
    }
    if r.grant_kind != "oauth" && r.grant_kind != "managed_secret" {
        return Err(format!("unexpected grant_kind {:?}", r.grant_kind));
    }
    if r.depth < 1 {
        return Err("depth must be at least 1".into());
    }
    Ok(())
}

impl App {
    /// Revokes a grant (terminal: the user must reconnect). The reason is
    /// kept in the audit log.
    pub async fn revoke_grant(
        &self,
        grant_id: &str,
        reason: Option<&str>,
    ) -> Result<RevokeGrantResult> {
        let grant_id = backend::canonical_uuid("grant_id", grant_id)?;
        self.ensure_open()?;
        let user_token = self.user_token_or_getter(None).await?;
        let mut body = Map::new();
        if let Some(r) = reason {
            body.insert("reason".into(), r.into());
        }
        if let Some(t) = user_token {
            body.insert("user_token".into(), t.into());
        }
        let call = Call::new(
            Method::POST,
            format!("/sdk/oauth/grants/{grant_id}/revoke"),
            Site::Token,
        )
        .json(&Value::Object(body))
        .actor(Actor::id_only());
        let reply = self.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "revoke_grant")?;
        model(
            obj,
            "revoke_grant",
            reply.status,
            |r: &RevokeGrantResult| {
                if r.message.is_empty() || r.grant_id.is_empty() || r.revoked_at.is_empty() {
                    Err("message, grant_id and revoked_at must be non-empty".into())
                } else {
                    Ok(())
                }
            },
        )
    }

    /// Issues a managed-secret grant on an existing developer credential of
    /// the provider. An `AgentPrincipal` is refused by the server with 422
    /// (agent-bound grants are issued by the agent itself, or in the portal).
    pub async fn create_managed_secret_grant(
        &self,
        managed_secret_id: &str,
        principal: &GrantPrincipal,
        grant_policy: Option<&GrantPolicyInput>,
        credential_id: Option<&str>,
    ) -> Result<CreateGrantResult> {
        self.create_ms_grant(managed_secret_id, principal, grant_policy, credential_id)
            .await
    }

    /// Creates a sibling grant on the source grant's credential (no new
    /// consent), with its own label and a policy that may only tighten.
    pub async fn mint_grant(
        &self,
        source_grant_id: &str,
        label: &str,
        grant_policy: Option<&MintGrantPolicy>,
        grant_tags: Option<&[String]>,
    ) -> Result<GrantInfo> {
        let body = mint_body(source_grant_id, label, grant_policy, grant_tags)?;
        self.ensure_open()?;
        let call = Call::new(
            Method::POST,
            format!("/sdk/grants/{source_grant_id}/mint"),
            Site::Token,
        )
        .json(&body)
        .actor(backend::ambient_actor()?);
        let reply = match self.backend_reply(&call).await {
            Err(Error::SiblingLabelConflict { base, label: None }) => {
                return Err(Error::SiblingLabelConflict {
                    base,
                    label: Some(label.to_string()),
                })
            }
            other => other?,
        };
        let obj = backend::json_object(&reply, "mint_grant")?;
        model(obj, "mint_grant", reply.status, |g: &GrantInfo| {
            if PRINCIPAL_TYPES.contains(&g.principal_type.as_str()) {
                Ok(())
            } else {
                Err(format!("unexpected principal_type {:?}", g.principal_type))
            }
        })
    }

    /// Revokes the named agent's delegation under a grant (and everything
    /// delegated onward from it). Idempotent.
    pub async fn revoke_delegation(&self, grant_id: &str, agent_id: &str) -> Result<()> {
        let grant_id = backend::canonical_uuid("grant_id", grant_id)?;
        backend::require_non_empty("agent_id", agent_id)?;
        let agent_id = backend::canonical_uuid("agent_id", agent_id)?;
        self.delete_delegation(format!("/sdk/grants/{grant_id}/delegations/{agent_id}"))
            .await
    }
}

impl Agent {
    /// Issues a managed-secret grant to the calling agent itself (agents
    /// issue only for themselves). The agent must be allowed the provider.
    pub async fn create_managed_secret_grant(
        &self,
        managed_secret_id: &str,
        principal: &AgentPrincipal,
        grant_policy: Option<&GrantPolicyInput>,
        credential_id: Option<&str>,
    ) -> Result<CreateGrantResult> {
        self.create_ms_grant(
            managed_secret_id,
            &GrantPrincipal::Agent(principal.clone()),
            grant_policy,
            credential_id,
        )
        .await
    }

    /// Delegates a grant this agent holds (its own delegation, or a grant it
    /// owns) to another agent of the app. Re-delegating to the same agent
    /// updates that delegation in place.
    pub async fn delegate(
        &self,
        grant_id: &str,
        to_agent_id: &str,
        opts: &DelegateOptions,
    ) -> Result<DelegationResult> {
        let body = delegate_body(grant_id, to_agent_id, opts)?;
        self.ensure_open()?;
        let call = Call::new(
            Method::POST,
            format!("/sdk/grants/{grant_id}/delegate"),
            Site::Token,
        )
        .json(&body)
        .actor(backend::ambient_actor()?);
        let reply = self.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "delegate")?;
        model(obj, "delegate", reply.status, check_delegation)
    }

    /// Gives up this agent's own delegation under a grant. Idempotent.
    pub async fn revoke_delegation(&self, grant_id: &str) -> Result<()> {
        let grant_id = backend::canonical_uuid("grant_id", grant_id)?;
        self.delete_delegation(format!("/sdk/grants/{grant_id}/delegations/me"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: &Value) -> String {
        crate::json::compact_ascii(v)
    }

    #[test]
    fn list_body_matches_the_spec() {
        assert_eq!(
            bytes(&ListGrants::default().body(None)),
            r#"{"limit":100,"offset":0}"#
        );
        let q = ListGrants {
            provider_id: Some("google".into()),
            status: Some("active".into()),
            account: Some("a@x.com".into()),
            label: Some("work".into()),
            limit: 5,
            offset: 10,
            ..Default::default()
        };
        assert_eq!(
            bytes(&q.body(Some("jwt"))),
            r#"{"limit":5,"offset":10,"provider_id":"google","status":"active","account":"a@x.com","label":"work","user_token":"jwt"}"#
        );
    }

    #[test]
    fn list_validation() {
        let bad = |f: fn(&mut ListGrants)| {
            let mut q = ListGrants::default();
            f(&mut q);
            q.validate().unwrap_err().kind()
        };
        assert_eq!(bad(|q| q.limit = 0), "AlterValueError");
        assert_eq!(bad(|q| q.limit = 1001), "AlterValueError");
        assert_eq!(bad(|q| q.offset = -1), "AlterValueError");
        assert_eq!(
            bad(|q| q.provider_id = Some(String::new())),
            "AlterValueError"
        );
        assert_eq!(
            bad(|q| q.end_user_token = Some(String::new())),
            "AlterValueError"
        );
        let ok = ListGrants {
            limit: 1000,
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        assert!(!format!(
            "{:?}",
            ListGrants {
                end_user_token: Some("secret-jwt".into()),
                ..Default::default()
            }
        )
        .contains("secret-jwt"));
    }

    #[test]
    fn principals_encode_in_order() {
        let user = GrantPrincipal::User(UserPrincipal {
            user_token: "s3cr3t".into(),
            label: "alice-prod-stripe".into(),
        });
        assert_eq!(
            bytes(&user.to_json()),
            r#"{"type":"user","user_token":"s3cr3t","label":"alice-prod-stripe"}"#
        );
        let group = GrantPrincipal::Group(GroupPrincipal {
            external_group_id: "eng".into(),
            idp_id: "idp1".into(),
            label: "eng-stripe".into(),
        });
        assert_eq!(
            bytes(&group.to_json()),
            r#"{"type":"group","external_group_id":"eng","idp_id":"idp1","label":"eng-stripe"}"#
        );
        assert_eq!(
            bytes(&GrantPrincipal::System(SystemPrincipal::default()).to_json()),
            r#"{"type":"system","label":null}"#
        );
        assert_eq!(
            bytes(
                &GrantPrincipal::Agent(AgentPrincipal {
                    label: Some("bot".into())
                })
                .to_json()
            ),
            r#"{"type":"agent","label":"bot"}"#
        );
        assert!(!format!("{user:?}").contains("s3cr3t"));
    }

    #[test]
    fn principal_validation() {
        let p = |v: Value| GrantPrincipal::from_value(&v);
        assert!(p(json!({"type":"user","user_token":"t","label":"l"})).is_ok());
        assert!(p(json!({"type":"user","user_token":"","label":"l"})).is_err());
        assert!(p(json!({"type":"user","user_token":"t".repeat(8193),"label":"l"})).is_err());
        assert!(p(json!({"type":"user","user_token":"t","label":"l".repeat(256)})).is_err());
        assert!(p(json!({"type":"user","user_token":"t","label":"l","extra":1})).is_err());
        assert!(
            p(json!({"type":"group","external_group_id":"g","idp_id":"i","label":""})).is_err()
        );
        assert!(p(json!({"type":"system"})).is_ok());
        assert!(p(json!({"type":"system","label":null})).is_ok());
        assert!(p(json!({"type":"system","label":"x".repeat(256)})).is_err());
        assert!(p(json!({"type":"agent","label":"x","agent_id":"y"})).is_err());
        assert!(p(json!({"type":"robot"})).is_err());
        assert!(p(json!("user")).is_err());
    }

    #[test]
    fn grant_policy_rules() {
        let ok = |v: Value| GrantPolicyInput::from_value(&v).map(|p| bytes(&p.to_json()));
        assert_eq!(ok(Value::Null).unwrap(), "{}");
        assert_eq!(ok(json!({})).unwrap(), "{}");
        // Fixed key order whatever the caller's order; integral floats accepted.
        assert_eq!(
            ok(json!({"default_ttl_seconds": 60.0, "max_ttl_seconds": 3600, "expires_at": "2030-01-01T00:00:00Z"})).unwrap(),
            r#"{"expires_at":"2030-01-01T00:00:00Z","max_ttl_seconds":3600,"default_ttl_seconds":60}"#
        );
        assert_eq!(
            ok(json!({"max_ttl_seconds": 2592000, "expires_at": null})).unwrap(),
            r#"{"max_ttl_seconds":2592000}"#
        );
        for bad in [
            json!({"maxTtlSeconds": 60}),
            json!({"max_ttl_seconds": 60.5}),
            json!({"max_ttl_seconds": 0}),
            json!({"max_ttl_seconds": -5}),
            json!({"max_ttl_seconds": true}),
            json!({"max_ttl_seconds": "60"}),
            json!({"expires_at": ""}),
            json!({"expires_at": "soon"}),
            json!({"expires_at": 5}),
            json!([1]),
        ] {
            assert_eq!(
                ok(bad.clone()).unwrap_err().kind(),
                "AlterValueError",
                "{bad}"
            );
        }
        assert!(policy_json(Some(&GrantPolicyInput {
            max_ttl_seconds: Some(0),
            ..Default::default()
        }))
        .is_err());
    }

    #[test]
    fn create_grant_body_matches_the_spec() {
        let user = GrantPrincipal::User(UserPrincipal {
            user_token: "…".into(),
            label: "alice-prod-stripe".into(),
        });
        let policy = GrantPolicyInput {
            max_ttl_seconds: Some(2592000),
            ..Default::default()
        };
        assert_eq!(
            bytes(&create_grant_body("ms_abc123", &user, Some(&policy), None).unwrap()),
            r#"{"principal":{"type":"user","user_token":"\u2026","label":"alice-prod-stripe"},"grant_policy":{"max_ttl_seconds":2592000}}"#
        );
        let sys = GrantPrincipal::System(SystemPrincipal::default());
        assert_eq!(
            bytes(&create_grant_body("ms1", &sys, None, Some("cred-1")).unwrap()),
            r#"{"principal":{"type":"system","label":null},"grant_policy":{},"credential_id":"cred-1"}"#
        );
        assert!(create_grant_body("ms1", &sys, None, Some("")).is_err());
        assert!(create_grant_body("", &sys, None, None).is_err());
        assert!(create_grant_body("a/b", &sys, None, None).is_err());
    }

    #[test]
    fn mint_body_rules() {
        assert_eq!(
            bytes(&mint_body("g1", "ci", None, None).unwrap()),
            r#"{"label":"ci"}"#
        );
        let typed = MintGrantPolicy::Typed(GrantPolicyInput {
            max_ttl_seconds: Some(60),
            ..Default::default()
        });
        assert_eq!(
            bytes(&mint_body("g1", "ci", Some(&typed), Some(&["a".into()])).unwrap()),
            r#"{"label":"ci","grant_policy":{"max_ttl_seconds":60},"grant_tags":["a"]}"#
        );
        let mut raw = Map::new();
        raw.insert("requires_approval".into(), true.into());
        raw.insert("max_ttl_seconds".into(), 60.into());
        assert_eq!(
            bytes(&mint_body("g1", "ci", Some(&MintGrantPolicy::Raw(raw.clone())), None).unwrap()),
            r#"{"label":"ci","grant_policy":{"requires_approval":true,"max_ttl_seconds":60}}"#
        );
        raw.insert("default_ttl_seconds".into(), Value::Null);
        assert!(mint_body("g1", "ci", Some(&MintGrantPolicy::Raw(raw)), None).is_err());
        let typed_default = MintGrantPolicy::Typed(GrantPolicyInput {
            default_ttl_seconds: Some(60),
            ..Default::default()
        });
        assert!(mint_body("g1", "ci", Some(&typed_default), None).is_err());
        assert!(mint_body("g1", "", None, None).is_err());
        assert!(mint_body("", "ci", None, None).is_err());
        assert!(mint_body("g1", "ci", None, Some(&[String::new()])).is_err());
    }

    #[test]
    fn delegate_body_matches_the_spec() {
        let o = DelegateOptions {
            delegable: Some(true),
            scope_constraint: Some(vec!["chat:write".into()]),
            ttl_seconds: Some(3600),
        };
        assert_eq!(
            bytes(&delegate_body("g1", "2222", &o).unwrap()),
            r#"{"to_agent_id":"2222","delegable":true,"scope_constraint":["chat:write"],"ttl_seconds":3600}"#
        );
        let leaf = DelegateOptions {
            delegable: Some(false),
            ..Default::default()
        };
        assert_eq!(
            bytes(&delegate_body("g1", "a", &leaf).unwrap()),
            r#"{"to_agent_id":"a","delegable":false}"#
        );
        assert_eq!(
            bytes(&delegate_body("g1", "a", &DelegateOptions::default()).unwrap()),
            r#"{"to_agent_id":"a"}"#
        );
        assert!(delegate_body("g1", "", &DelegateOptions::default()).is_err());
        let zero = DelegateOptions {
            ttl_seconds: Some(0),
            ..Default::default()
        };
        assert!(delegate_body("g1", "a", &zero).is_err());
    }

    #[test]
    fn scope_constraint_rules() {
        let v = |atoms: &[&str]| {
            validate_scope_constraint(&atoms.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert!(v(&["chat:write", " https://www.googleapis.com/auth/gmail.send "]).is_ok());
        assert!(v(&[]).is_err());
        assert!(v(&["*"]).is_err());
        assert!(v(&["  "]).is_err());
        assert!(v(&["has space"]).is_err());
        assert!(v(&["quote\""]).is_err());
        assert!(v(&["back\\slash"]).is_err());
        assert!(v(&["é"]).is_err());
        assert!(v(&[&"a".repeat(513)]).is_err());
        let many: Vec<String> = (0..101).map(|i| format!("s{i}")).collect();
        assert!(validate_scope_constraint(&many).is_err());
    }

    fn parse_list(v: Value) -> Result<UnifiedGrantListResult> {
        let Value::Object(m) = v else { unreachable!() };
        model(m, "list_grants", 200, |_: &UnifiedGrantListResult| Ok(()))
    }

    #[test]
    fn list_result_parses_both_kinds_with_coercions() {
        let r = parse_list(json!({
            "grants": [
                {"grant_kind": "oauth", "grant_id": "g1", "provider_id": "google",
                 "status": "active", "created_at": "2026-01-01T00:00:00Z",
                 "principal_type": "user", "api_base_url": "https://API.example.com",
                 "expires_at": 5, "label": 7, "depth": true, "delegable": "yes",
                 "grant_policy": "x", "scope_constraint": "chat:write",
                 "delegated_agent_ids": ["a1"], "unknown": 1},
                {"grant_kind": "managed_secret", "grant_id": "g2",
                 "managed_secret_id": "ms1", "managed_secret_slug": "stripe",
                 "managed_secret_name": "Stripe", "status": "active",
                 "created_at": "2026-01-01T00:00:00Z", "principal_type": "group",
                 "access_via": "ms_delegation", "depth": 2, "delegable": true,
                 "credential_kind": "robot", "api_base_url": "https://api.stripe.com"}
            ],
            "total": 2, "limit": 100, "offset": 0, "has_more": false
        }))
        .unwrap();
        let GrantListItem::OAuth(o) = &r.grants[0] else {
            panic!("oauth first")
        };
        assert_eq!(o.api_base_url, None);
        assert_eq!(o.expires_at, None);
        assert_eq!(o.label, None);
        assert_eq!(o.depth, 0);
        assert!(!o.delegable);
        assert_eq!(o.grant_policy, None);
        assert_eq!(o.scope_constraint, None);
        assert_eq!(o.access_via, "ownership");
        assert_eq!(o.scopes, Vec::<String>::new());
        let GrantListItem::ManagedSecret(m) = &r.grants[1] else {
            panic!("managed secret second")
        };
        assert_eq!(m.depth, 2);
        assert!(m.delegable);
        assert_eq!(m.credential_kind, None);
        assert_eq!(r.grants[1].grant_kind(), "managed_secret");
        // The tag comes back on serialisation.
        assert_eq!(
            serde_json::to_value(&r.grants[0]).unwrap()["grant_kind"],
            "oauth"
        );
    }

    #[test]
    fn list_result_rejects_bad_discriminators_and_literals() {
        let base = |item: Value| json!({"grants": [item], "total": 1, "limit": 100, "offset": 0, "has_more": false});
        let oauth = json!({"grant_kind": "oauth", "grant_id": "g1", "provider_id": "google",
            "status": "active", "created_at": "t", "principal_type": "user"});
        assert!(parse_list(base(oauth.clone())).is_ok());
        for (k, v) in [
            ("grant_kind", json!("other")),
            ("principal_type", json!("group")),
            ("access_via", json!("ms_delegation")),
            ("grant_id", Value::Null),
        ] {
            let mut item = oauth.clone();
            item[k] = v;
            let e = parse_list(base(item)).unwrap_err();
            assert_eq!(e.kind(), "BackendError", "{k}");
        }
        let mut no_kind = oauth.clone();
        no_kind.as_object_mut().unwrap().remove("grant_kind");
        assert!(parse_list(base(no_kind)).is_err());
        assert!(parse_list(json!({"grants": [], "total": 0, "limit": 100, "offset": 0})).is_err());
    }

    #[test]
    fn small_results() {
        let m = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let c: CreateGrantResult = model(
            m(json!({"grant_id":"g","principal_type":"user","label":null,"created_at":"t","credential_id":""})),
            "x",
            201,
            |_: &CreateGrantResult| Ok(()),
        )
        .unwrap();
        assert_eq!(c.label, None);
        assert_eq!(c.credential_id, None);
        let missing_label = model::<CreateGrantResult>(
            m(json!({"grant_id":"g","principal_type":"user","created_at":"t"})),
            "x",
            201,
            |_| Ok(()),
        );
        assert!(missing_label.is_err());
        let d = model(
            m(json!({"grant_id":"c","grant_kind":"oauth","parent_grant_id":"p","depth":1,"delegable":false,"status":"active","expires_at":7})),
            "delegate",
            201,
            check_delegation,
        )
        .unwrap();
        assert_eq!(d.expires_at, None);
        assert!(model(
            m(json!({"grant_id":"c","grant_kind":"oauth","parent_grant_id":"p","depth":0,"delegable":false,"status":"active"})),
            "delegate",
            201,
            check_delegation,
        )
        .is_err());
        assert!(model::<RevokeGrantResult>(
            m(json!({"success":"true","message":"m","grant_id":"g","revoked_at":"t"})),
            "x",
            200,
            |_| Ok(()),
        )
        .is_err());
    }
}
