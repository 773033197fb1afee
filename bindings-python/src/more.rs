//! The management surface of both clients: grants and delegation,
//! Connect, sign-in, identity, and the `keys` / `scopes` / `spans` /
//! `oauth_providers` / `provider_specs` namespaces.

use crate::bridge::{self, CoreCall, CALLER};
use crate::client::{Agent, App, BaseClient, Inner};
use crate::convert::{json_object, model, py_to_value, str_like, type_name, value_to_py};
use crate::errors::{to_pyerr, value_error};
use alter_core::connect::{
    ConnectEvent, ConnectEventSink, ConnectForErrorOptions, ConnectSessionOptions,
    HeadlessConnectOptions, ManagedSecretConnectOptions, ManagedSecretConnectTarget, SystemBrowser,
};
use alter_core::error::ErrorIdentity;
use alter_core::grants::{DelegateOptions, GrantPolicyInput, GrantPrincipal, MintGrantPolicy};
use alter_core::{DeriveKey, Error};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyString};
use serde_json::Value;
use std::sync::Arc;

// ---------------------------------------------------------------- arguments

fn none(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

fn given<'a, 'py>(v: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    v.filter(|v| !v.is_none())
}

/// A string argument; anything else is reported with the core's own
/// "non-empty string" message by passing "".
fn opt_text(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    match given(v) {
        None => Ok(None),
        Some(v) => Ok(Some(match v.cast::<PyString>() {
            Ok(s) => s.to_str()?.to_string(),
            Err(_) if type_name(v) == "UUID" => v.str()?.to_str()?.to_string(),
            Err(_) => String::new(),
        })),
    }
}

fn str_list(
    py: Python<'_>,
    v: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<Vec<String>>> {
    let Some(v) = given(v) else { return Ok(None) };
    let bad = || value_error(py, format!("{what} must be a list of strings"));
    if v.cast::<PyString>().is_ok() {
        return Err(bad());
    }
    let mut out = Vec::new();
    for item in v.try_iter().map_err(|_| bad())? {
        let item = item?;
        let s = item.cast::<PyString>().map_err(|_| bad())?;
        out.push(s.to_str()?.to_string());
    }
    Ok(Some(out))
}

fn opt_int(py: Python<'_>, v: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<i64>> {
    let Some(v) = given(v) else { return Ok(None) };
    if v.cast::<PyBool>().is_ok() {
        return Err(value_error(py, format!("{what} must be an integer")));
    }
    v.extract::<i64>()
        .map(Some)
        .map_err(|_| value_error(py, format!("{what} must be an integer")))
}

fn as_value(py: Python<'_>, v: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    py_to_value(v).map_err(|_| value_error(py, format!("{what} must be a model or a dict")))
}

/// `grant_policy=`: a `GrantPolicyInput` or a dict, checked by the core.
fn grant_policy(
    py: Python<'_>,
    v: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<GrantPolicyInput>> {
    let Some(v) = given(v) else { return Ok(None) };
    let value = as_value(py, v, "grant_policy")?;
    GrantPolicyInput::from_value(&value)
        .map(Some)
        .map_err(|e| to_pyerr(py, &e))
}

static GRANT_POLICY_INPUT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `mint_grant(grant_policy=)`: a typed policy, or a raw dict sent as is.
fn mint_policy(py: Python<'_>, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<MintGrantPolicy>> {
    let Some(v) = given(v) else { return Ok(None) };
    let typed = GRANT_POLICY_INPUT.import(py, "alter_sdk._models", "GrantPolicyInput")?;
    if v.is_instance(typed)? {
        return grant_policy(py, Some(v)).map(|p| p.map(MintGrantPolicy::Typed));
    }
    match as_value(py, v, "grant_policy")? {
        Value::Object(m) => Ok(Some(MintGrantPolicy::Raw(m))),
        _ => Err(value_error(
            py,
            "grant_policy must be a GrantPolicyInput or a dict",
        )),
    }
}

fn principal(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<GrantPrincipal> {
    let value = as_value(py, v, "principal")?;
    GrantPrincipal::from_value(&value).map_err(|e| to_pyerr(py, &e))
}

/// Poll events go to the caller's callable on its event loop.
fn event_sink(callable: Option<&Bound<'_, PyAny>>) -> Option<ConnectEventSink> {
    let callable = Arc::new(given(callable)?.clone().unbind());
    let sink: ConnectEventSink = Arc::new(move |event: &ConnectEvent| {
        let Ok(scope) = CALLER.try_with(|s| s.clone()) else {
            return;
        };
        let _ = crate::bridge::with_python(|py| -> PyResult<()> {
            let payload = value_to_py(py, &event.to_value())?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("context", scope.context.bind(py))?;
            scope.event_loop.bind(py).call_method(
                "call_soon_threadsafe",
                (callable.bind(py), payload),
                Some(&kwargs),
            )?;
            Ok(())
        });
    });
    Some(sink)
}

static ERROR_KINDS_CHECK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The core error a Python SDK exception stands for (its class, or the
/// nearest official ancestor, with the attributes the core needs back).
fn core_error(py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<Error> {
    let base = ERROR_KINDS_CHECK.import(py, "alter_sdk._errors", "AlterSDKError")?;
    if !exc.is_instance(base)? {
        return Err(value_error(
            py,
            "error must be an exception raised by the SDK (NoDelegatedGrantError, GrantNotFoundError or CredentialRevokedError)",
        ));
    }
    let message: String = exc.getattr("message")?.extract().unwrap_or_default();
    let details = match py_to_value(&exc.getattr("details")?) {
        Ok(Value::Object(m)) => m,
        _ => Default::default(),
    };
    let mut kind = None;
    for cls in exc.get_type().getattr("__mro__")?.try_iter()? {
        let name: String = cls?.getattr("__name__")?.extract()?;
        if alter_core::error::ERROR_KINDS
            .iter()
            .any(|(k, _)| *k == name)
        {
            kind = Some(name);
            break;
        }
    }
    let kind = kind.unwrap_or_else(|| "AlterSDKError".into());
    let attr = |name: &str| -> Option<String> {
        exc.getattr(name)
            .ok()
            .filter(|v| !v.is_none())
            .and_then(|v| v.str().ok().map(|s| s.to_string()))
    };
    let ids = ErrorIdentity {
        provider_id: attr("provider_id"),
        agent_id: attr("agent_id"),
        app_user_id: attr("app_user_id"),
        grant_id: attr("grant_id").map(Value::String),
    };
    Ok(Error::from_kind_with_identity(&kind, message, details, ids)
        .unwrap_or_else(|| Error::sdk("unknown error class")))
}

/// `UserSpan` models (or dicts) as the core's spans.
fn spans_arg(py: Python<'_>, spans: &Bound<'_, PyAny>) -> PyResult<Vec<alter_core::UserSpan>> {
    use time::format_description::well_known::Rfc3339;
    let bad = |what: &str| value_error(py, format!("spans: {what}"));
    let instant = |v: &Value, what: &str| -> PyResult<time::OffsetDateTime> {
        let s = v
            .as_str()
            .ok_or_else(|| bad(&format!("{what} must be a datetime")))?;
        time::OffsetDateTime::parse(s, &Rfc3339)
            .or_else(|_| time::OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
            .map_err(|_| bad(&format!("{what} must be a datetime")))
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut out = Vec::new();
    for item in spans
        .try_iter()
        .map_err(|_| bad("must be a sequence of UserSpan"))?
    {
        let item = item?;
        let Value::Object(m) = as_value(py, &item, "spans")? else {
            return Err(bad("each span must be a UserSpan or a dict"));
        };
        let start = instant(m.get("start_time").unwrap_or(&Value::Null), "start_time")?;
        let mut span = alter_core::UserSpan::new(
            &text(m.get("trace_id")).unwrap_or_default(),
            &text(m.get("name")).unwrap_or_default(),
            start,
        );
        span.span_id = text(m.get("span_id"));
        span.parent_span_id = text(m.get("parent_span_id"));
        span.end_time = match m.get("end_time") {
            None | Some(Value::Null) => None,
            Some(v) => Some(instant(v, "end_time")?),
        };
        if let Some(Value::Object(attrs)) = m.get("attributes") {
            for (k, v) in attrs {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad("attributes must map str to str"))?;
                span.attributes.push((k.clone(), v.to_string()));
            }
        }
        out.push(span);
    }
    Ok(out)
}

fn list_of_models<T: serde::Serialize>(
    py: Python<'_>,
    name: &str,
    items: &[T],
) -> PyResult<Py<PyAny>> {
    let list = PyList::empty(py);
    for item in items {
        list.append(model(py, name, item)?)?;
    }
    Ok(list.into_any().unbind())
}

// ---------------------------------------------------------------- both clients

#[pymethods]
impl BaseClient {
    /// A Connect widget session for the end user (optionally delegating
    /// the connection to `agent`).
    #[pyo3(signature = (
        *, allowed_providers=None, direct=false, return_url=None, allowed_origin=None,
        metadata=None, grant_policy=None, required_scopes=None, agent=None, user_token=None,
        requested_grant=None, repair_grant_id=None, delegable=None, scope_constraint=None,
        switch_account=false, allow_user_policy_rules=true
    ))]
    #[allow(clippy::too_many_arguments)]
    fn create_connect_session(
        &self,
        py: Python<'_>,
        allowed_providers: Option<&Bound<'_, PyAny>>,
        direct: bool,
        return_url: Option<&Bound<'_, PyAny>>,
        allowed_origin: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        grant_policy: Option<&Bound<'_, PyAny>>,
        required_scopes: Option<&Bound<'_, PyAny>>,
        agent: Option<&Bound<'_, PyAny>>,
        user_token: Option<&Bound<'_, PyAny>>,
        requested_grant: Option<&Bound<'_, PyAny>>,
        repair_grant_id: Option<&Bound<'_, PyAny>>,
        delegable: Option<bool>,
        scope_constraint: Option<&Bound<'_, PyAny>>,
        switch_account: bool,
        allow_user_policy_rules: bool,
    ) -> PyResult<CoreCall> {
        let opts = ConnectSessionOptions {
            allowed_providers: str_list(py, allowed_providers, "allowed_providers")?,
            direct,
            return_url: opt_text(return_url)?,
            allowed_origin: opt_text(allowed_origin)?,
            metadata: json_object(py, metadata, "metadata")?,
            grant_policy: self::grant_policy(py, grant_policy)?,
            required_scopes: json_object(py, required_scopes, "required_scopes")?,
            agent: opt_text(agent)?,
            user_token: opt_text(user_token)?,
            requested_grant: json_object(py, requested_grant, "requested_grant")?,
            repair_grant_id: opt_text(repair_grant_id)?,
            delegable,
            scope_constraint: str_list(py, scope_constraint, "scope_constraint")?,
            switch_account,
            allow_user_policy_rules,
        };
        let client = self.inner.client().clone();
        Ok(bridge::call(
            "create_connect_session",
            async move { client.create_connect_session(&opts).await },
            |py, s| model(py, "ConnectSession", &s),
        ))
    }

    /// A Connect session that fixes what `error` reports (a missing
    /// delegation, a missing grant or a revoked credential).
    #[pyo3(signature = (
        error, *, allowed_origin=None, return_url=None, metadata=None, grant_policy=None,
        required_scopes=None, user_token=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn create_connect_session_for_error(
        &self,
        py: Python<'_>,
        error: &Bound<'_, PyAny>,
        allowed_origin: Option<&Bound<'_, PyAny>>,
        return_url: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        grant_policy: Option<&Bound<'_, PyAny>>,
        required_scopes: Option<&Bound<'_, PyAny>>,
        user_token: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let err = core_error(py, error)?;
        let opts = ConnectForErrorOptions {
            allowed_origin: opt_text(allowed_origin)?,
            return_url: opt_text(return_url)?,
            metadata: json_object(py, metadata, "metadata")?,
            grant_policy: self::grant_policy(py, grant_policy)?,
            required_scopes: json_object(py, required_scopes, "required_scopes")?,
            user_token: opt_text(user_token)?,
        };
        let client = self.inner.client().clone();
        Ok(bridge::call(
            "create_connect_session_for_error",
            async move { client.create_connect_session_for_error(&err, &opts).await },
            |py, s| model(py, "ConnectSession", &s),
        ))
    }

    /// Waits for a Connect session to finish; returns the grants it made.
    #[pyo3(signature = (session_token, *, timeout=300.0, poll_interval=2.0, on_event=None))]
    fn poll_connect_session(
        &self,
        session_token: &Bound<'_, PyAny>,
        timeout: f64,
        poll_interval: f64,
        on_event: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let token = opt_text(Some(session_token))?.unwrap_or_default();
        let interval = poll_interval;
        let sink = event_sink(on_event);
        let client = self.inner.client().clone();
        Ok(bridge::call(
            "poll_connect_session",
            async move {
                client
                    .poll_connect_session(&token, timeout, interval, sink)
                    .await
            },
            |py, results| list_of_models(py, "ConnectResult", &results),
        ))
    }

    /// Headless OAuth: opens the Connect page in a browser (or prints its
    /// URL) and waits for the user to finish.
    #[pyo3(signature = (
        *, providers=None, timeout=300.0, poll_interval=2.0, open_browser=true,
        grant_policy=None, allow_user_policy_rules=true, direct=false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &self,
        py: Python<'_>,
        providers: Option<&Bound<'_, PyAny>>,
        timeout: f64,
        poll_interval: f64,
        open_browser: bool,
        grant_policy: Option<&Bound<'_, PyAny>>,
        allow_user_policy_rules: bool,
        direct: bool,
    ) -> PyResult<CoreCall> {
        let opts = HeadlessConnectOptions {
            providers: str_list(py, providers, "providers")?,
            timeout,
            poll_interval,
            open_browser,
            grant_policy: self::grant_policy(py, grant_policy)?,
            allow_user_policy_rules,
            direct,
        };
        let client = self.inner.client().clone();
        Ok(bridge::call(
            "connect",
            async move { client.connect(&opts, &SystemBrowser).await },
            |py, results| list_of_models(py, "ConnectResult", &results),
        ))
    }

    /// The boto3 bridge of the official package. Not available: the core
    /// exposes no SigV4 bridge for boto3 yet; raises `AlterSDKError`.
    #[pyo3(signature = (
        service_name, *, grant_id, region_name=None, timeout=None, reason=None, context=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn boto3_client(
        &self,
        service_name: &Bound<'_, PyAny>,
        grant_id: &Bound<'_, PyAny>,
        region_name: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> CoreCall {
        let _ = (
            service_name,
            grant_id,
            region_name,
            timeout,
            reason,
            context,
        );
        bridge::call(
            "boto3_client",
            async {
                Err::<(), _>(Error::sdk(
                    "boto3_client is not available in this build of alter-sdk: the Rust core has no boto3 bridge yet",
                ))
            },
            |py, ()| none(py),
        )
    }

    /// Scoped API keys.
    #[getter]
    fn keys(&self) -> KeysNamespace {
        KeysNamespace {
            client: self.inner.client().clone(),
        }
    }

    /// The scope catalog.
    #[getter]
    fn scopes(&self) -> ScopesNamespace {
        ScopesNamespace {
            client: self.inner.client().clone(),
        }
    }

    /// User spans.
    #[getter]
    fn spans(&self) -> SpansNamespace {
        SpansNamespace {
            client: self.inner.client().clone(),
        }
    }

    /// The OAuth provider catalog.
    #[getter]
    fn oauth_providers(&self) -> OAuthProvidersNamespace {
        OAuthProvidersNamespace {
            inner: self.inner.clone(),
        }
    }

    /// Provider API specs and operations.
    #[getter]
    fn provider_specs(&self) -> ProviderSpecsNamespace {
        ProviderSpecsNamespace {
            client: self.inner.client().clone(),
        }
    }
}

// ---------------------------------------------------------------- App only

#[pymethods]
impl App {
    /// Revokes one of the app's OAuth grants.
    #[pyo3(signature = (grant_id, *, reason=None))]
    fn revoke_grant(
        &self,
        grant_id: &Bound<'_, PyAny>,
        reason: Option<String>,
    ) -> PyResult<CoreCall> {
        let grant_id = str_like(grant_id, "grant_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "App.revoke_grant",
            async move { app.revoke_grant(&grant_id, reason.as_deref()).await },
            |py, r| model(py, "RevokeGrantResult", &r),
        ))
    }

    /// Issues a grant on a managed secret to a principal.
    #[pyo3(signature = (managed_secret_id, *, principal, grant_policy=None, credential_id=None))]
    fn create_managed_secret_grant(
        &self,
        py: Python<'_>,
        managed_secret_id: &Bound<'_, PyAny>,
        principal: &Bound<'_, PyAny>,
        grant_policy: Option<&Bound<'_, PyAny>>,
        credential_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let ms = str_like(managed_secret_id, "managed_secret_id")?;
        let principal = self::principal(py, principal)?;
        let policy = self::grant_policy(py, grant_policy)?;
        let credential_id = opt_text(credential_id)?;
        let app = self.app.clone();
        Ok(bridge::call(
            "App.create_managed_secret_grant",
            async move {
                app.create_managed_secret_grant(
                    &ms,
                    &principal,
                    policy.as_ref(),
                    credential_id.as_deref(),
                )
                .await
            },
            |py, r| model(py, "CreateGrantResult", &r),
        ))
    }

    /// A sibling grant on the source grant's credential, with its own label.
    #[pyo3(signature = (source_grant_id, *, label, grant_policy=None, grant_tags=None))]
    fn mint_grant(
        &self,
        py: Python<'_>,
        source_grant_id: &Bound<'_, PyAny>,
        label: &Bound<'_, PyAny>,
        grant_policy: Option<&Bound<'_, PyAny>>,
        grant_tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let source = str_like(source_grant_id, "source_grant_id")?;
        let label = opt_text(Some(label))?.unwrap_or_default();
        let policy = mint_policy(py, grant_policy)?;
        let tags = str_list(py, grant_tags, "grant_tags")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "App.mint_grant",
            async move {
                app.mint_grant(&source, &label, policy.as_ref(), tags.as_deref())
                    .await
            },
            |py, r| model(py, "GrantInfo", &r),
        ))
    }

    /// A managed-secret Connect session: the end user supplies (or reuses)
    /// their credential and may delegate it to `agent`.
    #[pyo3(signature = (
        *, provider=None, user_token, agent=None, delegable=false, requested_grant=None,
        grant_policy=None, direct=false, repair_grant_id=None, allow_user_policy_rules=true,
        allowed_origin=None, return_url=None, requested_ttl_seconds=None, template_slug=None,
        delegated_agent_id=None, delegated_agent_name=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn create_managed_secret_connect_session(
        &self,
        py: Python<'_>,
        provider: Option<&Bound<'_, PyAny>>,
        user_token: &Bound<'_, PyAny>,
        agent: Option<&Bound<'_, PyAny>>,
        delegable: bool,
        requested_grant: Option<&Bound<'_, PyAny>>,
        grant_policy: Option<&Bound<'_, PyAny>>,
        direct: bool,
        repair_grant_id: Option<&Bound<'_, PyAny>>,
        allow_user_policy_rules: bool,
        allowed_origin: Option<&Bound<'_, PyAny>>,
        return_url: Option<&Bound<'_, PyAny>>,
        requested_ttl_seconds: Option<&Bound<'_, PyAny>>,
        template_slug: Option<&Bound<'_, PyAny>>,
        delegated_agent_id: Option<&Bound<'_, PyAny>>,
        delegated_agent_name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let opts = ManagedSecretConnectOptions {
            provider: opt_text(provider)?,
            template_slug: opt_text(template_slug)?,
            user_token: opt_text(Some(user_token))?.unwrap_or_default(),
            delegable,
            requested_grant: json_object(py, requested_grant, "requested_grant")?,
            grant_policy: self::grant_policy(py, grant_policy)?,
            direct,
            allow_user_policy_rules,
            allowed_origin: opt_text(allowed_origin)?,
            return_url: opt_text(return_url)?,
            requested_ttl_seconds: opt_int(py, requested_ttl_seconds, "requested_ttl_seconds")?,
        };
        let target = ManagedSecretConnectTarget {
            agent: opt_text(agent)?,
            delegated_agent_id: opt_text(delegated_agent_id)?,
            delegated_agent_name: opt_text(delegated_agent_name)?,
            repair_grant_id: opt_text(repair_grant_id)?,
        };
        let app = self.app.clone();
        Ok(bridge::call(
            "App.create_managed_secret_connect_session",
            async move {
                app.create_managed_secret_connect_session(&opts, &target)
                    .await
            },
            |py, s| model(py, "ManagedSecretConnectSession", &s),
        ))
    }

    /// Starts an end-user sign-in session.
    fn create_auth_session(&self) -> CoreCall {
        let app = self.app.clone();
        bridge::call(
            "App.create_auth_session",
            async move { app.create_auth_session().await },
            |py, s| model(py, "AuthSession", &s),
        )
    }

    /// Waits for a sign-in session to finish; returns the user's JWT.
    #[pyo3(signature = (session_token, *, timeout=300.0, poll_interval=2.0))]
    fn poll_auth_session(
        &self,
        session_token: &Bound<'_, PyAny>,
        timeout: f64,
        poll_interval: f64,
    ) -> PyResult<CoreCall> {
        let token = opt_text(Some(session_token))?.unwrap_or_default();
        let interval = poll_interval;
        let app = self.app.clone();
        Ok(bridge::call(
            "App.poll_auth_session",
            async move { app.poll_auth_session(&token, timeout, interval).await },
            |py, r| model(py, "AuthResult", &r),
        ))
    }

    /// Opens the identity provider's sign-in in a browser and returns the
    /// user's JWT once they finish.
    #[pyo3(signature = (*, timeout=300.0))]
    fn authenticate(&self, timeout: f64) -> CoreCall {
        let app = self.app.clone();
        bridge::call(
            "App.authenticate",
            async move { app.authenticate(timeout, &SystemBrowser).await },
            |py, r| model(py, "AuthResult", &r),
        )
    }

    /// The user id of a valid end-user JWT, else None.
    fn verify_user_token(&self, token: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let token = opt_text(Some(token))?.unwrap_or_default();
        let app = self.app.clone();
        Ok(bridge::call(
            "App.verify_user_token",
            async move { Ok(app.verify_user_token(&token).await) },
            |py, r| match r {
                Some(id) => Ok(PyString::new(py, &id).into_any().unbind()),
                None => none(py),
            },
        ))
    }

    /// Who a call with this user token acts for.
    #[pyo3(signature = (*, user_token=None, include_profile=false))]
    fn resolve_identity(
        &self,
        user_token: Option<&Bound<'_, PyAny>>,
        include_profile: bool,
    ) -> PyResult<CoreCall> {
        let token = opt_text(user_token)?;
        let app = self.app.clone();
        Ok(bridge::call(
            "App.resolve_identity",
            async move {
                app.resolve_identity(token.as_deref(), include_profile)
                    .await
            },
            |py, r| crate::memory::trusted(py, model(py, "IdentityContext", &r)?, None),
        ))
    }

    /// A signed identity assertion for `audience`.
    #[pyo3(signature = (*, audience, user_token=None, ttl_seconds=None, include_profile=false))]
    fn assert_identity(
        &self,
        py: Python<'_>,
        audience: &Bound<'_, PyAny>,
        user_token: Option<&Bound<'_, PyAny>>,
        ttl_seconds: Option<&Bound<'_, PyAny>>,
        include_profile: bool,
    ) -> PyResult<CoreCall> {
        let audience = opt_text(Some(audience))?.unwrap_or_default();
        let token = opt_text(user_token)?;
        let ttl = opt_int(py, ttl_seconds, "ttl_seconds")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "App.assert_identity",
            async move {
                app.assert_identity(&audience, token.as_deref(), ttl, include_profile)
                    .await
            },
            |py, r| crate::memory::trusted_assertion(py, model(py, "IdentityAssertion", &r)?),
        ))
    }
}

