//! `NativeClient`: one `App` or `Agent` of the core. Every asynchronous
//! operation goes through [`NativeClient::call`], which converts the
//! camelCase arguments, runs the core's future on the core's tokio runtime
//! and settles a JavaScript promise from there; the event loop never waits.

use crate::convert::{model, Positional};
use crate::errors::{self, Failure};
use crate::promise::{self, CancelToken, Out, ResponseOut};
use alter_core::guard::lock;
use alter_core::ops::{self, Args, Spelling, Target};
use alter_core::{
    CallerType, ClientOptions, ConnectEvent, ConnectEventSink, Error, ProxyOutcome, RetryPolicy,
    UserTokenGetter, WarningSink,
};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type CoreResult<T> = std::result::Result<T, Error>;

/// The product token of this binding's backend requests.
pub const USER_AGENT: &str = concat!("alter-sdk-node/", env!("CARGO_PKG_VERSION"));

#[derive(Clone)]
pub(crate) enum Principal {
    App(alter_core::App),
    Agent(alter_core::Agent),
}

impl Principal {
    pub(crate) fn client(&self) -> &alter_core::Client {
        match self {
            Principal::App(a) => a,
            Principal::Agent(a) => a,
        }
    }

    pub(crate) fn target(&self) -> Target<'_> {
        match self {
            Principal::App(a) => Target::App(a),
            Principal::Agent(a) => Target::Agent(a),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Principal::App(_) => "App",
            Principal::Agent(_) => "Agent",
        }
    }
}

type TokenFn = ThreadsafeFunction<(), Promise<String>, (), Status, false, true>;
/// A callback taking one string: the logger's `warn`, `onEvent` (JSON).
type TextFn = ThreadsafeFunction<String, (), String, Status, false, true>;
type OpenFn = ThreadsafeFunction<String, Promise<bool>, String, Status, false, true>;

/// The `openBrowser` callback of `connect()`. The core calls `open` from
/// one of its runtime's workers; it waits there (outside the async
/// scheduler) for the callback's promise, so the URL is handled before
/// polling starts. A failed or absent answer is `false` (the core then
/// prints the URL).
struct JsOpener {
    tsfn: Arc<OpenFn>,
    /// The call's `AbortSignal`: stops waiting for a callback that never
    /// settles (the call is being dropped, so nothing is printed).
    cancel: Option<tokio_util::sync::CancellationToken>,
}

impl alter_core::BrowserOpener for JsOpener {
    fn open(&self, url: &str) -> bool {
        let tsfn = self.tsfn.clone();
        let url = url.to_string();
        let wait = async move {
            match tsfn.call_async_catch(url).await {
                Ok(answer) => answer.await.unwrap_or(false),
                Err(_) => false,
            }
        };
        let cancel = self.cancel.clone();
        let guarded = async move {
            match cancel {
                Some(token) => tokio::select! {
                    biased;
                    _ = token.cancelled() => true,
                    opened = wait => opened,
                },
                None => wait.await,
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => tokio::task::block_in_place(|| handle.block_on(guarded)),
            Err(_) => false,
        }
    }
}

/// A client of the core (`App` or `Agent`).
#[napi]
pub struct NativeClient {
    p: Principal,
}

/// A reader of a JavaScript options object (camelCase keys).
pub(crate) fn js_options(label: &str, v: Option<Value>) -> CoreResult<Args<'static>> {
    Ok(Args::from_value(label, v, Spelling::CAMEL)?)
}

/// A seconds option, checked by the core's rule; `prefix` names the
/// enclosing option in the error (`retry.`).
fn seconds(o: &mut Args, prefix: &str, key: &str) -> CoreResult<Option<Duration>> {
    match o.number(key)? {
        None => Ok(None),
        Some(s) => {
            alter_core::config::positive_seconds(&format!("{prefix}{}", o.name(key)), s).map(Some)
        }
    }
}

fn retry_policy(m: Map<String, Value>) -> CoreResult<RetryPolicy> {
    let mut o = js_options("retry", Some(Value::Object(m)))?;
    let mut p = RetryPolicy::default();
    if let Some(n) = o.int("max_attempts")? {
        p.max_attempts = match u32::try_from(n) {
            Ok(n) if n >= 1 => n,
            Ok(_) | Err(_) if n < 1 => {
                return Err(Error::value("retry.maxAttempts must be at least 1"))
            }
            _ => return Err(Error::value("retry.maxAttempts must be at most 4294967295")),
        };
    }
    if let Some(d) = seconds(&mut o, "retry.", "initial_backoff")? {
        p.initial_backoff = d;
    }
    if let Some(d) = seconds(&mut o, "retry.", "max_backoff")? {
        p.max_backoff = d;
    }
    if let Some(d) = seconds(&mut o, "retry.", "max_retry_after")? {
        p.max_retry_after = d;
    }
    o.finish()?;
    Ok(p)
}

