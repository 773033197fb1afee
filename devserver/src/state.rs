//! The vault's whole state as one serde value, behind one lock.
//!
//! Everything the server knows lives in [`State`]: it is small, plain data, so
//! persistence is "serialise the lot" and concurrency is "one mutex, never
//! held across an await". Collections are vectors in creation order because
//! listings must be stable and the sizes a local vault sees are small.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;
use uuid::Uuid;

/// The single application this vault serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppRow {
    pub app_id: Uuid,
    pub name: String,
    pub created_at: i64,
}

/// One API key. Only a digest of the plaintext is kept (for lookup) plus the
/// derived HMAC signing key (to verify signatures without the plaintext).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    pub key_id: Uuid,
    /// Set for managed-agent keys.
    pub agent_id: Option<Uuid>,
    /// `rk` for the app key; `ak` for managed-agent keys (legacy format on
    /// the wire, reported as `ak` as the spec suggests).
    pub key_type: String,
    pub name: String,
    pub key_prefix: String,
    /// Hex SHA-256 of the plaintext key.
    pub key_hash: String,
    /// Hex of HMAC-SHA256(key = plaintext, "alter-signing-v1").
    pub signing_key: String,
    pub scopes: Vec<String>,
    pub rate_limit_rpm: Option<u32>,
    pub expires_at: Option<i64>,
    pub deprecated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The key this one was derived from (`dk` keys).
    #[serde(default)]
    pub parent_key_id: Option<Uuid>,
    /// Source addresses allowed to use the key; `None` = anywhere.
    #[serde(default)]
    pub cidr_allowlist: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Option<Value>,
    /// End of the overlap a rotated key keeps authenticating for.
    #[serde(default)]
    pub rotation_grace_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Active,
    Inactive,
    Revoked,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Inactive => "inactive",
            AgentStatus::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agent {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: AgentStatus,
    /// The provider allowlist; `None` when created without one (the docs'
    /// name-only create), which reaches exactly what is bound or delegated.
    pub scopes: Option<Map<String, Value>>,
    pub policy: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub rate_limit_per_minute: Option<u32>,
    pub version: u64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Counter behind key names `{name}-{N}`.
    pub keys_minted: u32,
    /// A narrowing of `scopes` staged for `scopes_applies_at`.
    #[serde(default)]
    pub scopes_pending: Option<Map<String, Value>>,
    #[serde(default)]
    pub scopes_applies_at: Option<i64>,
}

