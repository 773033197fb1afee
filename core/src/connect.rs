//! Connect: OAuth Connect sessions (create, create for a recovery error,
//! poll, headless `connect()` with an injectable browser opener) and the
//! managed-secret Connect session (grants-and-connect.md §4).

use crate::backend::{self, lenient, model};
use crate::client::Client;
use crate::config;
use crate::error::{Details, Error, Result};
use crate::grants::{self, GrantPolicy, GrantPolicyInput};
use crate::principals::{Agent, App};
use crate::transport::{Actor, Call, Site};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// =============================================================================
// Models
// =============================================================================

/// A minted OAuth Connect session: open `connect_url` in the user's browser
/// (or hand `session_token` to the Connect widget), then poll.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectSession {
    pub session_token: String,
    pub connect_url: String,
    /// Session lifetime in seconds.
    #[serde(deserialize_with = "lenient::strict_non_negative_int")]
    pub expires_in: i64,
    pub expires_at: String,
    /// One entry per provider the scope constraint does not fit.
    #[serde(default, deserialize_with = "lenient::str_list_or_empty")]
    pub scope_constraint_warnings: Vec<String>,
    #[serde(default, deserialize_with = "lenient::true_only")]
    pub single_provider: bool,
    #[serde(default, deserialize_with = "lenient::true_only")]
    pub direct: bool,
}

impl fmt::Debug for ConnectSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectSession")
            .field("session_token", &"<redacted>")
            .field("connect_url", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("scope_constraint_warnings", &self.scope_constraint_warnings)
            .field("single_provider", &self.single_provider)
            .field("direct", &self.direct)
            .finish()
    }
}

/// A minted managed-secret Connect session.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedSecretConnectSession {
    pub session_token: String,
    /// Carries the token in its fragment (`#session=…`).
    pub connect_url: String,
    #[serde(deserialize_with = "lenient::strict_non_negative_int")]
    pub expires_in: i64,
    /// When the session targets an agent: the resolved delegation expiry
    /// (the earliest of the request, the source grant, the provider's
    /// ceiling or 90 days, and 5 years). Otherwise the session's expiry.
    pub expires_at: String,
    #[serde(default)]
    pub delegable_requested: bool,
    /// `fast_path`, `key_entry`, `repair`, or `None` (undisclosed/unknown).
    #[serde(default, deserialize_with = "session_path")]
    pub path: Option<String>,
    #[serde(default)]
    pub existing_grant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::true_only")]
    pub direct: bool,
    #[serde(default)]
    pub secret_slug: Option<String>,
    #[serde(default)]
    pub template_slug: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
}

fn session_path<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(lenient::opt_str(d)?.filter(|p| ["fast_path", "key_entry", "repair"].contains(&p.as_str())))
}

impl fmt::Debug for ManagedSecretConnectSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedSecretConnectSession")
            .field("session_token", &"<redacted>")
            .field("connect_url", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("delegable_requested", &self.delegable_requested)
            .field("path", &self.path)
            .field("existing_grant_id", &self.existing_grant_id)
            .field("direct", &self.direct)
            .field("secret_slug", &self.secret_slug)
            .field("template_slug", &self.template_slug)
            .field("agent_id", &self.agent_id)
            .finish()
    }
}

/// A provider the user did not keep at Confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectFailedGrant {
    pub provider_id: String,
    /// `not_selected`, `activation_failed`, or a usage-limit failure.
    pub reason: String,
    pub message: String,
}

/// The delegation a Connect session made to its target agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectDelegation {
    pub agent_id: String,
    pub delegable: bool,
    /// The user chose onward sharing but the provider policy refused it.
    pub policy_refused: bool,
}

/// One grant a completed Connect flow produced (the root grant's id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectResult {
    pub grant_id: String,
    pub provider_id: String,
    pub account_identifier: Option<String>,
    pub scopes: Vec<String>,
    pub api_base_url: Option<String>,
    /// `creation` or `reauth` (same grant id kept).
    pub operation: String,
    pub grant_policy: Option<GrantPolicy>,
    /// Every provider of the flow that did not produce a grant.
    pub failed_grants: Vec<ConnectFailedGrant>,
    pub delegation: Option<ConnectDelegation>,
}

/// Something the poll reports while the flow is still pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectEvent {
    /// The user declined one provider of a multi-provider picker.
    ProviderDeclined {
        provider_id: String,
        error_code: String,
        declined_at: Option<String>,
    },
}

impl ConnectEvent {
    /// `{"type":"provider_declined","provider_id",…,"error_code",…,"declined_at",…}`.
    pub fn to_value(&self) -> Value {
        match self {
            ConnectEvent::ProviderDeclined {
                provider_id,
                error_code,
                declined_at,
            } => serde_json::json!({
                "type": "provider_declined",
                "provider_id": provider_id,
                "error_code": error_code,
                "declined_at": declined_at,
            }),
        }
    }
}

/// Receives poll events; it must not block.
pub type ConnectEventSink = Arc<dyn Fn(&ConnectEvent) + Send + Sync>;

// =============================================================================
// Arguments
// =============================================================================

/// Options of `create_connect_session`.
#[derive(Clone)]
pub struct ConnectSessionOptions {
    /// `None`: every configured provider. Sent as given.
    pub allowed_providers: Option<Vec<String>>,
    /// Skip the picker (exactly one provider).
    pub direct: bool,
    pub return_url: Option<String>,
    pub allowed_origin: Option<String>,
    /// Only `ip_address` and `user_agent` (strings or null).
    pub metadata: Option<Map<String, Value>>,
    /// Bounds of the user's TTL picker (`max_ttl_seconds`, `default_ttl_seconds`).
    pub grant_policy: Option<GrantPolicyInput>,
    /// Provider id → scopes to request, sent verbatim.
    pub required_scopes: Option<Map<String, Value>>,
    /// The agent (UUID or name) the user delegates to.
    pub agent: Option<String>,
    /// The end user's JWT; falls back to the getter.
    pub user_token: Option<String>,
    /// `{"label": …, "restrictions": {"allowed_methods": […], "allowed_endpoints": […]}}`.
    pub requested_grant: Option<Map<String, Value>>,
    /// Re-authorise this grant in place (one provider; no agent, requested
    /// grant or account switch).
    pub repair_grant_id: Option<String>,
    /// Offer onward sharing to the targeted agent; `None` keeps an
    /// existing delegation's setting.
    pub delegable: Option<bool>,
    pub scope_constraint: Option<Vec<String>>,
    /// Force the provider's consent even if already connected.
    pub switch_account: bool,
    /// Let the user author usage limits (default `true`).
    pub allow_user_policy_rules: bool,
}

impl Default for ConnectSessionOptions {
    fn default() -> Self {
        ConnectSessionOptions {
            allowed_providers: None,
            direct: false,
            return_url: None,
            allowed_origin: None,
            metadata: None,
            grant_policy: None,
            required_scopes: None,
            agent: None,
            user_token: None,
            requested_grant: None,
            repair_grant_id: None,
            delegable: None,
            scope_constraint: None,
            switch_account: false,
            allow_user_policy_rules: true,
        }
    }
}

impl fmt::Debug for ConnectSessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectSessionOptions")
            .field("allowed_providers", &self.allowed_providers)
            .field("direct", &self.direct)
            .field("return_url", &self.return_url)
            .field("allowed_origin", &self.allowed_origin)
            .field("agent", &self.agent)
            .field(
                "user_token",
                &self.user_token.as_ref().map(|_| "<redacted>"),
            )
            .field("repair_grant_id", &self.repair_grant_id)
            .field("delegable", &self.delegable)
            .field("switch_account", &self.switch_account)
            .field("allow_user_policy_rules", &self.allow_user_policy_rules)
            .finish_non_exhaustive()
    }
}

/// Pass-through options of `create_connect_session_for_error`.
#[derive(Clone, Default)]
pub struct ConnectForErrorOptions {
    pub allowed_origin: Option<String>,
    pub return_url: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub grant_policy: Option<GrantPolicyInput>,
    pub required_scopes: Option<Map<String, Value>>,
    pub user_token: Option<String>,
}