/// Warnings raised during construction, delivered when it returns.
type EarlyWarnings = Arc<Mutex<Option<Vec<String>>>>;

fn client_options(
    kind: &str,
    options: Value,
    token: Option<TokenFn>,
    warn: Option<TextFn>,
    early: &EarlyWarnings,
) -> CoreResult<ClientOptions> {
    let op = if kind == "App" { "App" } else { "Agent" };
    let mut o = js_options(op, Some(options))?;
    let api_key = o.string("api_key")?.unwrap_or_default();
    let mut opts = ClientOptions {
        api_key,
        base_url: o.string("base_url")?,
        timeout: seconds(&mut o, "", "timeout")?,
        caller: o.string("caller")?,
        user_agent: Some(USER_AGENT.to_string()),
        // A negative count becomes 0, which the core refuses by name.
        max_response_bytes: o
            .int("max_response_bytes")?
            .map(|n| u64::try_from(n).unwrap_or(0)),
        ..Default::default()
    };
    if kind == "App" {
        if let Some(t) = o.string("caller_type")? {
            opts.caller_type = Some(CallerType::parse(&t)?);
        }
    }
    if let Some(r) = o.object("retry")? {
        opts.retry = Some(retry_policy(r)?);
    }
    if o.boolean("disable_retry")? == Some(true) {
        opts.retry = Some(RetryPolicy::disabled());
    }
    o.finish()?;
    if let Some(tsfn) = token {
        let tsfn = Arc::new(tsfn);
        let getter: UserTokenGetter = Arc::new(move || {
            let tsfn = tsfn.clone();
            Box::pin(async move {
                let pending = tsfn.call_async_catch(()).await.map_err(|_| ())?;
                pending.await.map_err(|_| ())
            })
        });
        opts.user_token_getter = Some(getter);
    }
    if let Some(tsfn) = warn {
        let pending = early.clone();
        let sink: WarningSink = Arc::new(move |msg: &str| {
            // Warnings raised while the constructor runs are handed over
            // synchronously once it returns (an unref'd queue may never be
            // drained if the process has nothing else to do).
            if let Some(buf) = lock(&pending).as_mut() {
                buf.push(msg.to_string());
                return;
            }
            tsfn.call(msg.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
        });
        opts.warnings = Some(sink);
    }
    Ok(opts)
}

fn parse_context(text: &str) -> CoreResult<Vec<(String, String)>> {
    serde_json::from_str(text).map_err(|_| Error::value("trace context is not valid"))
}

fn parse_json(text: &str, what: &str) -> CoreResult<Value> {
    serde_json::from_str(text).map_err(|_| Error::value(format!("{what} is not valid JSON")))
}

impl NativeClient {
    pub(crate) fn wrap(p: Principal) -> NativeClient {
        NativeClient { p }
    }
}

#[napi]
impl NativeClient {
    /// `kind` is `App` or `Agent`; `options` the constructor options as JSON.
    #[napi(constructor)]
    pub fn new(
        env: Env,
        kind: String,
        options: String,
        user_token_getter: Option<Function<(), Promise<String>>>,
        warn: Option<Function<String, ()>>,
    ) -> Result<Self> {
        let token = match user_token_getter {
            Some(f) => Some(
                f.build_threadsafe_function()
                    .weak::<true>()
                    .callee_handled::<false>()
                    .build()?,
            ),
            None => None,
        };
        let warn_tsfn = match &warn {
            Some(f) => Some(
                f.build_threadsafe_function()
                    .weak::<true>()
                    .callee_handled::<false>()
                    .build()?,
            ),
            None => None,
        };
        let early: EarlyWarnings = Arc::new(Mutex::new(Some(Vec::new())));
        let built = errors::run_sync(&env, &kind, || {
            parse_json(&options, "options")
                .and_then(|v| client_options(&kind, v, token, warn_tsfn, &early))
                .and_then(|opts| match kind.as_str() {
                    "App" => alter_core::App::new(opts).map(Principal::App),
                    _ => alter_core::Agent::new(opts).map(Principal::Agent),
                })
        });
        let raised = lock(&early).take().unwrap_or_default();
        if let Some(f) = &warn {
            for msg in raised {
                // A throwing logger never fails construction.
                let _ = f.call(msg);
            }
        }
        built.map(|p| NativeClient { p })
    }

    /// `App` or `Agent`.
    #[napi(getter)]
    pub fn principal(&self) -> String {
        self.p.name().to_string()
    }

    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.p.client().base_url().to_string()
    }

    #[napi(getter)]
    pub fn actor_id(&self) -> Option<String> {
        self.p.client().actor_id()
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.p.client().is_closed()
    }

    /// Background reports not delivered (queue full, or abandoned by
    /// `close()` / the exit flush running out of time).
    #[napi(getter)]
    pub fn dropped_reports(&self) -> f64 {
        self.p.client().dropped_reports() as f64
    }

    #[napi(getter)]
    pub fn max_response_bytes(&self) -> f64 {
        self.p.client().max_response_bytes() as f64
    }

    #[napi(getter, ts_return_type = "unknown")]
    pub fn last_retry_info(&self) -> Value {
        self.p
            .client()
            .last_retry_info()
            .map_or(Value::Null, |r| model(&r))
    }

    /// `{limit, remaining, resetAt}` with `resetAt` as RFC 3339 text.
    #[napi(getter, ts_return_type = "unknown")]
    pub fn last_rate_limit(&self) -> Value {
        match self.p.client().last_rate_limit() {
            None => Value::Null,
            Some(s) => json!({
                "limit": s.limit,
                "remaining": s.remaining,
                "resetAt": s
                    .reset_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            }),
        }
    }

    /// A sibling bound to scope constraints and/or a request rule.
    #[napi]
    pub fn with_constraints(&self, env: Env, options: String) -> Result<NativeClient> {
        let run = || -> CoreResult<Principal> {
            let mut o = js_options("withConstraints", Some(parse_json(&options, "options")?))?;
            let scopes = o.strings("scopes")?;
            let rule = o.take("rule").map(rule_to_wire);
            o.finish()?;
            Ok(match &self.p {
                Principal::App(a) => {
                    Principal::App(a.with_constraints(scopes.as_deref(), rule.as_ref())?)
                }
                Principal::Agent(a) => {
                    Principal::Agent(a.with_constraints(scopes.as_deref(), rule.as_ref())?)
                }
            })
        };
        errors::run_sync(&env, "withConstraints", run).map(|p| NativeClient { p })
    }

    /// Runs one asynchronous operation; resolves with its result. `ambient`
    /// is the enclosing `trace()` context (JSON `[[key, value], ...]`).
    ///
    /// `on_event` receives, as camelCase JSON, what the operation reports
    /// while it runs (`pollConnectSession`: each provider the user
    /// declines); the core refuses it for an operation that reports none.
    #[napi(ts_return_type = "Promise<unknown>")]
    #[allow(clippy::too_many_arguments)]
    pub fn call<'env>(
        &self,
        env: &'env Env,
        op: String,
        args: String,
        body: Option<Buffer>,
        cancel: Option<&CancelToken>,
        ambient: Option<String>,
        on_event: Option<Function<String, ()>>,
    ) -> Result<Object<'env>> {
        let body = body.map(|b| b.to_vec());
        let p = self.p.clone();
        let token = cancel.map(|c| c.token());
        let on_event = match on_event {
            Some(f) => {
                let tsfn: TextFn = f
                    .build_threadsafe_function()
                    .weak::<true>()
                    .callee_handled::<false>()
                    .build()?;
                let sink: ConnectEventSink = Arc::new(move |event: &ConnectEvent| {
                    let json = model(&event.to_value()).to_string();
                    tsfn.call(json, ThreadsafeFunctionCallMode::NonBlocking);
                });
                Some(sink)
            }
            None => None,
        };
        promise::spawn(env, token, async move {
            let args = parse_json(&args, "arguments")?;
            let run = dispatch(p, &op, args, body, on_event);
            match ambient.as_deref().map(parse_context).transpose()? {
                Some(ctx) => alter_core::context::with_ambient(ctx, run).await,
                None => run.await,
            }
        })
    }

    /// Headless OAuth (`connect()`): mints a session, hands its consent URL
    /// to `opener` (else the system browser) and polls to the end.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn connect<'env>(
        &self,
        env: &'env Env,
        args: String,
        opener: Option<Function<String, Promise<bool>>>,
        cancel: Option<&CancelToken>,
        ambient: Option<String>,
    ) -> Result<Object<'env>> {
        let opener = match opener {
            Some(f) => Some(Arc::new(
                f.build_threadsafe_function()
                    .weak::<true>()
                    .callee_handled::<false>()
                    .build()?,
            )),
            None => None,
        };
        let p = self.p.clone();
        let token = cancel.map(|c| c.token());
        let opener_cancel = token.clone();
        promise::spawn(env, token, async move {
            let v = parse_json(&args, "arguments")?;
            let opts = crate::more::headless_options(Positional::new("connect", v).value(0))?;
            let client = p.client().clone();
            let run = async move {
                match opener {
                    Some(tsfn) => {
                        let opener = JsOpener {
                            tsfn,
                            cancel: opener_cancel,
                        };
                        client.connect(&opts, &opener).await
                    }
                    None => client.connect(&opts, &alter_core::SystemBrowser).await,
                }
            };
            let results = match ambient.as_deref().map(parse_context).transpose()? {
                Some(ctx) => alter_core::context::with_ambient(ctx, run).await?,
                None => run.await?,
            };
            Ok(Out::Json(model(&results)))
        })
    }

    /// The context `agent.trace(options)` scopes, given the enclosing one
    /// (both JSON `[[key, value], ...]`); validation is the core's.
    #[napi]
    pub fn trace_context(
        &self,
        env: Env,
        options: String,
        ambient: Option<String>,
    ) -> Result<String> {
        let run = || -> CoreResult<String> {
            let Principal::Agent(agent) = &self.p else {
                return Err(Error::sdk("trace() is only available on Agent"));
            };
            let mut o = js_options("trace", Some(parse_json(&options, "options")?))?;
            let run_id = o.string("run_id")?;
            let thread_id = o.string("thread_id")?;
            let parent = match o.take_raw("parent") {
                None => alter_core::trace::TraceParent::Inherit,
                Some(Value::Null) => alter_core::trace::TraceParent::Clear,
                Some(Value::String(s)) => alter_core::trace::TraceParent::Set(s),
                Some(_) => return Err(Error::value("trace: parent must be a string or null")),
            };
            let mut metadata = Vec::new();
            for (k, v) in o.into_rest() {
                match v {
                    Value::String(s) => metadata.push((k, s)),
                    Value::Null => {}
                    _ => {
                        return Err(Error::value(format!(
                            "trace: metadata value for '{k}' must be a string"
                        )))
                    }
                }
            }
            let opts = alter_core::trace::TraceOptions {
                run_id,
                thread_id,
                parent,
                metadata,
            };
            let enclosing = ambient.as_deref().map(parse_context).transpose()?;
            let ctx = alter_core::trace::build_trace_context(
                enclosing.as_deref(),
                &agent.trace_identity(),
                &opts,
            )?;
            Ok(serde_json::to_string(&ctx).unwrap_or_else(|_| "[]".into()))
        };
        errors::run_sync(&env, "trace", run)
    }
}