impl Agent {
    /// Whether the agent's allowlist admits a managed-secret provider. An
    /// agent created without an allowlist has none to consult and is not
    /// narrowed by one (inferred).
    pub fn allows_secret(&self, slug: &str) -> bool {
        match &self.scopes {
            None => true,
            Some(m) => m
                .get("managed_secret_slugs")
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(slug))),
        }
    }

    /// Applies a staged narrowing that has come due. True when it changed.
    pub fn apply_due_scopes(&mut self, now: i64) -> bool {
        match (self.scopes_applies_at, self.scopes_pending.is_some()) {
            (Some(at), true) if at <= now => {
                self.scopes = self.scopes_pending.take();
                self.scopes_applies_at = None;
                self.version += 1;
                true
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub user_id: Uuid,
    pub email: String,
    pub created_at: i64,
    #[serde(default)]
    pub display_name: Option<String>,
    /// External ids of the identity-provider groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// What a managed secret stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SecretMaterial {
    Token {
        value: String,
    },
    Aws {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        region: Option<String>,
        service: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedSecret {
    pub managed_secret_id: Uuid,
    pub slug: String,
    /// Reported as `provider_id` in token responses; defaults to the slug.
    pub provider_id: String,
    pub name: String,
    pub material: SecretMaterial,
    pub injection_header: Option<String>,
    pub injection_format: Option<String>,
    pub additional_injections: Option<Value>,
    pub additional_credentials: Option<Map<String, Value>>,
    /// Default for grants created under this secret.
    pub hitl: bool,
    pub created_at: i64,
    /// The template the provider was made from; `None` = custom.
    #[serde(default)]
    pub template_slug: Option<String>,
    /// Operator ceiling on delegation lifetimes, in days (§4.5.1).
    #[serde(default)]
    pub max_delegation_ttl_days: Option<u32>,
    /// Delegation policy: whether holders may delegate onward (off by
    /// default, like a newly configured OAuth provider; inferred).
    #[serde(default)]
    pub onward_delegation: bool,
    /// Depth ceiling below the global cap of 8.
    #[serde(default)]
    pub depth_ceiling: Option<u32>,
    /// The hosts this provider's credential may be sent to (the product's
    /// "host patterns"): `api.example.com`, `*.example.com` (subdomains
    /// only), each optionally pinned to a `:port`. Empty = any host.
    /// Enforced on `/sdk/token` (the declared `request.url`) and
    /// `/sdk/proxy`; see [`crate::resolve::check_destination`].
    #[serde(default)]
    pub host_patterns: Vec<String>,
}

/// A further credential of a managed-secret provider: another developer
/// credential, or an end user's own key entered at a Connect. The provider's
/// built-in credential has no row; its id is the provider id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretCredential {
    pub credential_id: Uuid,
    pub managed_secret_id: Uuid,
    /// `developer` or `end_user`.
    pub kind: String,
    pub label: Option<String>,
    /// The user owning an `end_user` credential.
    pub owner: Option<Uuid>,
    pub material: SecretMaterial,
    pub active: bool,
    pub created_at: i64,
}

/// One scope a configured OAuth provider offers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderScope {
    pub name: String,
    pub description: String,
    pub required: bool,
    pub is_default: bool,
}

/// An OAuth provider configured for the app, with its agent-sharing policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthProviderConfig {
    pub provider_id: String,
    pub display_name: String,
    pub category: Option<String>,
    pub description: Option<String>,
    /// The scope allowlist.
    pub scopes: Vec<ProviderScope>,
    pub api_base_url: Option<String>,
    /// Agent-sharing ceiling: onward delegation allowed (off by default).
    pub onward_sharing: bool,
    pub depth_ceiling: Option<u32>,
}

/// A completed OAuth Connect: the stored provider token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthConnection {
    pub connection_id: Uuid,
    pub provider_id: String,
    pub user_id: Option<Uuid>,
    pub access_token: String,
    pub scopes: Vec<String>,
    pub account_identifier: Option<String>,
    pub account_display_name: Option<String>,
    /// Changes whenever the stored token is (notionally) refreshed, so a
    /// provider 401 reported against an old generation changes nothing.
    pub token_generation: Uuid,
    pub token_expires_at: Option<i64>,
    pub needs_reconnect: bool,
    pub revoked: bool,
    #[serde(default)]
    pub api_base_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "grant_kind", rename_all = "snake_case")]
pub enum GrantKind {
    #[serde(rename = "oauth")]
    OAuth { connection_id: Uuid },
    ManagedSecret {
        managed_secret_id: Uuid,
        /// A [`SecretCredential`]; `None` = the provider's built-in one.
        #[serde(default)]
        credential_id: Option<Uuid>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "principal_type", rename_all = "snake_case")]
pub enum Principal {
    User {
        user_id: Uuid,
    },
    Group {
        idp_id: Uuid,
        external_group_id: String,
    },
    System,
    Agent {
        agent_id: Uuid,
    },
}

impl Principal {
    pub fn type_name(&self) -> &'static str {
        match self {
            Principal::User { .. } => "user",
            Principal::Group { .. } => "group",
            Principal::System => "system",
            Principal::Agent { .. } => "agent",
        }
    }
}