// ---------------------------------------------------------------- Agent only

#[pymethods]
impl Agent {
    /// Delegates one of this agent's grants onward to another agent.
    #[pyo3(signature = (grant_id, to_agent_id, *, delegable=None, scope_constraint=None, ttl_seconds=None))]
    fn delegate(
        &self,
        py: Python<'_>,
        grant_id: &Bound<'_, PyAny>,
        to_agent_id: &Bound<'_, PyAny>,
        delegable: Option<bool>,
        scope_constraint: Option<&Bound<'_, PyAny>>,
        ttl_seconds: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let grant_id = str_like(grant_id, "grant_id")?;
        let to = str_like(to_agent_id, "to_agent_id")?;
        let opts = DelegateOptions {
            delegable,
            scope_constraint: str_list(py, scope_constraint, "scope_constraint")?,
            ttl_seconds: opt_int(py, ttl_seconds, "ttl_seconds")?,
        };
        let agent = self.agent.clone();
        Ok(bridge::call(
            "Agent.delegate",
            async move { agent.delegate(&grant_id, &to, &opts).await },
            |py, r| model(py, "DelegationResult", &r),
        ))
    }

    /// Issues a managed-secret grant to this agent itself (`AgentPrincipal`
    /// only: agents issue grants only for themselves).
    #[pyo3(signature = (managed_secret_id, *, principal, grant_policy=None, credential_id=None))]
    fn create_managed_secret_grant(
        &self,
        py: Python<'_>,
        managed_secret_id: &Bound<'_, PyAny>,
        principal: &Bound<'_, PyAny>,
        grant_policy: Option<&Bound<'_, PyAny>>,
        credential_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let ms = str_like(managed_secret_id, "managed_secret_id")?;
        let GrantPrincipal::Agent(p) = self::principal(py, principal)? else {
            return Err(value_error(
                py,
                "an Agent issues grants only for itself: pass principal=AgentPrincipal(...)",
            ));
        };
        let policy = self::grant_policy(py, grant_policy)?;
        let credential_id = opt_text(credential_id)?;
        let agent = self.agent.clone();
        Ok(bridge::call(
            "Agent.create_managed_secret_grant",
            async move {
                agent
                    .create_managed_secret_grant(&ms, &p, policy.as_ref(), credential_id.as_deref())
                    .await
            },
            |py, r| model(py, "CreateGrantResult", &r),
        ))
    }