impl fmt::Debug for ConnectForErrorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectForErrorOptions")
            .field("allowed_origin", &self.allowed_origin)
            .field("return_url", &self.return_url)
            .field(
                "user_token",
                &self.user_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Options of the headless `connect()`.
#[derive(Debug, Clone)]
pub struct HeadlessConnectOptions {
    pub providers: Option<Vec<String>>,
    /// Seconds; default 300.
    pub timeout: f64,
    /// Seconds; default 2.
    pub poll_interval: f64,
    /// Try the browser first (default); otherwise only show the URL.
    pub open_browser: bool,
    pub grant_policy: Option<GrantPolicyInput>,
    pub allow_user_policy_rules: bool,
    pub direct: bool,
}

impl Default for HeadlessConnectOptions {
    fn default() -> Self {
        HeadlessConnectOptions {
            providers: None,
            timeout: 300.0,
            poll_interval: 2.0,
            open_browser: true,
            grant_policy: None,
            allow_user_policy_rules: true,
            direct: false,
        }
    }
}

/// Opens consent and sign-in pages for the headless flows. Inject your own
/// to test `connect()` / `authenticate()` or to route the URL elsewhere.
pub trait BrowserOpener: Send + Sync {
    /// Tries to open `url`; `false` when that did not work.
    fn open(&self, url: &str) -> bool;
    /// Shows a line to the user when the browser is not used (stdout by
    /// default).
    fn show(&self, line: &str) {
        println!("{line}");
    }
}

/// The system browser (`open` on macOS, `start` on Windows, `xdg-open`
/// elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemBrowser;

impl BrowserOpener for SystemBrowser {
    fn open(&self, url: &str) -> bool {
        use std::process::{Command, Stdio};
        let mut cmd = if cfg!(target_os = "macos") {
            let mut c = Command::new("open");
            c.arg(url);
            c
        } else if cfg!(windows) {
            let mut c = Command::new("cmd");
            c.args(["/C", "start", "", url]);
            c
        } else {
            let mut c = Command::new("xdg-open");
            c.arg(url);
            c
        };
        match cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                // Reap it without blocking the caller.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                true
            }
            Err(_) => false,
        }
    }
}

/// Opens `url` through `opener`, or shows `"<prefix> <url>"`.
pub(crate) fn open_or_show(opener: &dyn BrowserOpener, open: bool, prefix: &str, url: &str) {
    let opened = open && {
        let o = std::panic::AssertUnwindSafe(|| opener.open(url));
        std::panic::catch_unwind(o).unwrap_or(false)
    };
    if !opened {
        opener.show(&format!("{prefix} {url}"));
    }
}

// =============================================================================
// create_connect_session
// =============================================================================

fn distinct_providers(list: &[String]) -> usize {
    list.iter()
        .map(|p| p.trim().to_lowercase())
        .collect::<BTreeSet<_>>()
        .len()
}

fn check_metadata(m: &Map<String, Value>) -> Result<Value> {
    let mut out = Map::new();
    for (k, v) in m {
        if k != "ip_address" && k != "user_agent" {
            return Err(Error::value(format!(
                "metadata has an unknown key {k:?} (allowed: ip_address, user_agent)"
            )));
        }
        match v {
            Value::Null => {}
            Value::String(_) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {
                return Err(Error::value(format!(
                    "metadata.{k} must be a string or null"
                )))
            }
        }
    }
    Ok(Value::Object(out))
}

fn check_label(label: Option<&Value>) -> Result<&str> {
    match label {
        Some(Value::String(s)) if (1..=255).contains(&s.chars().count()) => Ok(s),
        _ => Err(Error::value(
            "requested_grant.label must be a string of 1 to 255 characters",
        )),
    }
}

/// `requested_grant` of an OAuth session: `label` first, then
/// `restrictions` (its nulls dropped) when given.
fn oauth_requested_grant(m: &Map<String, Value>) -> Result<Value> {
    if let Some(k) = m.keys().find(|k| *k != "label" && *k != "restrictions") {
        return Err(Error::value(format!(
            "requested_grant has an unknown key {k:?} (allowed: label, restrictions)"
        )));
    }
    let label = check_label(m.get("label"))?;
    let mut out = Map::new();
    out.insert("label".into(), label.into());
    match m.get("restrictions") {
        None => {}
        Some(Value::Object(r)) => {
            let mut rs = Map::new();
            for (k, v) in r {
                if k != "allowed_methods" && k != "allowed_endpoints" {
                    return Err(Error::value(format!(
                        "requested_grant.restrictions has an unknown key {k:?} (allowed: allowed_methods, allowed_endpoints)"
                    )));
                }
                match v {
                    Value::Null => {}
                    Value::Array(items) if items.iter().all(Value::is_string) => {
                        rs.insert(k.clone(), v.clone());
                    }
                    _ => {
                        return Err(Error::value(format!(
                            "requested_grant.restrictions.{k} must be a list of strings"
                        )))
                    }
                }
            }
            out.insert("restrictions".into(), Value::Object(rs));
        }
        Some(_) => {
            return Err(Error::value(
                "requested_grant.restrictions must be an object",
            ))
        }
    }
    Ok(Value::Object(out))
}

/// Validates the options and builds the body, keys in the documented
/// order. `user_token` is the already-resolved token (explicit or getter).
pub(crate) fn connect_session_body(
    o: &ConnectSessionOptions,
    user_token: Option<&str>,
) -> Result<Value> {
    let distinct = match &o.allowed_providers {
        None => None,
        Some(list) => {
            if list.is_empty() {
                return Err(Error::value(
                    "allowed_providers must not be empty (omit it for every provider)",
                ));
            }
            if list.iter().any(|p| p.trim().is_empty()) {
                return Err(Error::value(
                    "allowed_providers entries must be non-empty strings",
                ));
            }
            Some(distinct_providers(list))
        }
    };
    if o.direct && distinct != Some(1) {
        return Err(Error::value(
            "direct=true requires exactly one provider in allowed_providers",
        ));
    }
    let policy = match &o.grant_policy {
        Some(p) => Some(grants::policy_json(Some(p))?),
        None => None,
    };
    let requested = match &o.requested_grant {
        Some(r) => Some(oauth_requested_grant(r)?),
        None => None,
    };
    let repair = match &o.repair_grant_id {
        None => None,
        Some(id) => {
            if distinct != Some(1) {
                return Err(Error::value(
                    "repair_grant_id requires exactly one provider in allowed_providers",
                ));
            }
            if o.requested_grant.is_some() || o.agent.is_some() || o.switch_account {
                return Err(Error::value(
                    "repair_grant_id cannot be combined with requested_grant, agent or switch_account",
                ));
            }
            Some(backend::canonical_uuid("repair_grant_id", id)?)
        }
    };
    backend::opt_non_empty("agent", o.agent.as_deref())?;
    if let Some(sc) = &o.scope_constraint {
        grants::validate_scope_constraint(sc)?;
    }
    backend::opt_non_empty("user_token", o.user_token.as_deref())?;
    let metadata = match &o.metadata {
        Some(m) => check_metadata(m)?,
        None => Value::Null,
    };

    let opt_str = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let mut m = Map::new();
    m.insert(
        "allowed_providers".into(),
        o.allowed_providers.as_ref().map_or(Value::Null, |l| {
            Value::Array(l.iter().map(|p| p.as_str().into()).collect())
        }),
    );
    m.insert("return_url".into(), opt_str(&o.return_url));
    m.insert("allowed_origin".into(), opt_str(&o.allowed_origin));
    m.insert("metadata".into(), metadata);
    if o.direct {
        m.insert("direct".into(), true.into());
    }
    if o.switch_account {
        m.insert("switch_account".into(), true.into());
    }
    if !o.allow_user_policy_rules {
        m.insert("allow_user_policy_rules".into(), false.into());
    }
    if let Some(p) = policy {
        m.insert("grant_policy".into(), p);
    }
    if let Some(rs) = &o.required_scopes {
        m.insert("required_scopes".into(), Value::Object(rs.clone()));
    }
    if let Some(r) = requested {
        m.insert("requested_grant".into(), r);
    }
    if let Some(r) = repair {
        m.insert("repair_grant_id".into(), r.into());
    }
    if let Some(a) = &o.agent {
        m.insert("agent".into(), a.as_str().into());
    }
    if let Some(d) = o.delegable {
        m.insert("delegable".into(), d.into());
    }
    if let Some(sc) = &o.scope_constraint {
        m.insert(
            "scope_constraint".into(),
            Value::Array(sc.iter().map(|s| s.as_str().into()).collect()),
        );
    }
    if let Some(t) = user_token {
        m.insert("user_token".into(), t.into());
    }
    Ok(Value::Object(m))
}

fn check_connect_session(s: &ConnectSession) -> std::result::Result<(), String> {
    if s.session_token.is_empty() || s.connect_url.is_empty() || s.expires_at.is_empty() {
        return Err("session_token, connect_url and expires_at must be non-empty".into());
    }
    Ok(())
}