/// The stored part of a grant's policy beyond its expiry (which lives in
/// [`Grant::expires_at`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GrantPolicyRow {
    /// `developer` or `end_user`.
    pub created_by: Option<String>,
    pub created_at: Option<i64>,
    pub max_ttl_seconds: Option<u64>,
    pub default_ttl_seconds: Option<u64>,
    pub restrictions: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub grant_id: Uuid,
    pub kind: GrantKind,
    pub principal: Principal,
    pub parent_grant_id: Option<Uuid>,
    pub depth: u32,
    pub label: Option<String>,
    /// Permission expiry (TTL policy); `None` = until revoked.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Human-in-the-loop: proxy only, every call waits for an approval.
    pub hitl: bool,
    /// Method/endpoint restrictions in force: proxy only.
    pub restricted: bool,
    pub scope_mismatch: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Whether the holder may delegate onward.
    #[serde(default)]
    pub delegable: bool,
    /// Narrowed provider scopes of a delegation; `None` = inherit.
    #[serde(default)]
    pub scope_constraint: Option<Vec<String>>,
    #[serde(default)]
    pub policy: GrantPolicyRow,
    #[serde(default)]
    pub revoke_reason: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Grant {
    /// A fresh active grant with no policy.
    pub fn new(kind: GrantKind, principal: Principal, label: Option<String>, t: i64) -> Grant {
        Grant {
            grant_id: Uuid::new_v4(),
            kind,
            principal,
            parent_grant_id: None,
            depth: 0,
            label,
            expires_at: None,
            revoked_at: None,
            hitl: false,
            restricted: false,
            scope_mismatch: false,
            created_at: t,
            last_used_at: None,
            delegable: false,
            scope_constraint: None,
            policy: GrantPolicyRow::default(),
            revoke_reason: None,
            tags: Vec::new(),
        }
    }
}

/// `pending → completed | error | expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Pending,
    Completed,
    Error,
    Expired,
}

/// A Connect session, OAuth (`kind = "oauth"`) or managed-secret
/// (`kind = "managed_secret"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectSessionRow {
    pub token: String,
    pub kind: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The agent whose own key created the session (not an impersonation).
    pub created_by_agent_key: bool,
    pub user: Option<Uuid>,
    /// OAuth: normalised provider ids. Managed secret: the slug, if resolved.
    pub providers: Vec<String>,
    pub direct: bool,
    pub switch_account: bool,
    pub allow_user_policy_rules: bool,
    pub grant_policy: Option<Map<String, Value>>,
    pub requested_grant: Option<Value>,
    pub repair_grant_id: Option<Uuid>,
    pub agent: Option<Uuid>,
    pub delegable: Option<bool>,
    pub scope_constraint: Option<Vec<String>>,
    /// Providers the scope constraint is invalid for.
    pub constraint_invalid_for: Vec<String>,
    pub return_url: Option<String>,
    pub allowed_origin: Option<String>,
    pub metadata: Option<Value>,
    // Managed-secret sessions.
    pub managed_secret_id: Option<Uuid>,
    pub template_slug: Option<String>,
    pub path: Option<String>,
    pub existing_grant_id: Option<Uuid>,
    pub requested_ttl_seconds: Option<u64>,
    /// Resolved delegation expiry (§4.5.1).
    pub delegation_expires_at: Option<i64>,
    // Outcome.
    pub state: SessionState,
    pub grants: Vec<Value>,
    pub failed_grants: Vec<Value>,
    pub declined_providers: Vec<Value>,
    pub error: Option<Value>,
}

/// An end-user sign-in session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSessionRow {
    pub token: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: SessionState,
    pub user_token: Option<String>,
    pub user_info: Option<Value>,
    pub error: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Executing,
    Denied,
    Expired,
    Executed,
    Failed,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Executing => "executing",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Executed => "executed",
            ApprovalStatus::Failed => "failed",
        }
    }
}

/// The request a HITL proxy call froze for later execution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrozenRequest {
    pub method: String,
    /// The caller's URL with `query_params` merged; credentials are added
    /// only at execution time.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub reason: Option<String>,
    pub context: Option<Value>,
    pub actor: Actor,
}

/// Who made a call, as audit rows and approvals record it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Actor {
    pub app_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub key_id: Option<Uuid>,
    pub caller: Option<String>,
    pub caller_type: Option<String>,
    pub actor_id: Option<Uuid>,
}

/// The captured provider response of a proxied call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapturedResult {
    pub status_code: u16,
    pub headers: Map<String, Value>,
    pub body_b64: String,
    pub body_truncated: bool,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approval {
    pub approval_id: Uuid,
    pub approval_group_id: Uuid,
    pub grant_id: Uuid,
    pub status: ApprovalStatus,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    pub executed_at: Option<i64>,
    pub execution_error: Option<String>,
    pub request: FrozenRequest,
    pub result: Option<CapturedResult>,
}