    /// A managed-secret Connect session delegating to this agent.
    #[pyo3(signature = (
        *, provider=None, user_token, delegable=false, requested_grant=None, grant_policy=None,
        direct=false, allow_user_policy_rules=true, allowed_origin=None, return_url=None,
        requested_ttl_seconds=None, template_slug=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn create_managed_secret_connect_session(
        &self,
        py: Python<'_>,
        provider: Option<&Bound<'_, PyAny>>,
        user_token: &Bound<'_, PyAny>,
        delegable: bool,
        requested_grant: Option<&Bound<'_, PyAny>>,
        grant_policy: Option<&Bound<'_, PyAny>>,
        direct: bool,
        allow_user_policy_rules: bool,
        allowed_origin: Option<&Bound<'_, PyAny>>,
        return_url: Option<&Bound<'_, PyAny>>,
        requested_ttl_seconds: Option<&Bound<'_, PyAny>>,
        template_slug: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let opts = ManagedSecretConnectOptions {
            provider: opt_text(provider)?,
            template_slug: opt_text(template_slug)?,
            user_token: opt_text(Some(user_token))?.unwrap_or_default(),
            delegable,
            requested_grant: json_object(py, requested_grant, "requested_grant")?,
            grant_policy: self::grant_policy(py, grant_policy)?,
            direct,
            allow_user_policy_rules,
            allowed_origin: opt_text(allowed_origin)?,
            return_url: opt_text(return_url)?,
            requested_ttl_seconds: opt_int(py, requested_ttl_seconds, "requested_ttl_seconds")?,
        };
        let agent = self.agent.clone();
        Ok(bridge::call(
            "Agent.create_managed_secret_connect_session",
            async move { agent.create_managed_secret_connect_session(&opts).await },
            |py, s| model(py, "ManagedSecretConnectSession", &s),
        ))
    }

