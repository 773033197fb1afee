//! Retrieve mode: `request()` fetches the credential from `/sdk/token`,
//! injects it into the provider request, calls the provider directly and
//! reports the exchange to the audit log in the background.

use crate::audit;
use crate::body::{self, BodyError};
use crate::client::{Client, Principal, Shared, Slot};
use crate::context::{context_header, Context};
use crate::error::{self, Details, Error, Result};
use crate::inject::{self, RequestBody};
use crate::provider_url::{self, QueryParams};
use crate::scrub::Scrubber;
use crate::token::{self, RetryInfo, TokenResponse};
use crate::transport::{Actor, Call, Reply, Site};
use bytes::Bytes;
use futures_util::future::Either;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

/// Everything `request()` accepts besides the method and URL.
#[derive(Clone, Default)]
pub struct RequestOptions {
    pub grant_id: Option<String>,
    pub provider: Option<String>,
    pub account: Option<String>,
    pub label: Option<String>,
    pub app_user_id: Option<String>,
    pub user_token: Option<String>,
    pub json: Option<Value>,
    pub body: Option<Vec<u8>>,
    /// Extra provider headers, in order (`headers=` / `extra_headers=`).
    pub headers: Vec<(String, String)>,
    pub query_params: Option<QueryParams>,
    pub path_params: Vec<(String, String)>,
    pub reason: Option<String>,
    /// Audit metadata; `None` falls back to the ambient `trace()` context,
    /// `Some(empty)` sends none.
    pub context: Option<Context>,
    /// Per-call caller override.
    pub caller: Option<String>,
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions")
            .field("grant_id", &self.grant_id)
            .field("provider", &self.provider)
            .field("account", &self.account)
            .field("label", &self.label)
            .field("app_user_id", &self.app_user_id)
            .field(
                "user_token",
                &self.user_token.as_ref().map(|_| "<redacted>"),
            )
            .field("json", &self.json.is_some())
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("reason", &self.reason)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// The provider's response to a retrieve-mode call.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    /// Response headers in wire order, names lower-cased; repeats kept.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The URL the provider was called with, before credential injection
    /// (an injected query credential never appears here).
    pub url: String,
    /// Time spent on the provider exchange.
    pub elapsed: Duration,
    /// The backend's own refresh retries, when it reported any.
    pub retry_info: Option<RetryInfo>,
    /// Attempts the `/sdk/token` call took (1 when it was not retried).
    pub backend_attempts: u32,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .field("elapsed", &self.elapsed)
            .field("backend_attempts", &self.backend_attempts)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// First header value with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|_| Error::value("response body is not valid JSON"))
    }
}

/// How a provider exchange failed.
enum ProviderFailure {
    Timeout,
    Network,
    /// The body went over `max_response_bytes`; the status and headers had
    /// arrived and go into the audit row.
    TooLarge {
        status: u16,
        headers: Vec<(String, String)>,
    },
}

impl ProviderFailure {
    fn from_reqwest(e: reqwest::Error) -> ProviderFailure {
        if e.is_timeout() {
            ProviderFailure::Timeout
        } else {
            ProviderFailure::Network
        }
    }
}

fn non_empty(name: &str, v: &Option<String>) -> Result<()> {
    match v {
        Some(s) if s.is_empty() => Err(Error::value(format!(
            "{name} must be a non-empty string when provided"
        ))),
        _ => Ok(()),
    }
}

impl Client {
    /// Retrieve mode: see the module docs.
    pub async fn request(&self, method: &str, url: &str, opts: RequestOptions) -> Result<Response> {
        let result = self.request_inner(method, url, &opts).await;
        match (self.shared.principal, result) {
            (Principal::Agent, Err(e)) => Err(error::into_agent_delegation_missing(e)),
            (_, r) => r,
        }
    }

