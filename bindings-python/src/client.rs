//! `App` and `Agent`: Python classes over the core's principals. Shared
//! methods live on the base class `_BaseClient`; each subclass adds what
//! only its principal may do. Every method converts its arguments, builds
//! the core call and returns a [`CoreCall`] coroutine.

use crate::bridge::{self, CoreCall};
use crate::callbacks;
use crate::convert::{
    self, body_arg, json_arg, model, opt_str_like, str_like, str_pairs, type_name,
};
use crate::errors::{sdk_error, to_pyerr, value_error};
use crate::response::Response;
use alter_core::{ClientOptions, ProxyOptions, ProxyOutcome, RequestOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

/// The product token our backend calls carry.
pub const USER_AGENT: &str = concat!("alter-sdk-python/", env!("CARGO_PKG_VERSION"), " (rust)");

/// The core principal behind a Python client.
#[derive(Clone)]
pub enum Inner {
    App(alter_core::App),
    Agent(alter_core::Agent),
}

impl Inner {
    pub fn client(&self) -> &alter_core::Client {
        match self {
            Inner::App(a) => a,
            Inner::Agent(a) => a,
        }
    }

    fn class_name(&self) -> &'static str {
        match self {
            Inner::App(_) => "App",
            Inner::Agent(_) => "Agent",
        }
    }
}

/// Shared base of `App` and `Agent` (not exported).
#[pyclass(
    module = "alter_sdk._alter_sdk",
    name = "_BaseClient",
    subclass,
    frozen
)]
pub struct BaseClient {
    pub inner: Inner,
    /// The caller-supplied logger, kept for `get_agent` children.
    logger: Option<Py<PyAny>>,
}

impl BaseClient {
    fn new(inner: Inner, logger: Option<Py<PyAny>>) -> BaseClient {
        BaseClient { inner, logger }
    }
}

/// Constructor arguments shared by both classes.
pub struct Construct<'a, 'py> {
    pub api_key: &'a Bound<'py, PyAny>,
    pub timeout: Option<f64>,
    pub caller: Option<&'a Bound<'py, PyAny>>,
    pub caller_type: Option<&'a Bound<'py, PyAny>>,
    pub user_token_getter: Option<&'a Bound<'py, PyAny>>,
    pub logger: Option<&'a Bound<'py, PyAny>>,
    pub base_url: Option<&'a Bound<'py, PyAny>>,
    pub max_response_bytes: Option<&'a Bound<'py, PyAny>>,
}

/// `max_response_bytes`: a Python int. Anything the core cannot take as a
/// byte count (a bool, a negative or huge int, another type) becomes 0,
/// which the core refuses with its own message.
fn byte_count(v: Option<&Bound<'_, PyAny>>) -> Option<u64> {
    let v = v.filter(|v| !v.is_none())?;
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Some(0);
    }
    Some(v.extract::<u64>().unwrap_or(0))
}