impl Approval {
    /// The status with the approval window applied: a pending approval past
    /// its window reads as expired even before anything rewrites the row.
    pub fn projected(&self, now: i64) -> ApprovalStatus {
        if self.status == ApprovalStatus::Pending && now >= self.expires_at {
            ApprovalStatus::Expired
        } else {
            self.status
        }
    }
}

/// One audit row. `kind` is `token`, `api_call`, `proxy`,
/// `scope_mismatch_report` or `approval`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: Uuid,
    pub kind: String,
    pub timestamp: String,
    pub app_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub caller: Option<String>,
    pub caller_type: Option<String>,
    pub actor_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub grant_id: Option<Uuid>,
    pub provider_id: Option<String>,
    pub approval_id: Option<Uuid>,
    pub method: Option<String>,
    pub url: Option<String>,
    pub status: Option<i64>,
    pub reason: Option<String>,
    pub context: Option<Value>,
    pub request_headers: Option<Value>,
    pub request_body: Option<Value>,
    pub response_headers: Option<Value>,
    pub response_body: Option<Value>,
    pub latency_ms: Option<i64>,
    pub token_generation: Option<String>,
    /// Extra data for the less common kinds (scope-mismatch reports).
    pub details: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActorRow {
    pub actor_id: Uuid,
    /// `agent:<uuid>` or `caller:<caller_type>:<caller>`.
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub key: String,
    pub body_digest: String,
    pub agent_id: Uuid,
    pub key_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub agent_id: Option<Uuid>,
    pub data: Value,
}

/// Audit rows kept in memory and in the state file; the oldest go first.
/// A dev vault has no retention story, only a bound (inferred).
pub const AUDIT_CAP: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    pub app: AppRow,
    pub keys: Vec<ApiKey>,
    pub agents: Vec<Agent>,
    pub users: Vec<User>,
    pub managed_secrets: Vec<ManagedSecret>,
    pub connections: Vec<OAuthConnection>,
    pub grants: Vec<Grant>,
    pub approvals: Vec<Approval>,
    pub audit: Vec<AuditEvent>,
    pub actors: Vec<ActorRow>,
    pub idempotency: Vec<IdempotencyRecord>,
    pub spans: Vec<Span>,
    /// The local identity provider's id (what `GroupPrincipal.idp_id` and
    /// identity contexts name).
    #[serde(default = "Uuid::new_v4")]
    pub idp_id: Uuid,
    #[serde(default = "crate::catalog::default_oauth_providers")]
    pub oauth_providers: Vec<OAuthProviderConfig>,
    #[serde(default)]
    pub credentials: Vec<SecretCredential>,
    #[serde(default)]
    pub connect_sessions: Vec<ConnectSessionRow>,
    #[serde(default)]
    pub auth_sessions: Vec<AuthSessionRow>,
}

pub const STATE_FORMAT: u32 = 1;

impl State {
    pub fn new(app: AppRow) -> State {
        State {
            format: STATE_FORMAT,
            app,
            keys: Vec::new(),
            agents: Vec::new(),
            users: Vec::new(),
            managed_secrets: Vec::new(),
            connections: Vec::new(),
            grants: Vec::new(),
            approvals: Vec::new(),
            audit: Vec::new(),
            actors: Vec::new(),
            idempotency: Vec::new(),
            spans: Vec::new(),
            idp_id: Uuid::new_v4(),
            oauth_providers: crate::catalog::default_oauth_providers(),
            credentials: Vec::new(),
            connect_sessions: Vec::new(),
            auth_sessions: Vec::new(),
        }
    }