    async fn request_inner(&self, method: &str, url: &str, o: &RequestOptions) -> Result<Response> {
        // Validation, in the documented order; nothing is sent on failure.
        non_empty("user_token", &o.user_token)?;
        non_empty("app_user_id", &o.app_user_id)?;
        if o.app_user_id.is_some() && o.provider.is_none() {
            return Err(Error::value(
                "app_user_id is only valid with provider resolution — pass provider= (not grant_id=) when selecting a user by app_user_id",
            ));
        }
        non_empty("label", &o.label)?;
        if o.label.is_some() && o.provider.is_none() {
            return Err(Error::value(
                "label is only valid with provider resolution — pass provider= (not grant_id=) when selecting a sibling grant by label",
            ));
        }
        match (&o.grant_id, &o.provider) {
            (None, None) => return Err(Error::sdk("Provide grant_id or provider")),
            (Some(_), Some(_)) => {
                return Err(Error::sdk("Cannot provide both grant_id and provider"))
            }
            _ => {}
        }
        if o.json.is_some() && o.body.is_some() {
            return Err(Error::sdk("Cannot provide both 'json' and 'body'"));
        }
        self.ensure_open()?;
        *crate::guard::lock(&self.shared.last_retry_info) = None;

        let method = method.to_ascii_uppercase();
        let expanded = provider_url::expand_path_params(url, &o.path_params, "request")?;
        provider_url::check_provider_url(&expanded)?;
        provider_url::check_pre_token_length(&expanded, o.query_params.as_ref())?;
        crate::headers::check_caller_headers(&o.headers, "request")?;
        // What the vault approves is what is connected to and requested.
        let declared = provider_url::declared_url(&expanded)?;
        if let Some(c) = &o.caller {
            crate::config::validate_caller_override(c)?;
        }
        let (ctx, ctx_header) = context_header(&o.context)?;
        let user_token = self.resolve_user_token(o.user_token.as_deref()).await?;

        // The /sdk/token body, keys in the documented order.
        let mut body = Map::new();
        match (&o.grant_id, &o.provider) {
            (Some(g), _) => {
                body.insert("grant_id".into(), g.as_str().into());
            }
            (_, Some(p)) => {
                body.insert("provider_id".into(), p.as_str().into());
            }
            _ => unreachable!("checked above"),
        }
        body.insert(
            "reason".into(),
            o.reason.clone().map_or(Value::Null, Value::String),
        );
        body.insert("request".into(), json!({"method": method, "url": declared}));
        if let Some(t) = &user_token {
            body.insert("user_token".into(), t.as_str().into());
        }
        if o.provider.is_some() {
            if let Some(a) = &o.app_user_id {
                body.insert("app_user_id".into(), a.as_str().into());
            }
            if let Some(a) = o.account.as_ref().filter(|a| !a.is_empty()) {
                body.insert("account".into(), a.as_str().into());
            }
            if let Some(l) = &o.label {
                body.insert("label".into(), l.as_str().into());
            }
        }
        let call = Call::new(Method::POST, "/sdk/token", Site::Token)
            .json(&Value::Object(body))
            .idempotent(true)
            .actor(Actor {
                caller_override: o.caller.clone(),
                ..Actor::full(ctx_header.clone())
            });
        let reply = self.shared.send(&self.local, &call).await?;
        if let Some(err) = error::map_backend_error(&reply.failure()) {
            return Err(error::wrap_token_path_error(err, o.grant_id.as_deref()));
        }
        let token = token::parse_token_response(&reply.body, o.grant_id.as_deref())?;
        *crate::guard::lock(&self.shared.last_retry_info) = token.retry_info.clone();
        // Provider text quoted in audit rows and errors loses the credential.
        let scrubber = Scrubber::for_token(&token);

        let req_body = match (&o.json, &o.body) {
            (Some(j), _) => RequestBody::Json(j.clone()),
            (_, Some(b)) => RequestBody::Raw(b.clone()),
            _ => RequestBody::None,
        };
        let preq = inject::build_provider_request(
            &token,
            &method,
            &expanded,
            &o.headers,
            o.query_params.as_ref(),
            &req_body,
            &self.shared.user_agent,
            SystemTime::now(),
        )?;

        let started = Instant::now();
        let sent = self.send_provider(&preq).await;
        let elapsed = started.elapsed();
        let latency_ms = elapsed.as_millis() as u64;

        // Built only on the error paths: the successful call needs none of it.
        let error_details = || {
            let mut d = Details::new();
            d.insert(
                "grant_id".into(),
                o.grant_id.clone().map_or(Value::Null, Value::String),
            );
            d.insert("method".into(), method.as_str().into());
            d.insert("url".into(), expanded.as_str().into());
            d
        };

        let (status, headers, resp_body) = match sent {
            Ok(parts) => parts,
            Err(failure) => {
                // The row records what happened, never a cut body.
                let (status, headers, placeholder) = match &failure {
                    ProviderFailure::Timeout => {
                        (0, None, audit::transport_timeout_placeholder(latency_ms))
                    }
                    ProviderFailure::Network => {
                        (0, None, audit::TRANSPORT_NETWORK_PLACEHOLDER.to_string())
                    }
                    ProviderFailure::TooLarge { status, headers } => (
                        *status,
                        Some(headers),
                        audit::body_over_cap_placeholder(self.shared.max_response_bytes),
                    ),
                };
                let row = audit::audit_body(
                    &token,
                    &method,
                    &declared,
                    &preq.audit_headers,
                    &req_body,
                    status,
                    headers,
                    &placeholder,
                    latency_ms,
                    o.reason.as_deref(),
                    ctx.as_deref(),
                );
                self.spawn_audit(scrubbed(&scrubber, row), ctx_header.clone());
                return Err(match failure {
                    ProviderFailure::Timeout => {
                        Error::timeout("Provider API request timed out", error_details())
                    }
                    ProviderFailure::Network => {
                        Error::network("Failed to call provider API", error_details())
                    }
                    ProviderFailure::TooLarge { status, .. } => {
                        let mut d = error_details();
                        d.insert("status_code".into(), status.into());
                        Error::response_too_large("provider", self.shared.max_response_bytes, d)
                    }
                });
            }
        };
        let row = audit::audit_body(
            &token,
            &method,
            &declared,
            &preq.audit_headers,
            &req_body,
            status,
            Some(&headers),
            &audit::safe_response_body(&resp_body),
            latency_ms,
            o.reason.as_deref(),
            ctx.as_deref(),
        );
        self.spawn_audit(scrubbed(&scrubber, row), ctx_header);

        if status >= 400 {
            return Err(self.provider_error(
                status,
                &headers,
                &resp_body,
                &scrubber,
                &token,
                &method,
                &expanded,
                error_details(),
            ));
        }
        Ok(Response {
            status,
            headers,
            body: resp_body,
            url: expanded,
            elapsed,
            retry_info: token.retry_info.clone(),
            backend_attempts: reply.attempts,
        })
    }