impl Construct<'_, '_> {
    fn options(&self, py: Python<'_>) -> PyResult<ClientOptions> {
        let api_key = match self.api_key.cast::<PyString>() {
            Ok(s) => s.to_str()?.to_string(),
            Err(_) => return Err(sdk_error(py, "api_key must be a string")),
        };
        let timeout = match self.timeout {
            None => None,
            Some(secs) => Some(
                alter_core::config::positive_seconds("timeout", secs)
                    .map_err(|e| to_pyerr(py, &e))?,
            ),
        };
        let caller = match self.caller.filter(|c| !c.is_none()) {
            None => None,
            Some(c) => match c.cast::<PyString>() {
                Ok(s) => Some(s.to_str()?.to_string()),
                // The core's own message for a bad caller.
                Err(_) => Some(String::new()),
            },
        };
        let caller_type = match self.caller_type.filter(|c| !c.is_none()) {
            None => None,
            Some(c) => {
                let s = c
                    .cast::<PyString>()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                Some(alter_core::CallerType::parse(&s).map_err(|e| to_pyerr(py, &e))?)
            }
        };
        let user_token_getter = match self.user_token_getter.filter(|g| !g.is_none()) {
            None => None,
            Some(g) if g.is_callable() => Some(callbacks::user_token_getter(g.clone().unbind())),
            Some(_) => return Err(sdk_error(py, "user_token_getter must be callable")),
        };
        let logger = match self.logger.filter(|l| !l.is_none()) {
            None => None,
            Some(l) => {
                let ok = l
                    .getattr("warning")
                    .map(|w| w.is_callable())
                    .unwrap_or(false);
                if !ok {
                    return Err(sdk_error(
                        py,
                        "logger must have a callable 'warning' method",
                    ));
                }
                Some(l.clone().unbind())
            }
        };
        let base_url = match self.base_url.filter(|b| !b.is_none()) {
            None => None,
            Some(b) => Some(b.extract::<String>()?),
        };
        Ok(ClientOptions {
            api_key,
            base_url,
            timeout,
            caller,
            caller_type,
            user_token_getter,
            retry: None,
            warnings: Some(callbacks::warning_sink(logger)),
            user_agent: Some(USER_AGENT.to_string()),
            // Proxy variables come from the process environment.
            env: None,
            max_response_bytes: byte_count(self.max_response_bytes),
        })
    }

    fn logger(&self) -> Option<Py<PyAny>> {
        self.logger
            .filter(|l| !l.is_none())
            .map(|l| l.clone().unbind())
    }
}

fn opt_string_value(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    // A value that is not a string becomes "" so that the core's own
    // "must be a non-empty string" check reports it.
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => Ok(Some(match v.cast::<PyString>() {
            Ok(s) => s.to_str()?.to_string(),
            Err(_) => String::new(),
        })),
    }
}

fn headers_arg(
    py: Python<'_>,
    extra_headers: Option<&Bound<'_, PyAny>>,
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Vec<(String, String)>>> {
    let extra = extra_headers.filter(|h| !h.is_none());
    let docs = headers.filter(|h| !h.is_none());
    let (name, given) = match (extra, docs) {
        (Some(_), Some(_)) => {
            return Err(value_error(
                py,
                "pass extra_headers or its alias headers, not both",
            ))
        }
        (Some(h), None) => ("extra_headers", h),
        (None, Some(h)) => ("headers", h),
        (None, None) => return Ok(None),
    };
    str_pairs(given, &|| {
        value_error(py, format!("{name} must be a dict[str, str]"))
    })
    .map(Some)
}

fn path_params_arg(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    ctx: &str,
) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let Ok(d) = obj.cast::<PyDict>() else {
        return Err(to_pyerr(
            py,
            &alter_core::provider_url::path_params_not_a_map(ctx),
        ));
    };
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        match (k.cast::<PyString>(), v.cast::<PyString>()) {
            (Ok(k), Ok(v)) => {
                let v = v.to_str().map_err(|_| {
                    value_error(
                        py,
                        format!("{ctx}: path_params values must contain valid Unicode"),
                    )
                })?;
                out.push((k.to_str()?.to_string(), v.to_string()));
            }
            // Not an identifier → the core's own message for bad entries.
            _ => out.push((String::new(), String::new())),
        }
    }
    Ok(out)
}

fn context_arg(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Vec<(String, String)>>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(c) => str_pairs(c, &|| value_error(py, "context must be a dict[str, str]")).map(Some),
    }
}

fn method_arg(py: Python<'_>, m: &Bound<'_, PyAny>, proxy: bool) -> PyResult<String> {
    match m.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_string()),
        Err(_) if proxy => Ok(String::new()),
        Err(_) => Err(value_error(
            py,
            format!(
                "method must be an HttpMethod or a str, not {}",
                type_name(m)
            ),
        )),
    }
}

fn url_arg(py: Python<'_>, u: &Bound<'_, PyAny>, proxy: bool) -> PyResult<String> {
    match u.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_string()),
        Err(_) if proxy => Ok(String::new()),
        Err(_) => Err(value_error(py, "url must be a string")),
    }
}

