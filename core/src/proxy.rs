//! Proxy mode: the backend resolves the credential, applies policy and
//! approvals, calls the provider and returns the captured response. The
//! credential never reaches this process.

use crate::approvals::{self, ApprovalResult, PendingApproval};
use crate::client::{Client, Principal};
use crate::context::context_header;
use crate::context::Context;
use crate::error::{self, Details, Error, Result};
use crate::provider_url::{self, QueryParams};
use crate::transport::{Actor, Call, Site};
use reqwest::Method;
use serde_json::{Map, Value};
use std::fmt;

/// Header names proxy mode never forwards (the backend injects credentials).
pub const RESERVED_HEADERS: [&str; 18] = [
    "host",
    "authorization",
    "proxy-authorization",
    "authentication",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-amz-security-token",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-goog-authorization",
    "x-goog-iam-authorization-token",
    "x-stripe-account",
    "x-shopify-access-token",
    "x-http-method",
    "x-http-method-override",
    "x-method-override",
];

/// Everything `proxy_request()` accepts besides the method and URL.
#[derive(Clone, Default)]
pub struct ProxyOptions {
    pub grant_id: Option<String>,
    pub provider: Option<String>,
    pub account: Option<String>,
    pub label: Option<String>,
    pub app_user_id: Option<String>,
    pub user_token: Option<String>,
    pub json: Option<Value>,
    /// `None` sends no `headers` field; `Some(empty)` sends `{}`.
    pub headers: Option<Vec<(String, String)>>,
    pub query_params: Option<QueryParams>,
    pub path_params: Vec<(String, String)>,
    pub reason: Option<String>,
    pub context: Option<Context>,
    pub caller: Option<String>,
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyOptions")
            .field("grant_id", &self.grant_id)
            .field("provider", &self.provider)
            .field(
                "user_token",
                &self.user_token.as_ref().map(|_| "<redacted>"),
            )
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// What a proxied call produced: the result now, or an approval to wait for.
#[derive(Debug, Clone, PartialEq)]
pub enum ProxyOutcome {
    Result(ApprovalResult),
    Pending(PendingApproval),
}

fn check_opt(name: &str, v: &Option<String>, suffix: &str) -> Result<()> {
    match v {
        Some(s) if s.is_empty() => Err(Error::value(format!(
            "proxy_request: {name} must be a non-empty string{suffix}"
        ))),
        _ => Ok(()),
    }
}

/// The URL checks that apply in proxy mode too: no `user:password@`, no
/// ambiguous host ([`provider_url::check_target`]).
fn check_target(url: &str) -> Result<()> {
    provider_url::check_target(url)
        .map_err(|e| Error::value(format!("proxy_request: {}", e.message())))
}

impl Client {
    /// Proxy mode; see the module docs.
    pub async fn proxy_request(
        &self,
        method: &str,
        url: &str,
        opts: ProxyOptions,
    ) -> Result<ProxyOutcome> {
        let result = self.proxy_inner(method, url, &opts).await;
        match (self.shared.principal, result) {
            (Principal::Agent, Err(e)) => Err(error::into_agent_delegation_missing(e)),
            (_, r) => r,
        }
    }

