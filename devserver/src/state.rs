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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub user_id: Uuid,
    pub email: String,
    pub created_at: i64,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "grant_kind", rename_all = "snake_case")]
pub enum GrantKind {
    #[serde(rename = "oauth")]
    OAuth {
        connection_id: Uuid,
    },
    ManagedSecret {
        managed_secret_id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "principal_type", rename_all = "snake_case")]
pub enum Principal {
    User { user_id: Uuid },
    System,
    Agent { agent_id: Uuid },
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

    /// The provider id a grant answers to (OAuth provider id, or the managed
    /// secret's reported provider id).
    pub fn grant_provider_id(&self, g: &Grant) -> String {
        match &g.kind {
            GrantKind::OAuth { connection_id } => self
                .connection(*connection_id)
                .map(|c| c.provider_id.clone())
                .unwrap_or_default(),
            GrantKind::ManagedSecret { managed_secret_id } => self
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
            GrantKind::ManagedSecret { managed_secret_id } => self
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