/// Builds a Python `App` or `Agent` around a core principal.
pub fn wrap(py: Python<'_>, inner: Inner, logger: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
    let base = BaseClient::new(inner.clone(), logger);
    match inner {
        Inner::App(app) => {
            let init = PyClassInitializer::from(base).add_subclass(App { app });
            Ok(Py::new(py, init)?.into_any())
        }
        Inner::Agent(agent) => {
            let init = PyClassInitializer::from(base).add_subclass(Agent { agent });
            Ok(Py::new(py, init)?.into_any())
        }
    }
}

fn none(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

#[pymethods]
impl BaseClient {
    /// Retrieve mode: fetches the credential, calls the provider with it
    /// injected and returns the provider's response.
    #[pyo3(signature = (
        method, url, *, grant_id=None, provider=None, account=None, label=None, json=None,
        extra_headers=None, query_params=None, path_params=None, reason=None, context=None,
        body=None, caller=None, user_token=None, app_user_id=None, headers=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        py: Python<'_>,
        method: &Bound<'_, PyAny>,
        url: &Bound<'_, PyAny>,
        grant_id: Option<&Bound<'_, PyAny>>,
        provider: Option<&Bound<'_, PyAny>>,
        account: Option<String>,
        label: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        extra_headers: Option<&Bound<'_, PyAny>>,
        query_params: Option<&Bound<'_, PyAny>>,
        path_params: Option<&Bound<'_, PyAny>>,
        reason: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
        caller: Option<String>,
        user_token: Option<&Bound<'_, PyAny>>,
        app_user_id: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let opts = RequestOptions {
            grant_id: opt_str_like(grant_id, "grant_id")?,
            provider: opt_str_like(provider, "provider")?,
            account,
            label: opt_string_value(label)?,
            app_user_id: opt_string_value(app_user_id)?,
            user_token: opt_string_value(user_token)?,
            json: json
                .filter(|j| !j.is_none())
                .map(|j| json_arg(py, j))
                .transpose()?,
            body: body
                .filter(|b| !b.is_none())
                .map(|b| body_arg(py, b))
                .transpose()?,
            headers: headers_arg(py, extra_headers, headers)?.unwrap_or_default(),
            query_params: query_params
                .filter(|q| !q.is_none())
                .map(|q| convert::query_params(py, q))
                .transpose()?,
            path_params: path_params_arg(py, path_params, "request")?,
            reason,
            context: context_arg(py, context)?,
            caller,
        };
        let method = method_arg(py, method, false)?;
        let url = url_arg(py, url, false)?;
        let inner = self.inner.clone();
        let name = match inner {
            Inner::App(_) => "App.request",
            Inner::Agent(_) => "Agent.request",
        };
        Ok(bridge::call(
            name,
            async move {
                match &inner {
                    Inner::App(a) => a.request(&method, &url, opts).await,
                    Inner::Agent(a) => a.request(&method, &url, opts).await,
                }
            },
            |py, r| Ok(Py::new(py, Response::from_core(py, r)?)?.into_any()),
        ))
    }

    /// Proxy mode: the backend makes the provider call. Returns an
    /// `ApprovalResult`, or a `PendingApproval` when a human must approve.
    #[pyo3(signature = (
        method, url, *, grant_id=None, provider=None, account=None, label=None, json=None,
        extra_headers=None, query_params=None, path_params=None, reason=None, context=None,
        caller=None, user_token=None, app_user_id=None, headers=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn proxy_request(
        &self,
        py: Python<'_>,
        method: &Bound<'_, PyAny>,
        url: &Bound<'_, PyAny>,
        grant_id: Option<&Bound<'_, PyAny>>,
        provider: Option<&Bound<'_, PyAny>>,
        account: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        extra_headers: Option<&Bound<'_, PyAny>>,
        query_params: Option<&Bound<'_, PyAny>>,
        path_params: Option<&Bound<'_, PyAny>>,
        reason: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        caller: Option<String>,
        user_token: Option<&Bound<'_, PyAny>>,
        app_user_id: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let opts = ProxyOptions {
            grant_id: match grant_id {
                Some(g)
                    if !g.is_none() && g.cast::<PyString>().is_err() && type_name(g) != "UUID" =>
                {
                    Some(String::new())
                }
                g => opt_str_like(g, "grant_id")?,
            },
            provider: opt_string_value(provider)?,
            account: opt_string_value(account)?,
            label: opt_string_value(label)?,
            app_user_id: opt_string_value(app_user_id)?,
            user_token: opt_string_value(user_token)?,
            json: json
                .filter(|j| !j.is_none())
                .map(|j| json_arg(py, j))
                .transpose()?,
            headers: headers_arg(py, extra_headers, headers)?,
            query_params: query_params
                .filter(|q| !q.is_none())
                .map(|q| convert::query_params(py, q))
                .transpose()?,
            path_params: path_params_arg(py, path_params, "proxy_request")?,
            reason,
            context: context_arg(py, context)?,
            caller,
        };
        let method = method_arg(py, method, true)?;
        let url = url_arg(py, url, true)?;
        let inner = self.inner.clone();
        let name = match inner {
            Inner::App(_) => "App.proxy_request",
            Inner::Agent(_) => "Agent.proxy_request",
        };
        Ok(bridge::call(
            name,
            async move {
                match &inner {
                    Inner::App(a) => a.proxy_request(&method, &url, opts).await,
                    Inner::Agent(a) => a.client().proxy_request(&method, &url, opts).await,
                }
            },
            |py, out| match out {
                ProxyOutcome::Result(r) => model(py, "ApprovalResult", &r),
                ProxyOutcome::Pending(p) => model(py, "PendingApproval", &p),
            },
        ))
    }

    /// One approval status poll; `wait` asks the server to hold the request
    /// up to that many seconds for a change.
    #[pyo3(signature = (approval_id, *, wait=0.0))]
    fn get_approval_status(&self, approval_id: &Bound<'_, PyAny>, wait: f64) -> PyResult<CoreCall> {
        let id = str_like(approval_id, "approval_id")?;
        let client = self.inner.client().clone();
        Ok(bridge::call(
            "get_approval_status",
            async move { client.get_approval_status(&id, wait).await },
            |py, s| model(py, "ApprovalStatus", &s),
        ))
    }

    /// Waits for an approval to be decided and returns the executed call's
    /// result (or raises the matching `ApprovalError`).
    #[pyo3(signature = (approval_id, *, timeout=300.0, poll_interval=2.0))]
    fn await_approval(
        &self,
        approval_id: &Bound<'_, PyAny>,
        timeout: f64,
        poll_interval: f64,
    ) -> PyResult<CoreCall> {
        let id = str_like(approval_id, "approval_id")?;
        let client = self.inner.client().clone();
        Ok(bridge::call(
            "await_approval",
            async move { client.await_approval(&id, timeout, poll_interval).await },
            |py, r| model(py, "ApprovalResult", &r),
        ))
    }

    /// Grants visible to this client (one page).
    #[pyo3(signature = (
        *, provider_id=None, status=None, account=None, label=None, end_user_token=None,
        limit=100, offset=0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn list_grants(
        &self,
        provider_id: Option<&Bound<'_, PyAny>>,
        status: Option<&Bound<'_, PyAny>>,
        account: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
        end_user_token: Option<&Bound<'_, PyAny>>,
        limit: i64,
        offset: i64,
    ) -> PyResult<CoreCall> {
        let q = alter_core::grants::ListGrants {
            provider_id: opt_string_value(provider_id)?,
            status: opt_string_value(status)?,
            account: opt_string_value(account)?,
            label: opt_string_value(label)?,
            end_user_token: opt_string_value(end_user_token)?,
            limit,
            offset,
        };
        let client = self.inner.client().clone();
        Ok(bridge::call(
            "list_grants",
            async move { client.list_grants(&q).await },
            |py, r| model(py, "UnifiedGrantListResult", &r),
        ))
    }

    /// Closes the client: waits up to `timeout` seconds (default: the
    /// core's close timeout) for pending audit reports, abandons the rest
    /// (counted in `dropped_reports`), then releases its connections and
    /// forgets the key. Idempotent.
    #[pyo3(signature = (*, timeout=None))]
    fn close(&self, timeout: Option<f64>) -> CoreCall {
        let client = self.inner.client().clone();
        let deadline = timeout.map(alter_core::client::close_timeout).transpose();
        bridge::call(
            "close",
            async move {
                let deadline = deadline?.unwrap_or(alter_core::client::DEFAULT_CLOSE_TIMEOUT);
                client.close_within(deadline).await;
                Ok(())
            },
            |py, ()| none(py),
        )
    }

    /// Audit rows and scope-mismatch reports this client (and its
    /// siblings) did not deliver: dropped while the background queue was
    /// full, or abandoned when `close()` or interpreter exit ran out of time.
    #[getter]
    fn dropped_reports(&self) -> u64 {
        self.inner.client().dropped_reports()
    }

    /// The cap on a provider response body (and a proxy-mode answer).
    #[getter]
    fn max_response_bytes(&self) -> u64 {
        self.inner.client().max_response_bytes()
    }

    fn __aenter__(slf: Py<Self>) -> CoreCall {
        bridge::ready("__aenter__", slf.into_any())
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__(&self, _exc: &Bound<'_, PyTuple>) -> CoreCall {
        let client = self.inner.client().clone();
        bridge::call(
            "__aexit__",
            async move {
                client.close().await;
                Ok(())
            },
            |py, ()| none(py),
        )
    }

    /// The actor id the backend assigned this client, once known.
    #[getter]
    fn actor_id(&self, py: Python<'_>) -> Option<String> {
        let client = self.inner.client().clone();
        py.detach(move || client.actor_id())
    }

    /// The backend's retry metadata of the latest `request()`.
    #[getter]
    fn last_retry_info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let client = self.inner.client().clone();
        match py.detach(move || client.last_retry_info()) {
            Some(info) => model(py, "RetryInfo", &info),
            None => Ok(py.None()),
        }
    }

    /// The latest rate-limit headers seen on a backend response.
    #[getter]
    fn last_rate_limit(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let client = self.inner.client().clone();
        match py.detach(move || client.last_rate_limit()) {
            Some(s) => {
                let reset = s
                    .reset_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let v = serde_json::json!({
                    "limit": s.limit,
                    "remaining": s.remaining,
                    "reset_at": reset,
                });
                convert::model_from_value(py, "RateLimitSnapshot", &v)
            }
            None => Ok(py.None()),
        }
    }

    /// The backend base URL this client talks to.
    #[getter]
    fn base_url(&self) -> String {
        self.inner.client().base_url().to_string()
    }

    fn __repr__(&self) -> String {
        let c = self.inner.client();
        let caller = match c.caller() {
            Some(caller) => format!("{caller:?}"),
            None => "None".to_string(),
        };
        format!(
            "<{} base_url={:?} caller={caller} closed={}>",
            self.inner.class_name(),
            c.base_url(),
            if c.is_closed() { "True" } else { "False" }
        )
    }
}

