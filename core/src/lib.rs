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
pub mod approvals;
pub mod audit;
pub mod client;
pub mod config;
pub mod context;
pub mod error;
pub mod inject;
pub mod json;
pub mod keys;
pub mod principals;
pub mod provider_url;
pub mod proxy;
pub mod ratelimit;
pub mod request;
pub mod retry;
pub mod runtime;
pub mod signing;
pub mod sigv4;
pub mod token;
pub(crate) mod transport;
pub mod www_auth;

pub use agents::{
    AgentCreateResult, AgentInfo, AgentKey, AgentKeyList, AgentKeyMintResult, AgentListResult,
    CreateAgent, UpdateAgent,
};
pub use approvals::{
    ApprovalGate, ApprovalGateStatus, ApprovalResult, ApprovalStatus, PendingApproval,
};
pub use client::{Client, ClientOptions, Principal, UserTokenGetter, WarningSink};
pub use config::CallerType;
pub use error::{Error, Result};
pub use keys::is_valid_key;
pub use principals::{Agent, App};
pub use provider_url::{QueryParams, QueryValue};
pub use proxy::{ProxyOptions, ProxyOutcome};
pub use ratelimit::RateLimitSnapshot;
pub use request::{RequestOptions, Response};
pub use retry::RetryPolicy;
pub use token::{RetryErrorInfo, RetryInfo};