    /// Sends the provider request and reads its body under the client's
    /// `max_response_bytes` cap. Transport failures carry no text (it is
    /// deliberately dropped).
    async fn send_provider(
        &self,
        preq: &inject::ProviderRequest,
    ) -> std::result::Result<(u16, Vec<(String, String)>, Bytes), ProviderFailure> {
        let method =
            Method::from_bytes(preq.method.as_bytes()).map_err(|_| ProviderFailure::Network)?;
        // Held until the body is read; waiting too long is a timeout.
        let _slot = self
            .shared
            .slot(Slot::Provider, Some(self.shared.timeout))
            .await
            .ok_or(ProviderFailure::Timeout)?;
        let mut req = self.shared.provider().request(method, &preq.url);
        for (k, v) in &preq.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(b) = &preq.body {
            req = req.body(b.clone());
        }
        let resp = req.send().await.map_err(ProviderFailure::from_reqwest)?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        match body::read_capped(resp, self.shared.max_response_bytes).await {
            Ok(body) => Ok((status, headers, body)),
            Err(BodyError::TooLarge) => Err(ProviderFailure::TooLarge { status, headers }),
            Err(BodyError::Transport(e)) => Err(ProviderFailure::from_reqwest(e)),
        }
    }

    /// Posts an audit row without delaying the caller; `close()` waits for it.
    fn spawn_audit(&self, row: Value, ctx_header: Option<String>) {
        let field = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let (grant_id, method, url) = (field("grant_id"), field("method"), field("url"));
        let mut call = Call::new(Method::POST, "/sdk/oauth/audit/api-call", Site::Namespace)
            .json(&row)
            .idempotent(true)
            .actor(Actor::full(ctx_header));
        call.background = true;
        let post = background_post(self.clone(), call, move |shared, sent| match sent {
            Ok(reply) if (200..300).contains(&reply.status) => {}
            Ok(reply) => shared.warn(&audit::refusal_warning(
                reply.status,
                &reply.body,
                &grant_id,
                &method,
                &url,
            )),
            Err(e) => shared.warn(&format!("Audit report could not be sent ({})", e.kind())),
        });
        self.shared.spawn_background(post);
    }