// =============================================================================
// Poll
// =============================================================================

/// What one poll said.
#[derive(Debug)]
pub(crate) enum PollState {
    Pending(Vec<ConnectEvent>),
    Done(Vec<ConnectResult>),
    Expired,
}

const CONFIG_ERROR_CODES: [&str; 7] = [
    "connect_config_error",
    "invalid_redirect_uri",
    "invalid_client",
    "unauthorized_client",
    "provider_configuration_unavailable",
    "shared_dev_credential_unavailable",
    "managed_oauth_scope_approval_required",
];

fn non_empty_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// Interprets one poll body (grants-and-connect.md §4.3).
pub(crate) fn parse_poll(body: &Map<String, Value>, status: u16) -> Result<PollState> {
    const WHAT: &str = "poll_connect_session";
    let bad = |field: &str| backend::malformed_field(WHAT, status, field);
    let state = body
        .get("status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("status"))?;
    match state {
        "pending" => {
            let mut events = Vec::new();
            if let Some(Value::Array(list)) = body.get("declined_providers") {
                for d in list {
                    let (Some(p), Some(c)) = (
                        d.get("provider_id")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty()),
                        d.get("error_code")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty()),
                    ) else {
                        continue;
                    };
                    events.push(ConnectEvent::ProviderDeclined {
                        provider_id: p.to_string(),
                        error_code: c.to_string(),
                        declined_at: d
                            .get("declined_at")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    });
                }
            }
            Ok(PollState::Pending(events))
        }
        "completed" => {
            let failed = parse_failed_grants(body.get("failed_grants"), status)?;
            let grants = match body.get("grants") {
                None => Vec::new(),
                Some(Value::Array(g)) => g.clone(),
                Some(_) => return Err(bad("grants")),
            };
            let mut results = Vec::with_capacity(grants.len());
            for g in &grants {
                results.push(parse_connect_grant(g, &failed, status)?);
            }
            if results.is_empty() && !failed.is_empty() {
                let only_activation = failed
                    .iter()
                    .all(|f| f.reason == "not_selected" || f.reason == "activation_failed");
                let code = if only_activation {
                    "grant_activation_failed"
                } else {
                    "grant_policy_application_failed"
                };
                let mut d = Details::new();
                d.insert("error_code".into(), code.into());
                d.insert(
                    "failed_grants".into(),
                    serde_json::to_value(&failed).unwrap_or(Value::Null),
                );
                return Err(Error::connect_flow(
                    "The Connect flow completed without activating any grant",
                    d,
                ));
            }
            Ok(PollState::Done(results))
        }
        "error" => Err(poll_error(body.get("error"), status)),
        "expired" => Ok(PollState::Expired),
        other => {
            let mut d = Details::new();
            d.insert("status".into(), other.into());
            Err(Error::connect_flow(
                format!("Unexpected Connect session status {other:?}"),
                d,
            ))
        }
    }
}

fn parse_failed_grants(v: Option<&Value>, status: u16) -> Result<Vec<ConnectFailedGrant>> {
    let bad = || backend::malformed_field("poll_connect_session", status, "failed_grants");
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|f| {
                let field = |k: &str| non_empty_str(f.get(k)).map(str::to_string);
                match (field("provider_id"), field("reason"), field("message")) {
                    (Some(provider_id), Some(reason), Some(message)) => Ok(ConnectFailedGrant {
                        provider_id,
                        reason,
                        message,
                    }),
                    _ => Err(bad()),
                }
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn parse_connect_grant(
    g: &Value,
    failed: &[ConnectFailedGrant],
    status: u16,
) -> Result<ConnectResult> {
    let bad = |field: &str| backend::malformed_field("poll_connect_session", status, field);
    let obj = g.as_object().ok_or_else(|| bad("grants"))?;
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let grant_id = s("grant_id").ok_or_else(|| bad("grant_id"))?;
    let provider_id = s("provider_id").ok_or_else(|| bad("provider_id"))?;
    let scopes = match obj.get("scopes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("scopes"))?,
        Some(_) => return Err(bad("scopes")),
    };
    let operation = match obj.get("operation") {
        None | Some(Value::Null) => "creation".to_string(),
        Some(Value::String(o)) if o == "creation" || o == "reauth" => o.clone(),
        Some(_) => return Err(bad("operation")),
    };
    let grant_policy = match obj.get("grant_policy") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(
            serde_json::from_value::<GrantPolicy>(v.clone()).map_err(|_| bad("grant_policy"))?,
        ),
        Some(_) => return Err(bad("grant_policy")),
    };
    let delegation = match obj.get("delegation") {
        None | Some(Value::Null) => None,
        Some(Value::Object(d)) => {
            let agent_id = d
                .get("agent_id")
                .and_then(Value::as_str)
                .filter(|a| crate::transport::is_uuid_any_case(a))
                .ok_or_else(|| bad("delegation"))?;
            let delegable = d
                .get("delegable")
                .and_then(Value::as_bool)
                .ok_or_else(|| bad("delegation"))?;
            let policy_refused = match d.get("policy_refused") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("delegation")),
            };
            Some(ConnectDelegation {
                agent_id: agent_id.to_string(),
                delegable,
                policy_refused,
            })
        }
        Some(_) => return Err(bad("delegation")),
    };
    Ok(ConnectResult {
        grant_id,
        provider_id,
        account_identifier: s("account_identifier"),
        scopes,
        api_base_url: s("api_base_url").filter(|u| backend::is_https_origin(u)),
        operation,
        grant_policy,
        failed_grants: failed.to_vec(),
        delegation,
    })
}

fn poll_error(payload: Option<&Value>, status: u16) -> Error {
    let bad = || backend::malformed_field("poll_connect_session", status, "error");
    let Some(p) = payload.and_then(Value::as_object) else {
        return bad();
    };
    let (Some(code), Some(message)) = (
        non_empty_str(p.get("error_code")),
        non_empty_str(p.get("error_message")),
    ) else {
        return bad();
    };
    let mut d = Details::new();
    d.insert("error_code".into(), code.into());
    if let Some(n) = p.get("retry_after_seconds").and_then(Value::as_f64) {
        if n >= 0.0 && n.fract() == 0.0 {
            d.insert("retry_after_seconds".into(), (n as u64).into());
        }
    }
    match code {
        "connect_denied" => Error::connect_denied(message, d),
        c if CONFIG_ERROR_CODES.contains(&c) => Error::connect_config(message, d),
        "service_unavailable" => Error::backend(message, d, Some(503)),
        "identity_provider_inactive" | "identity_group_name_ambiguous" => {
            Error::backend(message, d, Some(409))
        }
        _ => Error::connect_flow(message, d),
    }
}

fn timeout_error(
    message: &str,
    reason: &str,
    timeout: f64,
    declined: &BTreeSet<String>,
    retry_after: Option<u64>,
) -> Error {
    let mut d = Details::new();
    d.insert("timeout".into(), backend::seconds_value(timeout));
    d.insert("reason".into(), reason.into());
    if let Some(r) = retry_after {
        d.insert("retry_after".into(), r.into());
    }
    if !declined.is_empty() {
        d.insert(
            "declined_providers".into(),
            Value::Array(declined.iter().map(|p| p.as_str().into()).collect()),
        );
    }
    Error::connect_timeout(message, d)
}

// =============================================================================
// Managed-secret Connect
// =============================================================================

/// Options of `create_managed_secret_connect_session` shared by App and
/// Agent. Give `provider` (the provider's slug) or, in the docs' spelling,
/// `template_slug`.
#[derive(Clone)]
pub struct ManagedSecretConnectOptions {
    /// The managed-secret provider's slug (`[a-z0-9-]{1,50}`).
    pub provider: Option<String>,
    /// Deprecated alias (the docs' name): the provider's template.
    pub template_slug: Option<String>,
    /// Required; never taken from the getter.
    pub user_token: String,
    /// Let the user allow onward sharing.
    pub delegable: bool,
    /// `{"label": …}` only.
    pub requested_grant: Option<Map<String, Value>>,
    pub grant_policy: Option<GrantPolicyInput>,
    pub direct: bool,
    /// Default `true`.
    pub allow_user_policy_rules: bool,
    pub allowed_origin: Option<String>,
    pub return_url: Option<String>,
    /// Caller-suggested delegation lifetime; not with `grant_policy`.
    pub requested_ttl_seconds: Option<i64>,
}