    /// Who this agent acts for (for a user, by token or app user id).
    #[pyo3(signature = (*, user_token=None, app_user_id=None, include_profile=false))]
    fn resolve_identity(
        &self,
        user_token: Option<&Bound<'_, PyAny>>,
        app_user_id: Option<&Bound<'_, PyAny>>,
        include_profile: bool,
    ) -> PyResult<CoreCall> {
        let token = opt_text(user_token)?;
        let user = opt_text(app_user_id)?;
        let agent = self.agent.clone();
        Ok(bridge::call(
            "Agent.resolve_identity",
            async move {
                agent
                    .resolve_identity(token.as_deref(), user.as_deref(), include_profile)
                    .await
            },
            |py, r| crate::memory::trusted(py, model(py, "IdentityContext", &r)?, None),
        ))
    }

    /// A signed identity assertion for `audience`.
    #[pyo3(signature = (
        *, audience, user_token=None, app_user_id=None, ttl_seconds=None, include_profile=false
    ))]
    fn assert_identity(
        &self,
        py: Python<'_>,
        audience: &Bound<'_, PyAny>,
        user_token: Option<&Bound<'_, PyAny>>,
        app_user_id: Option<&Bound<'_, PyAny>>,
        ttl_seconds: Option<&Bound<'_, PyAny>>,
        include_profile: bool,
    ) -> PyResult<CoreCall> {
        let audience = opt_text(Some(audience))?.unwrap_or_default();
        let token = opt_text(user_token)?;
        let user = opt_text(app_user_id)?;
        let ttl = opt_int(py, ttl_seconds, "ttl_seconds")?;
        let agent = self.agent.clone();
        Ok(bridge::call(
            "Agent.assert_identity",
            async move {
                agent
                    .assert_identity(
                        &audience,
                        token.as_deref(),
                        user.as_deref(),
                        ttl,
                        include_profile,
                    )
                    .await
            },
            |py, r| crate::memory::trusted_assertion(py, model(py, "IdentityAssertion", &r)?),
        ))
    }
}

