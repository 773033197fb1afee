//! The typed error of the SDK.
//!
//! One enum, [`Error`], has a variant for each of the 64 exception classes of
//! the protocol (`errors.md` §1) plus the SDK's own `ResponseTooLargeError`.
//! Every variant reports its class name through [`Error::kind`], and
//! [`ERROR_KINDS`] lists every class with its parent so that bindings can
//! rebuild the class tree from a single table.
//!
//! The mappers at the bottom of this file turn a failed backend response into
//! the right variant. They are pure functions over the status, body and the
//! two response headers they need, so they can be tested without a network.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ratelimit::{parse_retry_after, retry_after_from_json};

/// Result type used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The free-form `details` mapping every error carries.
pub type Details = Map<String, Value>;

/// Ceiling for `RateLimitError.retry_after` and `retry_after_seconds`.
pub const RATE_LIMIT_RETRY_CEILING: u64 = 3600;
/// Ceiling for `QuotaExceededError.retry_after` (31 days).
pub const QUOTA_RETRY_CEILING: u64 = 2_678_400;

/// Known values of `RateLimitError.scope` (the list is not exhaustive).
pub const RATE_LIMIT_SCOPE_VALUES: &[&str] = &["ip", "api_key", "organization"];

/// Codes a `MemoryIsolationError` may carry.
pub const MEMORY_ISOLATION_CODES: &[&str] = &[
    "memory_identity_unverified",
    "memory_live_refresh_required",
    "memory_refresh_not_live",
    "memory_identity_expired",
    "memory_assertion_invalid",
    "memory_agent_required",
    "memory_user_required",
    "memory_user_not_active",
    "memory_user_cannot_be_dropped",
    "memory_identity_changed",
    "memory_store_scope_violation",
];

/// Fields shared by every error class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorBase {
    /// What `str(exc)` shows. Never includes `details`.
    pub message: String,
    /// Structured context; may hold identifiers or provider payloads.
    pub details: Details,
    /// `BackendError.status_code` for backend classes, the provider status for
    /// the `ProviderAPIError` family, `None` for every other class.
    pub status_code: Option<u16>,
}

impl ErrorBase {
    /// A base with no status.
    pub fn new(message: impl Into<String>, details: Details) -> Self {
        ErrorBase {
            message: message.into(),
            details,
            status_code: None,
        }
    }

    /// A base for a `BackendError` class: when `status` is `None` it is read
    /// from `details["status_code"]` if that holds an integer.
    pub fn backend(message: impl Into<String>, details: Details, status: Option<u16>) -> Self {
        let status_code = status.or_else(|| status_from_details(&details));
        ErrorBase {
            message: message.into(),
            details,
            status_code,
        }
    }
}

/// `details["status_code"]` as a status when it is an integer in range
/// (JSON booleans are never numbers, so they are excluded by construction).
fn status_from_details(details: &Details) -> Option<u16> {
    details
        .get("status_code")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
}

/// One grant an ambiguous lookup could have meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantCandidate {
    pub grant_id: String,
    pub label: Option<String>,
    pub account_identifier: Option<String>,
    pub account_display_name: Option<String>,
}

/// The identifiers some error classes carry (see [`Error::with_identity`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorIdentity {
    pub provider_id: Option<String>,
    pub agent_id: Option<String>,
    pub app_user_id: Option<String>,
    /// The wire value as the error held it (normally a string).
    pub grant_id: Option<Value>,
}

/// One developer credential the caller may pick with `credential_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialChoice {
    pub credential_id: String,
    pub label: String,
}