impl Default for ManagedSecretConnectOptions {
    fn default() -> Self {
        ManagedSecretConnectOptions {
            provider: None,
            template_slug: None,
            user_token: String::new(),
            delegable: false,
            requested_grant: None,
            grant_policy: None,
            direct: false,
            allow_user_policy_rules: true,
            allowed_origin: None,
            return_url: None,
            requested_ttl_seconds: None,
        }
    }
}

impl fmt::Debug for ManagedSecretConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedSecretConnectOptions")
            .field("provider", &self.provider)
            .field("template_slug", &self.template_slug)
            .field("user_token", &"<redacted>")
            .field("delegable", &self.delegable)
            .field("direct", &self.direct)
            .field("requested_ttl_seconds", &self.requested_ttl_seconds)
            .finish_non_exhaustive()
    }
}

/// The App-only part of `create_managed_secret_connect_session`: which
/// agent the user delegates to, or which own-key grant to repair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedSecretConnectTarget {
    /// An agent UUID or name.
    pub agent: Option<String>,
    /// Deprecated alias (the docs' name): a canonical agent UUID, sent as
    /// given.
    pub delegated_agent_id: Option<String>,
    /// The docs' name for targeting an agent by name (sent as `agent`).
    pub delegated_agent_name: Option<String>,
    pub repair_grant_id: Option<String>,
}

/// Which wire field names the targeted agent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AgentField {
    Agent(String),
    DelegatedAgentId(String),
}

static WARNED_TEMPLATE_SLUG: AtomicBool = AtomicBool::new(false);
static WARNED_DELEGATED_AGENT_ID: AtomicBool = AtomicBool::new(false);

fn is_slug(s: &str) -> bool {
    (1..=50).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Validates and builds the managed-secret session body (§4.5), keys in the
/// documented order. `pinned` is an impersonated Agent's agent id.
pub(crate) fn ms_session_body(
    o: &ManagedSecretConnectOptions,
    t: &ManagedSecretConnectTarget,
    pinned: Option<&str>,
) -> Result<Value> {
    if o.provider.is_none() && o.template_slug.is_none() {
        return Err(Error::value("provider (or template_slug) is required"));
    }
    if let Some(p) = &o.provider {
        if !is_slug(p) {
            return Err(Error::value(
                "provider must be a managed-secret slug: 1 to 50 of a-z, 0-9 and '-'",
            ));
        }
    }
    if let Some(ts) = &o.template_slug {
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::value(
                "template_slug must be non-empty ASCII letters, digits and '-'",
            ));
        }
    }
    backend::opt_non_empty("agent", t.agent.as_deref())?;
    backend::opt_non_empty("delegated_agent_name", t.delegated_agent_name.as_deref())?;
    if let Some(id) = &t.delegated_agent_id {
        if !crate::transport::is_uuid_any_case(id) {
            return Err(Error::value(
                "delegated_agent_id must be a canonical hyphenated UUID",
            ));
        }
    }
    let named = [
        t.agent.is_some(),
        t.delegated_agent_id.is_some(),
        t.delegated_agent_name.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if named > 1 {
        return Err(Error::value(
            "name the agent once: agent, delegated_agent_id or delegated_agent_name",
        ));
    }
    backend::require_non_empty("user_token", &o.user_token)?;
    if let Some(ttl) = o.requested_ttl_seconds {
        if ttl <= 0 {
            return Err(Error::value(
                "requested_ttl_seconds must be a positive integer",
            ));
        }
        if o.grant_policy.is_some() {
            return Err(Error::value(
                "requested_ttl_seconds cannot be combined with grant_policy",
            ));
        }
    }
    let repair = match &t.repair_grant_id {
        None => None,
        Some(id) => {
            if named > 0 {
                return Err(Error::value(
                    "repair_grant_id cannot be combined with an agent",
                ));
            }
            if o.requested_grant.is_some() {
                return Err(Error::value(
                    "repair_grant_id cannot be combined with requested_grant",
                ));
            }
            Some(backend::canonical_uuid("repair_grant_id", id)?)
        }
    };
    let requested = match &o.requested_grant {
        None => None,
        Some(r) => {
            if let Some(k) = r.keys().find(|k| *k != "label") {
                return Err(Error::value(format!(
                    "requested_grant has an unknown key {k:?} (allowed: label)"
                )));
            }
            let mut m = Map::new();
            m.insert("label".into(), check_label(r.get("label"))?.into());
            Some(Value::Object(m))
        }
    };
    let policy = match &o.grant_policy {
        Some(p) => Some(grants::policy_json(Some(p))?),
        None => None,
    };
    let agent_field = if let Some(a) = &t.agent {
        Some(AgentField::Agent(a.clone()))
    } else if let Some(n) = &t.delegated_agent_name {
        Some(AgentField::Agent(n.clone()))
    } else if let Some(id) = &t.delegated_agent_id {
        Some(AgentField::DelegatedAgentId(id.clone()))
    } else if let Some(p) = pinned {
        if o.provider.is_none() {
            Some(AgentField::DelegatedAgentId(p.to_string()))
        } else {
            Some(AgentField::Agent(p.to_string()))
        }
    } else {
        None
    };

    let mut m = Map::new();
    if let Some(p) = &o.provider {
        m.insert("provider".into(), p.as_str().into());
    }
    if let Some(ts) = &o.template_slug {
        m.insert("template_slug".into(), ts.to_ascii_lowercase().into());
    }
    match agent_field {
        Some(AgentField::Agent(a)) => {
            m.insert("agent".into(), a.into());
        }
        Some(AgentField::DelegatedAgentId(id)) => {
            m.insert("delegated_agent_id".into(), id.into());
        }
        None => {}
    }
    m.insert("user_token".into(), o.user_token.as_str().into());
    if let Some(ttl) = o.requested_ttl_seconds {
        m.insert("requested_ttl_seconds".into(), ttl.into());
    }
    if let Some(a) = &o.allowed_origin {
        m.insert("allowed_origin".into(), a.as_str().into());
    }
    if let Some(r) = &o.return_url {
        m.insert("return_url".into(), r.as_str().into());
    }
    if !o.allow_user_policy_rules {
        m.insert("allow_user_policy_rules".into(), false.into());
    }
    if o.delegable {
        m.insert("delegable".into(), true.into());
    }
    if let Some(r) = requested {
        m.insert("requested_grant".into(), r);
    }
    if let Some(p) = policy {
        m.insert("grant_policy".into(), p);
    }
    if o.direct {
        m.insert("direct".into(), true.into());
    }
    if let Some(r) = repair {
        m.insert("repair_grant_id".into(), r.into());
    }
    Ok(Value::Object(m))
}

const PROVIDER_SESSION_FIELDS: [&str; 6] = [
    "provider",
    "agent",
    "requested_grant",
    "grant_policy",
    "direct",
    "repair_grant_id",
];

/// Recognises a 422 from a backend older than the fields this client sent.
fn old_backend_422(body: &[u8], sent: &Map<String, Value>, agent_named: bool) -> Option<Error> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let detail = v.get("detail");
    if let Some(Value::Array(items)) = detail {
        for item in items {
            let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
            let loc: Vec<&str> = item
                .get("loc")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let field = match loc.as_slice() {
                ["body", f] => *f,
                _ => continue,
            };
            if kind == "extra_forbidden"
                && PROVIDER_SESSION_FIELDS.contains(&field)
                && sent.contains_key(field)
            {
                return Some(unsupported("managed_secret_connect_provider"));
            }
            if kind == "missing" && field == "template_slug" && sent.contains_key("provider") {
                return Some(unsupported("managed_secret_connect_provider"));
            }
            if kind == "missing" && field == "delegated_agent_id" && !agent_named {
                return Some(unsupported("agent_managed_secret_connect_session"));
            }
        }
    }
    let obj = match detail {
        Some(Value::Object(d)) => d,
        _ => v.as_object()?,
    };
    if obj.get("error").and_then(Value::as_str) == Some("delegated_agent_id_required")
        && !agent_named
    {
        return Some(unsupported("managed_secret_connect_provider"));
    }
    None
}

fn unsupported(feature: &str) -> Error {
    Error::server_feature_unsupported(
        format!("The Alter backend does not support this Connect option yet ({feature})"),
        feature,
        Some(422),
    )
}