    async fn proxy_inner(&self, method: &str, url: &str, o: &ProxyOptions) -> Result<ProxyOutcome> {
        self.ensure_open()?;
        check_opt("grant_id", &o.grant_id, "")?;
        check_opt("provider", &o.provider, "")?;
        match (&o.grant_id, &o.provider) {
            (None, None) => {
                return Err(Error::value("proxy_request: provide grant_id OR provider"))
            }
            (Some(_), Some(_)) => {
                return Err(Error::value(
                    "proxy_request: cannot provide both grant_id AND provider",
                ))
            }
            _ => {}
        }
        check_opt("account", &o.account, " when provided")?;
        check_opt("label", &o.label, " when provided")?;
        let provider_mode = o.provider.is_some();
        if o.account.is_some() && !provider_mode {
            return Err(Error::value(
                "proxy_request: account is only valid with provider resolution",
            ));
        }
        if o.label.is_some() && !provider_mode {
            return Err(Error::value(
                "proxy_request: label is only valid with provider resolution",
            ));
        }
        check_opt("user_token", &o.user_token, " when provided")?;
        check_opt("app_user_id", &o.app_user_id, " when provided")?;
        if o.app_user_id.is_some() && !provider_mode {
            return Err(Error::value(
                "proxy_request: app_user_id is only valid with provider resolution",
            ));
        }
        if method.is_empty() {
            return Err(Error::value(
                "proxy_request: method must be a non-empty string or HttpMethod",
            ));
        }
        if url.is_empty() {
            return Err(Error::value(
                "proxy_request: url must be a non-empty string",
            ));
        }
        if let Some(headers) = &o.headers {
            for (name, _) in headers {
                let lowered = name.trim().to_ascii_lowercase();
                if RESERVED_HEADERS.contains(&lowered.as_str()) {
                    return Err(Error::value(format!(
                        "proxy_request: header '{}' is reserved for backend credential injection and cannot be sent from the SDK. The backend adds the credential itself.",
                        name.escape_debug()
                    )));
                }
            }
            crate::headers::check_caller_headers(headers, "proxy_request")?;
        }
        let expanded = provider_url::expand_path_params(url, &o.path_params, "proxy_request")?;
        check_target(&expanded)?;
        let method = method.to_ascii_uppercase();
        let user_token = self.resolve_user_token(o.user_token.as_deref()).await?;
        if let Some(c) = &o.caller {
            crate::config::validate_caller_override(c)?;
        }
        let (_ctx, ctx_header) = context_header(&o.context)?;

        let mut body = Map::new();
        body.insert("method".into(), method.as_str().into());
        body.insert("url".into(), expanded.as_str().into());
        if let Some(g) = &o.grant_id {
            body.insert("grant_id".into(), g.as_str().into());
        }
        if let Some(p) = &o.provider {
            body.insert("provider_id".into(), p.as_str().into());
        }
        if let Some(a) = &o.account {
            body.insert("account".into(), a.as_str().into());
        }
        if let Some(l) = &o.label {
            body.insert("label".into(), l.as_str().into());
        }
        if let Some(t) = &user_token {
            body.insert("user_token".into(), t.as_str().into());
        }
        if let Some(a) = &o.app_user_id {
            body.insert("app_user_id".into(), a.as_str().into());
        }
        if let Some(j) = &o.json {
            body.insert("body".into(), j.clone());
        }
        if let Some(h) = &o.headers {
            let m: Map<String, Value> = h
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().into()))
                .collect();
            body.insert("headers".into(), Value::Object(m));
        }
        if let Some(q) = &o.query_params {
            let mut m = Map::new();
            for (k, v) in q {
                let v = serde_json::to_value(v).map_err(|_| {
                    Error::value("proxy_request: payload is not JSON-serialisable: query_params")
                })?;
                m.insert(k.clone(), v);
            }
            body.insert("query_params".into(), Value::Object(m));
        }
        if let Some(r) = &o.reason {
            body.insert("reason".into(), r.as_str().into());
        }
        // A 502/504 may come after the provider call ran, so proxy calls are
        // never repeated on those (see `retry`).
        let call = Call::new(Method::POST, "/sdk/proxy", Site::Proxy)
            .json(&Value::Object(body))
            .idempotent(false)
            .carries_provider_body()
            .actor(Actor {
                caller_override: o.caller.clone(),
                ..Actor::full(ctx_header)
            });
        let reply = self.shared.send(&self.local, &call).await?;
        match reply.status {
            202 => Ok(ProxyOutcome::Pending(approvals::parse_pending(
                &reply.body,
            )?)),
            200 => Ok(ProxyOutcome::Result(approvals::parse_result(
                &reply.body,
                200,
                Details::new(),
                "/sdk/proxy 200 response body is not valid JSON",
                "/sdk/proxy 200 response failed validation: ValidationError",
            )?)),
            _ => Err(error::map_proxy_error(&reply.failure())),
        }
    }
}