fn scopes_arg(py: Python<'_>, scopes: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<String>>> {
    match scopes.filter(|s| !s.is_none()) {
        None => Ok(None),
        Some(s) => {
            if s.cast::<PyString>().is_ok() {
                return Err(value_error(
                    py,
                    "scopes must be a non-empty list of scope strings",
                ));
            }
            let mut out = Vec::new();
            for item in s
                .try_iter()
                .map_err(|_| value_error(py, "scopes must be a non-empty list of scope strings"))?
            {
                let item = item?;
                out.push(
                    item.cast::<PyString>()
                        .map_err(|_| {
                            value_error(py, "scopes must be a non-empty list of scope strings")
                        })?
                        .to_str()?
                        .to_string(),
                );
            }
            Ok(Some(out))
        }
    }
}

fn rule_arg(
    py: Python<'_>,
    rule: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<serde_json::Value>> {
    convert::json_value(py, rule, "rule")
}

/// The operator client (app keys).
#[pyclass(module = "alter_sdk", name = "App", extends = BaseClient, subclass, frozen)]
pub struct App {
    pub app: alter_core::App,
}

#[pymethods]
impl App {
    #[new]
    #[pyo3(signature = (
        api_key, *, timeout=30.0, caller=None, caller_type=None, user_token_getter=None,
        logger=None, max_response_bytes=None, _base_url=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        api_key: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        caller: Option<&Bound<'_, PyAny>>,
        caller_type: Option<&Bound<'_, PyAny>>,
        user_token_getter: Option<&Bound<'_, PyAny>>,
        logger: Option<&Bound<'_, PyAny>>,
        max_response_bytes: Option<&Bound<'_, PyAny>>,
        _base_url: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let c = Construct {
            api_key,
            timeout,
            caller,
            caller_type,
            user_token_getter,
            logger,
            base_url: _base_url,
            max_response_bytes,
        };
        crate::errors::guarded(py, "App.__init__", || {
            let opts = c.options(py)?;
            let app = py
                .detach(move || alter_core::App::new(opts))
                .map_err(|e| to_pyerr(py, &e))?;
            Ok(
                PyClassInitializer::from(BaseClient::new(Inner::App(app.clone()), c.logger()))
                    .add_subclass(App { app }),
            )
        })
    }

    /// A sibling App whose every request carries (and signs) the given
    /// scope constraints and/or request rule.
    #[pyo3(signature = (*, scopes=None, rule=None))]
    fn with_constraints(
        slf: PyRef<'_, Self>,
        py: Python<'_>,
        scopes: Option<&Bound<'_, PyAny>>,
        rule: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        crate::errors::guarded(py, "App.with_constraints", || {
            let scopes = scopes_arg(py, scopes)?;
            let rule = rule_arg(py, rule)?;
            let parent = slf.app.clone();
            let app = py
                .detach(move || parent.with_constraints(scopes.as_deref(), rule.as_ref()))
                .map_err(|e| to_pyerr(py, &e))?;
            let logger = slf.as_super().logger.as_ref().map(|l| l.clone_ref(py));
            wrap(py, Inner::App(app), logger)
        })
    }

    /// An `Agent` acting as the managed agent `agent_id` (a UUID, or the
    /// agent's name, looked up first) under this App's key.
    fn get_agent(
        slf: PyRef<'_, Self>,
        py: Python<'_>,
        agent_id: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let id = match str_like(agent_id, "agent_id") {
            Ok(s) => s,
            Err(_) => return Err(value_error(py, "agent_id must be a UUID or an agent name")),
        };
        let app = slf.app.clone();
        let by_id = {
            let (app, id) = (app.clone(), id.clone());
            py.detach(move || app.get_agent_by_id(&id))
        };
        let agent = match by_id {
            Ok(a) => a,
            Err(e)
                if e.kind() == "AlterValueError" && !id.trim().is_empty() && !app.is_closed() =>
            {
                // Not a UUID: a name, resolved now (the call is synchronous
                // in the official API; the lookup is one local round trip).
                py.detach(move || {
                    alter_core::runtime::block_on(async move { app.get_agent(&id).await })
                })
                .map_err(|e| to_pyerr(py, &e))?
            }
            Err(e) => return Err(to_pyerr(py, &e)),
        };
        let logger = slf.as_super().logger.as_ref().map(|l| l.clone_ref(py));
        wrap(py, Inner::Agent(agent), logger)
    }

    /// Managed agents and their keys.
    #[getter]
    fn agents(slf: PyRef<'_, Self>) -> crate::namespaces::AgentsNamespace {
        crate::namespaces::AgentsNamespace::new(slf.app.clone())
    }

    /// Revokes a delegation of one of this App's grants to `agent_id`.
    fn revoke_delegation(
        &self,
        grant_id: &Bound<'_, PyAny>,
        agent_id: &Bound<'_, PyAny>,
    ) -> PyResult<CoreCall> {
        let grant_id = str_like(grant_id, "grant_id")?;
        let agent_id = str_like(agent_id, "agent_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "App.revoke_delegation",
            async move { app.revoke_delegation(&grant_id, &agent_id).await },
            |py, ()| none(py),
        ))
    }
}