/// The client's post-checks of a managed-secret session answer.
fn check_ms_answer(
    obj: &Map<String, Value>,
    sent: &Map<String, Value>,
    provider_session: bool,
    status: u16,
) -> Result<()> {
    let echoed = obj.get("delegable_requested");
    if sent.contains_key("delegable") {
        if echoed != Some(&Value::Bool(true)) {
            return Err(Error::server_feature_unsupported(
                "The Alter backend ignored delegable=true for managed-secret Connect",
                "managed_secret_connect_delegable",
                None,
            ));
        }
    } else if echoed == Some(&Value::Bool(true)) {
        return Err(backend::malformed_field(
            "create_managed_secret_connect_session",
            status,
            "delegable_requested",
        ));
    }
    if provider_session && !obj.contains_key("path") {
        return Err(Error::server_feature_unsupported(
            "The Alter backend does not support provider-based managed-secret Connect sessions",
            "managed_secret_connect_provider",
            None,
        ));
    }
    if let Some(p) = sent.get("provider").and_then(Value::as_str) {
        if obj.get("secret_slug").and_then(Value::as_str) != Some(p) {
            return Err(backend::malformed_field(
                "create_managed_secret_connect_session",
                status,
                "secret_slug",
            ));
        }
    }
    Ok(())
}

// =============================================================================
// Operations
// =============================================================================