    #[allow(clippy::too_many_arguments)]
    fn provider_error(
        &self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        scrubber: &Scrubber,
        token: &TokenResponse,
        method: &str,
        url: &str,
        details: Details,
    ) -> Error {
        let www: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
            .map(|(_, v)| v.as_str())
            .collect();
        // Quoted in the error, a warning and the scope report: scrubbed
        // before it is parsed, so no part of it can carry the credential,
        // then bounded like the report that quotes it (the error's details
        // keep at most this much of it, and the scopes come from it).
        let www_raw = audit::cut(
            &scrubber.scrub(&www.join(", ")),
            audit::MAX_WWW_AUTHENTICATE_CHARS,
        );
        let challenge = crate::www_auth::parse_bearer_challenge(&www_raw);
        let chal = |k: &str| {
            challenge
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let insufficient = chal("error").as_deref() == Some("insufficient_scope");
        let safe_body = scrubber
            .scrub(&audit::safe_response_body(body))
            .into_owned();
        let mut resolved = Details::new();
        resolved.insert("grant_id".into(), token.grant_id.as_str().into());
        resolved.insert("provider_id".into(), token.provider_id.as_str().into());
        resolved.insert("method".into(), method.into());
        resolved.insert("url".into(), url.into());
        if status == 403 && insufficient {
            let missing: Option<Vec<String>> = chal("scope")
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.split_whitespace().map(str::to_string).collect());
            self.spawn_scope_report(token, &missing, &www_raw, url);
            self.shared.warn(&format!(
                "Provider reported insufficient scope for grant {} ({}); missing: {}",
                token.grant_id,
                token.provider_id,
                missing.as_ref().map(|m| m.join(" ")).unwrap_or_default()
            ));
            resolved.insert("source".into(), "provider_insufficient_scope".into());
            resolved.insert(
                "missing_scopes".into(),
                missing.clone().map_or(Value::Null, |m| json!(m)),
            );
            resolved.insert(
                "www_authenticate".into(),
                if www_raw.is_empty() {
                    Value::Null
                } else {
                    www_raw.clone().into()
                },
            );
            return Error::scope_reauth_required(
                "Provider returned insufficient_scope; the grant must be re-authorized to regain access to the requested resource.",
                Some(safe_body),
                Some(token.grant_id.clone()),
                Some(token.provider_id.clone()),
                missing,
                resolved,
            );
        }
        if status == 403 && token.scope_mismatch {
            resolved.insert("source".into(), "backend_flag".into());
            return Error::scope_reauth_required(
                "The provider refused the call (403) and the grant's scopes no longer match the provider configuration; the user must re-authorize.",
                Some(safe_body),
                Some(token.grant_id.clone()),
                Some(token.provider_id.clone()),
                None,
                resolved,
            );
        }
        if status == 401 && !insufficient {
            resolved.insert("source".into(), "provider_unauthorized".into());
            return Error::provider_unauthorized(
                "The provider rejected the credential (401). For an OAuth grant the user may need to reconnect; for a managed secret, rotate the stored credential.",
                Some(safe_body),
                Some(token.grant_id.clone()),
                Some(token.provider_id.clone()),
                resolved,
            );
        }
        Error::provider_api(
            format!("Provider API returned error {status}"),
            status,
            Some(safe_body),
            details,
        )
    }

    fn spawn_scope_report(
        &self,
        token: &TokenResponse,
        missing: &Option<Vec<String>>,
        www_raw: &str,
        url: &str,
    ) {
        let body = audit::scope_mismatch_report_body(missing.as_deref(), www_raw, url);
        let target = format!(
            "/sdk/grants/{}/report-scope-mismatch",
            crate::transport::encode_segment(&token.grant_id)
        );
        let mut call = Call::new(Method::POST, target, Site::Namespace)
            .json(&body)
            .actor(Actor::none())
            .timeout(Duration::from_secs(2));
        call.background = true;
        let post = background_post(self.clone(), call, |shared, sent| match sent {
            Ok(r) if r.status == 204 => {}
            Ok(r) => shared.warn(&format!(
                "Scope-mismatch report was refused (HTTP {})",
                r.status
            )),
            Err(e) => shared.warn(&format!("Scope-mismatch report failed ({})", e.kind())),
        });
        self.shared.spawn_background(post);
    }
}

/// An audit row with the call's secrets scrubbed from what the provider
/// sent (it may echo the credential in its body or headers). The rest of
/// the row is the SDK's own: the declared URL, the redacted request
/// headers, the caller's body, none of which holds the credential.
fn scrubbed(scrubber: &Scrubber, mut row: Value) -> Value {
    for field in ["response_headers", "response_body"] {
        if let Some(v) = row.get_mut(field) {
            scrubber.scrub_value(v);
        }
    }
    row
}

/// A background post (audit row, scope-mismatch report): waits for one of
/// the few background slots, sends `call`, hands the outcome to `report`.
///
/// Under a burst of calls hundreds of these wait at once (only
/// `MAX_BACKGROUND_POSTS` send), so while waiting one holds only its
/// prepared request (body already serialised) and `report`'s few strings;
/// the exchange's own state is boxed once the slot frees. Holding it
/// inline made each waiting post ~4 KiB plus its JSON row, the bulk of the
/// Python binding's heap at concurrency 128 in the benchmark.
fn background_post(
    client: Client,
    call: Call,
    report: impl FnOnce(&Shared, Result<Reply>) + Send + 'static,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let traceparent = crate::context::traceparent();
    with_traceparent_opt(traceparent, async move {
        let _slot = client.shared.slot(Slot::Background, None).await;
        let sent = Box::pin(client.shared.send(&client.local, &call)).await;
        report(&client.shared, sent);
    })
}