/// The workload client (agent keys).
#[pyclass(module = "alter_sdk", name = "Agent", extends = BaseClient, subclass, frozen)]
pub struct Agent {
    pub agent: alter_core::Agent,
}

#[pymethods]
impl Agent {
    #[new]
    #[pyo3(signature = (
        api_key, *, timeout=30.0, caller=None, user_token_getter=None, logger=None,
        max_response_bytes=None, _base_url=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        api_key: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        caller: Option<&Bound<'_, PyAny>>,
        user_token_getter: Option<&Bound<'_, PyAny>>,
        logger: Option<&Bound<'_, PyAny>>,
        max_response_bytes: Option<&Bound<'_, PyAny>>,
        _base_url: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let c = Construct {
            api_key,
            timeout,
            caller,
            caller_type: None,
            user_token_getter,
            logger,
            base_url: _base_url,
            max_response_bytes,
        };
        crate::errors::guarded(py, "Agent.__init__", || {
            let opts = c.options(py)?;
            let agent = py
                .detach(move || alter_core::Agent::new(opts))
                .map_err(|e| to_pyerr(py, &e))?;
            Ok(
                PyClassInitializer::from(BaseClient::new(Inner::Agent(agent.clone()), c.logger()))
                    .add_subclass(Agent { agent }),
            )
        })
    }

    /// A sibling Agent whose every request carries (and signs) the given
    /// scope constraints and/or request rule.
    #[pyo3(signature = (*, scopes=None, rule=None))]
    fn with_constraints(
        slf: PyRef<'_, Self>,
        py: Python<'_>,
        scopes: Option<&Bound<'_, PyAny>>,
        rule: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        crate::errors::guarded(py, "Agent.with_constraints", || {
            let scopes = scopes_arg(py, scopes)?;
            let rule = rule_arg(py, rule)?;
            let parent = slf.agent.clone();
            let agent = py
                .detach(move || parent.with_constraints(scopes.as_deref(), rule.as_ref()))
                .map_err(|e| to_pyerr(py, &e))?;
            let logger = slf.as_super().logger.as_ref().map(|l| l.clone_ref(py));
            wrap(py, Inner::Agent(agent), logger)
        })
    }

    /// The calling agent's own record (works while the agent is paused).
    fn me(&self) -> CoreCall {
        let agent = self.agent.clone();
        bridge::call("Agent.me", async move { agent.me().await }, |py, info| {
            model(py, "AgentInfo", &info)
        })
    }

    /// Scopes the audit identity of every call made inside the block
    /// (`async with agent.trace(run_id=...):`). `parent` may be omitted
    /// (inherit), a string, or None / "" (no parent agent).
    #[pyo3(signature = (*, run_id=None, thread_id=None, **kwargs))]
    fn trace(
        &self,
        py: Python<'_>,
        run_id: Option<&Bound<'_, PyAny>>,
        thread_id: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<crate::trace::TraceContext> {
        let metadata = PyDict::new(py);
        let mut parent = None;
        if let Some(kw) = kwargs {
            for (k, v) in kw.iter() {
                if k.cast::<PyString>()
                    .is_ok_and(|s| s.to_str().is_ok_and(|s| s == "parent"))
                {
                    parent = Some(v);
                } else {
                    metadata.set_item(k, v)?;
                }
            }
        }
        let opts = crate::trace::options(py, run_id, thread_id, parent.as_ref(), Some(&metadata))?;
        Ok(crate::trace::TraceContext::new(
            self.agent.trace_identity(),
            opts,
        ))
    }

    /// Revokes this agent's own delegation on a grant.
    fn revoke_delegation(&self, grant_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let grant_id = str_like(grant_id, "grant_id")?;
        let agent = self.agent.clone();
        Ok(bridge::call(
            "Agent.revoke_delegation",
            async move { agent.revoke_delegation(&grant_id).await },
            |py, ()| none(py),
        ))
    }
}