/// Every exception class of the protocol, one variant each.
///
/// `Display` is exactly the message. Variants are named after the official
/// classes without the `Error` suffix; [`Error::kind`] gives the full name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    // ---- roots -------------------------------------------------------------
    #[error("{}", .0.message)]
    AlterSdk(ErrorBase),
    #[error("{}", .0.message)]
    AlterValue(ErrorBase),
    /// The message is already rendered as `"<code>: <text>"`.
    #[error("{}", .base.message)]
    MemoryIsolation { base: ErrorBase, code: String },

    // ---- BackendError and its subclasses -----------------------------------
    #[error("{}", .0.message)]
    Backend(ErrorBase),
    #[error("{}", .0.message)]
    BlockedDestination(ErrorBase),
    #[error("{}", .0.message)]
    ReAuthRequired(ErrorBase),
    #[error("{}", .base.message)]
    GrantExpired {
        base: ErrorBase,
        provider_id: Option<String>,
        agent_id: Option<String>,
        app_user_id: Option<String>,
    },
    /// `grant_id` is the wire value as sent (normally a string).
    #[error("{}", .base.message)]
    GrantRevoked {
        base: ErrorBase,
        grant_id: Option<Value>,
    },
    #[error("{}", .base.message)]
    CredentialRevoked {
        base: ErrorBase,
        grant_id: Option<Value>,
        provider_id: Option<String>,
        app_user_id: Option<String>,
    },
    #[error("{}", .0.message)]
    GrantDeleted(ErrorBase),
    #[error("{}", .base.message)]
    GrantNotFound {
        base: ErrorBase,
        provider_id: Option<String>,
        agent_id: Option<String>,
        app_user_id: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentDelegationMissing {
        base: ErrorBase,
        provider_id: Option<String>,
        agent_id: Option<String>,
        app_user_id: Option<String>,
    },
    #[error("{}", .base.message)]
    AmbiguousGrant {
        base: ErrorBase,
        provider_id: Option<String>,
        account_identifiers: Vec<String>,
        account_was_provided: bool,
        app_user_ids: Vec<String>,
        grant_ids: Vec<String>,
        candidates: Vec<GrantCandidate>,
        candidates_truncated: bool,
    },
    #[error("{}", .base.message)]
    NoDelegatedGrant {
        base: ErrorBase,
        provider_id: Option<String>,
        agent_id: Option<String>,
        app_user_id: Option<String>,
    },
    /// `policy_error` is the wire `error` value (absent or null → `None`).
    #[error("{}", .base.message)]
    PolicyViolation {
        base: ErrorBase,
        policy_error: Option<Value>,
    },
    #[error("{}", .base.message)]
    StepUpRequired {
        base: ErrorBase,
        max_session_age_seconds: Option<i64>,
    },
    #[error("{}", .0.message)]
    RedactDischargeFailed(ErrorBase),
    #[error("{}", .0.message)]
    RestrictedGrantRequiresProxy(ErrorBase),
    #[error("{}", .base.message)]
    GrantNotDelegable {
        base: ErrorBase,
        detail_reason: Option<String>,
    },
    #[error("{}", .0.message)]
    ServerFeatureUnsupported(ErrorBase),
    #[error("{}", .base.message)]
    SiblingLabelConflict {
        base: ErrorBase,
        label: Option<String>,
    },
    #[error("{}", .base.message)]
    CredentialIdRequired {
        base: ErrorBase,
        credentials: Vec<CredentialChoice>,
    },
    #[error("{}", .0.message)]
    EndUserCredentialNotAssignable(ErrorBase),
    #[error("{}", .base.message)]
    InsufficientScope {
        base: ErrorBase,
        required: Vec<String>,
        granted: Vec<String>,
        missing: Vec<String>,
        scope_version: Option<i64>,
        current_scope_version: Option<i64>,
        scope_version_mismatch: bool,
        documentation_url: Option<String>,
        required_any_of: bool,
    },
    /// `grant_id` is the wire value as sent (normally a string).
    #[error("{}", .base.message)]
    TokenRefreshInProgress {
        base: ErrorBase,
        grant_id: Option<Value>,
    },
    #[error("{}", .base.message)]
    QuotaExceeded {
        base: ErrorBase,
        retry_after: Option<u64>,
    },
    #[error("{}", .base.message)]
    RateLimit {
        base: ErrorBase,
        retry_after: Option<u64>,
        scope: Option<String>,
        limit: Option<u64>,
        window_seconds: Option<u64>,
    },

    // ---- AgentError and its subclasses (each has a fixed `code`) ------------
    #[error("{}", .base.message)]
    Agent {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    InvalidKey {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentNotFound {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    CallerAgentMismatch {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    CallerAgentResolution {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentNameExists {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentConcurrentUpdate {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    MeRequiresAgentKey {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    KeyRevoked {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    KeyExpired {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    KeyRotationExpired {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    KeyInactive {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    KeyAppNotFound {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentInactive {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentRevoked {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    IdempotencyKeyBodyMismatch {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    IdempotencyKeyAgentRevoked {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    IdempotencyKeyAgentInactive {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentCannotMintSubagents {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    KeyAlreadyRevoked {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    KeyNotFound {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    LastActiveKey {
        base: ErrorBase,
        hint: Option<String>,
    },
    #[error("{}", .base.message)]
    AgentKeyLimit {
        base: ErrorBase,
        hint: Option<String>,
    },

    // ---- Connect flows -----------------------------------------------------
    #[error("{}", .0.message)]
    ConnectFlow(ErrorBase),
    #[error("{}", .0.message)]
    ConnectDenied(ErrorBase),
    #[error("{}", .0.message)]
    ConnectConfig(ErrorBase),
    #[error("{}", .0.message)]
    ConnectTimeout(ErrorBase),

    // ---- provider-side errors (status_code = provider status) ---------------
    #[error("{}", .base.message)]
    ProviderApi {
        base: ErrorBase,
        response_body: Option<String>,
    },
    #[error("{}", .base.message)]
    ScopeReauthRequired {
        base: ErrorBase,
        response_body: Option<String>,
        grant_id: Option<String>,
        provider_id: Option<String>,
        missing_scopes: Option<Vec<String>>,
    },
    #[error("{}", .base.message)]
    ProviderUnauthorized {
        base: ErrorBase,
        response_body: Option<String>,
        grant_id: Option<String>,
        provider_id: Option<String>,
    },

    // ---- transport -----------------------------------------------------------
    #[error("{}", .0.message)]
    Network(ErrorBase),
    /// The SDK's own `TimeoutError` (a `NetworkError`).
    #[error("{}", .0.message)]
    Timeout(ErrorBase),

    // ---- approvals -------------------------------------------------------------
    #[error("{}", .base.message)]
    Approval {
        base: ErrorBase,
        approval_id: Option<String>,
    },
    #[error("{}", .base.message)]
    ApprovalDenied {
        base: ErrorBase,
        approval_id: Option<String>,
    },
    #[error("{}", .base.message)]
    ApprovalExpired {
        base: ErrorBase,
        approval_id: Option<String>,
    },
    #[error("{}", .base.message)]
    ApprovalTimeout {
        base: ErrorBase,
        approval_id: Option<String>,
    },
    #[error("{}", .base.message)]
    ApprovalExecutionFailed {
        base: ErrorBase,
        approval_id: Option<String>,
    },

    // ---- the SDK's own bounds ------------------------------------------------
    /// A response body (provider, proxy-mode answer or backend answer) was
    /// larger than the cap it is read under; `max_bytes` is that cap.
    #[error("{}", .base.message)]
    ResponseTooLarge { base: ErrorBase, max_bytes: u64 },
}

/// Every class as `(name, parent)`, parents always listed before children.
pub const ERROR_KINDS: &[(&str, Option<&str>)] = &[
    ("AlterSDKError", None),
    ("AlterValueError", Some("AlterSDKError")),
    ("MemoryIsolationError", Some("AlterSDKError")),
    ("BackendError", Some("AlterSDKError")),
    ("BlockedDestinationError", Some("BackendError")),
    ("ReAuthRequiredError", Some("BackendError")),
    ("GrantExpiredError", Some("ReAuthRequiredError")),
    ("GrantRevokedError", Some("ReAuthRequiredError")),
    ("CredentialRevokedError", Some("ReAuthRequiredError")),
    ("GrantDeletedError", Some("ReAuthRequiredError")),
    ("GrantNotFoundError", Some("BackendError")),
    ("AgentDelegationMissingError", Some("GrantNotFoundError")),
    ("AmbiguousGrantError", Some("BackendError")),
    ("NoDelegatedGrantError", Some("BackendError")),
    ("PolicyViolationError", Some("BackendError")),
    ("StepUpRequiredError", Some("PolicyViolationError")),
    ("RedactDischargeFailedError", Some("PolicyViolationError")),
    ("RestrictedGrantRequiresProxyError", Some("BackendError")),
    ("GrantNotDelegableError", Some("BackendError")),
    ("ServerFeatureUnsupportedError", Some("BackendError")),
    ("SiblingLabelConflictError", Some("BackendError")),
    ("CredentialIdRequiredError", Some("BackendError")),
    ("EndUserCredentialNotAssignableError", Some("BackendError")),
    ("InsufficientScopeError", Some("BackendError")),
    ("TokenRefreshInProgressError", Some("BackendError")),
    ("QuotaExceededError", Some("BackendError")),
    ("RateLimitError", Some("BackendError")),
    ("AgentError", Some("BackendError")),
    ("InvalidKeyError", Some("AgentError")),
    ("AgentNotFoundError", Some("AgentError")),
    ("CallerAgentMismatchError", Some("AgentError")),
    ("CallerAgentResolutionError", Some("AgentError")),
    ("AgentNameExistsError", Some("AgentError")),
    ("AgentConcurrentUpdateError", Some("AgentError")),
    ("MeRequiresAgentKeyError", Some("AgentError")),
    ("KeyRevokedError", Some("AgentError")),
    ("KeyExpiredError", Some("AgentError")),
    ("KeyRotationExpiredError", Some("AgentError")),
    ("KeyInactiveError", Some("AgentError")),
    ("KeyAppNotFoundError", Some("AgentError")),
    ("AgentInactiveError", Some("AgentError")),
    ("AgentRevokedError", Some("AgentError")),
    ("IdempotencyKeyBodyMismatchError", Some("AgentError")),
    ("IdempotencyKeyAgentRevokedError", Some("AgentError")),
    ("IdempotencyKeyAgentInactiveError", Some("AgentError")),
    ("AgentCannotMintSubagentsError", Some("AgentError")),
    ("KeyAlreadyRevokedError", Some("AgentError")),
    ("KeyNotFoundError", Some("AgentError")),
    ("LastActiveKeyError", Some("AgentError")),
    ("AgentKeyLimitError", Some("AgentError")),
    ("ConnectFlowError", Some("AlterSDKError")),
    ("ConnectDeniedError", Some("ConnectFlowError")),
    ("ConnectConfigError", Some("ConnectFlowError")),
    ("ConnectTimeoutError", Some("ConnectFlowError")),
    ("ProviderAPIError", Some("AlterSDKError")),
    ("ScopeReauthRequiredError", Some("ProviderAPIError")),
    ("ProviderUnauthorizedError", Some("ProviderAPIError")),
    ("NetworkError", Some("AlterSDKError")),
    ("TimeoutError", Some("NetworkError")),
    ("ApprovalError", Some("AlterSDKError")),
    ("ApprovalDeniedError", Some("ApprovalError")),
    ("ApprovalExpiredError", Some("ApprovalError")),
    ("ApprovalTimeoutError", Some("ApprovalError")),
    ("ApprovalExecutionFailedError", Some("ApprovalError")),
    ("ResponseTooLargeError", Some("AlterSDKError")),
];

/// `(class name, fixed code)` for `AgentError` and its subclasses (§2).
pub const AGENT_ERROR_CODES: &[(&str, &str)] = &[
    ("AgentError", "agent_error"),
    ("InvalidKeyError", "invalid_key"),
    ("AgentNotFoundError", "agent_not_found"),
    ("CallerAgentMismatchError", "caller_agent_mismatch"),
    (
        "CallerAgentResolutionError",
        "caller_agent_resolution_error",
    ),
    ("AgentNameExistsError", "agent_name_exists"),
    ("AgentConcurrentUpdateError", "agent_concurrent_update"),
    ("MeRequiresAgentKeyError", "me_requires_agent_key"),
    ("KeyRevokedError", "key_revoked"),
    ("KeyExpiredError", "key_expired"),
    ("KeyRotationExpiredError", "key_rotated_grace_expired"),
    ("KeyInactiveError", "key_not_active"),
    ("KeyAppNotFoundError", "app_not_found_for_key"),
    ("AgentInactiveError", "agent_inactive"),
    ("AgentRevokedError", "agent_revoked"),
    (
        "IdempotencyKeyBodyMismatchError",
        "idempotency_key_body_mismatch",
    ),
    (
        "IdempotencyKeyAgentRevokedError",
        "idempotency_key_agent_revoked",
    ),
    (
        "IdempotencyKeyAgentInactiveError",
        "idempotency_key_agent_inactive",
    ),
    (
        "AgentCannotMintSubagentsError",
        "agent_cannot_mint_subagents",
    ),
    ("KeyAlreadyRevokedError", "key_revoked"),
    ("KeyNotFoundError", "key_not_found"),
    ("LastActiveKeyError", "last_active_key"),
    ("AgentKeyLimitError", "agent_key_limit_reached"),
];

/// The parent class of `kind`, or `None` for the root and unknown names.
pub fn parent_of(kind: &str) -> Option<&'static str> {
    ERROR_KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .and_then(|(_, parent)| *parent)
}

/// The fixed `code` of an `AgentError` class, `None` for other classes.
pub fn agent_code_of(kind: &str) -> Option<&'static str> {
    AGENT_ERROR_CODES
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, code)| *code)
}

/// Message used when the closed client is used again.
pub const CLOSED_MESSAGE: &str =
    "SDK instance has been closed. Create a new SDK client (App / Agent) to make requests.";

/// Expands to a `match` that binds the [`ErrorBase`] of any variant as `$b`.
macro_rules! with_base {
    ($e:expr, $b:ident => $body:expr) => {
        match $e {
            Error::AlterSdk($b)
            | Error::AlterValue($b)
            | Error::Backend($b)
            | Error::BlockedDestination($b)
            | Error::ReAuthRequired($b)
            | Error::GrantDeleted($b)
            | Error::RedactDischargeFailed($b)
            | Error::RestrictedGrantRequiresProxy($b)
            | Error::ServerFeatureUnsupported($b)
            | Error::EndUserCredentialNotAssignable($b)
            | Error::ConnectFlow($b)
            | Error::ConnectDenied($b)
            | Error::ConnectConfig($b)
            | Error::ConnectTimeout($b)
            | Error::Network($b)
            | Error::Timeout($b) => $body,
            Error::MemoryIsolation { base: $b, .. }
            | Error::GrantExpired { base: $b, .. }
            | Error::GrantRevoked { base: $b, .. }
            | Error::CredentialRevoked { base: $b, .. }
            | Error::GrantNotFound { base: $b, .. }
            | Error::AgentDelegationMissing { base: $b, .. }
            | Error::AmbiguousGrant { base: $b, .. }
            | Error::NoDelegatedGrant { base: $b, .. }
            | Error::PolicyViolation { base: $b, .. }
            | Error::StepUpRequired { base: $b, .. }
            | Error::GrantNotDelegable { base: $b, .. }
            | Error::SiblingLabelConflict { base: $b, .. }
            | Error::CredentialIdRequired { base: $b, .. }
            | Error::InsufficientScope { base: $b, .. }
            | Error::TokenRefreshInProgress { base: $b, .. }
            | Error::QuotaExceeded { base: $b, .. }
            | Error::RateLimit { base: $b, .. }
            | Error::ProviderApi { base: $b, .. }
            | Error::ScopeReauthRequired { base: $b, .. }
            | Error::ProviderUnauthorized { base: $b, .. }
            | Error::Approval { base: $b, .. }
            | Error::ApprovalDenied { base: $b, .. }
            | Error::ApprovalExpired { base: $b, .. }
            | Error::ApprovalTimeout { base: $b, .. }
            | Error::ApprovalExecutionFailed { base: $b, .. }
            | Error::ResponseTooLarge { base: $b, .. } => $body,
            Error::Agent { base: $b, .. }
            | Error::InvalidKey { base: $b, .. }
            | Error::AgentNotFound { base: $b, .. }
            | Error::CallerAgentMismatch { base: $b, .. }
            | Error::CallerAgentResolution { base: $b, .. }
            | Error::AgentNameExists { base: $b, .. }
            | Error::AgentConcurrentUpdate { base: $b, .. }
            | Error::MeRequiresAgentKey { base: $b, .. }
            | Error::KeyRevoked { base: $b, .. }
            | Error::KeyExpired { base: $b, .. }
            | Error::KeyRotationExpired { base: $b, .. }
            | Error::KeyInactive { base: $b, .. }
            | Error::KeyAppNotFound { base: $b, .. }
            | Error::AgentInactive { base: $b, .. }
            | Error::AgentRevoked { base: $b, .. }
            | Error::IdempotencyKeyBodyMismatch { base: $b, .. }
            | Error::IdempotencyKeyAgentRevoked { base: $b, .. }
            | Error::IdempotencyKeyAgentInactive { base: $b, .. }
            | Error::AgentCannotMintSubagents { base: $b, .. }
            | Error::KeyAlreadyRevoked { base: $b, .. }
            | Error::KeyNotFound { base: $b, .. }
            | Error::LastActiveKey { base: $b, .. }
            | Error::AgentKeyLimit { base: $b, .. } => $body,
        }
    };
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn opt_value(v: &Option<Value>) -> Value {
    v.clone().unwrap_or(Value::Null)
}

fn opt_num<T: Into<serde_json::Number> + Copy>(v: &Option<T>) -> Value {
    v.map_or(Value::Null, |n| Value::Number(n.into()))
}

fn str_list(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

impl Error {
    /// The official class name, e.g. `"GrantExpiredError"` or `"TimeoutError"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::AlterSdk(_) => "AlterSDKError",
            Error::AlterValue(_) => "AlterValueError",
            Error::MemoryIsolation { .. } => "MemoryIsolationError",
            Error::Backend(_) => "BackendError",
            Error::BlockedDestination(_) => "BlockedDestinationError",
            Error::ReAuthRequired(_) => "ReAuthRequiredError",
            Error::GrantExpired { .. } => "GrantExpiredError",
            Error::GrantRevoked { .. } => "GrantRevokedError",
            Error::CredentialRevoked { .. } => "CredentialRevokedError",
            Error::GrantDeleted(_) => "GrantDeletedError",
            Error::GrantNotFound { .. } => "GrantNotFoundError",
            Error::AgentDelegationMissing { .. } => "AgentDelegationMissingError",
            Error::AmbiguousGrant { .. } => "AmbiguousGrantError",
            Error::NoDelegatedGrant { .. } => "NoDelegatedGrantError",
            Error::PolicyViolation { .. } => "PolicyViolationError",
            Error::StepUpRequired { .. } => "StepUpRequiredError",
            Error::RedactDischargeFailed(_) => "RedactDischargeFailedError",
            Error::RestrictedGrantRequiresProxy(_) => "RestrictedGrantRequiresProxyError",
            Error::GrantNotDelegable { .. } => "GrantNotDelegableError",
            Error::ServerFeatureUnsupported(_) => "ServerFeatureUnsupportedError",
            Error::SiblingLabelConflict { .. } => "SiblingLabelConflictError",
            Error::CredentialIdRequired { .. } => "CredentialIdRequiredError",
            Error::EndUserCredentialNotAssignable(_) => "EndUserCredentialNotAssignableError",
            Error::InsufficientScope { .. } => "InsufficientScopeError",
            Error::TokenRefreshInProgress { .. } => "TokenRefreshInProgressError",
            Error::QuotaExceeded { .. } => "QuotaExceededError",
            Error::RateLimit { .. } => "RateLimitError",
            Error::Agent { .. } => "AgentError",
            Error::InvalidKey { .. } => "InvalidKeyError",
            Error::AgentNotFound { .. } => "AgentNotFoundError",
            Error::CallerAgentMismatch { .. } => "CallerAgentMismatchError",
            Error::CallerAgentResolution { .. } => "CallerAgentResolutionError",
            Error::AgentNameExists { .. } => "AgentNameExistsError",
            Error::AgentConcurrentUpdate { .. } => "AgentConcurrentUpdateError",
            Error::MeRequiresAgentKey { .. } => "MeRequiresAgentKeyError",
            Error::KeyRevoked { .. } => "KeyRevokedError",
            Error::KeyExpired { .. } => "KeyExpiredError",
            Error::KeyRotationExpired { .. } => "KeyRotationExpiredError",
            Error::KeyInactive { .. } => "KeyInactiveError",
            Error::KeyAppNotFound { .. } => "KeyAppNotFoundError",
            Error::AgentInactive { .. } => "AgentInactiveError",
            Error::AgentRevoked { .. } => "AgentRevokedError",
            Error::IdempotencyKeyBodyMismatch { .. } => "IdempotencyKeyBodyMismatchError",
            Error::IdempotencyKeyAgentRevoked { .. } => "IdempotencyKeyAgentRevokedError",
            Error::IdempotencyKeyAgentInactive { .. } => "IdempotencyKeyAgentInactiveError",
            Error::AgentCannotMintSubagents { .. } => "AgentCannotMintSubagentsError",
            Error::KeyAlreadyRevoked { .. } => "KeyAlreadyRevokedError",
            Error::KeyNotFound { .. } => "KeyNotFoundError",
            Error::LastActiveKey { .. } => "LastActiveKeyError",
            Error::AgentKeyLimit { .. } => "AgentKeyLimitError",
            Error::ConnectFlow(_) => "ConnectFlowError",
            Error::ConnectDenied(_) => "ConnectDeniedError",
            Error::ConnectConfig(_) => "ConnectConfigError",
            Error::ConnectTimeout(_) => "ConnectTimeoutError",
            Error::ProviderApi { .. } => "ProviderAPIError",
            Error::ScopeReauthRequired { .. } => "ScopeReauthRequiredError",
            Error::ProviderUnauthorized { .. } => "ProviderUnauthorizedError",
            Error::Network(_) => "NetworkError",
            Error::Timeout(_) => "TimeoutError",
            Error::Approval { .. } => "ApprovalError",
            Error::ApprovalDenied { .. } => "ApprovalDeniedError",
            Error::ApprovalExpired { .. } => "ApprovalExpiredError",
            Error::ApprovalTimeout { .. } => "ApprovalTimeoutError",
            Error::ApprovalExecutionFailed { .. } => "ApprovalExecutionFailedError",
            Error::ResponseTooLarge { .. } => "ResponseTooLargeError",
        }
    }

    /// True when this error's class is `kind` or derives from it.
    pub fn is_a(&self, kind: &str) -> bool {
        let mut current = Some(self.kind());
        while let Some(name) = current {
            if name == kind {
                return true;
            }
            current = parent_of(name);
        }
        false
    }

    /// The shared fields.
    pub fn base(&self) -> &ErrorBase {
        with_base!(self, b => b)
    }

    /// The shared fields, mutably.
    pub fn base_mut(&mut self) -> &mut ErrorBase {
        with_base!(self, b => b)
    }

    pub fn message(&self) -> &str {
        &self.base().message
    }

    pub fn details(&self) -> &Details {
        &self.base().details
    }

    /// `BackendError.status_code` or the provider status; `None` otherwise.
    pub fn status_code(&self) -> Option<u16> {
        self.base().status_code
    }

    /// The `hint` of an `AgentError`-family error.
    pub fn hint(&self) -> Option<&str> {
        self.agent_hint().and_then(|h| h.as_deref())
    }

    /// The `approval_id` of an `ApprovalError`-family error.
    pub fn approval_id(&self) -> Option<&str> {
        match self {
            Error::Approval { approval_id, .. }
            | Error::ApprovalDenied { approval_id, .. }
            | Error::ApprovalExpired { approval_id, .. }
            | Error::ApprovalTimeout { approval_id, .. }
            | Error::ApprovalExecutionFailed { approval_id, .. } => approval_id.as_deref(),
            _ => None,
        }
    }

    /// The `retry_after` of a `RateLimitError` or `QuotaExceededError`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimit { retry_after, .. } | Error::QuotaExceeded { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// `Some(&hint)` for every `AgentError`-family variant.
    fn agent_hint(&self) -> Option<&Option<String>> {
        match self {
            Error::Agent { hint, .. }
            | Error::InvalidKey { hint, .. }
            | Error::AgentNotFound { hint, .. }
            | Error::CallerAgentMismatch { hint, .. }
            | Error::CallerAgentResolution { hint, .. }
            | Error::AgentNameExists { hint, .. }
            | Error::AgentConcurrentUpdate { hint, .. }
            | Error::MeRequiresAgentKey { hint, .. }
            | Error::KeyRevoked { hint, .. }
            | Error::KeyExpired { hint, .. }
            | Error::KeyRotationExpired { hint, .. }
            | Error::KeyInactive { hint, .. }
            | Error::KeyAppNotFound { hint, .. }
            | Error::AgentInactive { hint, .. }
            | Error::AgentRevoked { hint, .. }
            | Error::IdempotencyKeyBodyMismatch { hint, .. }
            | Error::IdempotencyKeyAgentRevoked { hint, .. }
            | Error::IdempotencyKeyAgentInactive { hint, .. }
            | Error::AgentCannotMintSubagents { hint, .. }
            | Error::KeyAlreadyRevoked { hint, .. }
            | Error::KeyNotFound { hint, .. }
            | Error::LastActiveKey { hint, .. }
            | Error::AgentKeyLimit { hint, .. } => Some(hint),
            _ => None,
        }
    }

    /// The class-specific attributes under their official names, so that a
    /// binding can set them on its exception object without knowing the
    /// class. `message` and `details` are not included; `status_code` is,
    /// for the classes that define it (backend and provider families).
    pub fn attributes(&self) -> Details {
        let mut a = Details::new();
        if self.is_a("BackendError") || self.is_a("ProviderAPIError") {
            a.insert("status_code".into(), opt_num(&self.status_code()));
        }
        if let Some(hint) = self.agent_hint() {
            a.insert("hint".into(), opt_str(hint));
            if let Some(code) = agent_code_of(self.kind()) {
                a.insert("code".into(), Value::String(code.into()));
            }
        }
        match self {
            Error::MemoryIsolation { code, .. } => {
                a.insert("code".into(), Value::String(code.clone()));
            }
            Error::GrantExpired {
                provider_id,
                agent_id,
                app_user_id,
                ..
            }
            | Error::GrantNotFound {
                provider_id,
                agent_id,
                app_user_id,
                ..
            }
            | Error::AgentDelegationMissing {
                provider_id,
                agent_id,
                app_user_id,
                ..
            }
            | Error::NoDelegatedGrant {
                provider_id,
                agent_id,
                app_user_id,
                ..
            } => {
                a.insert("provider_id".into(), opt_str(provider_id));
                a.insert("agent_id".into(), opt_str(agent_id));
                a.insert("app_user_id".into(), opt_str(app_user_id));
            }
            Error::GrantRevoked { grant_id, .. }
            | Error::TokenRefreshInProgress { grant_id, .. } => {
                a.insert("grant_id".into(), opt_value(grant_id));
            }
            Error::CredentialRevoked {
                grant_id,
                provider_id,
                app_user_id,
                ..
            } => {
                a.insert("grant_id".into(), opt_value(grant_id));
                a.insert("provider_id".into(), opt_str(provider_id));
                a.insert("app_user_id".into(), opt_str(app_user_id));
            }
            Error::AmbiguousGrant {
                provider_id,
                account_identifiers,
                account_was_provided,
                app_user_ids,
                grant_ids,
                candidates,
                candidates_truncated,
                ..
            } => {
                a.insert("provider_id".into(), opt_str(provider_id));
                a.insert("account_identifiers".into(), str_list(account_identifiers));
                a.insert(
                    "account_was_provided".into(),
                    Value::Bool(*account_was_provided),
                );
                a.insert("app_user_ids".into(), str_list(app_user_ids));
                a.insert("grant_ids".into(), str_list(grant_ids));
                a.insert(
                    "candidates".into(),
                    serde_json::to_value(candidates).unwrap_or(Value::Null),
                );
                a.insert(
                    "candidates_truncated".into(),
                    Value::Bool(*candidates_truncated),
                );
            }
            Error::PolicyViolation { policy_error, .. } => {
                a.insert("policy_error".into(), opt_value(policy_error));
            }
            Error::StepUpRequired {
                max_session_age_seconds,
                ..
            } => {
                a.insert(
                    "policy_error".into(),
                    Value::String("step_up_required".into()),
                );
                a.insert(
                    "max_session_age_seconds".into(),
                    opt_num(max_session_age_seconds),
                );
            }
            Error::RedactDischargeFailed(_) => {
                a.insert(
                    "policy_error".into(),
                    Value::String("redact_discharge_failed".into()),
                );
            }
            Error::GrantNotDelegable { detail_reason, .. } => {
                a.insert("detail_reason".into(), opt_str(detail_reason));
            }
            Error::SiblingLabelConflict { label, .. } => {
                a.insert("label".into(), opt_str(label));
            }
            Error::CredentialIdRequired { credentials, .. } => {
                a.insert(
                    "credentials".into(),
                    serde_json::to_value(credentials).unwrap_or(Value::Null),
                );
            }
            Error::InsufficientScope {
                required,
                granted,
                missing,
                scope_version,
                current_scope_version,
                scope_version_mismatch,
                documentation_url,
                required_any_of,
                ..
            } => {
                a.insert("required".into(), str_list(required));
                a.insert("granted".into(), str_list(granted));
                a.insert("missing".into(), str_list(missing));
                a.insert("scope_version".into(), opt_num(scope_version));
                a.insert(
                    "current_scope_version".into(),
                    opt_num(current_scope_version),
                );
                a.insert(
                    "scope_version_mismatch".into(),
                    Value::Bool(*scope_version_mismatch),
                );
                a.insert("documentation_url".into(), opt_str(documentation_url));
                a.insert("required_any_of".into(), Value::Bool(*required_any_of));
                // Read-only aliases the official class also exposes.
                a.insert("required_scopes".into(), str_list(required));
                a.insert("granted_scopes".into(), str_list(granted));
                a.insert("docs_url".into(), opt_str(documentation_url));
            }
            Error::QuotaExceeded { retry_after, .. } => {
                a.insert("retry_after".into(), opt_num(retry_after));
            }
            Error::RateLimit {
                retry_after,
                scope,
                limit,
                window_seconds,
                ..
            } => {
                a.insert("retry_after".into(), opt_num(retry_after));
                a.insert("scope".into(), opt_str(scope));
                a.insert("limit".into(), opt_num(limit));
                a.insert("window_seconds".into(), opt_num(window_seconds));
            }
            Error::ProviderApi { response_body, .. } => {
                a.insert("response_body".into(), opt_str(response_body));
            }
            Error::ScopeReauthRequired {
                response_body,
                grant_id,
                provider_id,
                missing_scopes,
                ..
            } => {
                a.insert("response_body".into(), opt_str(response_body));
                a.insert("grant_id".into(), opt_str(grant_id));
                a.insert("provider_id".into(), opt_str(provider_id));
                a.insert(
                    "missing_scopes".into(),
                    missing_scopes.as_deref().map_or(Value::Null, str_list),
                );
            }
            Error::ProviderUnauthorized {
                response_body,
                grant_id,
                provider_id,
                ..
            } => {
                a.insert("response_body".into(), opt_str(response_body));
                a.insert("grant_id".into(), opt_str(grant_id));
                a.insert("provider_id".into(), opt_str(provider_id));
            }
            Error::Approval { approval_id, .. }
            | Error::ApprovalDenied { approval_id, .. }
            | Error::ApprovalExpired { approval_id, .. }
            | Error::ApprovalTimeout { approval_id, .. }
            | Error::ApprovalExecutionFailed { approval_id, .. } => {
                a.insert("approval_id".into(), opt_str(approval_id));
            }
            Error::ResponseTooLarge { max_bytes, .. } => {
                a.insert("max_bytes".into(), Value::from(*max_bytes));
            }
            _ => {}
        }
        a
    }

    // ---- constructors ----------------------------------------------------------

    /// `AlterSDKError`.
    pub fn sdk(message: impl Into<String>) -> Self {
        Error::AlterSdk(ErrorBase::new(message, Details::new()))
    }

    /// `AlterSDKError` with details.
    pub fn sdk_with(message: impl Into<String>, details: Details) -> Self {
        Error::AlterSdk(ErrorBase::new(message, details))
    }

    /// `AlterValueError` (client-side argument validation).
    pub fn value(message: impl Into<String>) -> Self {
        Error::AlterValue(ErrorBase::new(message, Details::new()))
    }

    /// The `AlterSDKError` raised when a closed client is used.
    pub fn closed() -> Self {
        Error::sdk(CLOSED_MESSAGE)
    }

    /// `MemoryIsolationError`; the message is rendered `"<code>: <text>"`.
    pub fn memory_isolation(code: impl Into<String>, text: &str) -> Self {
        let code = code.into();
        let mut details = Details::new();
        details.insert("code".into(), Value::String(code.clone()));
        Error::MemoryIsolation {
            base: ErrorBase::new(format!("{code}: {text}"), details),
            code,
        }
    }

    /// Plain `BackendError`. With `status = None` the status is taken from
    /// `details["status_code"]` when that is an integer.
    pub fn backend(message: impl Into<String>, details: Details, status: Option<u16>) -> Self {
        Error::Backend(ErrorBase::backend(message, details, status))
    }

    /// `ServerFeatureUnsupportedError` with `details = {"feature", "status_code"?}`.
    pub fn server_feature_unsupported(
        message: impl Into<String>,
        feature: &str,
        status: Option<u16>,
    ) -> Self {
        let mut details = Details::new();
        details.insert("feature".into(), Value::String(feature.into()));
        if let Some(s) = status {
            details.insert("status_code".into(), Value::from(s));
        }
        Error::ServerFeatureUnsupported(ErrorBase::backend(message, details, status))
    }

    /// `NetworkError`.
    pub fn network(message: impl Into<String>, details: Details) -> Self {
        Error::Network(ErrorBase::new(message, details))
    }

    /// The SDK's `TimeoutError` (a `NetworkError`).
    pub fn timeout(message: impl Into<String>, details: Details) -> Self {
        Error::Timeout(ErrorBase::new(message, details))
    }

    /// `ConnectFlowError`.
    pub fn connect_flow(message: impl Into<String>, details: Details) -> Self {
        Error::ConnectFlow(ErrorBase::new(message, details))
    }

    /// `ConnectDeniedError`.
    pub fn connect_denied(message: impl Into<String>, details: Details) -> Self {
        Error::ConnectDenied(ErrorBase::new(message, details))
    }

    /// `ConnectConfigError`.
    pub fn connect_config(message: impl Into<String>, details: Details) -> Self {
        Error::ConnectConfig(ErrorBase::new(message, details))
    }

    /// `ConnectTimeoutError`.
    pub fn connect_timeout(message: impl Into<String>, details: Details) -> Self {
        Error::ConnectTimeout(ErrorBase::new(message, details))
    }

    /// Generic `ProviderAPIError` for a provider status.
    pub fn provider_api(
        message: impl Into<String>,
        status: u16,
        response_body: Option<String>,
        details: Details,
    ) -> Self {
        Error::ProviderApi {
            base: ErrorBase {
                message: message.into(),
                details,
                status_code: Some(status),
            },
            response_body,
        }
    }

    /// `ScopeReauthRequiredError` (status 403).
    pub fn scope_reauth_required(
        message: impl Into<String>,
        response_body: Option<String>,
        grant_id: Option<String>,
        provider_id: Option<String>,
        missing_scopes: Option<Vec<String>>,
        details: Details,
    ) -> Self {
        Error::ScopeReauthRequired {
            base: ErrorBase {
                message: message.into(),
                details,
                status_code: Some(403),
            },
            response_body,
            grant_id,
            provider_id,
            missing_scopes,
        }
    }

    /// `ProviderUnauthorizedError` (status 401).
    pub fn provider_unauthorized(
        message: impl Into<String>,
        response_body: Option<String>,
        grant_id: Option<String>,
        provider_id: Option<String>,
        details: Details,
    ) -> Self {
        Error::ProviderUnauthorized {
            base: ErrorBase {
                message: message.into(),
                details,
                status_code: Some(401),
            },
            response_body,
            grant_id,
            provider_id,
        }
    }

    /// `ApprovalError` base class.
    pub fn approval(message: impl Into<String>, approval_id: Option<String>) -> Self {
        let (base, approval_id) = approval_parts(message.into(), approval_id);
        Error::Approval { base, approval_id }
    }

    /// `ApprovalDeniedError`.
    pub fn approval_denied(message: impl Into<String>, approval_id: Option<String>) -> Self {
        let (base, approval_id) = approval_parts(message.into(), approval_id);
        Error::ApprovalDenied { base, approval_id }
    }

    /// `ApprovalExpiredError`.
    pub fn approval_expired(message: impl Into<String>, approval_id: Option<String>) -> Self {
        let (base, approval_id) = approval_parts(message.into(), approval_id);
        Error::ApprovalExpired { base, approval_id }
    }

    /// `ApprovalTimeoutError`.
    pub fn approval_timeout(message: impl Into<String>, approval_id: Option<String>) -> Self {
        let (base, approval_id) = approval_parts(message.into(), approval_id);
        Error::ApprovalTimeout { base, approval_id }
    }

    /// `ApprovalExecutionFailedError`.
    pub fn approval_execution_failed(
        message: impl Into<String>,
        approval_id: Option<String>,
    ) -> Self {
        let (base, approval_id) = approval_parts(message.into(), approval_id);
        Error::ApprovalExecutionFailed { base, approval_id }
    }

    /// `ResponseTooLargeError`: `source` names whose body it was (`provider`,
    /// `proxy` or `backend`) and `max_bytes` the cap it exceeded; both are
    /// also in the details, with whatever the caller adds.
    pub fn response_too_large(source: &str, max_bytes: u64, mut details: Details) -> Self {
        let what = match source {
            "provider" => "The provider's response body",
            "proxy" => "The proxied response",
            _ => "The Alter backend's response body",
        };
        let cap = if source == "backend" {
            format!("the {max_bytes}-byte limit for backend answers")
        } else {
            format!("max_response_bytes ({max_bytes} bytes)")
        };
        details.insert("source".into(), Value::String(source.into()));
        details.insert("max_bytes".into(), Value::from(max_bytes));
        Error::ResponseTooLarge {
            base: ErrorBase::new(
                format!(
                    "{what} exceeds {cap}; the rest was not read and the connection was closed"
                ),
                details,
            ),
            max_bytes,
        }
    }

    /// An `AgentError`-family error by class name (`"KeyRevokedError"`, ...).
    /// An empty message falls back to the class code. Returns `None` when
    /// `kind` is not `AgentError` or one of its subclasses.
    pub fn agent(
        kind: &str,
        message: impl Into<String>,
        details: Details,
        hint: Option<String>,
    ) -> Option<Self> {
        let code = agent_code_of(kind)?;
        let mut message = message.into();
        if message.is_empty() {
            message = code.to_string();
        }
        let base = ErrorBase::backend(message, details, None);
        Some(match kind {
            "AgentError" => Error::Agent { base, hint },
            "InvalidKeyError" => Error::InvalidKey { base, hint },
            "AgentNotFoundError" => Error::AgentNotFound { base, hint },
            "CallerAgentMismatchError" => Error::CallerAgentMismatch { base, hint },
            "CallerAgentResolutionError" => Error::CallerAgentResolution { base, hint },
            "AgentNameExistsError" => Error::AgentNameExists { base, hint },
            "AgentConcurrentUpdateError" => Error::AgentConcurrentUpdate { base, hint },
            "MeRequiresAgentKeyError" => Error::MeRequiresAgentKey { base, hint },
            "KeyRevokedError" => Error::KeyRevoked { base, hint },
            "KeyExpiredError" => Error::KeyExpired { base, hint },
            "KeyRotationExpiredError" => Error::KeyRotationExpired { base, hint },
            "KeyInactiveError" => Error::KeyInactive { base, hint },
            "KeyAppNotFoundError" => Error::KeyAppNotFound { base, hint },
            "AgentInactiveError" => Error::AgentInactive { base, hint },
            "AgentRevokedError" => Error::AgentRevoked { base, hint },
            "IdempotencyKeyBodyMismatchError" => Error::IdempotencyKeyBodyMismatch { base, hint },
            "IdempotencyKeyAgentRevokedError" => Error::IdempotencyKeyAgentRevoked { base, hint },
            "IdempotencyKeyAgentInactiveError" => Error::IdempotencyKeyAgentInactive { base, hint },
            "AgentCannotMintSubagentsError" => Error::AgentCannotMintSubagents { base, hint },
            "KeyAlreadyRevokedError" => Error::KeyAlreadyRevoked { base, hint },
            "KeyNotFoundError" => Error::KeyNotFound { base, hint },
            "LastActiveKeyError" => Error::LastActiveKey { base, hint },
            "AgentKeyLimitError" => Error::AgentKeyLimit { base, hint },
            _ => return None,
        })
    }

    /// Any class by its official name, with its extra attributes at their
    /// defaults (None / empty / false). Backend classes take their status
    /// from `details["status_code"]`. `None` for an unknown name.
    pub fn from_kind(kind: &str, message: impl Into<String>, details: Details) -> Option<Self> {
        let message = message.into();
        if agent_code_of(kind).is_some() {
            return Error::agent(kind, message, details, None);
        }
        let plain = ErrorBase::new(message.clone(), details.clone());
        let be = ErrorBase::backend(message, details, None);
        Some(match kind {
            "AlterSDKError" => Error::AlterSdk(plain),
            "AlterValueError" => Error::AlterValue(plain),
            "MemoryIsolationError" => {
                let code = plain
                    .details
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                Error::MemoryIsolation { base: plain, code }
            }
            "BackendError" => Error::Backend(be),
            "BlockedDestinationError" => Error::BlockedDestination(be),
            "ReAuthRequiredError" => Error::ReAuthRequired(be),
            "GrantExpiredError" => Error::GrantExpired {
                base: be,
                provider_id: None,
                agent_id: None,
                app_user_id: None,
            },
            "GrantRevokedError" => Error::GrantRevoked {
                base: be,
                grant_id: None,
            },
            "CredentialRevokedError" => Error::CredentialRevoked {
                base: be,
                grant_id: None,
                provider_id: None,
                app_user_id: None,
            },
            "GrantDeletedError" => Error::GrantDeleted(be),
            "GrantNotFoundError" => Error::GrantNotFound {
                base: be,
                provider_id: None,
                agent_id: None,
                app_user_id: None,
            },
            "AgentDelegationMissingError" => Error::AgentDelegationMissing {
                base: be,
                provider_id: None,
                agent_id: None,
                app_user_id: None,
            },
            "AmbiguousGrantError" => Error::AmbiguousGrant {
                base: be,
                provider_id: None,
                account_identifiers: Vec::new(),
                account_was_provided: false,
                app_user_ids: Vec::new(),
                grant_ids: Vec::new(),
                candidates: Vec::new(),
                candidates_truncated: false,
            },
            "NoDelegatedGrantError" => Error::NoDelegatedGrant {
                base: be,
                provider_id: None,
                agent_id: None,
                app_user_id: None,
            },
            "PolicyViolationError" => Error::PolicyViolation {
                base: be,
                policy_error: None,
            },
            "StepUpRequiredError" => Error::StepUpRequired {
                base: be,
                max_session_age_seconds: None,
            },
            "RedactDischargeFailedError" => Error::RedactDischargeFailed(be),
            "RestrictedGrantRequiresProxyError" => Error::RestrictedGrantRequiresProxy(be),
            "GrantNotDelegableError" => Error::GrantNotDelegable {
                base: be,
                detail_reason: None,
            },
            "ServerFeatureUnsupportedError" => Error::ServerFeatureUnsupported(be),
            "SiblingLabelConflictError" => Error::SiblingLabelConflict {
                base: be,
                label: None,
            },
            "CredentialIdRequiredError" => Error::CredentialIdRequired {
                base: be,
                credentials: Vec::new(),
            },
            "EndUserCredentialNotAssignableError" => Error::EndUserCredentialNotAssignable(be),
            "InsufficientScopeError" => Error::InsufficientScope {
                base: be,
                required: Vec::new(),
                granted: Vec::new(),
                missing: Vec::new(),
                scope_version: None,
                current_scope_version: None,
                scope_version_mismatch: false,
                documentation_url: None,
                required_any_of: false,
            },
            "TokenRefreshInProgressError" => Error::TokenRefreshInProgress {
                base: be,
                grant_id: None,
            },
            "QuotaExceededError" => Error::QuotaExceeded {
                base: be,
                retry_after: None,
            },
            "RateLimitError" => Error::RateLimit {
                base: be,
                retry_after: None,
                scope: None,
                limit: None,
                window_seconds: None,
            },
            "ConnectFlowError" => Error::ConnectFlow(plain),
            "ConnectDeniedError" => Error::ConnectDenied(plain),
            "ConnectConfigError" => Error::ConnectConfig(plain),
            "ConnectTimeoutError" => Error::ConnectTimeout(plain),
            "ProviderAPIError" => Error::ProviderApi {
                base: plain,
                response_body: None,
            },
            "ScopeReauthRequiredError" => Error::ScopeReauthRequired {
                base: plain,
                response_body: None,
                grant_id: None,
                provider_id: None,
                missing_scopes: None,
            },
            "ProviderUnauthorizedError" => Error::ProviderUnauthorized {
                base: plain,
                response_body: None,
                grant_id: None,
                provider_id: None,
            },
            "NetworkError" => Error::Network(plain),
            "TimeoutError" => Error::Timeout(plain),
            "ApprovalError" => Error::Approval {
                base: plain,
                approval_id: None,
            },
            "ApprovalDeniedError" => Error::ApprovalDenied {
                base: plain,
                approval_id: None,
            },
            "ApprovalExpiredError" => Error::ApprovalExpired {
                base: plain,
                approval_id: None,
            },
            "ApprovalTimeoutError" => Error::ApprovalTimeout {
                base: plain,
                approval_id: None,
            },
            "ApprovalExecutionFailedError" => Error::ApprovalExecutionFailed {
                base: plain,
                approval_id: None,
            },
            "ResponseTooLargeError" => Error::ResponseTooLarge {
                max_bytes: plain
                    .details
                    .get("max_bytes")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                base: plain,
            },
            _ => return None,
        })
    }

    /// [`Error::from_kind`] with the identifiers a binding read back from
    /// its own error object, set by [`Error::with_identity`]. This is how an
    /// error a caller hands back (`create_connect_session_for_error`) is
    /// rebuilt with its recovery context.
    pub fn from_kind_with_identity(
        kind: &str,
        message: impl Into<String>,
        details: Details,
        ids: ErrorIdentity,
    ) -> Option<Self> {
        Error::from_kind(kind, message, details).map(|e| e.with_identity(ids))
    }

    /// Sets each identifier on the variants that carry it; the others
    /// ignore it. A `grant_id` that is not a string becomes its JSON text
    /// where the variant holds text.
    pub fn with_identity(mut self, ids: ErrorIdentity) -> Self {
        let ErrorIdentity {
            provider_id: provider,
            agent_id: agent,
            app_user_id: app_user,
            grant_id: grant,
        } = ids;
        let grant_text = || match &grant {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        match &mut self {
            Error::GrantExpired {
                provider_id,
                agent_id,
                app_user_id,
                ..
            }
            | Error::GrantNotFound {
                provider_id,
                agent_id,
                app_user_id,
                ..
            }
            | Error::AgentDelegationMissing {
                provider_id,
                agent_id,
                app_user_id,
                ..
            }
            | Error::NoDelegatedGrant {
                provider_id,
                agent_id,
                app_user_id,
                ..
            } => {
                *provider_id = provider;
                *agent_id = agent;
                *app_user_id = app_user;
            }
            Error::CredentialRevoked {
                grant_id,
                provider_id,
                app_user_id,
                ..
            } => {
                *grant_id = grant;
                *provider_id = provider;
                *app_user_id = app_user;
            }
            Error::GrantRevoked { grant_id, .. }
            | Error::TokenRefreshInProgress { grant_id, .. } => *grant_id = grant,
            Error::AmbiguousGrant { provider_id, .. } => *provider_id = provider,
            Error::ScopeReauthRequired {
                grant_id,
                provider_id,
                ..
            }
            | Error::ProviderUnauthorized {
                grant_id,
                provider_id,
                ..
            } => {
                *grant_id = grant_text();
                *provider_id = provider;
            }
            _ => {}
        }
        self
    }

    /// Adds `details["status_code"] = status` when the key is missing
    /// (`requests.md` §12.5 step 4). Nothing else changes.
    pub fn with_status_backfill(mut self, status: u16) -> Self {
        let details = &mut self.base_mut().details;
        if !details.contains_key("status_code") {
            details.insert("status_code".into(), Value::from(status));
        }
        self
    }
}

fn approval_parts(message: String, approval_id: Option<String>) -> (ErrorBase, Option<String>) {
    let mut details = Details::new();
    if let Some(id) = &approval_id {
        details.insert("approval_id".into(), Value::String(id.clone()));
    }
    (ErrorBase::new(message, details), approval_id)
}

// =============================================================================
// Mapping failed backend responses
// =============================================================================

/// The parts of a failed backend response the mappers look at.
#[derive(Debug, Clone, Copy)]
pub struct HttpFailure<'a> {
    pub status: u16,
    pub body: &'a [u8],
    /// The `Retry-After` response header, if any.
    pub retry_after: Option<&'a str>,
    /// The `X-Request-ID` response header, if any.
    pub request_id: Option<&'a str>,
}

/// Exact messages the protocol quotes (parity tests compare them).
mod msg {
    pub const INSUFFICIENT_SCOPE: &str = "Insufficient scope";
    pub const GRANT_EXPIRED: &str = "Grant expired per TTL policy";
    pub const GRANT_REVOKED: &str = "Grant has been revoked. User must re-authorize.";
    pub const CREDENTIAL_REVOKED: &str =
        "Underlying OAuth connection has been revoked. User must re-authorize.";
    pub const SCOPE_MISMATCH: &str = "Grant is missing required scopes";
    pub const POLICY_DENIED: &str = "Access denied by policy";
    pub const MANAGED_OAUTH_APPROVAL: &str =
        "The requested permissions require managed OAuth approval.";
    pub const NO_ELIGIBLE_GRANTS: &str =
        "The user has no managed-secret grant this agent can be delegated from.";
    pub const TOKEN_REFRESH: &str = "Token refresh in progress. Retry after a short delay.";
    pub const AMBIGUOUS_GRANT: &str =
        "JWT identity resolved to multiple grants. Pass the 'account' parameter to disambiguate.";
    pub const NO_DELEGATED_GRANT: &str =
        "Agent has no active delegation or managed-secret grant for this provider.";
    pub const GRANT_DELETED: &str =
        "Grant has been deleted. A new grant_id will be issued on re-authorization.";
    pub const CALLER_AGENT_UNRESOLVED: &str =
        "caller does not name an active managed agent for this app";
    pub const AGENT_NOT_FOUND: &str =
        "No active managed agent matches the requested agent in this app";
    pub const SECRET_NOT_FOUND: &str =
        "No active managed-secret provider of this app has the requested slug.";
    pub const GRANT_NOT_FOUND: &str = "OAuth grant not found for the given grant_id";
    pub const CALLER_AGENT_MISMATCH: &str = "Caller agent identity does not match the API key.";
    pub const JWT_VALIDATION: &str = "user_token validation failed";
    pub const INVALID_KEY: &str = "Invalid API key";
    pub const KEY_REVOKED: &str = "API key has been revoked";
    pub const KEY_EXPIRED: &str = "API key has expired";
    pub const KEY_ROTATION_EXPIRED: &str = "API key rotation grace period has expired";
    pub const KEY_INACTIVE: &str = "API key is not active";
    pub const AGENT_INACTIVE: &str = "Agent is inactive";
    pub const AGENT_REVOKED: &str = "Agent is revoked";
    pub const UNAUTHORIZED: &str = "Unauthorized \u{2014} check your API key";
    pub const RATE_LIMIT_NON_JSON: &str = "Rate limited by an intermediary (HTTP 429 with a non-JSON body); retry after the indicated delay.";
    pub const QUOTA_EXCEEDED: &str = "Request quota exceeded for the current window.";
    pub const RATE_LIMIT: &str = "Rate limit exceeded \u{2014} retry after the window resets.";
    pub const CALLER_AGENT_RESOLUTION: &str = "Managed-agent identity could not be resolved";
    pub const KEY_APP_NOT_FOUND: &str = "App not found for API key";
    pub const BLOCKED_DESTINATION: &str =
        "Destination is not permitted. Check the provider host and URL.";

    // Our own wording where the protocol only summarises the message.
    pub const RESTRICTED_GRANT: &str =
        "This grant is restricted: its credential cannot be retrieved; use proxy_request() instead.";
    pub const PROXY_ONLY_GRANT: &str =
        "This grant can only be used in proxy mode; call proxy_request() instead of request().";
    pub const GRANT_NOT_DELEGABLE: &str =
        "This grant cannot be delegated: onward sharing is not permitted for it.";
    pub const STEP_UP_REQUIRED: &str =
        "This operation needs a more recent user sign-in; authenticate again and retry.";
    pub const REDACT_DISCHARGE_FAILED: &str =
        "The policy requires redacting this response and redaction failed, so it was withheld.";
    pub const IDP_SIGNIN_NOT_CONFIGURED: &str =
        "The identity provider is not set up for approval sign-in.";
    pub const BINDING_HOSTS_REQUIRED: &str =
        "This provider needs host patterns configured before it can be used.";
    pub const PROVIDER_CONTRACT_REPAIR: &str =
        "The developer credential for this provider must be rotated once before it can be used.";
    pub const SIBLING_LABEL_CONFLICT: &str =
        "Another active grant from the same source already uses this label.";
    pub const CREDENTIAL_ID_REQUIRED: &str =
        "Several developer credentials are available for this provider; pass credential_id to pick one.";
    pub const END_USER_CREDENTIAL: &str =
        "This credential belongs to an end user and cannot be assigned.";
    pub const SECRET_TEMPLATE_MISMATCH: &str =
        "The managed secret does not match the template of the requested provider.";
    pub const AGENT_DELEGATION_MISSING: &str = "No grant usable by this agent was found. Either the grant is not delegated to this agent, or a user/base grant_id was passed where the agent's own delegation grant_id is needed; create a Connect session for the agent or address the grant by provider instead.";
}

/// Largest error body the mappers read. The backend's error bodies are a
/// few hundred bytes; a larger one is treated as unreadable (the error keeps
/// its status, none of the body), so `details` never quotes more than this.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Decodes a body as JSON the way a lenient client would (a UTF-8 byte-order
/// mark is tolerated). `None` when the bytes are not JSON (including empty)
/// or longer than [`MAX_ERROR_BODY_BYTES`].
fn parse_json_body(body: &[u8]) -> Option<Value> {
    if body.len() > MAX_ERROR_BODY_BYTES {
        return None;
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    serde_json::from_slice(body).ok()
}

/// The framework envelope: an object-valued `detail` replaces the whole
/// body (its siblings are dropped); any other body is kept as it is.
fn unwrap_detail(obj: Details) -> Details {
    match obj.get("detail") {
        Some(Value::Object(inner)) => inner.clone(),
        _ => obj,
    }
}

fn status_value(status: u16) -> Value {
    Value::from(status)
}

/// The main mapper's "error_data" (`errors.md` §4).
fn normalise_error_body(status: u16, parsed: Option<Value>) -> Details {
    let mut data = match parsed {
        None => {
            let mut d = Details::new();
            d.insert(
                "message".into(),
                Value::String(format!("Backend returned a non-JSON error (HTTP {status})")),
            );
            d
        }
        Some(Value::Object(obj)) => unwrap_detail(obj),
        Some(_) => {
            let mut d = Details::new();
            d.insert("message".into(), Value::String("Unknown error".into()));
            d
        }
    };
    data.insert("status_code".into(), status_value(status));
    data
}

/// `data["message"]` when it is a non-empty string, else `fallback`.
fn message_or(data: &Details, fallback: &str) -> String {
    match data.get("message") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => fallback.to_string(),
    }
}

fn str_field(data: &Details, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_string)
}

fn non_empty_str_field(data: &Details, key: &str) -> Option<String> {
    str_field(data, key).filter(|s| !s.is_empty())
}

/// The field as sent; absent or JSON null → `None`.
fn raw_field(data: &Details, key: &str) -> Option<Value> {
    data.get(key).filter(|v| !v.is_null()).cloned()
}

/// String elements of a list field; a non-list gives an empty list.
fn str_list_field(data: &Details, key: &str) -> Vec<String> {
    match data.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// True only for JSON `true`.
fn true_field(data: &Details, key: &str) -> bool {
    matches!(data.get(key), Some(Value::Bool(true)))
}

/// A JSON integer (never a float or a boolean) that fits in `i64`.
fn int_field(data: &Details, key: &str) -> Option<i64> {
    match data.get(key) {
        Some(Value::Number(n)) if !n.is_f64() => n.as_i64(),
        _ => None,
    }
}

/// The nested `details` object of an error body, or an empty map.
fn nested_details(data: &Details) -> Details {
    match data.get("details") {
        Some(Value::Object(m)) => m.clone(),
        _ => Details::new(),
    }
}

/// Nested `details` merged under the top-level body (top level wins).
fn merged_details(data: Details) -> Details {
    let mut merged = nested_details(&data);
    for (k, v) in data {
        merged.insert(k, v);
    }
    merged
}

fn grant_candidates(data: &Details) -> Vec<GrantCandidate> {
    let Some(Value::Array(items)) = data.get("candidates") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let obj = item.as_object()?;
            Some(GrantCandidate {
                grant_id: str_field(obj, "grant_id")?,
                label: str_field(obj, "label"),
                account_identifier: str_field(obj, "account_identifier"),
                account_display_name: str_field(obj, "account_display_name"),
            })
        })
        .collect()
}

fn credential_choices(data: &Details) -> Vec<CredentialChoice> {
    let nested = nested_details(data);
    let Some(Value::Array(items)) = nested.get("credentials") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let obj = item.as_object()?;
            Some(CredentialChoice {
                credential_id: str_field(obj, "id")?,
                label: str_field(obj, "label")?,
            })
        })
        .collect()
}

/// `InsufficientScopeError` from an error body (`errors.md` §5.11).
fn insufficient_scope_from(data: Details) -> Error {
    Error::InsufficientScope {
        required: str_list_field(&data, "required"),
        granted: str_list_field(&data, "granted"),
        missing: str_list_field(&data, "missing"),
        scope_version: int_field(&data, "scope_version"),
        current_scope_version: int_field(&data, "current_scope_version"),
        scope_version_mismatch: true_field(&data, "scope_version_mismatch"),
        documentation_url: str_field(&data, "documentation_url"),
        required_any_of: true_field(&data, "required_any_of"),
        base: ErrorBase::backend(message_or(&data, msg::INSUFFICIENT_SCOPE), data, None),
    }
}

/// The `RateLimitError` for a 429 whose body is not JSON: nothing from the
/// body is kept.
fn rate_limit_non_json(r: &HttpFailure) -> Error {
    let mut details = Details::new();
    details.insert("status_code".into(), status_value(429));
    Error::RateLimit {
        base: ErrorBase::backend(msg::RATE_LIMIT_NON_JSON, details, None),
        retry_after: r
            .retry_after
            .and_then(|h| parse_retry_after(h, RATE_LIMIT_RETRY_CEILING)),
        scope: None,
        limit: None,
        window_seconds: None,
    }
}

/// Header `Retry-After` if valid, else the body's `retry_after`.
fn retry_after_header_or_body(r: &HttpFailure, data: &Details, ceiling: u64) -> Option<u64> {
    r.retry_after
        .and_then(|h| parse_retry_after(h, ceiling))
        .or_else(|| {
            data.get("retry_after")
                .and_then(|v| retry_after_from_json(v, ceiling))
        })
}

fn rate_limit_from(r: &HttpFailure, data: Details) -> Error {
    Error::RateLimit {
        retry_after: retry_after_header_or_body(r, &data, RATE_LIMIT_RETRY_CEILING),
        scope: str_field(&data, "scope"),
        limit: data
            .get("limit")
            .and_then(crate::ratelimit::json_non_negative_int),
        window_seconds: data
            .get("window_seconds")
            .and_then(crate::ratelimit::json_non_negative_int),
        base: ErrorBase::backend(message_or(&data, msg::RATE_LIMIT), data, None),
    }
}

fn quota_exceeded_from(r: &HttpFailure, data: Details) -> Error {
    Error::QuotaExceeded {
        retry_after: retry_after_header_or_body(r, &data, QUOTA_RETRY_CEILING),
        base: ErrorBase::backend(message_or(&data, msg::QUOTA_EXCEEDED), data, None),
    }
}

/// For 500/503: records a valid `Retry-After` as `retry_after_seconds`.
fn add_retry_after_seconds(r: &HttpFailure, data: &mut Details) {
    if let Some(secs) = r
        .retry_after
        .and_then(|h| parse_retry_after(h, RATE_LIMIT_RETRY_CEILING))
    {
        data.insert("retry_after_seconds".into(), Value::from(secs));
    }
}

/// A backend-class base with the message rule applied.
fn be(data: Details, fallback: &str) -> ErrorBase {
    ErrorBase::backend(message_or(&data, fallback), data, None)
}

/// An `AgentError` subclass produced by the main mapper.
fn agent_from(kind: &str, data: Details, fallback: &str, hint: Option<String>) -> Error {
    let message = message_or(&data, fallback);
    Error::agent(kind, message, data, hint).unwrap_or_else(|| unreachable_kind(kind))
}

#[cold]
fn unreachable_kind(kind: &str) -> Error {
    // Only reachable through a typo in this file; keep it loud in tests.
    debug_assert!(false, "unknown agent error kind {kind}");
    Error::sdk(format!("internal error: unknown error kind {kind}"))
}

fn grant_ids(data: &Details) -> (Option<String>, Option<String>, Option<String>) {
    (
        str_field(data, "provider_id"),
        str_field(data, "agent_id"),
        str_field(data, "app_user_id"),
    )
}

fn grant_not_found_from(data: Details) -> Error {
    let (provider_id, agent_id, app_user_id) = grant_ids(&data);
    Error::GrantNotFound {
        base: be(data, msg::GRANT_NOT_FOUND),
        provider_id,
        agent_id,
        app_user_id,
    }
}

fn no_delegated_grant_from(data: Details) -> Error {
    let (provider_id, agent_id, app_user_id) = grant_ids(&data);
    Error::NoDelegatedGrant {
        base: be(data, msg::NO_DELEGATED_GRANT),
        provider_id,
        agent_id,
        app_user_id,
    }
}

fn grant_revoked_from(data: Details) -> Error {
    Error::GrantRevoked {
        grant_id: raw_field(&data, "grant_id"),
        base: be(data, msg::GRANT_REVOKED),
    }
}

fn credential_revoked_from(data: Details) -> Error {
    Error::CredentialRevoked {
        grant_id: raw_field(&data, "grant_id"),
        provider_id: str_field(&data, "provider_id"),
        app_user_id: str_field(&data, "app_user_id"),
        base: be(data, msg::CREDENTIAL_REVOKED),
    }
}

/// `ConnectConfigError` with the whole body as details.
fn connect_config_from(data: Details, fallback: &str) -> Error {
    Error::ConnectConfig(ErrorBase::new(message_or(&data, fallback), data))
}

/// Maps a failed backend response (`errors.md` §4–§5). `None` for statuses
/// below 400, which this mapper never treats as errors.
pub fn map_backend_error(r: &HttpFailure) -> Option<Error> {
    let status = r.status;
    if status < 400 {
        return None;
    }
    let parsed = parse_json_body(r.body);
    if status == 429 && parsed.is_none() {
        return Some(rate_limit_non_json(r));
    }
    let mut data = normalise_error_body(status, parsed);
    let code = str_field(&data, "error");
    let code = code.as_deref().unwrap_or("");

    let err = match status {
        403 => map_403(code, data),
        409 => map_409(code, data),
        410 => Error::GrantDeleted(be(data, msg::GRANT_DELETED)),
        404 => match code {
            "no_delegated_grant" => no_delegated_grant_from(data),
            "caller_agent_unresolved" => agent_from(
                "AgentNotFoundError",
                data,
                msg::CALLER_AGENT_UNRESOLVED,
                None,
            ),
            "agent_not_found" => agent_from("AgentNotFoundError", data, msg::AGENT_NOT_FOUND, None),
            "secret_not_found" => connect_config_from(data, msg::SECRET_NOT_FOUND),
            _ => grant_not_found_from(data),
        },
        400 | 502 => match code {
            "caller_agent_mismatch" => agent_from(
                "CallerAgentMismatchError",
                data,
                msg::CALLER_AGENT_MISMATCH,
                None,
            ),
            "grant_revoked" => grant_revoked_from(data),
            "credential_revoked" => credential_revoked_from(data),
            "restricted_grant_requires_proxy"
            | "delegated_grant_requires_proxy"
            | "hitl_grant_requires_proxy"
            | "user_limits_require_proxy" => {
                Error::RestrictedGrantRequiresProxy(be(data, msg::PROXY_ONLY_GRANT))
            }
            _ => Error::Backend(be(data, &format!("Backend error {status}"))),
        },
        401 => {
            let lifecycle = match code {
                "invalid_key" => Some(("InvalidKeyError", msg::INVALID_KEY)),
                "key_revoked" => Some(("KeyRevokedError", msg::KEY_REVOKED)),
                "key_expired" => Some(("KeyExpiredError", msg::KEY_EXPIRED)),
                "key_rotated_grace_expired" => {
                    Some(("KeyRotationExpiredError", msg::KEY_ROTATION_EXPIRED))
                }
                "key_not_active" => Some(("KeyInactiveError", msg::KEY_INACTIVE)),
                "agent_inactive" => Some(("AgentInactiveError", msg::AGENT_INACTIVE)),
                "agent_revoked" => Some(("AgentRevokedError", msg::AGENT_REVOKED)),
                _ => None,
            };
            if let Some((kind, fallback)) = lifecycle {
                let hint = non_empty_str_field(&data, "hint");
                agent_from(kind, data, fallback, hint)
            } else if code == "jwt_validation_error" {
                Error::ReAuthRequired(be(data, msg::JWT_VALIDATION))
            } else {
                Error::Backend(be(data, msg::UNAUTHORIZED))
            }
        }
        429 => match code {
            "quota_exceeded" => quota_exceeded_from(r, data),
            "rate_limit_exceeded" => rate_limit_from(r, data),
            _ => map_other(r, code, data),
        },
        500 | 503 => {
            add_retry_after_seconds(r, &mut data);
            match code {
                "caller_agent_resolution_error" => agent_from(
                    "CallerAgentResolutionError",
                    data,
                    msg::CALLER_AGENT_RESOLUTION,
                    None,
                ),
                "app_not_found_for_key" => {
                    agent_from("KeyAppNotFoundError", data, msg::KEY_APP_NOT_FOUND, None)
                }
                _ => Error::Backend(be(data, &format!("Backend unavailable (HTTP {status})"))),
            }
        }
        _ => map_other(r, code, data),
    };
    Some(err)
}

fn map_403(code: &str, data: Details) -> Error {
    match code {
        "insufficient_scope" => insufficient_scope_from(data),
        "grant_expired" => {
            let (provider_id, agent_id, app_user_id) = grant_ids(&data);
            let message = message_or(&data, msg::GRANT_EXPIRED);
            Error::GrantExpired {
                base: ErrorBase::backend(message, merged_details(data), None),
                provider_id,
                agent_id,
                app_user_id,
            }
        }
        "grant_revoked" => grant_revoked_from(data),
        "credential_revoked" => credential_revoked_from(data),
        "restricted_grant_requires_proxy" => {
            Error::RestrictedGrantRequiresProxy(be(data, msg::RESTRICTED_GRANT))
        }
        "grant_not_delegable" => Error::GrantNotDelegable {
            detail_reason: non_empty_str_field(&data, "detail_reason"),
            base: be(data, msg::GRANT_NOT_DELEGABLE),
        },
        "scope_mismatch" => {
            let mut details = nested_details(&data);
            let grant_id = str_field(&details, "grant_id");
            let provider_id = str_field(&details, "provider_id");
            details.insert("source".into(), Value::String("backend_flag".into()));
            Error::scope_reauth_required(
                message_or(&data, msg::SCOPE_MISMATCH),
                None,
                grant_id,
                provider_id,
                None,
                details,
            )
        }
        "step_up_required" => Error::StepUpRequired {
            max_session_age_seconds: int_field(&data, "max_session_age_seconds"),
            base: be(data, msg::STEP_UP_REQUIRED),
        },
        "redact_discharge_failed" => {
            Error::RedactDischargeFailed(be(data, msg::REDACT_DISCHARGE_FAILED))
        }
        _ => {
            let policy_error = raw_field(&data, "error");
            let message = message_or(&data, msg::POLICY_DENIED);
            Error::PolicyViolation {
                base: ErrorBase::backend(message, merged_details(data), None),
                policy_error,
            }
        }
    }
}

fn map_409(code: &str, data: Details) -> Error {
    match code {
        "managed_oauth_scope_approval_required" => {
            connect_config_from(data, msg::MANAGED_OAUTH_APPROVAL)
        }
        "idp_signin_not_configured" => connect_config_from(data, msg::IDP_SIGNIN_NOT_CONFIGURED),
        "no_eligible_grants" => connect_config_from(data, msg::NO_ELIGIBLE_GRANTS),
        "binding_hosts_required" => connect_config_from(data, msg::BINDING_HOSTS_REQUIRED),
        "provider_contract_repair_required" => {
            connect_config_from(data, msg::PROVIDER_CONTRACT_REPAIR)
        }
        "token_refresh_in_progress" => Error::TokenRefreshInProgress {
            grant_id: raw_field(&data, "grant_id"),
            base: be(data, msg::TOKEN_REFRESH),
        },
        "ambiguous_grant" => Error::AmbiguousGrant {
            provider_id: str_field(&data, "provider_id"),
            account_identifiers: str_list_field(&data, "account_identifiers"),
            account_was_provided: true_field(&data, "account_was_provided"),
            app_user_ids: str_list_field(&data, "app_user_ids"),
            grant_ids: str_list_field(&data, "grant_ids"),
            candidates: grant_candidates(&data),
            candidates_truncated: true_field(&data, "candidates_truncated"),
            base: be(data, msg::AMBIGUOUS_GRANT),
        },
        "sibling_label_conflict" => Error::SiblingLabelConflict {
            label: str_field(&data, "label"),
            base: be(data, msg::SIBLING_LABEL_CONFLICT),
        },
        "credential_id_required" => Error::CredentialIdRequired {
            credentials: credential_choices(&data),
            base: be(data, msg::CREDENTIAL_ID_REQUIRED),
        },
        "end_user_credential_not_assignable" => {
            Error::EndUserCredentialNotAssignable(be(data, msg::END_USER_CREDENTIAL))
        }
        "no_delegated_grant" => no_delegated_grant_from(data),
        _ => Error::Backend(be(data, "Conflict (HTTP 409)")),
    }
}

/// §5.9: every status without its own table, and unmatched 429s.
fn map_other(r: &HttpFailure, code: &str, mut data: Details) -> Error {
    match code {
        "secret_template_mismatch" => connect_config_from(data, msg::SECRET_TEMPLATE_MISMATCH),
        "blocked_destination" => {
            if let Some(id) = r.request_id {
                data.insert("request_id".into(), Value::String(id.to_string()));
            }
            Error::BlockedDestination(ErrorBase::backend(msg::BLOCKED_DESTINATION, data, None))
        }
        _ => Error::Backend(be(
            data,
            &format!("Unexpected backend error (HTTP {})", r.status),
        )),
    }
}

/// Maps a failed response of the managed-agents namespace and `Agent.me()`
/// (`errors.md` §6.6). Unlike [`map_backend_error`] it keys on the code
/// first and only looks at the status for a few codes.
pub fn map_agents_error(r: &HttpFailure) -> Error {
    let status = r.status;
    let parsed = parse_json_body(r.body);
    if status == 429 && parsed.is_none() {
        return rate_limit_non_json(r);
    }
    let mut data = match parsed {
        Some(Value::Object(obj)) => unwrap_detail(obj),
        _ => Details::new(),
    };
    data.insert("status_code".into(), status_value(status));
    let code = str_field(&data, "error").unwrap_or_default();
    let hint = str_field(&data, "hint");
    let fallback = format!("Backend error {status}");

    if code == "insufficient_scope" {
        return insufficient_scope_from(data);
    }
    if code == "rate_limit_exceeded" {
        return rate_limit_from(r, data);
    }
    if status == 500 || status == 503 {
        add_retry_after_seconds(r, &mut data);
    }
    let kind = match (code.as_str(), status) {
        ("agent_concurrent_update", 409) => Some("AgentConcurrentUpdateError"),
        ("key_revoked", 409) => Some("KeyAlreadyRevokedError"),
        ("agent_concurrent_update", _) => None,
        ("invalid_key", _) => Some("InvalidKeyError"),
        ("agent_not_found" | "caller_agent_unresolved", _) => Some("AgentNotFoundError"),
        ("caller_agent_mismatch", _) => Some("CallerAgentMismatchError"),
        ("caller_agent_resolution_error", _) => Some("CallerAgentResolutionError"),
        ("agent_name_exists", _) => Some("AgentNameExistsError"),
        ("me_requires_agent_key", _) => Some("MeRequiresAgentKeyError"),
        ("key_revoked", _) => Some("KeyRevokedError"),
        ("key_expired", _) => Some("KeyExpiredError"),
        ("key_rotated_grace_expired", _) => Some("KeyRotationExpiredError"),
        ("key_not_active", _) => Some("KeyInactiveError"),
        ("app_not_found_for_key", _) => Some("KeyAppNotFoundError"),
        ("key_not_found", _) => Some("KeyNotFoundError"),
        ("last_active_key", _) => Some("LastActiveKeyError"),
        ("agent_key_limit_reached", _) => Some("AgentKeyLimitError"),
        ("agent_inactive", _) => Some("AgentInactiveError"),
        ("agent_revoked", _) => Some("AgentRevokedError"),
        ("idempotency_key_body_mismatch", _) => Some("IdempotencyKeyBodyMismatchError"),
        ("idempotency_key_agent_revoked", _) => Some("IdempotencyKeyAgentRevokedError"),
        ("idempotency_key_agent_inactive", _) => Some("IdempotencyKeyAgentInactiveError"),
        ("agent_cannot_mint_subagents", _) => Some("AgentCannotMintSubagentsError"),
        _ => None,
    };
    match kind {
        Some(kind) => agent_from(kind, data, &fallback, hint),
        None => Error::Backend(be(data, &fallback)),
    }
}

/// Maps a `POST /sdk/proxy` response other than 200/202, and a
/// `GET /sdk/approvals/{id}/result` response other than 200
/// (`requests.md` §12.5, `errors.md` §6.3).
pub fn map_proxy_error(r: &HttpFailure) -> Error {
    let status = r.status;
    let top = match parse_json_body(r.body) {
        Some(Value::Object(obj)) => obj,
        _ => Details::new(),
    };
    let inner = unwrap_detail(top);
    let code = str_field(&inner, "error").unwrap_or_default();
    let message = message_or(&inner, &format!("/sdk/proxy returned {status}"));
    match code.as_str() {
        "approval_denied" => return Error::approval_denied(message, None),
        "approval_expired" => return Error::approval_expired(message, None),
        "approval_execution_failed" => return Error::approval_execution_failed(message, None),
        _ => {}
    }
    match map_backend_error(r) {
        Some(err) => err.with_status_backfill(status),
        None => {
            let mut details = Details::new();
            details.insert("status_code".into(), status_value(status));
            details.insert("error".into(), Value::String(code));
            Error::backend(message, details, None)
        }
    }
}

/// Maps a non-200 `GET /sdk/approvals/{id}` response (`errors.md` §6.4):
/// always a plain `BackendError`, never a typed subclass. `path` is the
/// request path as sent (including any `?wait=`).
pub fn map_approval_status_error(path: &str, r: &HttpFailure) -> Error {
    let status = r.status;
    let data = match parse_json_body(r.body) {
        Some(Value::Object(obj)) => unwrap_detail(obj),
        _ => Details::new(),
    };
    let code = non_empty_str_field(&data, "error");
    let wire_message = non_empty_str_field(&data, "message");
    let mut message = format!("GET {path} returned {status}");
    let mut details = Details::new();
    details.insert("status_code".into(), status_value(status));
    if let Some(code) = code {
        match wire_message {
            Some(m) => message.push_str(&format!(" ({code}: {m})")),
            None => message.push_str(&format!(" ({code})")),
        }
        details.insert("error".into(), Value::String(code));
    }
    Error::backend(message, details, Some(status))
}

/// The token-path quirk (`errors.md` §6.1): a `ConnectConfigError` from the
/// mapper is re-wrapped as a `BackendError` without status. Every other
/// error is returned unchanged.
pub fn wrap_token_path_error(err: Error, grant_id: Option<&str>) -> Error {
    match err {
        Error::ConnectConfig(base) => {
            let mut details = Details::new();
            details.insert(
                "grant_id".into(),
                grant_id.map_or(Value::Null, |g| Value::String(g.to_string())),
            );
            details.insert("error".into(), Value::String(base.message.clone()));
            Error::Backend(ErrorBase {
                message: format!("Failed to retrieve token: {}", base.message),
                details,
                status_code: None,
            })
        }
        other => other,
    }
}

/// `Agent.request()` / `Agent.proxy_request()` (`errors.md` §6.2): a
/// `GrantNotFoundError` becomes an `AgentDelegationMissingError` with the
/// same details and identifiers and an explanatory message. Everything else
/// (including `NoDelegatedGrantError`) is returned unchanged.
pub fn into_agent_delegation_missing(err: Error) -> Error {
    match err {
        Error::GrantNotFound {
            base,
            provider_id,
            agent_id,
            app_user_id,
        } => Error::AgentDelegationMissing {
            base: ErrorBase {
                message: msg::AGENT_DELEGATION_MISSING.to_string(),
                ..base
            },
            provider_id,
            agent_id,
            app_user_id,
        },
        other => other,
    }
}

/// Whether `await_approval` keeps waiting after this error
/// (`requests.md` §13.4): transport errors and timeouts, and any
/// `BackendError` (or subclass) whose `details["status_code"]` is 502, 503
/// or 504. Everything else is permanent.
pub fn is_transient_approval_error(err: &Error) -> bool {
    if err.is_a("NetworkError") {
        return true;
    }
    err.is_a("BackendError")
        && matches!(
            err.details().get("status_code").and_then(Value::as_u64),
            Some(502..=504)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(status: u16, body: &str) -> HttpFailure<'_> {
        HttpFailure {
            status,
            body: body.as_bytes(),
            retry_after: None,
            request_id: None,
        }
    }

    fn map(status: u16, body: &str) -> Error {
        map_backend_error(&failure(status, body)).expect("status >= 400 maps to an error")
    }

    fn obj(v: Value) -> Details {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    // ---- hierarchy ------------------------------------------------------------

    #[test]
    fn kinds_table_has_the_64_protocol_classes_and_ours_parents_first() {
        // The protocol's 64 classes plus ResponseTooLargeError.
        assert_eq!(ERROR_KINDS.len(), 65);
        let mut seen: Vec<&str> = Vec::new();
        for (name, parent) in ERROR_KINDS {
            assert!(!seen.contains(name), "duplicate {name}");
            match parent {
                None => assert_eq!(*name, "AlterSDKError"),
                Some(p) => assert!(seen.contains(p), "{name} listed before its parent {p}"),
            }
            seen.push(name);
        }
        assert_eq!(ERROR_KINDS.iter().filter(|(_, p)| p.is_none()).count(), 1);
    }

    #[test]
    fn every_kind_constructs_and_reports_its_name() {
        for (name, parent) in ERROR_KINDS {
            let err = Error::from_kind(name, "boom", Details::new())
                .unwrap_or_else(|| panic!("{name} not constructible"));
            assert_eq!(err.kind(), *name);
            assert_eq!(parent_of(name), *parent);
            assert!(err.is_a(name));
            assert!(err.is_a("AlterSDKError"));
            if let Some(p) = parent {
                assert!(err.is_a(p));
            }
        }
        assert!(Error::from_kind("NoSuchError", "x", Details::new()).is_none());
        assert_eq!(parent_of("NoSuchError"), None);
    }

    #[test]
    fn response_too_large_names_its_cap() {
        let e = Error::response_too_large("provider", 1024, Details::new());
        assert_eq!(e.kind(), "ResponseTooLargeError");
        assert_eq!(e.attributes()["max_bytes"], 1024);
        assert_eq!(e.details()["max_bytes"], 1024);
        assert_eq!(e.details()["source"], "provider");
        assert!(e.message().contains("max_response_bytes (1024 bytes)"));
        assert!(
            !e.is_a("NetworkError"),
            "a cut body is never retried as transient"
        );
        let b = Error::response_too_large("backend", 8, Details::new());
        assert!(b.message().contains("8-byte limit for backend answers"));
        let rebuilt = Error::from_kind("ResponseTooLargeError", "m", b.details().clone()).unwrap();
        assert_eq!(rebuilt.attributes()["max_bytes"], 8);
    }

    #[test]
    fn is_a_follows_the_documented_tree() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "GrantExpiredError",
                &["ReAuthRequiredError", "BackendError", "AlterSDKError"],
                &["GrantNotFoundError", "ProviderAPIError"],
            ),
            (
                "AgentDelegationMissingError",
                &["GrantNotFoundError", "BackendError"],
                &["AgentError", "ReAuthRequiredError"],
            ),
            (
                "KeyAlreadyRevokedError",
                &["AgentError", "BackendError"],
                &["KeyRevokedError"],
            ),
            ("TimeoutError", &["NetworkError"], &["BackendError"]),
            (
                "ConnectConfigError",
                &["ConnectFlowError", "AlterSDKError"],
                &["BackendError"],
            ),
            (
                "ScopeReauthRequiredError",
                &["ProviderAPIError"],
                &["BackendError", "ReAuthRequiredError"],
            ),
            (
                "StepUpRequiredError",
                &["PolicyViolationError", "BackendError"],
                &["AgentError"],
            ),
            (
                "ApprovalTimeoutError",
                &["ApprovalError"],
                &["NetworkError", "TimeoutError"],
            ),
            (
                "GrantDeletedError",
                &["ReAuthRequiredError"],
                &["GrantNotFoundError"],
            ),
        ];
        for (kind, yes, no) in cases {
            let err = Error::from_kind(kind, "m", Details::new()).unwrap();
            for k in *yes {
                assert!(err.is_a(k), "{kind} should be a {k}");
            }
            for k in *no {
                assert!(!err.is_a(k), "{kind} should not be a {k}");
            }
        }
    }

    #[test]
    fn display_is_exactly_the_message_and_never_details() {
        let mut details = Details::new();
        details.insert("token".into(), json!("sekrit-value"));
        details.insert("status_code".into(), json!(500));
        for (name, _) in ERROR_KINDS {
            let err = Error::from_kind(name, "the message", details.clone()).unwrap();
            let shown = err.to_string();
            assert!(!shown.contains("sekrit"), "{name} leaked details");
            if *name == "MemoryIsolationError" {
                continue; // rendered by its own constructor, checked below
            }
            assert_eq!(shown, "the message", "{name}");
            assert_eq!(err.message(), "the message");
        }
        let mem = Error::memory_isolation("memory_user_required", "a user is needed");
        assert_eq!(mem.to_string(), "memory_user_required: a user is needed");
        assert_eq!(mem.attributes()["code"], json!("memory_user_required"));
        // A mapped error whose body carries extra fields still shows only the message.
        let err = map(
            403,
            r#"{"error":"x","message":"nope","details":{"k":"hidden"}}"#,
        );
        assert_eq!(err.to_string(), "nope");
    }

    // ---- constructors -----------------------------------------------------------

    #[test]
    fn constructors_set_the_documented_fields() {
        let closed = Error::closed();
        assert_eq!(closed.kind(), "AlterSDKError");
        assert_eq!(
            closed.to_string(),
            "SDK instance has been closed. Create a new SDK client (App / Agent) to make requests."
        );
        assert_eq!(Error::value("bad").kind(), "AlterValueError");

        let d = Error::approval_denied("no", Some("ap-1".into()));
        assert_eq!(d.kind(), "ApprovalDeniedError");
        assert_eq!(d.approval_id(), Some("ap-1"));
        assert_eq!(d.details(), &obj(json!({"approval_id": "ap-1"})));
        assert_eq!(d.attributes(), obj(json!({"approval_id": "ap-1"})));
        let e = Error::approval_expired("", None);
        assert!(e.details().is_empty());
        assert_eq!(e.message(), "");
        assert_eq!(
            Error::approval_timeout("t", None).kind(),
            "ApprovalTimeoutError"
        );
        assert_eq!(
            Error::approval_execution_failed("f", None).kind(),
            "ApprovalExecutionFailedError"
        );

        let n = Error::network("down", obj(json!({"base_url": "http://x"})));
        assert_eq!(n.kind(), "NetworkError");
        assert_eq!(n.status_code(), None);
        assert_eq!(
            Error::timeout("slow", Details::new()).kind(),
            "TimeoutError"
        );

        // status from details when not given; booleans are not integers.
        let b = Error::backend("b", obj(json!({"status_code": 418})), None);
        assert_eq!(b.status_code(), Some(418));
        let b = Error::backend("b", obj(json!({"status_code": true})), None);
        assert_eq!(b.status_code(), None);
        let b = Error::backend("b", obj(json!({"status_code": 418})), Some(500));
        assert_eq!(b.status_code(), Some(500));
        assert_eq!(b.attributes(), obj(json!({"status_code": 500})));

        // An empty AgentError message falls back to the class code.
        let a = Error::agent("KeyNotFoundError", "", Details::new(), None).unwrap();
        assert_eq!(a.to_string(), "key_not_found");
        assert!(Error::agent("BackendError", "x", Details::new(), None).is_none());

        let p = Error::provider_api(
            "Provider API returned error 500",
            500,
            Some("".into()),
            Details::new(),
        );
        assert_eq!(p.status_code(), Some(500));
        assert_eq!(
            p.attributes(),
            obj(json!({"status_code": 500, "response_body": ""}))
        );
        let u = Error::provider_unauthorized("u", None, Some("g".into()), None, Details::new());
        assert_eq!(u.status_code(), Some(401));
        assert_eq!(u.kind(), "ProviderUnauthorizedError");

        let f =
            Error::server_feature_unsupported("old", "managed_secret_connect_provider", Some(422));
        assert_eq!(
            f.details(),
            &obj(json!({"feature": "managed_secret_connect_provider", "status_code": 422}))
        );
        assert_eq!(f.status_code(), Some(422));
    }

    #[test]
    fn status_backfill_only_adds_a_missing_key() {
        let e = Error::connect_config("c", Details::new()).with_status_backfill(409);
        assert_eq!(e.details()["status_code"], json!(409));
        let e =
            Error::backend("b", obj(json!({"status_code": 500})), None).with_status_backfill(409);
        assert_eq!(e.details()["status_code"], json!(500));
    }

    #[test]
    fn agent_attributes_include_hint_and_fixed_code() {
        let agent_kinds: Vec<&str> = ERROR_KINDS
            .iter()
            .filter(|(n, _)| *n == "AgentError" || parent_of(n) == Some("AgentError"))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(agent_kinds.len(), AGENT_ERROR_CODES.len());
        for kind in agent_kinds {
            let e = Error::agent(kind, "m", Details::new(), Some("h".into())).unwrap();
            let attrs = e.attributes();
            assert_eq!(attrs["hint"], json!("h"));
            assert_eq!(attrs["code"], json!(agent_code_of(kind).unwrap()));
            assert_eq!(e.hint(), Some("h"));
        }
        assert_eq!(agent_code_of("KeyAlreadyRevokedError"), Some("key_revoked"));
        assert_eq!(
            agent_code_of("KeyRotationExpiredError"),
            Some("key_rotated_grace_expired")
        );
        assert_eq!(agent_code_of("GrantNotFoundError"), None);
    }

    // ---- body normalisation (§4) ------------------------------------------------------

    #[test]
    fn non_json_bodies_get_a_synthetic_message_and_lose_the_body() {
        for body in ["<html>bad gateway</html>", "", "{not json"] {
            let e = map(418, body);
            assert_eq!(e.kind(), "BackendError");
            assert_eq!(e.message(), "Backend returned a non-JSON error (HTTP 418)");
            assert_eq!(
                e.details(),
                &obj(
                    json!({"message": "Backend returned a non-JSON error (HTTP 418)", "status_code": 418})
                )
            );
            assert_eq!(e.status_code(), Some(418));
        }
        // A non-JSON 403 is a policy violation without a code.
        let e = map(403, "<html/>");
        assert_eq!(e.kind(), "PolicyViolationError");
        assert_eq!(e.message(), "Backend returned a non-JSON error (HTTP 403)");
        assert_eq!(e.attributes()["policy_error"], Value::Null);
    }

    #[test]
    fn oversized_error_bodies_are_not_quoted() {
        let pad = "p".repeat(MAX_ERROR_BODY_BYTES);
        let body = json!({"error": "grant_expired", "message": "m", "pad": pad}).to_string();
        let e = map(403, &body);
        assert_eq!(e.status_code(), Some(403));
        assert!(e.details().get("pad").is_none());
        let quoted = serde_json::to_string(e.details()).unwrap();
        assert!(quoted.len() < 200, "{quoted}");
        // Just under the bound the body is read as usual.
        let small = json!({"error": "grant_expired", "message": "m"}).to_string();
        assert_eq!(map(403, &small).kind(), "GrantExpiredError");
    }

    #[test]
    fn json_non_objects_become_unknown_error() {
        let e = map(400, r#"["a", 1]"#);
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Unknown error");
        assert_eq!(
            e.details(),
            &obj(json!({"message": "Unknown error", "status_code": 400}))
        );
        assert_eq!(map(418, "42").message(), "Unknown error");
    }

    #[test]
    fn detail_envelope_is_unwrapped_and_status_written() {
        let e = map(
            404,
            r#"{"detail":{"error":"agent_not_found","message":"who?"},"sibling":1}"#,
        );
        assert_eq!(e.kind(), "AgentNotFoundError");
        assert_eq!(e.message(), "who?");
        assert_eq!(
            e.details(),
            &obj(json!({"error": "agent_not_found", "message": "who?", "status_code": 404}))
        );
        // A string or list `detail` is not an envelope.
        let e = map(
            422,
            r#"{"detail":[{"type":"missing","loc":["body","name"]}]}"#,
        );
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Unexpected backend error (HTTP 422)");
        assert_eq!(
            e.details()["detail"],
            json!([{"type":"missing","loc":["body","name"]}])
        );
        let e = map(400, r#"{"detail":"plain","status_code":999}"#);
        assert_eq!(
            e.details(),
            &obj(json!({"detail": "plain", "status_code": 400}))
        );
        assert_eq!(e.status_code(), Some(400));
        // Empty or non-string messages use the fallback.
        assert_eq!(map(400, r#"{"message":""}"#).message(), "Backend error 400");
        assert_eq!(map(400, r#"{"message":7}"#).message(), "Backend error 400");
    }

    #[test]
    fn statuses_below_400_are_not_errors() {
        for s in [200, 204, 302, 399] {
            assert!(map_backend_error(&failure(s, "{}")).is_none());
        }
    }

    // ---- 403 ------------------------------------------------------------------------

    #[test]
    fn dispatch_403() {
        let e = map(
            403,
            r#"{"error":"grant_expired","provider_id":"google","agent_id":5,"details":{"expired_at":"t","provider_id":"inner"}}"#,
        );
        assert_eq!(e.kind(), "GrantExpiredError");
        assert_eq!(e.message(), "Grant expired per TTL policy");
        assert_eq!(
            e.attributes(),
            obj(
                json!({"status_code": 403, "provider_id": "google", "agent_id": null, "app_user_id": null})
            )
        );
        // nested details merged under the top level, top level wins
        assert_eq!(e.details()["expired_at"], json!("t"));
        assert_eq!(e.details()["provider_id"], json!("google"));
        assert_eq!(e.details()["status_code"], json!(403));

        let e = map(403, r#"{"error":"grant_revoked","grant_id":123}"#);
        assert_eq!(e.kind(), "GrantRevokedError");
        assert_eq!(
            e.message(),
            "Grant has been revoked. User must re-authorize."
        );
        assert_eq!(e.attributes()["grant_id"], json!(123)); // kept as sent

        let e = map(
            403,
            r#"{"error":"credential_revoked","grant_id":"g1","provider_id":1,"app_user_id":"u"}"#,
        );
        assert_eq!(e.kind(), "CredentialRevokedError");
        assert_eq!(
            e.message(),
            "Underlying OAuth connection has been revoked. User must re-authorize."
        );
        assert_eq!(
            e.attributes(),
            obj(
                json!({"status_code": 403, "grant_id": "g1", "provider_id": null, "app_user_id": "u"})
            )
        );

        let e = map(403, r#"{"error":"restricted_grant_requires_proxy"}"#);
        assert_eq!(e.kind(), "RestrictedGrantRequiresProxyError");
        assert!(e.message().contains("proxy_request()"));

        let e = map(
            403,
            r#"{"error":"grant_not_delegable","detail_reason":"ceiling_off"}"#,
        );
        assert_eq!(e.kind(), "GrantNotDelegableError");
        assert_eq!(e.attributes()["detail_reason"], json!("ceiling_off"));
        let e = map(403, r#"{"error":"grant_not_delegable","detail_reason":""}"#);
        assert_eq!(e.attributes()["detail_reason"], Value::Null);

        let e = map(
            403,
            r#"{"error":"scope_mismatch","message":"","details":{"grant_id":"g","provider_id":"p","x":1}}"#,
        );
        assert_eq!(e.kind(), "ScopeReauthRequiredError");
        assert!(e.is_a("ProviderAPIError"));
        assert_eq!(e.message(), "Grant is missing required scopes");
        assert_eq!(e.status_code(), Some(403));
        assert_eq!(
            e.details(),
            &obj(json!({"grant_id": "g", "provider_id": "p", "x": 1, "source": "backend_flag"}))
        );
        assert_eq!(
            e.attributes(),
            obj(
                json!({"status_code": 403, "response_body": null, "grant_id": "g", "provider_id": "p", "missing_scopes": null})
            )
        );
        let e = map(
            403,
            r#"{"error":"scope_mismatch","details":{"grant_id":9}}"#,
        );
        assert_eq!(e.attributes()["grant_id"], Value::Null);

        let e = map(
            403,
            r#"{"error":"step_up_required","max_session_age_seconds":300}"#,
        );
        assert_eq!(e.kind(), "StepUpRequiredError");
        assert_eq!(e.attributes()["max_session_age_seconds"], json!(300));
        assert_eq!(e.attributes()["policy_error"], json!("step_up_required"));
        for bad in ["true", "300.0", "\"300\""] {
            let e = map(
                403,
                &format!(r#"{{"error":"step_up_required","max_session_age_seconds":{bad}}}"#),
            );
            assert_eq!(
                e.attributes()["max_session_age_seconds"],
                Value::Null,
                "{bad}"
            );
        }

        let e = map(403, r#"{"error":"redact_discharge_failed"}"#);
        assert_eq!(e.kind(), "RedactDischargeFailedError");
        assert_eq!(
            e.attributes()["policy_error"],
            json!("redact_discharge_failed")
        );

        let e = map(
            403,
            r#"{"error":"agent_scope_not_allowed","message":"not for you","details":{"rule":"r1"}}"#,
        );
        assert_eq!(e.kind(), "PolicyViolationError");
        assert_eq!(e.message(), "not for you");
        assert_eq!(
            e.attributes()["policy_error"],
            json!("agent_scope_not_allowed")
        );
        assert_eq!(e.details()["rule"], json!("r1"));
        let e = map(403, "{}");
        assert_eq!(e.message(), "Access denied by policy");
        assert_eq!(e.attributes()["policy_error"], Value::Null);
    }

    #[test]
    fn insufficient_scope_normalisation() {
        let e = map(
            403,
            r#"{"error":"insufficient_scope","required":["a",1,"b"],"granted":"a","missing":["b"],
                "scope_version":3,"current_scope_version":true,"scope_version_mismatch":"true",
                "documentation_url":"https://d","required_any_of":true}"#,
        );
        assert_eq!(e.kind(), "InsufficientScopeError");
        assert_eq!(e.message(), "Insufficient scope");
        assert_eq!(
            e.attributes(),
            obj(json!({
                "status_code": 403,
                "required": ["a", "b"],
                "granted": [],
                "missing": ["b"],
                "scope_version": 3,
                "current_scope_version": null,
                "scope_version_mismatch": false,
                "documentation_url": "https://d",
                "required_any_of": true,
                "required_scopes": ["a", "b"],
                "granted_scopes": [],
                "docs_url": "https://d"
            }))
        );
        assert_eq!(e.details()["granted"], json!("a")); // whole body kept
        let e = map(
            403,
            r#"{"error":"insufficient_scope","scope_version":2.0,"documentation_url":5}"#,
        );
        assert_eq!(e.attributes()["scope_version"], Value::Null);
        assert_eq!(e.attributes()["documentation_url"], Value::Null);
        // Only 403 reaches it in the main mapper.
        assert_eq!(
            map(400, r#"{"error":"insufficient_scope"}"#).kind(),
            "BackendError"
        );
    }

    // ---- 409 ------------------------------------------------------------------------

    #[test]
    fn dispatch_409() {
        for code in [
            "managed_oauth_scope_approval_required",
            "idp_signin_not_configured",
            "no_eligible_grants",
            "binding_hosts_required",
            "provider_contract_repair_required",
        ] {
            let body =
                format!(r#"{{"error":"{code}","details":{{"reason":"r"}},"retryable":false}}"#);
            let e = map(409, &body);
            assert_eq!(e.kind(), "ConnectConfigError", "{code}");
            assert!(!e.is_a("BackendError"));
            assert_eq!(e.status_code(), None);
            assert_eq!(e.details()["details"], json!({"reason": "r"}));
            assert_eq!(e.details()["retryable"], json!(false));
            assert!(!e.message().is_empty());
        }
        assert_eq!(
            map(409, r#"{"error":"managed_oauth_scope_approval_required"}"#).message(),
            "The requested permissions require managed OAuth approval."
        );
        assert_eq!(
            map(409, r#"{"error":"no_eligible_grants"}"#).message(),
            "The user has no managed-secret grant this agent can be delegated from."
        );

        let e = map(
            409,
            r#"{"error":"token_refresh_in_progress","grant_id":"g"}"#,
        );
        assert_eq!(e.kind(), "TokenRefreshInProgressError");
        assert_eq!(
            e.message(),
            "Token refresh in progress. Retry after a short delay."
        );
        assert_eq!(e.attributes()["grant_id"], json!("g"));

        let e = map(
            409,
            r#"{"error":"ambiguous_grant","provider_id":"google","account_identifiers":["a@x",3],
                "account_was_provided":1,"app_user_ids":"u","grant_ids":["g1","g2"],
                "candidates":[{"grant_id":"g1","label":"Work","account_identifier":7},
                              {"label":"no id"},"junk",{"grant_id":"g2","account_display_name":"A"}],
                "candidates_truncated":true}"#,
        );
        assert_eq!(e.kind(), "AmbiguousGrantError");
        assert_eq!(
            e.message(),
            "JWT identity resolved to multiple grants. Pass the 'account' parameter to disambiguate."
        );
        match &e {
            Error::AmbiguousGrant {
                provider_id,
                account_identifiers,
                account_was_provided,
                app_user_ids,
                grant_ids,
                candidates,
                candidates_truncated,
                ..
            } => {
                assert_eq!(provider_id.as_deref(), Some("google"));
                assert_eq!(account_identifiers, &["a@x"]);
                assert!(!account_was_provided);
                assert!(app_user_ids.is_empty());
                assert_eq!(grant_ids, &["g1", "g2"]);
                assert!(candidates_truncated);
                assert_eq!(
                    candidates,
                    &[
                        GrantCandidate {
                            grant_id: "g1".into(),
                            label: Some("Work".into()),
                            account_identifier: None,
                            account_display_name: None,
                        },
                        GrantCandidate {
                            grant_id: "g2".into(),
                            label: None,
                            account_identifier: None,
                            account_display_name: Some("A".into()),
                        },
                    ]
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            e.attributes()["candidates"],
            json!([
                {"grant_id": "g1", "label": "Work", "account_identifier": null, "account_display_name": null},
                {"grant_id": "g2", "label": null, "account_identifier": null, "account_display_name": "A"}
            ])
        );

        let e = map(409, r#"{"error":"sibling_label_conflict","label":"work"}"#);
        assert_eq!(e.kind(), "SiblingLabelConflictError");
        assert_eq!(e.attributes()["label"], json!("work"));
        let e = map(409, r#"{"error":"sibling_label_conflict","label":1}"#);
        assert_eq!(e.attributes()["label"], Value::Null);

        let e = map(
            409,
            r#"{"error":"credential_id_required","details":{"credentials":[
                {"id":"c1","label":"Prod"},{"id":"c2"},{"id":3,"label":"x"},{"id":"c4","label":"Dev"}]}}"#,
        );
        assert_eq!(e.kind(), "CredentialIdRequiredError");
        assert_eq!(
            e.attributes()["credentials"],
            json!([{"credential_id":"c1","label":"Prod"},{"credential_id":"c4","label":"Dev"}])
        );

        assert_eq!(
            map(409, r#"{"error":"end_user_credential_not_assignable"}"#).kind(),
            "EndUserCredentialNotAssignableError"
        );

        let e = map(
            409,
            r#"{"error":"no_delegated_grant","provider_id":"p","agent_id":"a"}"#,
        );
        assert_eq!(e.kind(), "NoDelegatedGrantError");
        assert_eq!(
            e.message(),
            "Agent has no active delegation or managed-secret grant for this provider."
        );
        assert_eq!(e.attributes()["agent_id"], json!("a"));

        let e = map(409, r#"{"error":"something_new"}"#);
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Conflict (HTTP 409)");
        assert_eq!(map(409, "oops").kind(), "BackendError");
    }

    // ---- 410, 404 ----------------------------------------------------------------------

    #[test]
    fn dispatch_410_and_404() {
        for body in ["", r#"{"error":"anything"}"#, "[]"] {
            let e = map(410, body);
            assert_eq!(e.kind(), "GrantDeletedError");
            assert!(e.is_a("ReAuthRequiredError"));
        }
        assert_eq!(
            map(410, r#"{"error":"gone"}"#).message(),
            "Grant has been deleted. A new grant_id will be issued on re-authorization."
        );

        let e = map(404, r#"{"error":"no_delegated_grant"}"#);
        assert_eq!(e.kind(), "NoDelegatedGrantError");
        let e = map(404, r#"{"error":"caller_agent_unresolved"}"#);
        assert_eq!(e.kind(), "AgentNotFoundError");
        assert_eq!(
            e.message(),
            "caller does not name an active managed agent for this app"
        );
        assert_eq!(e.details()["error"], json!("caller_agent_unresolved"));
        let e = map(
            404,
            r#"{"error":"agent_not_found","hint":"main mapper drops it"}"#,
        );
        assert_eq!(e.kind(), "AgentNotFoundError");
        assert_eq!(
            e.message(),
            "No active managed agent matches the requested agent in this app"
        );
        assert_eq!(e.hint(), None);
        let e = map(404, r#"{"error":"secret_not_found"}"#);
        assert_eq!(e.kind(), "ConnectConfigError");
        assert_eq!(
            e.message(),
            "No active managed-secret provider of this app has the requested slug."
        );
        for body in [
            r#"{"error":"grant_not_found","provider_id":"p","app_user_id":"u","agent_id":null}"#,
            r#"{"error":"provider_spec_not_found"}"#,
            "not json",
        ] {
            let e = map(404, body);
            assert_eq!(e.kind(), "GrantNotFoundError", "{body}");
        }
        let e = map(
            404,
            r#"{"error":"grant_not_found","provider_id":"p","app_user_id":"u"}"#,
        );
        assert_eq!(e.message(), "OAuth grant not found for the given grant_id");
        assert_eq!(
            e.attributes(),
            obj(
                json!({"status_code": 404, "provider_id": "p", "agent_id": null, "app_user_id": "u"})
            )
        );
    }

    // ---- 400 / 502 -------------------------------------------------------------------------

    #[test]
    fn dispatch_400_and_502() {
        for status in [400, 502] {
            let e = map(status, r#"{"error":"caller_agent_mismatch"}"#);
            assert_eq!(e.kind(), "CallerAgentMismatchError");
            assert_eq!(
                e.message(),
                "Caller agent identity does not match the API key."
            );
            assert_eq!(
                map(status, r#"{"error":"grant_revoked"}"#).kind(),
                "GrantRevokedError"
            );
            assert_eq!(
                map(status, r#"{"error":"credential_revoked"}"#).kind(),
                "CredentialRevokedError"
            );
            for code in [
                "restricted_grant_requires_proxy",
                "delegated_grant_requires_proxy",
                "hitl_grant_requires_proxy",
                "user_limits_require_proxy",
            ] {
                let e = map(status, &format!(r#"{{"error":"{code}"}}"#));
                assert_eq!(e.kind(), "RestrictedGrantRequiresProxyError");
                assert_eq!(e.details()["error"], json!(code));
            }
            let e = map(status, r#"{"error":"constraint_not_narrowing"}"#);
            assert_eq!(e.kind(), "BackendError");
            assert_eq!(e.message(), format!("Backend error {status}"));
        }
        // the same code on another status is not special
        assert_eq!(
            map(422, r#"{"error":"caller_agent_mismatch"}"#).kind(),
            "BackendError"
        );
    }

    // ---- 401 ------------------------------------------------------------------------------

    #[test]
    fn dispatch_401() {
        let rows = [
            ("invalid_key", "InvalidKeyError", "Invalid API key"),
            ("key_revoked", "KeyRevokedError", "API key has been revoked"),
            ("key_expired", "KeyExpiredError", "API key has expired"),
            (
                "key_rotated_grace_expired",
                "KeyRotationExpiredError",
                "API key rotation grace period has expired",
            ),
            (
                "key_not_active",
                "KeyInactiveError",
                "API key is not active",
            ),
            ("agent_inactive", "AgentInactiveError", "Agent is inactive"),
            ("agent_revoked", "AgentRevokedError", "Agent is revoked"),
        ];
        for (code, kind, fallback) in rows {
            let e = map(401, &format!(r#"{{"error":"{code}","hint":"rotate it"}}"#));
            assert_eq!(e.kind(), kind);
            assert_eq!(e.message(), fallback);
            assert_eq!(e.hint(), Some("rotate it"));
            assert_eq!(e.status_code(), Some(401));
            // an empty or non-string hint is dropped by the main mapper
            let e = map(401, &format!(r#"{{"error":"{code}","hint":""}}"#));
            assert_eq!(e.hint(), None);
            let e = map(
                401,
                &format!(r#"{{"error":"{code}","hint":5,"message":"m"}}"#),
            );
            assert_eq!(e.hint(), None);
            assert_eq!(e.message(), "m");
        }
        let e = map(401, r#"{"error":"jwt_validation_error"}"#);
        assert_eq!(e.kind(), "ReAuthRequiredError");
        assert_eq!(e.message(), "user_token validation failed");
        for body in [r#"{"error":"bad_signature"}"#, "nope"] {
            let e = map(401, body);
            assert_eq!(e.kind(), "BackendError");
        }
        assert_eq!(
            map(401, r#"{"error":"bad_signature"}"#).message(),
            "Unauthorized \u{2014} check your API key"
        );
    }

    // ---- 429 --------------------------------------------------------------------------------

    fn with_retry<'a>(status: u16, body: &'a str, retry: Option<&'a str>) -> HttpFailure<'a> {
        HttpFailure {
            status,
            body: body.as_bytes(),
            retry_after: retry,
            request_id: None,
        }
    }

    #[test]
    fn non_json_429_is_a_bare_rate_limit() {
        let e =
            map_backend_error(&with_retry(429, "<html>slow down</html>", Some(" 007 "))).unwrap();
        assert_eq!(e.kind(), "RateLimitError");
        assert_eq!(
            e.message(),
            "Rate limited by an intermediary (HTTP 429 with a non-JSON body); retry after the indicated delay."
        );
        assert_eq!(e.details(), &obj(json!({"status_code": 429})));
        assert_eq!(
            e.attributes(),
            obj(
                json!({"status_code": 429, "retry_after": 7, "scope": null, "limit": null, "window_seconds": null})
            )
        );
        let e = map_backend_error(&with_retry(429, "", Some("99999999"))).unwrap();
        assert_eq!(e.retry_after(), Some(3600));
        let e =
            map_backend_error(&with_retry(429, "", Some("Wed, 21 Oct 2015 07:28:00 GMT"))).unwrap();
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn quota_exceeded_retry_after_sources() {
        let body = r#"{"error":"quota_exceeded","retry_after":120}"#;
        let rows: &[(Option<&str>, &str, Option<u64>)] = &[
            (Some("30"), body, Some(30)),  // header wins
            (None, body, Some(120)),       // body fallback
            (Some("-5"), body, Some(120)), // invalid header ignored
            (Some("1.5"), body, Some(120)),
            (Some("Wed, 21 Oct 2015 07:28:00 GMT"), body, Some(120)),
            (Some("99999999999999999999999"), body, Some(2_678_400)), // clamped
            (
                None,
                r#"{"error":"quota_exceeded","retry_after":9999999}"#,
                Some(2_678_400),
            ),
            (
                None,
                r#"{"error":"quota_exceeded","retry_after":60.0}"#,
                Some(60),
            ),
            (
                None,
                r#"{"error":"quota_exceeded","retry_after":60.5}"#,
                None,
            ),
            (
                None,
                r#"{"error":"quota_exceeded","retry_after":true}"#,
                None,
            ),
            (
                None,
                r#"{"error":"quota_exceeded","retry_after":"60"}"#,
                None,
            ),
            (None, r#"{"error":"quota_exceeded","retry_after":-1}"#, None),
            (None, r#"{"error":"quota_exceeded"}"#, None),
        ];
        for (header, body, expected) in rows {
            let e = map_backend_error(&with_retry(429, body, *header)).unwrap();
            assert_eq!(e.kind(), "QuotaExceededError");
            assert_eq!(e.retry_after(), *expected, "{header:?} {body}");
        }
        let e = map(429, r#"{"error":"quota_exceeded"}"#);
        assert_eq!(
            e.message(),
            "Request quota exceeded for the current window."
        );
    }

    #[test]
    fn rate_limit_exceeded_fields() {
        let e = map_backend_error(&with_retry(
            429,
            r#"{"error":"rate_limit_exceeded","retry_after":7200,"scope":"api_key","limit":60.0,"window_seconds":60}"#,
            None,
        ))
        .unwrap();
        assert_eq!(e.kind(), "RateLimitError");
        assert_eq!(
            e.message(),
            "Rate limit exceeded \u{2014} retry after the window resets."
        );
        assert_eq!(
            e.attributes(),
            obj(
                json!({"status_code": 429, "retry_after": 3600, "scope": "api_key", "limit": 60, "window_seconds": 60})
            )
        );
        for bad in ["true", "1.5", "\"60\"", "-1", "null"] {
            let body = format!(
                r#"{{"error":"rate_limit_exceeded","scope":3,"limit":{bad},"window_seconds":{bad}}}"#
            );
            let a = map(429, &body).attributes();
            assert_eq!(a["limit"], Value::Null, "{bad}");
            assert_eq!(a["window_seconds"], Value::Null, "{bad}");
            assert_eq!(a["scope"], Value::Null);
        }
        let e = map_backend_error(&with_retry(
            429,
            r#"{"error":"rate_limit_exceeded","retry_after":5}"#,
            Some("0012"),
        ))
        .unwrap();
        assert_eq!(e.retry_after(), Some(12));
    }

    #[test]
    fn other_json_429_is_a_plain_backend_error() {
        let e = map_backend_error(&with_retry(
            429,
            r#"{"error":"billing_quota_exceeded","retry_after":5}"#,
            Some("10"),
        ))
        .unwrap();
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Unexpected backend error (HTTP 429)");
        assert_eq!(e.retry_after(), None);
        assert!(!e.details().contains_key("retry_after_seconds"));
        let e = map(429, r#"[1]"#);
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Unknown error");
    }

    // ---- 500 / 503 and others ---------------------------------------------------------------------

    #[test]
    fn dispatch_500_and_503() {
        for status in [500, 503] {
            let e = map_backend_error(&with_retry(status, "", Some("120"))).unwrap();
            assert_eq!(e.kind(), "BackendError");
            // non-JSON: the synthetic message wins over "Backend unavailable"
            assert_eq!(
                e.message(),
                format!("Backend returned a non-JSON error (HTTP {status})")
            );
            assert_eq!(e.details()["retry_after_seconds"], json!(120));

            let e = map_backend_error(&with_retry(status, "{}", Some("86400"))).unwrap();
            assert_eq!(e.message(), format!("Backend unavailable (HTTP {status})"));
            assert_eq!(e.details()["retry_after_seconds"], json!(3600));

            let e = map_backend_error(&with_retry(status, "{}", Some("soon"))).unwrap();
            assert!(!e.details().contains_key("retry_after_seconds"));

            let e = map(status, r#"{"error":"caller_agent_resolution_error"}"#);
            assert_eq!(e.kind(), "CallerAgentResolutionError");
            assert_eq!(e.message(), "Managed-agent identity could not be resolved");
            let e = map(status, r#"{"error":"app_not_found_for_key"}"#);
            assert_eq!(e.kind(), "KeyAppNotFoundError");
            assert_eq!(e.message(), "App not found for API key");
        }
        // 502 does not read Retry-After
        let e = map_backend_error(&with_retry(502, "{}", Some("5"))).unwrap();
        assert!(!e.details().contains_key("retry_after_seconds"));
    }

    #[test]
    fn dispatch_other_statuses() {
        let f = HttpFailure {
            status: 422,
            body: br#"{"error":"blocked_destination","message":"10.0.0.1 is private"}"#,
            retry_after: None,
            request_id: Some("req-42"),
        };
        let e = map_backend_error(&f).unwrap();
        assert_eq!(e.kind(), "BlockedDestinationError");
        assert_eq!(
            e.message(),
            "Destination is not permitted. Check the provider host and URL."
        );
        assert_eq!(e.details()["request_id"], json!("req-42"));
        assert_eq!(e.details()["error"], json!("blocked_destination"));
        assert_eq!(e.details()["status_code"], json!(422));
        let e = map(422, r#"{"error":"blocked_destination"}"#);
        assert!(!e.details().contains_key("request_id"));
        // only recognised in the catch-all branch
        assert_eq!(
            map(403, r#"{"error":"blocked_destination"}"#).kind(),
            "PolicyViolationError"
        );
        assert_eq!(
            map(400, r#"{"error":"blocked_destination"}"#).kind(),
            "BackendError"
        );

        let e = map(422, r#"{"error":"secret_template_mismatch"}"#);
        assert_eq!(e.kind(), "ConnectConfigError");

        let e = map(
            504,
            r#"{"error":"gateway_timeout","timeout_reason":"upstream_timeout"}"#,
        );
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Unexpected backend error (HTTP 504)");
        assert_eq!(e.details()["timeout_reason"], json!("upstream_timeout"));
        assert_eq!(e.status_code(), Some(504));
        let e = map(402, r#"{"message":"pay up"}"#);
        assert_eq!(e.message(), "pay up");
    }

    // ---- agents mapper (§6.6) --------------------------------------------------------------------

    fn agents(status: u16, body: &str) -> Error {
        map_agents_error(&failure(status, body))
    }

    #[test]
    fn agents_mapper_code_table() {
        let rows = [
            ("invalid_key", "InvalidKeyError"),
            ("agent_not_found", "AgentNotFoundError"),
            ("caller_agent_unresolved", "AgentNotFoundError"),
            ("caller_agent_mismatch", "CallerAgentMismatchError"),
            (
                "caller_agent_resolution_error",
                "CallerAgentResolutionError",
            ),
            ("agent_name_exists", "AgentNameExistsError"),
            ("me_requires_agent_key", "MeRequiresAgentKeyError"),
            ("key_revoked", "KeyRevokedError"),
            ("key_expired", "KeyExpiredError"),
            ("key_rotated_grace_expired", "KeyRotationExpiredError"),
            ("key_not_active", "KeyInactiveError"),
            ("app_not_found_for_key", "KeyAppNotFoundError"),
            ("key_not_found", "KeyNotFoundError"),
            ("last_active_key", "LastActiveKeyError"),
            ("agent_key_limit_reached", "AgentKeyLimitError"),
            ("agent_inactive", "AgentInactiveError"),
            ("agent_revoked", "AgentRevokedError"),
            (
                "idempotency_key_body_mismatch",
                "IdempotencyKeyBodyMismatchError",
            ),
            (
                "idempotency_key_agent_revoked",
                "IdempotencyKeyAgentRevokedError",
            ),
            (
                "idempotency_key_agent_inactive",
                "IdempotencyKeyAgentInactiveError",
            ),
            (
                "agent_cannot_mint_subagents",
                "AgentCannotMintSubagentsError",
            ),
        ];
        for (code, kind) in rows {
            for status in [400, 403, 422] {
                let e = agents(status, &format!(r#"{{"error":"{code}","hint":""}}"#));
                assert_eq!(e.kind(), kind, "{code} {status}");
                assert_eq!(e.message(), format!("Backend error {status}"));
                assert_eq!(e.hint(), Some("")); // any string hint is kept
                assert_eq!(e.status_code(), Some(status));
            }
        }
        let e = agents(
            409,
            r#"{"error":"agent_concurrent_update","message":"retry"}"#,
        );
        assert_eq!(e.kind(), "AgentConcurrentUpdateError");
        assert_eq!(e.message(), "retry");
        assert_eq!(
            agents(400, r#"{"error":"agent_concurrent_update"}"#).kind(),
            "BackendError"
        );
        assert_eq!(
            agents(409, r#"{"error":"key_revoked"}"#).kind(),
            "KeyAlreadyRevokedError"
        );
        assert_eq!(
            agents(401, r#"{"error":"key_revoked"}"#).kind(),
            "KeyRevokedError"
        );
    }

    #[test]
    fn agents_mapper_other_paths() {
        let e = agents(
            400,
            r#"{"detail":{"error":"insufficient_scope","missing":["x"]}}"#,
        );
        assert_eq!(e.kind(), "InsufficientScopeError");
        assert_eq!(e.attributes()["missing"], json!(["x"]));
        assert_eq!(e.details()["status_code"], json!(400));

        let e = map_agents_error(&with_retry(429, "busy", Some("12")));
        assert_eq!(e.kind(), "RateLimitError");
        assert_eq!(e.details(), &obj(json!({"status_code": 429})));
        assert_eq!(e.retry_after(), Some(12));

        let e = map_agents_error(&with_retry(
            403,
            r#"{"error":"rate_limit_exceeded","retry_after":9,"scope":"ip"}"#,
            None,
        ));
        assert_eq!(e.kind(), "RateLimitError");
        assert_eq!(e.retry_after(), Some(9));
        assert_eq!(e.attributes()["scope"], json!("ip"));

        let e = map_agents_error(&with_retry(503, r#"{"error":"key_not_found"}"#, Some("3")));
        assert_eq!(e.kind(), "KeyNotFoundError");
        assert_eq!(e.details()["retry_after_seconds"], json!(3));

        for code in ["quota_exceeded", "grant_not_found", "agents_cannot_mint"] {
            let e = agents(403, &format!(r#"{{"error":"{code}","message":"m"}}"#));
            assert_eq!(e.kind(), "BackendError", "{code}");
            assert_eq!(e.message(), "m");
        }
        let e = agents(502, "<html/>");
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Backend error 502");
        assert_eq!(e.details(), &obj(json!({"status_code": 502})));
        let e = agents(404, r#"[1,2]"#);
        assert_eq!(e.details(), &obj(json!({"status_code": 404})));
        // JSON 429 without a rate-limit code is a plain BackendError here
        let e = agents(429, r#"{"error":"quota_exceeded"}"#);
        assert_eq!(e.kind(), "BackendError");
    }

    // ---- proxy mapper (§6.3) ---------------------------------------------------------------------

    #[test]
    fn proxy_mapper() {
        let rows = [
            ("approval_denied", "ApprovalDeniedError"),
            ("approval_expired", "ApprovalExpiredError"),
            ("approval_execution_failed", "ApprovalExecutionFailedError"),
        ];
        for (code, kind) in rows {
            let e = map_proxy_error(&failure(
                403,
                &format!(r#"{{"detail":{{"error":"{code}"}}}}"#),
            ));
            assert_eq!(e.kind(), kind);
            assert_eq!(e.message(), "/sdk/proxy returned 403");
            assert_eq!(e.approval_id(), None);
            assert!(e.details().is_empty());
            let e = map_proxy_error(&failure(
                409,
                &format!(r#"{{"error":"{code}","message":"no"}}"#),
            ));
            assert_eq!(e.message(), "no");
        }
        // falls back to the main mapper; status back-filled where missing
        let e = map_proxy_error(&failure(
            403,
            r#"{"error":"scope_mismatch","details":{"grant_id":"g"}}"#,
        ));
        assert_eq!(e.kind(), "ScopeReauthRequiredError");
        assert_eq!(e.details()["status_code"], json!(403));
        assert_eq!(e.details()["source"], json!("backend_flag"));
        let e = map_proxy_error(&failure(404, r#"{"error":"secret_not_found"}"#));
        assert_eq!(e.kind(), "ConnectConfigError"); // not re-wrapped here
        let e = map_proxy_error(&failure(422, r#"{"error":"query_too_long"}"#));
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.details()["error"], json!("query_too_long"));
        let e = map_proxy_error(&failure(429, "not json"));
        assert_eq!(e.kind(), "RateLimitError");
        // statuses below 400 (e.g. an unexpected 201)
        let e = map_proxy_error(&failure(201, r#"{"message":"odd"}"#));
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "odd");
        assert_eq!(e.details(), &obj(json!({"status_code": 201, "error": ""})));
        let e = map_proxy_error(&failure(204, ""));
        assert_eq!(e.message(), "/sdk/proxy returned 204");
    }

    // ---- approval status (§6.4) -------------------------------------------------------------------

    #[test]
    fn approval_status_mapper_is_untyped() {
        let path = "/sdk/approvals/abc?wait=25";
        let e = map_approval_status_error(
            path,
            &failure(
                403,
                r#"{"detail":{"error":"insufficient_scope","message":"need approvals:read"}}"#,
            ),
        );
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(
            e.message(),
            "GET /sdk/approvals/abc?wait=25 returned 403 (insufficient_scope: need approvals:read)"
        );
        assert_eq!(
            e.details(),
            &obj(json!({"status_code": 403, "error": "insufficient_scope"}))
        );
        assert_eq!(e.status_code(), Some(403));
        let e = map_approval_status_error(
            path,
            &failure(429, r#"{"error":"rate_limit_exceeded","message":""}"#),
        );
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(
            e.message(),
            "GET /sdk/approvals/abc?wait=25 returned 429 (rate_limit_exceeded)"
        );
        let e = map_approval_status_error(path, &failure(502, "<html/>"));
        assert_eq!(e.message(), "GET /sdk/approvals/abc?wait=25 returned 502");
        assert_eq!(e.details(), &obj(json!({"status_code": 502})));
        let e = map_approval_status_error(path, &failure(404, r#"{"error":"","message":"x"}"#));
        assert_eq!(e.message(), "GET /sdk/approvals/abc?wait=25 returned 404");
    }

    // ---- surface-specific helpers ---------------------------------------------------------------

    #[test]
    fn token_path_rewraps_connect_config_only() {
        let inner = map(404, r#"{"error":"secret_not_found","message":"no slug"}"#);
        let e = wrap_token_path_error(inner, Some("g-1"));
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), "Failed to retrieve token: no slug");
        assert_eq!(
            e.details(),
            &obj(json!({"grant_id": "g-1", "error": "no slug"}))
        );
        assert_eq!(e.status_code(), None);
        let e = wrap_token_path_error(map(409, r#"{"error":"no_eligible_grants"}"#), None);
        assert_eq!(e.details()["grant_id"], Value::Null);

        let passthrough = map(403, r#"{"error":"grant_expired"}"#);
        let e = wrap_token_path_error(passthrough, Some("g"));
        assert_eq!(e.kind(), "GrantExpiredError");
        let e = wrap_token_path_error(map(403, r#"{"error":"scope_mismatch"}"#), Some("g"));
        assert_eq!(e.kind(), "ScopeReauthRequiredError");
    }

    #[test]
    fn agent_delegation_missing_remap() {
        let e = into_agent_delegation_missing(map(
            404,
            r#"{"error":"grant_not_found","provider_id":"p","agent_id":"a","app_user_id":"u"}"#,
        ));
        assert_eq!(e.kind(), "AgentDelegationMissingError");
        assert!(e.is_a("GrantNotFoundError"));
        assert_ne!(e.message(), "OAuth grant not found for the given grant_id");
        assert_eq!(e.details()["error"], json!("grant_not_found"));
        assert_eq!(e.status_code(), Some(404));
        assert_eq!(
            e.attributes(),
            obj(
                json!({"status_code": 404, "provider_id": "p", "agent_id": "a", "app_user_id": "u"})
            )
        );
        // already re-mapped, or a different class: unchanged
        let again = into_agent_delegation_missing(e.clone());
        assert_eq!(again.message(), e.message());
        let nd = into_agent_delegation_missing(map(404, r#"{"error":"no_delegated_grant"}"#));
        assert_eq!(nd.kind(), "NoDelegatedGrantError");
    }

    #[test]
    fn approval_transient_classification() {
        for status in [502, 503, 504] {
            let e = map_approval_status_error("/p", &failure(status, ""));
            assert!(is_transient_approval_error(&e), "{status}");
        }
        for status in [401, 403, 404, 422, 429, 500] {
            let e = map_approval_status_error("/p", &failure(status, ""));
            assert!(!is_transient_approval_error(&e), "{status}");
        }
        // typed BackendError subclasses count too (e.g. through the result fetch)
        let e = map(503, r#"{"error":"caller_agent_resolution_error"}"#);
        assert!(is_transient_approval_error(&e));
        assert!(is_transient_approval_error(&Error::network(
            "x",
            Details::new()
        )));
        assert!(is_transient_approval_error(&Error::timeout(
            "x",
            Details::new()
        )));
        assert!(!is_transient_approval_error(&Error::approval_denied(
            "x", None
        )));
        assert!(!is_transient_approval_error(&Error::sdk("x")));
        // status attribute alone is not enough: the spec reads details
        let e = Error::backend("x", Details::new(), Some(503));
        assert!(!is_transient_approval_error(&e));
    }

    #[test]
    fn identity_is_set_on_the_variants_that_carry_it() {
        let ids = ErrorIdentity {
            provider_id: Some("google".into()),
            agent_id: Some("a1".into()),
            app_user_id: Some("u1".into()),
            grant_id: Some(json!("g1")),
        };
        let e = Error::from_kind_with_identity(
            "NoDelegatedGrantError",
            "m",
            Details::new(),
            ids.clone(),
        )
        .unwrap();
        match &e {
            Error::NoDelegatedGrant {
                provider_id,
                agent_id,
                app_user_id,
                ..
            } => {
                assert_eq!(provider_id.as_deref(), Some("google"));
                assert_eq!(agent_id.as_deref(), Some("a1"));
                assert_eq!(app_user_id.as_deref(), Some("u1"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.message(), "m");
        match Error::from_kind_with_identity(
            "CredentialRevokedError",
            "m",
            Details::new(),
            ids.clone(),
        ) {
            Some(Error::CredentialRevoked {
                grant_id,
                provider_id,
                app_user_id,
                ..
            }) => {
                assert_eq!(grant_id, Some(json!("g1")));
                assert_eq!(provider_id.as_deref(), Some("google"));
                assert_eq!(app_user_id.as_deref(), Some("u1"));
            }
            other => panic!("{other:?}"),
        }
        // Text fields take a non-string grant id as its JSON text.
        let numeric = ErrorIdentity {
            grant_id: Some(json!(42)),
            ..ids.clone()
        };
        match Error::from_kind_with_identity(
            "ScopeReauthRequiredError",
            "m",
            Details::new(),
            numeric,
        ) {
            Some(Error::ScopeReauthRequired { grant_id, .. }) => {
                assert_eq!(grant_id.as_deref(), Some("42"))
            }
            other => panic!("{other:?}"),
        }
        // Classes without identifiers are left as they are.
        let plain = Error::from_kind("AlterValueError", "m", Details::new()).unwrap();
        assert_eq!(plain.clone().with_identity(ids), plain);
        assert!(Error::from_kind_with_identity(
            "NoSuchError",
            "m",
            Details::new(),
            ErrorIdentity::default()
        )
        .is_none());
    }
}