// ---------------------------------------------------------------- namespaces

/// `client.keys`: scoped API keys.
#[pyclass(module = "alter_sdk._alter_sdk", name = "KeysNamespace", frozen)]
pub struct KeysNamespace {
    client: alter_core::Client,
}

#[pymethods]
impl KeysNamespace {
    /// A new key with a subset of this key's scopes; its plaintext is in
    /// the result, once.
    #[pyo3(signature = (*, scopes, expires_in, cidr_allowlist=None, name=None, metadata=None, rate_limit_rpm=None))]
    #[allow(clippy::too_many_arguments)]
    fn derive(
        &self,
        py: Python<'_>,
        scopes: &Bound<'_, PyAny>,
        expires_in: &Bound<'_, PyAny>,
        cidr_allowlist: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        rate_limit_rpm: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let args = DeriveKey {
            scopes: str_list(py, Some(scopes), "scopes")?.unwrap_or_default(),
            expires_in: opt_int(py, Some(expires_in), "expires_in")?.unwrap_or_default(),
            cidr_allowlist: str_list(py, cidr_allowlist, "cidr_allowlist")?,
            name: opt_text(name)?,
            metadata: json_object(py, metadata, "metadata")?,
            rate_limit_rpm: opt_int(py, rate_limit_rpm, "rate_limit_rpm")?,
        };
        let client = self.client.clone();
        Ok(bridge::call(
            "keys.derive",
            async move { client.keys().derive(&args).await },
            |py, k| model(py, "MintedKey", &k),
        ))
    }