/// Runs a background report under the caller's `traceparent`, if it had one
/// (a plain function for the reason `with_traceparent` is one).
fn with_traceparent_opt<F: std::future::Future>(
    tp: Option<String>,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    match tp {
        Some(tp) => Either::Left(crate::context::with_traceparent(tp, fut)),
        None => Either::Right(fut),
    }
}

#[cfg(test)]
mod tests {
    use crate::client::{Slot, MAX_BACKGROUND_POSTS, MAX_QUEUED_BACKGROUND_POSTS};
    use crate::testutil::{holding_server, quiet_client};
    use crate::transport::{Call, Site};
    use reqwest::Method;
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// The provider pool has its own cap: a burst of provider calls puts
    /// exactly `MAX_IN_FLIGHT_PER_POOL` on the wire, the rest wait for a
    /// slot and go out as slots free, and the backend pool's slots are
    /// untouched meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn provider_exchanges_in_flight_are_capped_per_pool() {
        use crate::client::MAX_IN_FLIGHT_PER_POOL;
        let (url, mut held, release) = holding_server().await;
        let client = quiet_client("http://127.0.0.1:9");
        let total = MAX_IN_FLIGHT_PER_POOL + 20;
        let calls: Vec<_> = (0..total)
            .map(|i| {
                let c = client.clone();
                let preq = crate::inject::ProviderRequest {
                    method: "GET".into(),
                    url: format!("{url}/provider/{i}"),
                    headers: vec![("authorization".into(), "Bearer t".into())],
                    body: None,
                    audit_headers: Vec::new(),
                };
                tokio::spawn(async move { c.send_provider(&preq).await.map(|(s, _, _)| s).ok() })
            })
            .collect();
        held.wait_for(|n| *n >= MAX_IN_FLIGHT_PER_POOL)
            .await
            .unwrap();
        assert_eq!(client.shared.free_slots(Slot::Provider), 0);
        assert_eq!(*held.borrow(), MAX_IN_FLIGHT_PER_POOL);
        assert_eq!(
            client.shared.free_slots(Slot::Backend),
            MAX_IN_FLIGHT_PER_POOL,
            "the backend pool is not charged for provider calls"
        );
        release.send(true).unwrap();
        for call in calls {
            assert_eq!(call.await.unwrap(), Some(200));
        }
        assert_eq!(
            *held.borrow(),
            total,
            "the waiting calls went out afterwards"
        );
        assert_eq!(
            client.shared.free_slots(Slot::Provider),
            MAX_IN_FLIGHT_PER_POOL
        );
    }

    /// Hundreds of background posts may wait for a slot at once; each must
    /// stay small while it waits (see `background_post`). Fails if the
    /// exchange's state is held inline again (it was ~4 KiB).
    #[test]
    fn a_waiting_background_post_is_small() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _rt = rt.enter();
        let client = quiet_client("http://127.0.0.1:9");
        let call = Call::new(Method::POST, "/sdk/oauth/audit/api-call", Site::Namespace)
            .json(&json!({"grant_id": "g"}));
        let post = super::background_post(client, call, |_, _| {});
        let size = std::mem::size_of_val(&post);
        assert!(size <= 768, "a waiting post holds {size} bytes inline");
    }

    /// A client for `url` whose warnings are collected.
    fn noting_client(url: &str) -> (crate::Client, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let client = crate::Client::new(
            crate::Principal::App,
            crate::ClientOptions {
                api_key: format!("alter_key_{}", "k".repeat(40)),
                base_url: Some(url.to_string()),
                warnings: Some(Arc::new(move |m: &str| sink.lock().unwrap().push(m.into()))),
                ..Default::default()
            },
        )
        .unwrap();
        (client, seen)
    }

    /// The background queue holds at most `MAX_BACKGROUND_POSTS` sending
    /// plus `MAX_QUEUED_BACKGROUND_POSTS` waiting; further posts are dropped,
    /// counted and warned about once, and the queued ones still go out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_background_queue_is_bounded_and_counts_what_it_drops() {
        let (url, mut held, release) = holding_server().await;
        let (client, warnings) = noting_client(&url);
        let capacity = MAX_BACKGROUND_POSTS + MAX_QUEUED_BACKGROUND_POSTS;
        let extra = 5;
        for i in 0..capacity + extra {
            client.spawn_audit(json!({"grant_id": "g", "method": "GET", "n": i}), None);
        }
        held.wait_for(|n| *n >= MAX_BACKGROUND_POSTS).await.unwrap();
        assert_eq!(client.dropped_reports(), extra as u64);
        assert_eq!(client.shared.pending_background(), capacity);
        let full: Vec<String> = warnings
            .lock()
            .unwrap()
            .iter()
            .filter(|w| w.contains("queue is full"))
            .cloned()
            .collect();
        assert_eq!(full.len(), 1, "warned once: {full:?}");
        release.send(true).unwrap();
        assert_eq!(client.close().await, 0);
        assert_eq!(*held.borrow(), capacity, "every queued row was sent");
        assert_eq!(client.dropped_reports(), extra as u64);
    }

    /// `close_within` gives up on posts the backend holds: it returns, says
    /// how many it abandoned and counts them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_abandons_posts_still_pending_at_its_deadline() {
        let (url, mut held, _release) = holding_server().await;
        let (client, _) = noting_client(&url);
        for i in 0..3 {
            client.spawn_audit(json!({"grant_id": "g", "method": "GET", "n": i}), None);
        }
        held.wait_for(|n| *n >= 3).await.unwrap();
        let abandoned = client.close_within(Duration::from_millis(20)).await;
        assert_eq!(abandoned, 3);
        assert_eq!(client.dropped_reports(), 3);
        assert_eq!(client.shared.pending_background(), 0);
        // A second close has nothing left to abandon.
        assert_eq!(client.close_within(Duration::ZERO).await, 0);
    }

    /// A provider answer is read under `max_response_bytes`, whatever its
    /// framing; the status and headers that arrived are kept for the row.
    #[tokio::test]
    async fn provider_bodies_are_read_under_the_cap() {
        for head in [
            "HTTP/1.1 200 OK\r\nx-kept: 1\r\nconnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nx-kept: 1\r\ncontent-length: 8388608\r\n\r\n",
        ] {
            let url = raw_server(head.to_string(), 8 << 20).await;
            let client = crate::Client::new(
                crate::Principal::App,
                crate::ClientOptions {
                    api_key: format!("alter_key_{}", "k".repeat(40)),
                    base_url: Some("http://127.0.0.1:9".into()),
                    warnings: Some(Arc::new(|_: &str| {})),
                    max_response_bytes: Some(1 << 20),
                    ..Default::default()
                },
            )
            .unwrap();
            match client.send_provider(&provider_get(&url)).await {
                Err(super::ProviderFailure::TooLarge { status, headers }) => {
                    assert_eq!(status, 200);
                    assert!(headers.iter().any(|(k, _)| k == "x-kept"));
                }
                _ => panic!("{head}: the body must be refused"),
            }
        }
    }

    /// Response heads are bounded (see `Pools::build`): more than 100 header
    /// fields, or a head over hyper's buffer ceiling, fail the exchange.
    #[tokio::test]
    async fn oversized_response_heads_fail_the_exchange() {
        let many: String = (0..101).map(|i| format!("x-h{i}: v\r\n")).collect();
        let huge = format!("x-big: {}\r\n", "v".repeat(512 * 1024));
        for extra in [many, huge] {
            let head = format!("HTTP/1.1 200 OK\r\n{extra}content-length: 2\r\n\r\n");
            let url = raw_server(head, 2).await;
            let client = quiet_client("http://127.0.0.1:9");
            let sent = client.send_provider(&provider_get(&url)).await;
            assert!(matches!(sent, Err(super::ProviderFailure::Network)));
        }
        // At the bound it is accepted.
        let ok: String = (0..99).map(|i| format!("x-h{i}: v\r\n")).collect();
        let head = format!("HTTP/1.1 200 OK\r\n{ok}content-length: 2\r\n\r\n");
        let url = raw_server(head, 2).await;
        let client = quiet_client("http://127.0.0.1:9");
        assert!(client.send_provider(&provider_get(&url)).await.is_ok());
    }

    fn provider_get(url: &str) -> crate::inject::ProviderRequest {
        crate::inject::ProviderRequest {
            method: "GET".into(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            audit_headers: Vec::new(),
        }
    }

    /// Answers one request with `head` and `total` filler bytes (or until
    /// the client goes away).
    async fn raw_server(head: String, total: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 4096];
            let _ = sock.read(&mut req).await;
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                let n = chunk.len().min(total - sent);
                if sock.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        });
        url
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_audit_posts_send_a_few_at_a_time_and_close_flushes_them() {
        let (url, mut held, release) = holding_server().await;
        let client = quiet_client(&url);
        let total = MAX_BACKGROUND_POSTS * 3;
        for i in 0..total {
            client.spawn_audit(json!({"grant_id": "g", "method": "GET", "n": i}), None);
        }
        held.wait_for(|n| *n >= MAX_BACKGROUND_POSTS).await.unwrap();
        // The rest wait for a slot instead of opening connections of their own.
        assert_eq!(client.shared.free_slots(Slot::Background), 0);
        assert_eq!(*held.borrow(), MAX_BACKGROUND_POSTS);
        assert_eq!(client.shared.tasks().len(), total);
        release.send(true).unwrap();
        client.close().await;
        assert_eq!(*held.borrow(), total, "close() sends every queued row");
    }

    /// A hostile provider: it echoes the credential (raw, base64 and
    /// percent-encoded) in its body, in a header and in its
    /// `WWW-Authenticate` challenge. Backend and provider are one scripted
    /// server, so the test sees exactly what the SDK posts back.
    mod hostile_provider {
        use crate::client::{Client, ClientOptions, Principal};
        use crate::error::Error;
        use crate::testutil::{scripted_server, Answer, Seen};
        use crate::{RequestOptions, RetryPolicy};
        use base64::Engine;
        use serde_json::json;
        use std::sync::Arc;

        const TOKEN: &str = "tok/ECHOED+8c1f=2a";
        const ACCT: &str = "acct-ECHOED-77";
        const GID: &str = "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60";

        fn forms() -> Vec<String> {
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            vec![
                TOKEN.to_string(),
                ACCT.to_string(),
                b64(TOKEN),
                b64(&format!("Bearer {TOKEN}")),
                "tok%2FECHOED%2B8c1f%3D2a".to_string(),
            ]
        }

        fn assert_clean(what: &str, text: &str) {
            for secret in forms() {
                assert!(!text.contains(&secret), "{what} carries {secret}: {text}");
            }
        }

        fn answer(req: &Seen, provider_status: u16) -> Answer {
            let target = req.target();
            if target.starts_with("/sdk/token") {
                let body = json!({
                    "access_token": TOKEN, "grant_id": GID, "provider_id": "acme",
                    "additional_credentials": {"acct": ACCT},
                    "additional_injections": [
                        {"target": "header", "key": "X-Acct", "value_source": "additional_credentials.acct"}
                    ]
                });
                return (200, vec![], body.to_string().into_bytes());
            }
            if target.starts_with("/sdk/") {
                return (204, vec![], Vec::new());
            }
            // The provider: everything it received, and more, echoed back.
            let auth = req
                .head
                .lines()
                .find_map(|l| l.strip_prefix("authorization: "))
                .unwrap_or("")
                .to_string();
            let mut body = format!("you sent:\n{}\n", req.head);
            for f in forms() {
                body.push_str(&format!("form {f}\n"));
            }
            let headers =
                vec![
                    ("x-echo-authorization".to_string(), auth),
                    ("content-type".to_string(), "text/plain".to_string()),
                    (
                        "www-authenticate".to_string(),
                        format!(
                        "Bearer error=\"{}\", scope=\"read {TOKEN}\", error_description=\"{ACCT}\"",
                        if provider_status == 403 { "insufficient_scope" } else { "invalid_token" }
                    ),
                    ),
                ];
            (provider_status, headers, body.into_bytes())
        }

        /// Runs one call against a provider answering `status`; returns the
        /// error and every request the SDK made after the token fetch that
        /// was meant for the backend (audit row, scope report).
        async fn call(status: u16) -> (Error, Vec<Seen>) {
            let (url, seen) = scripted_server(move |req| answer(req, status)).await;
            let client = Client::new(
                Principal::App,
                ClientOptions {
                    api_key: format!("alter_key_{}", "k".repeat(40)),
                    base_url: Some(url.clone()),
                    warnings: Some(Arc::new(|_: &str| {})),
                    retry: Some(RetryPolicy::disabled()),
                    ..Default::default()
                },
            )
            .unwrap();
            let err = client
                .request(
                    "GET",
                    &format!("{url}/provider/echo"),
                    RequestOptions {
                        grant_id: Some(GID.into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap_err();
            client.close().await;
            let reports = seen
                .lock()
                .unwrap()
                .iter()
                .filter(|r| {
                    r.target().starts_with("/sdk/") && !r.target().starts_with("/sdk/token")
                })
                .cloned()
                .collect();
            (err, reports)
        }

        fn error_text(e: &Error) -> String {
            format!(
                "{} {} {} {e:?}",
                e.message(),
                serde_json::to_string(e.details()).unwrap(),
                serde_json::to_string(&e.attributes()).unwrap()
            )
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn errors_and_audit_rows_never_carry_the_echoed_credential() {
            for (status, kind) in [
                (401, "ProviderUnauthorizedError"),
                (403, "ScopeReauthRequiredError"),
                (500, "ProviderAPIError"),
            ] {
                let (err, reports) = call(status).await;
                assert_eq!(err.kind(), kind);
                let text = error_text(&err);
                assert_clean(kind, &text);
                // The body is quoted, with the credential cut out of it.
                assert!(text.contains("<redacted>"), "{text}");
                assert!(text.contains("you sent:"), "{text}");

                let audit: Vec<&Seen> = reports
                    .iter()
                    .filter(|r| r.target() == "/sdk/oauth/audit/api-call")
                    .collect();
                assert_eq!(audit.len(), 1, "one audit row for {status}");
                let row = String::from_utf8_lossy(&audit[0].body);
                assert_clean("audit row", &row);
                assert!(row.contains("x-echo-authorization"), "{row}");
                assert!(row.contains("<redacted>"), "{row}");
                for r in &reports {
                    assert_clean(r.target(), &String::from_utf8_lossy(&r.body));
                }
                if status == 403 {
                    let report = reports
                        .iter()
                        .find(|r| r.target().ends_with("/report-scope-mismatch"))
                        .expect("a scope-mismatch report");
                    assert!(String::from_utf8_lossy(&report.body).contains("raw_www_authenticate"));
                }
            }
        }

        /// Input refused before the token fetch: nothing reaches the server
        /// (no `/sdk/token`, no audit row), in either mode, and the error
        /// names what is wrong.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn refused_input_sends_nothing_in_either_mode() {
            let (url, seen) = scripted_server(|req| answer(req, 200)).await;
            let client = Client::new(
                Principal::App,
                ClientOptions {
                    api_key: format!("alter_key_{}", "k".repeat(40)),
                    base_url: Some(url.clone()),
                    warnings: Some(Arc::new(|_: &str| {})),
                    ..Default::default()
                },
            )
            .unwrap();
            let port = url.rsplit(':').next().unwrap().to_string();
            let echo = format!("{url}/provider/echo");
            let header_cases: Vec<(&str, &str, &str)> = vec![
                ("X-Custom", "v\r\nX-Injected: 1", "'X-Custom'"),
                ("X-Nul", "a\0b", "'X-Nul'"),
                ("bad name", "v", "'bad name'"),
                ("Transfer-Encoding", "chunked", "'Transfer-Encoding'"),
                ("Content-Length", "0", "'Content-Length'"),
                ("Host", "evil.example", "'Host'"),
                ("connection", "close", "'connection'"),
                ("Keep-Alive", "1", "'Keep-Alive'"),
                ("Upgrade", "h2c", "'Upgrade'"),
                ("TE", "trailers", "'TE'"),
                ("Trailer", "x", "'Trailer'"),
                ("Proxy-Connection", "x", "'Proxy-Connection'"),
            ];
            for (name, value, shown) in header_cases {
                let headers = vec![(name.to_string(), value.to_string())];
                let e = client
                    .request(
                        "GET",
                        &echo,
                        RequestOptions {
                            grant_id: Some(GID.into()),
                            headers: headers.clone(),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), "AlterValueError", "{name}");
                assert!(
                    e.message().starts_with("request: header"),
                    "{}",
                    e.message()
                );
                assert!(e.message().contains(shown), "{}", e.message());
                assert!(
                    !e.message().contains(value) || value.len() < 2,
                    "{}",
                    e.message()
                );
                let e = client
                    .proxy_request(
                        "GET",
                        &echo,
                        crate::ProxyOptions {
                            grant_id: Some(GID.into()),
                            headers: Some(headers),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), "AlterValueError", "{name}");
                assert!(
                    e.message().starts_with("proxy_request: header"),
                    "{}",
                    e.message()
                );
            }
            for bad_url in [
                format!("http://user:pw@127.0.0.1:{port}/provider/echo"),
                format!("http://2130706433:{port}/provider/echo"),
                format!("http://127.1:{port}/provider/echo"),
                format!("http://0x7f.0.0.1:{port}/provider/echo"),
                format!("http://0177.0.0.1:{port}/provider/echo"),
            ] {
                let e = client
                    .request(
                        "GET",
                        &bad_url,
                        RequestOptions {
                            grant_id: Some(GID.into()),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), "AlterValueError", "{bad_url}");
                assert!(e.message().starts_with("url "), "{}", e.message());
                assert!(!e.message().contains("pw"), "{}", e.message());
                let e = client
                    .proxy_request(
                        "GET",
                        &bad_url,
                        crate::ProxyOptions {
                            grant_id: Some(GID.into()),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), "AlterValueError", "{bad_url}");
                assert!(
                    e.message().starts_with("proxy_request: url "),
                    "{}",
                    e.message()
                );
            }
            client.close().await;
            let seen = seen.lock().unwrap();
            assert!(
                seen.is_empty(),
                "sent: {:?}",
                seen.iter().map(Seen::target).collect::<Vec<_>>()
            );
        }
    }
}
