//! The client handles: `AlterApp` and `AlterAgent` (owned), and the
//! `AlterClient` view both lend for the calls they share.

use crate::error::AlterError;
use crate::guard::{block, entry, give, handle, opt_str, out_ptr, quiet, req_str, Fail};
use crate::options::{self, client_options};
use crate::AlterStatus;
use alter_core::{Agent, App, Client, ProxyOptions, ProxyOutcome, RequestOptions, Response};
use std::ffi::c_char;
use std::ptr;

#[derive(Clone)]
pub(crate) enum Principal {
    App(App),
    Agent(Agent),
}

impl Principal {
    /// Retrieve mode through the principal, so that what `App` and `Agent`
    /// add around the shared call (an installed user token, the
    /// impersonation warning) applies.
    pub(crate) async fn request(
        &self,
        method: &str,
        url: &str,
        opts: RequestOptions,
    ) -> alter_core::Result<Response> {
        match self {
            Principal::App(a) => a.request(method, url, opts).await,
            Principal::Agent(a) => a.request(method, url, opts).await,
        }
    }

    /// Proxy mode through the principal (see [`Principal::request`]).
    pub(crate) async fn proxy_request(
        &self,
        method: &str,
        url: &str,
        opts: ProxyOptions,
    ) -> alter_core::Result<ProxyOutcome> {
        match self {
            Principal::App(a) => a.proxy_request(method, url, opts).await,
            Principal::Agent(a) => a.proxy_request(method, url, opts).await,
        }
    }
}

/// The calls `App` and `Agent` share (`request`, `proxy_request`,
/// approvals, `list_grants`, `alter_call`). Always borrowed: obtained from
/// `alter_app_client` or `alter_agent_client`, valid as long as the App or
/// Agent it came from, never freed by itself.
pub struct AlterClient {
    pub(crate) principal: Principal,
}

impl AlterClient {
    pub(crate) fn client(&self) -> &Client {
        match &self.principal {
            Principal::App(a) => a,
            Principal::Agent(a) => a,
        }
    }

    pub(crate) fn app(&self) -> Option<&App> {
        match &self.principal {
            Principal::App(a) => Some(a),
            Principal::Agent(_) => None,
        }
    }

    pub(crate) fn agent(&self) -> Option<&Agent> {
        match &self.principal {
            Principal::Agent(a) => Some(a),
            Principal::App(_) => None,
        }
    }
}

/// An operator client (app key). Owned by the caller: free it with
/// `alter_app_free`. Safe to use from several threads at once.
pub struct AlterApp {
    pub(crate) view: AlterClient,
}

/// A workload client (agent key). Owned by the caller: free it with
/// `alter_agent_free`. Safe to use from several threads at once.
pub struct AlterAgent {
    pub(crate) view: AlterClient,
}

impl AlterApp {
    pub(crate) fn app(&self) -> &App {
        self.view.app().expect("an AlterApp always holds an App")
    }
}

impl AlterAgent {
    pub(crate) fn agent(&self) -> &Agent {
        self.view
            .agent()
            .expect("an AlterAgent always holds an Agent")
    }
}

/// Closes a client and drops it: waits for the background audit posts of a
/// root client first (a sibling only marks itself closed).
fn close_and_drop(view: AlterClient) {
    let client = view.client().clone();
    if !client.is_closed() {
        block(client.close());
    }
    drop(view);
}

/// Builds an App from an API key (NUL-terminated UTF-8, required) and
/// optional client options (NUL-terminated UTF-8 JSON object, or NULL).
/// Purely local: nothing is sent until the first call.
///
/// Client options (every key optional; unknown keys are refused):
///
/// ```text
/// {
///   "base_url":        "https://...",   // else ALTER_BASE_URL, else the hosted vault
///   "timeout_seconds": 30,              // per backend/provider HTTP call
///   "caller":          "billing-worker",// audit caller name (printable ASCII)
///   "caller_type":     "service",       // "service" (default) or "agent"; App only
///   "user_agent":      "my-app/1.0",    // default "alter-sdk-c/<version>"
///   "retry":           false,           // or true (default policy) or
///                      {"max_attempts": 3, "initial_backoff_seconds": 0.1,
///                       "max_backoff_seconds": 5, "max_retry_after_seconds": 30},
///   "warnings":        "stderr",        // or "silent"
///   "max_response_bytes": 67108864      // cap on a provider body (and a
///                                       // proxy-mode answer): 1 to 1073741824;
///                                       // over it: ResponseTooLargeError
/// }
/// ```
///
/// On success `*app_out` receives the new App (free it with
/// `alter_app_free`); on failure it is set to NULL and `*error_out` (when
/// `error_out` is not NULL) receives the error, e.g. `AlterSDKError` for a
/// malformed key.
#[no_mangle]
pub unsafe extern "C" fn alter_app_new(
    api_key: *const c_char,
    options_json: *const c_char,
    app_out: *mut *mut AlterApp,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_app_new", error_out, || {
        let out = out_ptr(app_out, "app_out")?;
        let key = req_str(api_key, "api_key")?;
        let opts = client_options(key, opt_str(options_json, "options_json")?)?;
        let app = App::new(opts)?;
        give(
            out,
            AlterApp {
                view: AlterClient {
                    principal: Principal::App(app),
                },
            },
        );
        Ok(())
    })
}