    /// A successor key with the same scopes; the old one keeps working for
    /// `overlap_days`.
    #[pyo3(signature = (key_id, *, overlap_days=7))]
    fn rotate(&self, key_id: &Bound<'_, PyAny>, overlap_days: i64) -> PyResult<CoreCall> {
        let key_id = opt_text(Some(key_id))?.unwrap_or_default();
        let overlap = overlap_days;
        let client = self.client.clone();
        Ok(bridge::call(
            "keys.rotate",
            async move { client.keys().rotate(&key_id, overlap).await },
            |py, k| model(py, "MintedKey", &k),
        ))
    }

    /// Revokes a key and every key derived from it.
    #[pyo3(signature = (key_id, *, force=false))]
    fn revoke(&self, key_id: &Bound<'_, PyAny>, force: bool) -> PyResult<CoreCall> {
        let key_id = opt_text(Some(key_id))?.unwrap_or_default();
        let client = self.client.clone();
        Ok(bridge::call(
            "keys.revoke",
            async move { client.keys().revoke(&key_id, force).await },
            |py, k| model(py, "APIKeyInfo", &k),
        ))
    }

    fn __repr__(&self) -> &'static str {
        "<KeysNamespace>"
    }
}

/// `client.scopes`: the scope catalog.
#[pyclass(module = "alter_sdk._alter_sdk", name = "ScopesNamespace", frozen)]
pub struct ScopesNamespace {
    client: alter_core::Client,
}