    pub fn key_by_hash(&self, hash: &str) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.key_hash == hash)
    }

    pub fn key_mut(&mut self, id: Uuid) -> Option<&mut ApiKey> {
        self.keys.iter_mut().find(|k| k.key_id == id)
    }

    pub fn agent(&self, id: Uuid) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn agent_mut(&mut self, id: Uuid) -> Option<&mut Agent> {
        self.agents.iter_mut().find(|a| a.id == id)
    }

    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.users.iter().find(|u| u.user_id == id)
    }

    pub fn grant(&self, id: Uuid) -> Option<&Grant> {
        self.grants.iter().find(|g| g.grant_id == id)
    }

    pub fn grant_mut(&mut self, id: Uuid) -> Option<&mut Grant> {
        self.grants.iter_mut().find(|g| g.grant_id == id)
    }

    pub fn connection(&self, id: Uuid) -> Option<&OAuthConnection> {
        self.connections.iter().find(|c| c.connection_id == id)
    }

    pub fn connection_mut(&mut self, id: Uuid) -> Option<&mut OAuthConnection> {
        self.connections.iter_mut().find(|c| c.connection_id == id)
    }

    pub fn managed_secret(&self, id: Uuid) -> Option<&ManagedSecret> {
        self.managed_secrets
            .iter()
            .find(|m| m.managed_secret_id == id)
    }

    pub fn approval(&self, id: Uuid) -> Option<&Approval> {
        self.approvals.iter().find(|a| a.approval_id == id)
    }

    pub fn approval_mut(&mut self, id: Uuid) -> Option<&mut Approval> {
        self.approvals.iter_mut().find(|a| a.approval_id == id)
    }

    /// The host patterns limiting where a grant's credential may go (its
    /// managed-secret provider's; OAuth providers carry none here).
    pub fn grant_host_patterns(&self, g: &Grant) -> &[String] {
        match &g.kind {
            GrantKind::OAuth { .. } => &[],
            GrantKind::ManagedSecret {
                managed_secret_id, ..
            } => self
                .managed_secret(*managed_secret_id)
                .map_or(&[], |m| m.host_patterns.as_slice()),
        }
    }

    /// The provider id a grant answers to (OAuth provider id, or the managed
    /// secret's reported provider id).
    pub fn grant_provider_id(&self, g: &Grant) -> String {
        match &g.kind {
            GrantKind::OAuth { connection_id } => self
                .connection(*connection_id)
                .map(|c| c.provider_id.clone())
                .unwrap_or_default(),
            GrantKind::ManagedSecret {
                managed_secret_id, ..
            } => self
                .managed_secret(*managed_secret_id)
                .map(|m| m.provider_id.clone())
                .unwrap_or_default(),
        }
    }

    /// Whether `provider` addresses this grant: an OAuth provider id, or a
    /// managed secret's slug or reported provider id.
    pub fn grant_matches_provider(&self, g: &Grant, provider: &str) -> bool {
        match &g.kind {
            GrantKind::OAuth { connection_id } => self
                .connection(*connection_id)
                .is_some_and(|c| c.provider_id == provider),
            GrantKind::ManagedSecret {
                managed_secret_id, ..
            } => self
                .managed_secret(*managed_secret_id)
                .is_some_and(|m| m.slug == provider || m.provider_id == provider),
        }
    }

    /// The root of a grant's delegation chain.
    pub fn root_of<'a>(&'a self, g: &'a Grant) -> &'a Grant {
        let mut cur = g;
        // Chains are at most a handful deep; the bound guards against a
        // hand-edited state file with a cycle.
        for _ in 0..16 {
            match cur.parent_grant_id.and_then(|p| self.grant(p)) {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        cur
    }

    /// The user at the root of a grant's chain, if any.
    pub fn root_user(&self, g: &Grant) -> Option<Uuid> {
        match self.root_of(g).principal {
            Principal::User { user_id } => Some(user_id),
            _ => None,
        }
    }

    /// The account identifier of an OAuth grant's connection.
    pub fn grant_account(&self, g: &Grant) -> Option<&OAuthConnection> {
        match &g.kind {
            GrantKind::OAuth { connection_id } => self.connection(*connection_id),
            GrantKind::ManagedSecret { .. } => None,
        }
    }

    /// Every grant under `root` (children, grandchildren, …), not `root`.
    pub fn descendants(&self, root: Uuid) -> Vec<Uuid> {
        let mut out = Vec::new();
        let mut frontier = vec![root];
        while let Some(p) = frontier.pop() {
            for g in self.grants.iter().filter(|g| g.parent_grant_id == Some(p)) {
                // The guard keeps a hand-edited cycle from looping.
                if g.grant_id != root && !out.contains(&g.grant_id) {
                    out.push(g.grant_id);
                    frontier.push(g.grant_id);
                }
            }
        }
        out
    }

    /// Revokes a grant and every delegation beneath it; returns how many
    /// rows changed. Already revoked rows keep their first timestamp.
    pub fn revoke_tree(&mut self, root: Uuid, t: i64, reason: Option<&str>) -> usize {
        let mut ids = vec![root];
        ids.extend(self.descendants(root));
        let mut n = 0;
        for id in ids {
            if let Some(g) = self.grant_mut(id) {
                if g.revoked_at.is_none() {
                    g.revoked_at = Some(t);
                    g.revoke_reason = reason.map(str::to_string);
                    n += 1;
                }
            }
        }
        n
    }

    pub fn oauth_provider(&self, id: &str) -> Option<&OAuthProviderConfig> {
        self.oauth_providers.iter().find(|p| p.provider_id == id)
    }

    pub fn managed_secret_by_slug(&self, slug: &str) -> Option<&ManagedSecret> {
        self.managed_secrets.iter().find(|m| m.slug == slug)
    }

    pub fn auth_session_mut(&mut self, token: &str) -> Option<&mut AuthSessionRow> {
        self.auth_sessions.iter_mut().find(|c| c.token == token)
    }

    pub fn push_audit(&mut self, ev: AuditEvent) {
        self.audit.push(ev);
        if self.audit.len() > AUDIT_CAP {
            let excess = self.audit.len() - AUDIT_CAP;
            self.audit.drain(..excess);
        }
    }

    /// The stable actor id for an actor key, registering it on first sight.
    pub fn actor_for(&mut self, key: String) -> (Uuid, bool) {
        if let Some(a) = self.actors.iter().find(|a| a.key == key) {
            return (a.actor_id, false);
        }
        let actor_id = Uuid::new_v4();
        self.actors.push(ActorRow { actor_id, key });
        (actor_id, true)
    }
}

/// The state plus a dirty signal for the persistence writer.
pub struct Store {
    inner: Mutex<State>,
    dirty: Notify,
}

impl Store {
    pub fn new(state: State) -> Store {
        Store {
            inner: Mutex::new(state),
            dirty: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep
        // serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Mutates the state and schedules a save.
    pub fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let out = f(&mut self.lock());
        self.dirty.notify_one();
        out
    }

    /// Mutates bookkeeping (last-used stamps) without scheduling a save: it
    /// rides along with the next real change, so a read-heavy load does not
    /// rewrite the state file on every request.
    pub fn touch<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.lock())
    }

    /// Schedules a save after a `touch` that did change something durable.
    pub fn mark_dirty(&self) {
        self.dirty.notify_one();
    }

    /// Serialised snapshot for persistence.
    pub fn snapshot(&self) -> String {
        serde_json::to_string(&*self.lock()).unwrap_or_else(|_| "{}".to_string())
    }

    /// Resolves once after the next `write` (or at once if one happened
    /// since the last wait: `Notify` keeps one permit).
    pub async fn changed(&self) {
        self.dirty.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn staged_narrowing_applies_when_due() {
        let narrow = json!({"google": ["email"]}).as_object().unwrap().clone();
        let mut a = Agent {
            id: Uuid::new_v4(),
            name: "a".into(),
            display_name: None,
            kind: "agent".into(),
            status: AgentStatus::Active,
            scopes: Some(
                json!({"google": ["email", "openid"]})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            policy: Map::new(),
            metadata: Map::new(),
            rate_limit_per_minute: None,
            version: 2,
            created_at: 0,
            last_used_at: None,
            keys_minted: 1,
            scopes_pending: Some(narrow.clone()),
            scopes_applies_at: Some(100),
        };
        assert!(!a.apply_due_scopes(99));
        assert!(a.apply_due_scopes(100));
        assert_eq!(a.scopes, Some(narrow));
        assert!(a.scopes_pending.is_none() && a.scopes_applies_at.is_none());
        assert_eq!(a.version, 3);
        assert!(!a.allows_secret("x"));
    }
}