/// Builds an Agent from an agent API key; arguments and options as
/// `alter_app_new` (`caller_type` is always `agent` and may not be set).
/// Free the result with `alter_agent_free`.
#[no_mangle]
pub unsafe extern "C" fn alter_agent_new(
    api_key: *const c_char,
    options_json: *const c_char,
    agent_out: *mut *mut AlterAgent,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_agent_new", error_out, || {
        let out = out_ptr(agent_out, "agent_out")?;
        let key = req_str(api_key, "api_key")?;
        let opts = client_options(key, opt_str(options_json, "options_json")?)?;
        if opts.caller_type.is_some() {
            return Err(Fail::invalid(
                "client options: \"caller_type\" is always \"agent\" for an Agent",
            ));
        }
        let agent = Agent::new(opts)?;
        give(
            out,
            AlterAgent {
                view: AlterClient {
                    principal: Principal::Agent(agent),
                },
            },
        );
        Ok(())
    })
}

/// A sibling App whose every backend call carries scope constraints and/or
/// a request rule. `scopes_json` is a JSON array of scope strings or NULL;
/// `rule_json` a JSON object `{"rule_type": "...", "rule_body": {...}}` or
/// NULL; at least one is required. The sibling shares the parent's
/// connections and stops working once the parent is closed; free it with
/// `alter_app_free` (which only closes the sibling).
#[no_mangle]
pub unsafe extern "C" fn alter_app_with_constraints(
    app: *const AlterApp,
    scopes_json: *const c_char,
    rule_json: *const c_char,
    app_out: *mut *mut AlterApp,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_app_with_constraints", error_out, || {
        let out = out_ptr(app_out, "app_out")?;
        let app = handle(app, "app")?;
        let (scopes, rule) = constraints(scopes_json, rule_json)?;
        let sibling = app
            .app()
            .with_constraints(scopes.as_deref(), rule.as_ref())?;
        give(
            out,
            AlterApp {
                view: AlterClient {
                    principal: Principal::App(sibling),
                },
            },
        );
        Ok(())
    })
}

/// As `alter_app_with_constraints`, for an Agent; free the sibling with
/// `alter_agent_free`.
#[no_mangle]
pub unsafe extern "C" fn alter_agent_with_constraints(
    agent: *const AlterAgent,
    scopes_json: *const c_char,
    rule_json: *const c_char,
    agent_out: *mut *mut AlterAgent,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_agent_with_constraints", error_out, || {
        let out = out_ptr(agent_out, "agent_out")?;
        let agent = handle(agent, "agent")?;
        let (scopes, rule) = constraints(scopes_json, rule_json)?;
        let sibling = agent
            .agent()
            .with_constraints(scopes.as_deref(), rule.as_ref())?;
        give(
            out,
            AlterAgent {
                view: AlterClient {
                    principal: Principal::Agent(sibling),
                },
            },
        );
        Ok(())
    })
}

/// An Agent acting as a managed agent under this App's key (impersonation:
/// the audit log names the agent, but access is the App's, not the agent's
/// delegations). `agent` is the agent's UUID (any spelling; purely local) or
/// its name (looked up first; `AgentNotFoundError` when no non-revoked agent
/// has it). The Agent pins the App's base URL, has its own connections and
/// must be freed with `alter_agent_free`.
#[no_mangle]
pub unsafe extern "C" fn alter_app_get_agent(
    app: *const AlterApp,
    agent: *const c_char,
    agent_out: *mut *mut AlterAgent,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_app_get_agent", error_out, || {
        let out = out_ptr(agent_out, "agent_out")?;
        let app = handle(app, "app")?;
        let name = req_str(agent, "agent")?;
        let agent = block(app.app().get_agent(name))?;
        give(
            out,
            AlterAgent {
                view: AlterClient {
                    principal: Principal::Agent(agent),
                },
            },
        );
        Ok(())
    })
}