/// `RequestRule` (`{ruleType, ruleBody}`) in its wire shape. The body is
/// sent as given (wire field names).
fn rule_to_wire(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let k = match k.as_str() {
                    "ruleType" => "rule_type".to_string(),
                    "ruleBody" => "rule_body".to_string(),
                    _ => k,
                };
                out.insert(k, v);
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// The executed call of a proxied request, as `awaitApproval` also gives it.
fn approval_result(r: &alter_core::ApprovalResult) -> Value {
    let mut v = model(r);
    if let Value::Object(m) = &mut v {
        m.insert("status".into(), "executed".into());
    }
    v
}

/// Runs `op`: the calls with JavaScript-specific plumbing (bodies as
/// `Buffer`s, a fetch-style response, closing) here, every other one
/// through the core's operation table.
async fn dispatch(
    p: Principal,
    op: &str,
    args: Value,
    body: Option<Vec<u8>>,
    on_event: Option<ConnectEventSink>,
) -> std::result::Result<Out, Failure> {
    let client = p.client().clone();
    match op {
        "request" => {
            let a = Positional::new("request", args);
            let (method, url) = (a.str(0, "method")?, a.str(1, "url")?);
            let mut o = js_options("request", a.value(2))?;
            let opts = ops::request_options(&mut o, body)?;
            o.finish()?;
            let r = client.request(&method, &url, opts).await?;
            Ok(Out::Response(ResponseOut {
                status: r.status,
                headers: r.headers,
                body: r.body.to_vec(),
                url: r.url,
                elapsed_ms: r.elapsed.as_secs_f64() * 1000.0,
                retry_info: r.retry_info.as_ref().map(model),
                backend_attempts: r.backend_attempts,
            }))
        }
        "proxyRequest" => {
            let a = Positional::new("proxyRequest", args);
            let (method, url) = (a.str(0, "method")?, a.str(1, "url")?);
            let mut o = js_options("proxyRequest", a.value(2))?;
            let opts = ops::proxy_options(&mut o)?;
            o.finish()?;
            match client.proxy_request(&method, &url, opts).await? {
                ProxyOutcome::Result(r) => Ok(Out::Json(approval_result(&r))),
                ProxyOutcome::Pending(p) => Ok(Out::Json(model(&p))),
            }
        }
        "close" => {
            let a = Positional::new("close", args);
            let mut o = js_options("close", a.value(0))?;
            let timeout = o.number("timeout")?;
            o.finish()?;
            let deadline = match timeout {
                Some(s) => alter_core::client::close_timeout(s)?,
                None => alter_core::client::DEFAULT_CLOSE_TIMEOUT,
            };
            client.close_within(deadline).await;
            Ok(Out::Undefined)
        }
        other => crate::more::dispatch(p, other, args, on_event).await,
    }
}
