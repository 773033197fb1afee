//! alter-core: the engine of the Alter Vault SDK.
//!
//! One SDK call becomes correctly signed backend calls and, in retrieve mode,
//! a provider call with the credential injected. Bindings (Python, Node, C)
//! convert types and map [`Error`] kinds to their own classes; every rule
//! lives here once.
//!
//! Start at [`App`] and [`Agent`]; both dereference to [`Client`], which
//! carries the runtime calls ([`Client::request`], [`Client::proxy_request`],
//! approvals) that both principals share.

pub mod agents;
pub mod apikeys;
pub mod approvals;
pub mod assertion;
pub mod audit;
pub mod auth;
pub(crate) mod backend;
pub mod body;
pub mod catalogs;
pub mod client;
pub mod config;
pub mod connect;
pub mod context;
pub mod env_proxy;
pub mod error;
pub mod grants;
pub mod guard;
pub mod headers;
pub mod identity;
pub mod inject;
pub mod json;
pub mod keys;
pub mod memory;
pub mod ops;
pub mod principals;
pub mod provider_url;
pub mod proxy;
pub mod ratelimit;
pub mod request;
pub mod retry;
pub mod rules;
pub mod runtime;
pub mod scopes;
pub mod scrub;
pub mod signing;
pub mod sigv4;
pub mod spans;
#[cfg(test)]
mod testutil;
pub mod token;
pub mod trace;
pub(crate) mod transport;
pub(crate) mod tz_names;
pub mod www_auth;

pub use agents::{
    AgentCreateResult, AgentInfo, AgentKey, AgentKeyList, AgentKeyMintResult, AgentListResult,
    CreateAgent, UpdateAgent,
};
pub use apikeys::{APIKeyInfo, DeriveKey, MintedKey};
pub use approvals::{
    ApprovalGate, ApprovalGateStatus, ApprovalResult, ApprovalStatus, PendingApproval,
};
pub use auth::{AuthResult, AuthSession};
pub use catalogs::{
    OAuthProviderCatalog, OAuthProviderCatalogItem, OAuthProviderScopeInfo, ProviderSpec,
    SpecOperation, SpecOperationDetail, SpecOperationsPage,
};
pub use client::{Client, ClientOptions, Principal, UserTokenGetter, WarningSink};
pub use config::CallerType;
pub use connect::{
    BrowserOpener, ConnectDelegation, ConnectEvent, ConnectEventSink, ConnectFailedGrant,
    ConnectForErrorOptions, ConnectResult, ConnectSession, ConnectSessionOptions,
    HeadlessConnectOptions, ManagedSecretConnectOptions, ManagedSecretConnectSession,
    ManagedSecretConnectTarget, SystemBrowser,
};
pub use error::{Error, Result};
pub use grants::{
    AgentPrincipal, CreateGrantResult, DelegateOptions, DelegationResult, GrantInfo, GrantListItem,
    GrantPolicy, GrantPolicyInput, GrantPrincipal, GroupPrincipal, ListGrants,
    ManagedSecretGrantItem, MintGrantPolicy, OAuthGrantItem, RevokeGrantResult, SystemPrincipal,
    UnifiedGrantListResult, UserPrincipal,
};
pub use identity::{IdentityAssertion, IdentityContext, IdentityTrace};
pub use keys::is_valid_key;
pub use principals::{Agent, App};
pub use provider_url::{QueryParams, QueryValue};
pub use proxy::{ProxyOptions, ProxyOutcome};
pub use ratelimit::RateLimitSnapshot;
pub use request::{RequestOptions, Response};
pub use retry::RetryPolicy;
pub use rules::{
    content_match_rule, ContentMatchRule, ContentParamCondition, ParamValue, TimeWindow,
    TimeWindows,
};
pub use scopes::{ResourceScopes, ScopeCatalog};
pub use spans::{EmitSpansResult, UserSpan, MAX_SPANS_PER_BATCH};
pub use token::{RetryErrorInfo, RetryInfo};
pub use trace::{TraceOptions, TraceParent};