type Constraints = (Option<Vec<String>>, Option<serde_json::Value>);

unsafe fn constraints(
    scopes_json: *const c_char,
    rule_json: *const c_char,
) -> Result<Constraints, Fail> {
    let scopes = match opt_str(scopes_json, "scopes_json")? {
        None => None,
        Some(t) => match serde_json::from_str::<serde_json::Value>(t) {
            Ok(serde_json::Value::Array(a)) => Some(
                a.into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Ok(s),
                        _ => Err(Fail::invalid("scopes_json must be an array of strings")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => return Err(Fail::invalid("scopes_json must be an array of strings")),
        },
    };
    let rule = match opt_str(rule_json, "rule_json")? {
        None => None,
        Some(t) => Some(serde_json::Value::Object(options::object(
            Some(t),
            "rule_json",
        )?)),
    };
    Ok((scopes, rule))
}

/// The shared-call view of an App; valid as long as the App. NULL when
/// `app` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_app_client(app: *const AlterApp) -> *const AlterClient {
    quiet(ptr::null(), || match app.as_ref() {
        Some(a) => &a.view as *const AlterClient,
        None => ptr::null(),
    })
}

/// The shared-call view of an Agent; valid as long as the Agent. NULL when
/// `agent` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_agent_client(agent: *const AlterAgent) -> *const AlterClient {
    quiet(ptr::null(), || match agent.as_ref() {
        Some(a) => &a.view as *const AlterClient,
        None => ptr::null(),
    })
}

/// True once the client (or, for a sibling, its parent) is closed; false
/// for NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_client_is_closed(client: *const AlterClient) -> bool {
    quiet(false, || match client.as_ref() {
        Some(c) => c.client().is_closed(),
        None => false,
    })
}

/// Closes an App: waits (up to 10 s) for its background audit posts,
/// abandons the rest (see `alter_client_dropped_reports`), then refuses
/// further calls with `AlterSDKError`. Idempotent. Blocks; other threads may
/// still be using the App (their calls fail once it is closed). The handle
/// must still be freed with `alter_app_free`. `alter_client_close` takes
/// the deadline as an argument.
#[no_mangle]
pub unsafe extern "C" fn alter_app_close(
    app: *const AlterApp,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_app_close", error_out, || {
        let app = handle(app, "app")?;
        block(app.view.client().close());
        Ok(())
    })
}

/// Closes an Agent; as `alter_app_close`.
#[no_mangle]
pub unsafe extern "C" fn alter_agent_close(
    agent: *const AlterAgent,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_agent_close", error_out, || {
        let agent = handle(agent, "agent")?;
        block(agent.view.client().close());
        Ok(())
    })
}

/// Closes the App or Agent behind `client` as `alter_app_close` does, but
/// waits at most `timeout_seconds` (0 or more) for its pending background
/// audit posts; the rest are abandoned, and their number is stored in
/// `*abandoned_out` (when it is not NULL; 0 for a sibling or a second
/// close). Idempotent; the handle must still be freed.
#[no_mangle]
pub unsafe extern "C" fn alter_client_close(
    client: *const AlterClient,
    timeout_seconds: f64,
    abandoned_out: *mut u64,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_client_close", error_out, || {
        let client = handle(client, "client")?;
        let deadline = alter_core::client::close_timeout(timeout_seconds)
            .map_err(|e| Fail::invalid(e.message()))?;
        let abandoned = block(client.client().close_within(deadline));
        if !abandoned_out.is_null() {
            *abandoned_out = abandoned;
        }
        Ok(())
    })
}

/// Background reports (audit rows, scope-mismatch reports) the client and
/// its siblings did not deliver: dropped while the background queue was full
/// (at most 1024 wait), or abandoned when a close ran out of time. 0 for
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_client_dropped_reports(client: *const AlterClient) -> u64 {
    quiet(0, || match client.as_ref() {
        Some(c) => c.client().dropped_reports(),
        None => 0,
    })
}

/// Frees an App, closing it first if it is still open (which waits, up to
/// 10 s, for its background audit posts). No call on it may be in progress or start
/// afterwards. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn alter_app_free(app: *mut AlterApp) {
    quiet((), || {
        if !app.is_null() {
            close_and_drop(Box::from_raw(app).view);
        }
    })
}

/// Frees an Agent; as `alter_app_free`.
#[no_mangle]
pub unsafe extern "C" fn alter_agent_free(agent: *mut AlterAgent) {
    quiet((), || {
        if !agent.is_null() {
            close_and_drop(Box::from_raw(agent).view);
        }
    })
}