impl Client {
    /// Mints an OAuth Connect session. The user token is the explicit one,
    /// else the getter's; without one the grant is application-scoped.
    pub async fn create_connect_session(
        &self,
        opts: &ConnectSessionOptions,
    ) -> Result<ConnectSession> {
        // Validate before consulting the getter, so nothing runs on bad input.
        connect_session_body(opts, None)?;
        self.ensure_open()?;
        let token = self
            .user_token_or_getter(opts.user_token.as_deref())
            .await?;
        let body = connect_session_body(opts, token.as_deref())?;
        let call = Call::new(Method::POST, "/sdk/oauth/connect/session", Site::Token)
            .json(&body)
            .actor(Actor::id_only());
        let reply = self.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "create_connect_session")?;
        model(
            obj,
            "create_connect_session",
            reply.status,
            check_connect_session,
        )
    }

    /// A Connect session that fixes what `error` reports: a missing
    /// delegation (`NoDelegatedGrantError`), a missing grant
    /// (`GrantNotFoundError` from a provider lookup) or a revoked
    /// credential (`CredentialRevokedError`, repaired in place; when the
    /// grant to repair is gone, an ordinary re-consent instead).
    pub async fn create_connect_session_for_error(
        &self,
        error: &Error,
        opts: &ConnectForErrorOptions,
    ) -> Result<ConnectSession> {
        let (provider_id, agent_id, repair) = match error {
            Error::NoDelegatedGrant {
                provider_id,
                agent_id,
                ..
            } => {
                if agent_id.is_none() {
                    return Err(Error::value(
                        "this NoDelegatedGrantError names no agent; cannot build a delegation Connect session",
                    ));
                }
                (provider_id.clone(), agent_id.clone(), None)
            }
            Error::GrantNotFound {
                provider_id,
                agent_id,
                ..
            }
            | Error::AgentDelegationMissing {
                provider_id,
                agent_id,
                ..
            } => (provider_id.clone(), agent_id.clone(), None),
            Error::CredentialRevoked {
                provider_id,
                grant_id,
                ..
            } => {
                let repair = match grant_id {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                (provider_id.clone(), None, repair)
            }
            other => {
                return Err(Error::value(format!(
                    "create_connect_session_for_error takes a NoDelegatedGrantError, GrantNotFoundError or CredentialRevokedError, not {}",
                    other.kind()
                )))
            }
        };
        let provider_id = provider_id.ok_or_else(|| {
            Error::value(
                "this error carries no provider_id (a lookup by grant_id has no recovery context)",
            )
        })?;
        let mut session = ConnectSessionOptions {
            allowed_providers: Some(vec![provider_id]),
            allowed_origin: opts.allowed_origin.clone(),
            return_url: opts.return_url.clone(),
            metadata: opts.metadata.clone(),
            grant_policy: opts.grant_policy.clone(),
            required_scopes: opts.required_scopes.clone(),
            user_token: opts.user_token.clone(),
            agent: agent_id,
            repair_grant_id: repair.clone(),
            ..Default::default()
        };
        match self.create_connect_session(&session).await {
            Err(e) if repair.is_some() && e.is_a("GrantNotFoundError") => {
                session.repair_grant_id = None;
                self.create_connect_session(&session).await
            }
            other => other,
        }
    }

    /// Polls a Connect session until it completes, fails or expires;
    /// `timeout` and `poll_interval` are seconds. Declined providers are
    /// reported to `on_event` (once each) while the flow is pending.
    pub async fn poll_connect_session(
        &self,
        session_token: &str,
        timeout: f64,
        poll_interval: f64,
        on_event: Option<ConnectEventSink>,
    ) -> Result<Vec<ConnectResult>> {
        backend::require_non_blank("session_token", session_token)?;
        let budget = config::positive_seconds("timeout", timeout)?;
        let interval = config::positive_seconds("poll_interval", poll_interval)?;
        self.ensure_open()?;
        let start = Instant::now();
        let remaining = || budget.saturating_sub(start.elapsed());
        let body = serde_json::json!({ "session_token": session_token });
        let mut saw_pending = false;
        let mut declined: BTreeSet<String> = BTreeSet::new();
        loop {
            self.ensure_open()?;
            let call = Call::new(Method::POST, "/sdk/oauth/connect/session/poll", Site::Token)
                .json(&body)
                .idempotent(true)
                .actor(Actor::id_only());
            let reply = match self.backend_reply(&call).await {
                Ok(r) => r,
                Err(e @ Error::RateLimit { .. }) => {
                    let retry_after = e.retry_after().unwrap_or(0);
                    if remaining().is_zero() {
                        return Err(timeout_error(
                            "Connect polling was rate limited past its deadline",
                            "rate_limited",
                            timeout,
                            &declined,
                            Some(retry_after),
                        ));
                    }
                    let wait = if retry_after > 0 {
                        Duration::from_secs(retry_after).max(interval)
                    } else {
                        interval
                    };
                    tokio::time::sleep(wait.min(remaining())).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let obj = backend::json_object(&reply, "poll_connect_session")?;
            match parse_poll(&obj, reply.status)? {
                PollState::Done(results) => return Ok(results),
                PollState::Expired => {
                    if saw_pending {
                        return Err(timeout_error(
                            "The Connect session expired before the user finished",
                            "session_expired",
                            timeout,
                            &declined,
                            None,
                        ));
                    }
                    let mut d = Details::new();
                    d.insert("status".into(), "expired".into());
                    return Err(Error::connect_flow(
                        "The Connect session had already expired (or does not exist)",
                        d,
                    ));
                }
                PollState::Pending(events) => {
                    for ev in events {
                        let ConnectEvent::ProviderDeclined { provider_id, .. } = &ev;
                        if declined.insert(provider_id.clone()) {
                            if let Some(sink) = &on_event {
                                let call = std::panic::AssertUnwindSafe(|| sink(&ev));
                                if std::panic::catch_unwind(call).is_err() {
                                    self.shared.warn("on_event callback failed; ignored");
                                }
                            }
                        }
                    }
                    saw_pending = true;
                    if remaining().is_zero() {
                        return Err(timeout_error(
                            "The Connect flow did not finish before the timeout",
                            "poll_deadline_elapsed",
                            timeout,
                            &declined,
                            None,
                        ));
                    }
                    tokio::time::sleep(interval.min(remaining())).await;
                }
            }
        }
    }

    /// Headless OAuth: mints a session (user token from the getter only),
    /// opens its consent page through `opener` (or prints
    /// `Open this URL to authorize: <url>`), then polls to the end.
    pub async fn connect(
        &self,
        opts: &HeadlessConnectOptions,
        opener: &dyn BrowserOpener,
    ) -> Result<Vec<ConnectResult>> {
        config::positive_seconds("timeout", opts.timeout)?;
        config::positive_seconds("poll_interval", opts.poll_interval)?;
        let session = self
            .create_connect_session(&ConnectSessionOptions {
                allowed_providers: opts.providers.clone(),
                grant_policy: opts.grant_policy.clone(),
                allow_user_policy_rules: opts.allow_user_policy_rules,
                direct: opts.direct,
                ..Default::default()
            })
            .await?;
        open_or_show(
            opener,
            opts.open_browser,
            "Open this URL to authorize:",
            &session.connect_url,
        );
        self.poll_connect_session(
            &session.session_token,
            opts.timeout,
            opts.poll_interval,
            None,
        )
        .await
    }

    async fn ms_connect_session(
        &self,
        o: &ManagedSecretConnectOptions,
        t: &ManagedSecretConnectTarget,
        pinned: Option<&str>,
    ) -> Result<ManagedSecretConnectSession> {
        let body = ms_session_body(o, t, pinned)?;
        self.ensure_open()?;
        if o.template_slug.is_some() && !WARNED_TEMPLATE_SLUG.swap(true, Ordering::AcqRel) {
            self.shared
                .warn("template_slug is deprecated; pass provider=<managed-secret slug> instead");
        }
        if t.delegated_agent_id.is_some() && !WARNED_DELEGATED_AGENT_ID.swap(true, Ordering::AcqRel)
        {
            self.shared
                .warn("delegated_agent_id is deprecated; pass agent=<agent id or name> instead");
        }
        let sent = body.as_object().cloned().unwrap_or_default();
        let agent_named = sent.contains_key("agent") || sent.contains_key("delegated_agent_id");
        let call = Call::new(
            Method::POST,
            "/sdk/managed-secrets/connect/session",
            Site::Token,
        )
        .json(&body)
        .actor(Actor::id_only());
        self.ensure_open()?;
        let reply = self.shared.send(&self.local, &call).await?;
        if reply.status == 422 {
            if let Some(e) = old_backend_422(&reply.body, &sent, agent_named) {
                return Err(e);
            }
        }
        if let Some(e) = crate::error::map_backend_error(&reply.failure()) {
            return Err(e);
        }
        let obj = backend::json_object(&reply, "create_managed_secret_connect_session")?;
        let provider_session = PROVIDER_SESSION_FIELDS
            .iter()
            .any(|k| sent.contains_key(*k));
        check_ms_answer(&obj, &sent, provider_session, reply.status)?;
        model(
            obj,
            "create_managed_secret_connect_session",
            reply.status,
            |s: &ManagedSecretConnectSession| {
                if s.session_token.is_empty() || s.connect_url.is_empty() || s.expires_at.is_empty()
                {
                    Err("session_token, connect_url and expires_at must be non-empty".into())
                } else {
                    Ok(())
                }
            },
        )
    }
}

impl App {
    /// Mints a managed-secret Connect session: the user enters their own
    /// key, or approves use of a grant they hold, optionally delegating it
    /// to `target.agent`. The server resolves and returns the delegation's
    /// effective expiry.
    pub async fn create_managed_secret_connect_session(
        &self,
        opts: &ManagedSecretConnectOptions,
        target: &ManagedSecretConnectTarget,
    ) -> Result<ManagedSecretConnectSession> {
        self.ms_connect_session(opts, target, None).await
    }
}

impl Agent {
    /// Mints a managed-secret Connect session for this agent (the server
    /// targets the calling agent; an impersonating Agent names its pinned
    /// agent).
    pub async fn create_managed_secret_connect_session(
        &self,
        opts: &ManagedSecretConnectOptions,
    ) -> Result<ManagedSecretConnectSession> {
        let pinned = if self.is_impersonated() {
            self.caller()
        } else {
            None
        };
        self.ms_connect_session(opts, &ManagedSecretConnectTarget::default(), pinned)
            .await
    }
}

#[cfg(test)]
mod tests {
    /// Unusable seconds are refused by name before anything is sent (a
    /// finite huge value used to panic in `Duration::from_secs_f64`).
    #[tokio::test]
    async fn poll_connect_session_refuses_unusable_seconds_before_polling() {
        let client = crate::testutil::quiet_client("http://127.0.0.1:9");
        for bad in [1e20, f64::INFINITY, f64::NAN, -1.0, 0.0] {
            let e = client
                .poll_connect_session("tok", bad, 2.0, None)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "timeout={bad}");
            assert!(
                e.message().starts_with("timeout must be"),
                "{}",
                e.message()
            );
            let e = client
                .poll_connect_session("tok", 10.0, bad, None)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "poll_interval={bad}");
            assert!(
                e.message().starts_with("poll_interval must be"),
                "{}",
                e.message()
            );
        }
    }

    use super::*;
    use serde_json::json;

    fn bytes(v: &Value) -> String {
        crate::json::compact_ascii(v)
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    const G: &str = "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00";

    #[test]
    fn connect_body_examples() {
        let o = ConnectSessionOptions::default();
        assert_eq!(
            bytes(&connect_session_body(&o, None).unwrap()),
            r#"{"allowed_providers":null,"return_url":null,"allowed_origin":null,"metadata":null}"#
        );
        let o = ConnectSessionOptions {
            allowed_providers: Some(vec!["google".into()]),
            ..Default::default()
        };
        assert_eq!(
            bytes(&connect_session_body(&o, Some("<jwt>")).unwrap()),
            r#"{"allowed_providers":["google"],"return_url":null,"allowed_origin":null,"metadata":null,"user_token":"<jwt>"}"#
        );
    }

    #[test]
    fn connect_body_full_order() {
        let mut meta = Map::new();
        meta.insert("user_agent".into(), "ua".into());
        meta.insert("ip_address".into(), Value::Null);
        let o = ConnectSessionOptions {
            allowed_providers: Some(vec![" Google ".into(), "google".into()]),
            direct: true,
            return_url: Some("https://app/done".into()),
            allowed_origin: Some("https://app".into()),
            metadata: Some(meta),
            grant_policy: Some(GrantPolicyInput {
                max_ttl_seconds: Some(3600),
                default_ttl_seconds: Some(60),
                ..Default::default()
            }),
            required_scopes: Some(obj(json!({"google": ["openid"]}))),
            agent: Some("billing-bot".into()),
            requested_grant: Some(obj(
                json!({"restrictions": {"allowed_endpoints": null, "allowed_methods": ["GET"]}, "label": "ro"}),
            )),
            delegable: Some(false),
            scope_constraint: Some(vec!["openid".into()]),
            switch_account: true,
            allow_user_policy_rules: false,
            ..Default::default()
        };
        assert_eq!(
            bytes(&connect_session_body(&o, Some("t")).unwrap()),
            concat!(
                r#"{"allowed_providers":[" Google ","google"],"return_url":"https://app/done","#,
                r#""allowed_origin":"https://app","metadata":{"user_agent":"ua"},"direct":true,"#,
                r#""switch_account":true,"allow_user_policy_rules":false,"#,
                r#""grant_policy":{"max_ttl_seconds":3600,"default_ttl_seconds":60},"#,
                r#""required_scopes":{"google":["openid"]},"#,
                r#""requested_grant":{"label":"ro","restrictions":{"allowed_methods":["GET"]}},"#,
                r#""agent":"billing-bot","delegable":false,"scope_constraint":["openid"],"user_token":"t"}"#
            )
        );
        let repair = ConnectSessionOptions {
            allowed_providers: Some(vec!["google".into()]),
            repair_grant_id: Some(G.to_uppercase()),
            ..Default::default()
        };
        assert_eq!(
            bytes(&connect_session_body(&repair, None).unwrap()),
            format!(
                r#"{{"allowed_providers":["google"],"return_url":null,"allowed_origin":null,"metadata":null,"repair_grant_id":"{G}"}}"#
            )
        );
    }

    #[test]
    fn connect_argument_checks() {
        let fails = |o: ConnectSessionOptions| {
            connect_session_body(&o, None).unwrap_err().kind() == "AlterValueError"
        };
        let one = || Some(vec!["google".to_string()]);
        assert!(fails(ConnectSessionOptions {
            allowed_providers: Some(vec![]),
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            allowed_providers: Some(vec!["  ".into()]),
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            direct: true,
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            direct: true,
            allowed_providers: Some(vec!["google".into(), "slack".into()]),
            ..Default::default()
        }));
        assert!(connect_session_body(
            &ConnectSessionOptions {
                direct: true,
                allowed_providers: Some(vec!["google".into(), "GOOGLE ".into()]),
                ..Default::default()
            },
            None
        )
        .is_ok());
        assert!(fails(ConnectSessionOptions {
            repair_grant_id: Some(G.into()),
            ..Default::default()
        }));
        for combo in [
            ConnectSessionOptions {
                agent: Some("a".into()),
                ..Default::default()
            },
            ConnectSessionOptions {
                switch_account: true,
                ..Default::default()
            },
            ConnectSessionOptions {
                requested_grant: Some(obj(json!({"label": "x"}))),
                ..Default::default()
            },
        ] {
            assert!(fails(ConnectSessionOptions {
                allowed_providers: one(),
                repair_grant_id: Some(G.into()),
                ..combo
            }));
        }
        assert!(fails(ConnectSessionOptions {
            allowed_providers: one(),
            repair_grant_id: Some("not-a-uuid".into()),
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            agent: Some(String::new()),
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            user_token: Some(String::new()),
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            scope_constraint: Some(vec!["*".into()]),
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            metadata: Some(obj(json!({"referer": "x"}))),
            ..Default::default()
        }));
        assert!(fails(ConnectSessionOptions {
            metadata: Some(obj(json!({"ip_address": 5}))),
            ..Default::default()
        }));
        for rg in [
            json!({}),
            json!({"label": ""}),
            json!({"label": "x".repeat(256)}),
            json!({"label": "x", "tags": []}),
            json!({"label": "x", "restrictions": {"allowed_hosts": []}}),
            json!({"label": "x", "restrictions": {"allowed_methods": [1]}}),
            json!({"label": "x", "restrictions": []}),
        ] {
            assert!(fails(ConnectSessionOptions {
                requested_grant: Some(obj(rg)),
                ..Default::default()
            }));
        }
        assert!(fails(ConnectSessionOptions {
            grant_policy: Some(GrantPolicyInput {
                max_ttl_seconds: Some(-1),
                ..Default::default()
            }),
            ..Default::default()
        }));
    }

    #[test]
    fn session_models() {
        let ok = json!({"session_token": "s", "connect_url": "https://c", "expires_in": 600,
            "expires_at": "2026-01-01T00:00:00Z", "scope_constraint_warnings": ["w", 3],
            "single_provider": "yes", "direct": true});
        let s: ConnectSession = model(obj(ok.clone()), "x", 200, check_connect_session).unwrap();
        assert_eq!(s.scope_constraint_warnings, vec!["w"]);
        assert!(!s.single_provider);
        assert!(s.direct);
        assert!(!format!("{s:?}").contains("https://c"));
        let mut float = ok.clone();
        float["expires_in"] = json!(600.0);
        assert!(model::<ConnectSession>(obj(float), "x", 200, check_connect_session).is_err());
        let mut empty = ok.clone();
        empty["connect_url"] = json!("");
        assert!(model::<ConnectSession>(obj(empty), "x", 200, check_connect_session).is_err());
        let mut warn = ok;
        warn["scope_constraint_warnings"] = json!("nope");
        let s: ConnectSession = model(obj(warn), "x", 200, check_connect_session).unwrap();
        assert!(s.scope_constraint_warnings.is_empty());

        let ms: ManagedSecretConnectSession = serde_json::from_value(json!({
            "session_token": "ms_sess_1", "connect_url": "https://c#session=ms_sess_1",
            "expires_in": 600, "expires_at": "2026-04-01T00:00:00Z", "path": "weird",
            "secret_slug": "stripe-prod", "agent_id": null
        }))
        .unwrap();
        assert_eq!(ms.path, None);
        assert!(!ms.delegable_requested);
        assert!(!format!("{ms:?}").contains("ms_sess_1"));
        assert!(
            serde_json::from_value::<ManagedSecretConnectSession>(json!({
                "session_token": "s", "connect_url": "u", "expires_in": 1, "expires_at": "t",
                "delegable_requested": null
            }))
            .is_err()
        );
    }

    #[test]
    fn poll_parsing() {
        let p = |v: Value| parse_poll(&obj(v), 200);
        match p(json!({"status": "pending", "declined_providers": [
            {"provider_id": "slack", "error_code": "connect_denied", "declined_at": "t"},
            {"provider_id": "", "error_code": "x"}, "junk"]}))
        .unwrap()
        {
            PollState::Pending(ev) => {
                assert_eq!(ev.len(), 1);
                assert_eq!(
                    ev[0].to_value(),
                    json!({"type":"provider_declined","provider_id":"slack","error_code":"connect_denied","declined_at":"t"})
                );
            }
            other => panic!("{other:?}"),
        }
        let done = p(json!({"status": "completed", "grants": [
            {"grant_id": "g1", "provider_id": "google", "scopes": ["openid"],
             "api_base_url": "https://www.googleapis.com", "operation": null,
             "grant_policy": {"expires_at": "t", "created_by": "end_user"},
             "delegation": {"agent_id": G, "delegable": true}}],
            "failed_grants": [{"provider_id": "slack", "reason": "not_selected", "message": "m"}]}))
        .unwrap();
        let PollState::Done(results) = done else {
            panic!("done")
        };
        assert_eq!(results[0].operation, "creation");
        assert_eq!(results[0].failed_grants.len(), 1);
        assert_eq!(
            results[0].delegation,
            Some(ConnectDelegation {
                agent_id: G.into(),
                delegable: true,
                policy_refused: false
            })
        );
        assert!(matches!(
            p(json!({"status": "completed"})).unwrap(),
            PollState::Done(v) if v.is_empty()
        ));
        assert!(matches!(
            p(json!({"status": "expired"})).unwrap(),
            PollState::Expired
        ));

        let all_unselected = p(json!({"status": "completed", "grants": [],
            "failed_grants": [{"provider_id": "a", "reason": "not_selected", "message": "m"}]}))
        .unwrap_err();
        assert_eq!(all_unselected.kind(), "ConnectFlowError");
        assert_eq!(
            all_unselected.details()["error_code"],
            "grant_activation_failed"
        );
        let limits = p(json!({"status": "completed",
            "failed_grants": [{"provider_id": "a", "reason": "limits_invalid", "message": "m"}]}))
        .unwrap_err();
        assert_eq!(
            limits.details()["error_code"],
            "grant_policy_application_failed"
        );

        for bad in [
            json!({}),
            json!({"status": ""}),
            json!({"status": "completed", "grants": [{"grant_id": 1, "provider_id": "p"}]}),
            json!({"status": "completed", "grants": [{"grant_id": "g", "provider_id": "p", "scopes": "s"}]}),
            json!({"status": "completed", "grants": [{"grant_id": "g", "provider_id": "p", "operation": "merge"}]}),
            json!({"status": "completed", "grants": [{"grant_id": "g", "provider_id": "p", "delegation": {"agent_id": "x", "delegable": true}}]}),
            json!({"status": "completed", "failed_grants": [{"provider_id": "a", "reason": "", "message": "m"}]}),
            json!({"status": "error", "error": {"error_code": "x"}}),
        ] {
            assert_eq!(p(bad.clone()).unwrap_err().kind(), "BackendError", "{bad}");
        }
        let err = |code: &str| {
            p(json!({"status": "error", "error": {"error_code": code, "error_message": "m", "retry_after_seconds": 5}}))
                .unwrap_err()
        };
        assert_eq!(err("connect_denied").kind(), "ConnectDeniedError");
        assert_eq!(err("invalid_client").kind(), "ConnectConfigError");
        assert_eq!(err("service_unavailable").status_code(), Some(503));
        assert_eq!(err("identity_provider_inactive").status_code(), Some(409));
        let other = err("something_else");
        assert_eq!(other.kind(), "ConnectFlowError");
        assert_eq!(other.details()["retry_after_seconds"], 5);
        assert_eq!(
            p(json!({"status": "weird"})).unwrap_err().details()["status"],
            "weird"
        );
    }

    #[test]
    fn ms_body_examples() {
        let o = ManagedSecretConnectOptions {
            provider: Some("stripe-prod".into()),
            user_token: "<jwt>".into(),
            ..Default::default()
        };
        let none = ManagedSecretConnectTarget::default();
        assert_eq!(
            bytes(&ms_session_body(&o, &none, None).unwrap()),
            r#"{"provider":"stripe-prod","user_token":"<jwt>"}"#
        );
        let legacy = ManagedSecretConnectOptions {
            template_slug: Some("Stripe-API-Key".into()),
            user_token: "<jwt>".into(),
            requested_ttl_seconds: Some(3600),
            ..Default::default()
        };
        let target = ManagedSecretConnectTarget {
            delegated_agent_id: Some(G.to_uppercase()),
            ..Default::default()
        };
        assert_eq!(
            bytes(&ms_session_body(&legacy, &target, None).unwrap()),
            format!(
                r#"{{"template_slug":"stripe-api-key","delegated_agent_id":"{}","user_token":"<jwt>","requested_ttl_seconds":3600}}"#,
                G.to_uppercase()
            )
        );
        let by_name = ManagedSecretConnectTarget {
            delegated_agent_name: Some("billing-bot".into()),
            ..Default::default()
        };
        assert_eq!(
            bytes(&ms_session_body(&o, &by_name, None).unwrap()),
            r#"{"provider":"stripe-prod","agent":"billing-bot","user_token":"<jwt>"}"#
        );
        // An impersonating Agent names its pinned id.
        assert_eq!(
            bytes(&ms_session_body(&o, &none, Some(G)).unwrap()),
            format!(r#"{{"provider":"stripe-prod","agent":"{G}","user_token":"<jwt>"}}"#)
        );
        assert_eq!(
            bytes(&ms_session_body(&legacy, &none, Some(G)).unwrap()),
            format!(
                r#"{{"template_slug":"stripe-api-key","delegated_agent_id":"{G}","user_token":"<jwt>","requested_ttl_seconds":3600}}"#
            )
        );
        let full = ManagedSecretConnectOptions {
            provider: Some("stripe-prod".into()),
            user_token: "t".into(),
            delegable: true,
            requested_grant: Some(obj(json!({"label": "mine"}))),
            grant_policy: Some(GrantPolicyInput {
                max_ttl_seconds: Some(86400),
                ..Default::default()
            }),
            direct: true,
            allow_user_policy_rules: false,
            allowed_origin: Some("https://app".into()),
            return_url: Some("https://app/r".into()),
            ..Default::default()
        };
        assert_eq!(
            bytes(
                &ms_session_body(
                    &full,
                    &ManagedSecretConnectTarget {
                        agent: Some("bot".into()),
                        ..Default::default()
                    },
                    None
                )
                .unwrap()
            ),
            concat!(
                r#"{"provider":"stripe-prod","agent":"bot","user_token":"t","allowed_origin":"https://app","#,
                r#""return_url":"https://app/r","allow_user_policy_rules":false,"delegable":true,"#,
                r#""requested_grant":{"label":"mine"},"grant_policy":{"max_ttl_seconds":86400},"direct":true}"#
            )
        );
        let repair = ManagedSecretConnectTarget {
            repair_grant_id: Some(G.to_uppercase()),
            ..Default::default()
        };
        assert_eq!(
            bytes(&ms_session_body(&o, &repair, None).unwrap()),
            format!(r#"{{"provider":"stripe-prod","user_token":"<jwt>","repair_grant_id":"{G}"}}"#)
        );
    }

    #[test]
    fn ms_argument_checks() {
        let base = || ManagedSecretConnectOptions {
            provider: Some("stripe".into()),
            user_token: "t".into(),
            ..Default::default()
        };
        let fails = |o: ManagedSecretConnectOptions, t: ManagedSecretConnectTarget| {
            ms_session_body(&o, &t, None).unwrap_err().kind() == "AlterValueError"
        };
        let no = ManagedSecretConnectTarget::default;
        assert!(fails(
            ManagedSecretConnectOptions {
                provider: None,
                ..base()
            },
            no()
        ));
        for p in ["Stripe", "a_b", "", &"a".repeat(51)] {
            assert!(fails(
                ManagedSecretConnectOptions {
                    provider: Some(p.into()),
                    ..base()
                },
                no()
            ));
        }
        assert!(fails(
            ManagedSecretConnectOptions {
                provider: None,
                template_slug: Some("bad slug".into()),
                ..base()
            },
            no()
        ));
        assert!(fails(
            ManagedSecretConnectOptions {
                user_token: String::new(),
                ..base()
            },
            no()
        ));
        assert!(fails(
            ManagedSecretConnectOptions {
                requested_ttl_seconds: Some(0),
                ..base()
            },
            no()
        ));
        assert!(fails(
            ManagedSecretConnectOptions {
                requested_ttl_seconds: Some(60),
                grant_policy: Some(GrantPolicyInput::default()),
                ..base()
            },
            no()
        ));
        assert!(fails(
            base(),
            ManagedSecretConnectTarget {
                agent: Some("a".into()),
                delegated_agent_id: Some(G.into()),
                ..Default::default()
            }
        ));
        assert!(fails(
            base(),
            ManagedSecretConnectTarget {
                delegated_agent_id: Some("bot".into()),
                ..Default::default()
            }
        ));
        assert!(fails(
            base(),
            ManagedSecretConnectTarget {
                agent: Some(String::new()),
                ..Default::default()
            }
        ));
        assert!(fails(
            base(),
            ManagedSecretConnectTarget {
                agent: Some("a".into()),
                repair_grant_id: Some(G.into()),
                ..Default::default()
            }
        ));
        assert!(fails(
            ManagedSecretConnectOptions {
                requested_grant: Some(obj(json!({"label": "x"}))),
                ..base()
            },
            ManagedSecretConnectTarget {
                repair_grant_id: Some(G.into()),
                ..Default::default()
            }
        ));
        assert!(fails(
            ManagedSecretConnectOptions {
                requested_grant: Some(obj(json!({"label": "x", "restrictions": {}}))),
                ..base()
            },
            no()
        ));
    }

    #[test]
    fn ms_answer_checks() {
        let sent = |v: Value| obj(v);
        let answer = json!({"session_token": "s", "connect_url": "u", "expires_in": 1,
            "expires_at": "t", "path": null, "secret_slug": "stripe"});
        assert!(check_ms_answer(
            &obj(answer.clone()),
            &sent(json!({"provider": "stripe"})),
            true,
            200
        )
        .is_ok());
        let mut no_path = answer.clone();
        no_path.as_object_mut().unwrap().remove("path");
        assert_eq!(
            check_ms_answer(
                &obj(no_path.clone()),
                &sent(json!({"provider": "stripe"})),
                true,
                200
            )
            .unwrap_err()
            .kind(),
            "ServerFeatureUnsupportedError"
        );
        // A template-only call accepts an answer without `path`.
        assert!(check_ms_answer(
            &obj(no_path),
            &sent(json!({"template_slug": "x"})),
            false,
            200
        )
        .is_ok());
        assert_eq!(
            check_ms_answer(
                &obj(answer.clone()),
                &sent(json!({"provider": "other"})),
                true,
                200
            )
            .unwrap_err()
            .details()["field"],
            "secret_slug"
        );
        let e = check_ms_answer(
            &obj(answer.clone()),
            &sent(json!({"provider": "stripe", "delegable": true})),
            true,
            200,
        )
        .unwrap_err();
        assert_eq!(e.details()["feature"], "managed_secret_connect_delegable");
        let mut echoed = answer;
        echoed["delegable_requested"] = json!(true);
        assert_eq!(
            check_ms_answer(
                &obj(echoed),
                &sent(json!({"provider": "stripe"})),
                true,
                200
            )
            .unwrap_err()
            .details()["field"],
            "delegable_requested"
        );
    }

    #[test]
    fn old_backend_detection() {
        let sent = obj(json!({"provider": "stripe", "user_token": "t"}));
        let extra =
            br#"{"detail":[{"type":"extra_forbidden","loc":["body","provider"],"msg":"x"}]}"#;
        assert_eq!(
            old_backend_422(extra, &sent, false).unwrap().details()["feature"],
            "managed_secret_connect_provider"
        );
        let missing_ts = br#"{"detail":[{"type":"missing","loc":["body","template_slug"]}]}"#;
        assert!(old_backend_422(missing_ts, &sent, false).is_some());
        let missing_agent =
            br#"{"detail":[{"type":"missing","loc":["body","delegated_agent_id"]}]}"#;
        assert_eq!(
            old_backend_422(missing_agent, &sent, false)
                .unwrap()
                .details()["feature"],
            "agent_managed_secret_connect_session"
        );
        assert!(old_backend_422(missing_agent, &sent, true).is_none());
        let typed = br#"{"error":"delegated_agent_id_required","message":"m"}"#;
        assert!(old_backend_422(typed, &sent, false).is_some());
        let other = br#"{"detail":[{"type":"value_error","loc":["body","grant_policy"]}]}"#;
        assert!(old_backend_422(other, &sent, false).is_none());
    }

    struct Recorder(std::sync::Mutex<Vec<String>>, bool);
    impl BrowserOpener for Recorder {
        fn open(&self, url: &str) -> bool {
            self.0.lock().unwrap().push(format!("open {url}"));
            self.1
        }
        fn show(&self, line: &str) {
            self.0.lock().unwrap().push(format!("show {line}"));
        }
    }

    #[test]
    fn opener_fallback() {
        let ok = Recorder(Default::default(), true);
        open_or_show(&ok, true, "Open this URL to authorize:", "https://c");
        assert_eq!(*ok.0.lock().unwrap(), vec!["open https://c"]);
        let broken = Recorder(Default::default(), false);
        open_or_show(&broken, true, "Open this URL to authorize:", "https://c");
        assert_eq!(
            *broken.0.lock().unwrap(),
            vec![
                "open https://c",
                "show Open this URL to authorize: https://c"
            ]
        );
        let off = Recorder(Default::default(), true);
        open_or_show(&off, false, "Open this URL to authorize:", "https://c");
        assert_eq!(
            *off.0.lock().unwrap(),
            vec!["show Open this URL to authorize: https://c"]
        );
    }
}