#[pymethods]
impl ScopesNamespace {
    /// The server's scope catalog.
    fn list(&self) -> CoreCall {
        let client = self.client.clone();
        bridge::call(
            "scopes.list",
            async move { client.scopes().list().await },
            |py, c| model(py, "ScopeCatalog", &c),
        )
    }

    /// The documented name of `list()`.
    fn get_catalog(&self) -> CoreCall {
        self.list()
    }

    fn __repr__(&self) -> &'static str {
        "<ScopesNamespace>"
    }
}

/// `client.spans`: user spans.
#[pyclass(module = "alter_sdk._alter_sdk", name = "SpansNamespace", frozen)]
pub struct SpansNamespace {
    client: alter_core::Client,
}

#[pymethods]
impl SpansNamespace {
    /// Stores 1–50 spans.
    fn emit(&self, py: Python<'_>, spans: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let spans = spans_arg(py, spans)?;
        let client = self.client.clone();
        Ok(bridge::call(
            "spans.emit",
            async move { client.spans().emit(&spans).await },
            |py, r| model(py, "EmitSpansResult", &r),
        ))
    }

    fn __repr__(&self) -> &'static str {
        "<SpansNamespace>"
    }
}

/// `client.oauth_providers`: the OAuth provider catalog.
#[pyclass(
    module = "alter_sdk._alter_sdk",
    name = "OAuthProvidersNamespace",
    frozen
)]
pub struct OAuthProvidersNamespace {
    inner: Inner,
}

#[pymethods]
impl OAuthProvidersNamespace {
    /// The catalog (cached per client unless `force_refresh`).
    #[pyo3(signature = (*, force_refresh=false))]
    fn list(&self, force_refresh: bool) -> CoreCall {
        let inner = self.inner.clone();
        bridge::call(
            "oauth_providers.list",
            async move {
                match &inner {
                    Inner::App(a) => a.oauth_providers().list(force_refresh).await,
                    Inner::Agent(a) => a.oauth_providers().list(force_refresh).await,
                }
            },
            |py, c| {
                // The official model keys the providers by id.
                let mut v = serde_json::to_value(&c)
                    .map_err(|e| pyo3::exceptions::PyTypeError::new_err(e.to_string()))?;
                if let Some(Value::Array(items)) = v.get_mut("providers").map(std::mem::take) {
                    let by_id: serde_json::Map<String, Value> = items
                        .into_iter()
                        .map(|item| {
                            let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
                            (id.to_string(), item)
                        })
                        .collect();
                    v["providers"] = Value::Object(by_id);
                }
                crate::convert::model_from_value(py, "OAuthProviderCatalog", &v)
            },
        )
    }

    fn __repr__(&self) -> &'static str {
        "<OAuthProvidersNamespace>"
    }
}

/// `client.provider_specs`: provider API specs.
#[pyclass(
    module = "alter_sdk._alter_sdk",
    name = "ProviderSpecsNamespace",
    frozen
)]
pub struct ProviderSpecsNamespace {
    client: alter_core::Client,
}

#[pymethods]
impl ProviderSpecsNamespace {
    #[pyo3(signature = (kind=None))]
    fn list(&self, kind: Option<&Bound<'_, PyAny>>) -> PyResult<CoreCall> {
        let kind = opt_text(kind)?;
        let client = self.client.clone();
        Ok(bridge::call(
            "provider_specs.list",
            async move { client.provider_specs().list(kind.as_deref()).await },
            |py, specs| list_of_models(py, "ProviderSpec", &specs),
        ))
    }

    fn get(&self, kind: &Bound<'_, PyAny>, provider_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let kind = opt_text(Some(kind))?.unwrap_or_default();
        let provider = opt_text(Some(provider_id))?.unwrap_or_default();
        let client = self.client.clone();
        Ok(bridge::call(
            "provider_specs.get",
            async move { client.provider_specs().get(&kind, &provider).await },
            |py, s| model(py, "ProviderSpec", &s),
        ))
    }

    #[pyo3(signature = (kind, provider_id, *, search=None, limit=100, offset=0))]
    fn list_operations(
        &self,
        kind: &Bound<'_, PyAny>,
        provider_id: &Bound<'_, PyAny>,
        search: Option<&Bound<'_, PyAny>>,
        limit: i64,
        offset: i64,
    ) -> PyResult<CoreCall> {
        let kind = opt_text(Some(kind))?.unwrap_or_default();
        let provider = opt_text(Some(provider_id))?.unwrap_or_default();
        let search = opt_text(search)?;
        let client = self.client.clone();
        Ok(bridge::call(
            "provider_specs.list_operations",
            async move {
                client
                    .provider_specs()
                    .list_operations(&kind, &provider, search.as_deref(), limit, offset)
                    .await
            },
            |py, p| model(py, "SpecOperationsPage", &p),
        ))
    }

    fn get_operation(
        &self,
        kind: &Bound<'_, PyAny>,
        provider_id: &Bound<'_, PyAny>,
        operation_id: &Bound<'_, PyAny>,
    ) -> PyResult<CoreCall> {
        let kind = opt_text(Some(kind))?.unwrap_or_default();
        let provider = opt_text(Some(provider_id))?.unwrap_or_default();
        let op = opt_text(Some(operation_id))?.unwrap_or_default();
        let client = self.client.clone();
        Ok(bridge::call(
            "provider_specs.get_operation",
            async move {
                client
                    .provider_specs()
                    .get_operation(&kind, &provider, &op)
                    .await
            },
            |py, d| model(py, "SpecOperationDetail", &d),
        ))
    }

    fn __repr__(&self) -> &'static str {
        "<ProviderSpecsNamespace>"
    }
}

// ---------------------------------------------------------------- functions

/// Builds a `content_match` request rule (for `with_constraints(rule=)`);
/// validated by the core.
/// `verify_identity_assertion(token, *, issuer, audience, jwks,
/// expected_app_id, expected_agent_id=None)`: the core's offline check of an
/// `assert_identity` token against a key set the caller trusts.
#[pyfunction]
#[pyo3(signature = (token, *, issuer, audience, jwks, expected_app_id, expected_agent_id=None))]
pub fn verify_identity_assertion(
    py: Python<'_>,
    token: &Bound<'_, PyAny>,
    issuer: &Bound<'_, PyAny>,
    audience: &Bound<'_, PyAny>,
    jwks: &Bound<'_, PyAny>,
    expected_app_id: &Bound<'_, PyAny>,
    expected_agent_id: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let text = |v: &Bound<'_, PyAny>, message: &str| -> PyResult<String> {
        match v.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(value_error(py, message)),
        }
    };
    let token = text(token, "token must be a non-empty string")?;
    let issuer = text(issuer, "issuer must be a non-empty string")?;
    let audience = text(audience, "audience must be a non-empty string")?;
    let app_id = text(
        expected_app_id,
        "expected_app_id must be a non-empty string",
    )?;
    let agent_id = match given(expected_agent_id) {
        Some(v) => Some(text(
            v,
            "expected_agent_id, when given, must be a non-empty string",
        )?),
        None => None,
    };
    if !jwks.is_instance_of::<PyDict>() {
        return Err(value_error(
            py,
            "jwks must be a JWK Set: an object whose \"keys\" is a list",
        ));
    }
    let jwks = as_value(py, jwks, "jwks")?;
    let check = alter_core::assertion::AssertionCheck {
        issuer: &issuer,
        audience: &audience,
        jwks: &jwks,
        expected_app_id: &app_id,
        expected_agent_id: agent_id.as_deref(),
    };
    // The token and key set are peer data: a panic in their parsers must
    // arrive as an AlterSDKError.
    let (identity, expires_at) = crate::errors::guarded(py, "verify_identity_assertion", || {
        alter_core::assertion::verify_identity_assertion_until(&token, &check)
            .map_err(|e| to_pyerr(py, &e))
    })?;
    crate::memory::trusted(
        py,
        model(py, "IdentityContext", &identity)?,
        Some(expires_at),
    )
}

#[pyfunction]
#[pyo3(signature = (
    *, operations=None, families=None, params=None, effect="deny", redact_fields=None,
    max_session_age_seconds=None
))]
pub fn content_match_rule(
    py: Python<'_>,
    operations: Option<&Bound<'_, PyAny>>,
    families: Option<&Bound<'_, PyAny>>,
    params: Option<&Bound<'_, PyAny>>,
    effect: &str,
    redact_fields: Option<&Bound<'_, PyAny>>,
    max_session_age_seconds: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let mut conditions = Vec::new();
    if let Some(p) = given(params) {
        for item in p
            .try_iter()
            .map_err(|_| value_error(py, "params must be a list of conditions"))?
        {
            let v = as_value(py, &item?, "params")?;
            conditions.push(
                alter_core::ContentParamCondition::from_value(&v).map_err(|e| to_pyerr(py, &e))?,
            );
        }
    }
    let rule = alter_core::ContentMatchRule {
        operations: str_list(py, operations, "operations")?,
        families: str_list(py, families, "families")?,
        params: conditions,
        effect: effect.to_string(),
        redact_fields: str_list(py, redact_fields, "redact_fields")?,
        max_session_age_seconds: opt_int(py, max_session_age_seconds, "max_session_age_seconds")?,
    };
    let value = alter_core::content_match_rule(&rule).map_err(|e| to_pyerr(py, &e))?;
    Ok(value_to_py(py, &value)?.unbind())
}
