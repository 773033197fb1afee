//! The namespace objects reached through client attributes
//! (`app.agents`, `client.keys`, ...). Not exported, as in the official
//! package.

use crate::bridge::{self, CoreCall};
use crate::convert::{json_object, model, str_like};
use crate::errors::value_error;
use alter_core::{CreateAgent, UpdateAgent};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// `app.agents`: managed agents and their keys.
#[pyclass(module = "alter_sdk._alter_sdk", name = "AgentsNamespace", frozen)]
pub struct AgentsNamespace {
    app: alter_core::App,
}

impl AgentsNamespace {
    pub fn new(app: alter_core::App) -> AgentsNamespace {
        AgentsNamespace { app }
    }
}

fn opt_string(
    py: Python<'_>,
    v: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<String>> {
    match v.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => match v.cast::<PyString>() {
            Ok(s) => Ok(Some(s.to_str()?.to_string())),
            Err(_) => Err(value_error(py, format!("{what} must be a str"))),
        },
    }
}

fn int_arg(py: Python<'_>, v: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    if v.cast::<pyo3::types::PyBool>().is_ok() {
        return Err(value_error(py, format!("{what} must be an integer")));
    }
    v.extract::<i64>()
        .map_err(|_| value_error(py, format!("{what} must be an integer")))
}

fn opt_int(py: Python<'_>, v: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<i64>> {
    match v.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => int_arg(py, v, what).map(Some),
    }
}

#[pymethods]
impl AgentsNamespace {
    /// Creates a managed agent; the result's `api_key` is shown only once.
    /// `scopes` (provider id → scope list, plus `managed_secret_slugs`) may
    /// be omitted: the agent then reaches exactly the grants bound or
    /// delegated to it. (The hosted backend may require it.)
    #[pyo3(signature = (
        *, name, scopes=None, display_name=None, r#type="agent", metadata=None, policy=None,
        idempotency_key=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        scopes: Option<&Bound<'_, PyAny>>,
        display_name: Option<&Bound<'_, PyAny>>,
        r#type: &str,
        metadata: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let a = CreateAgent {
            name: opt_string(py, Some(name), "name")?.unwrap_or_default(),
            scopes: json_object(py, scopes, "scopes")?,
            display_name: opt_string(py, display_name, "display_name")?,
            agent_type: Some(r#type.to_string()),
            metadata: json_object(py, metadata, "metadata")?,
            policy: json_object(py, policy, "policy")?,
            idempotency_key: opt_string(py, idempotency_key, "idempotency_key")?,
        };
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.create",
            async move { app.agents().create(a).await },
            |py, r| model(py, "AgentCreateResult", &r),
        ))
    }

    /// One page of agents.
    #[pyo3(signature = (*, include_revoked=false, limit=100, offset=0))]
    fn list(&self, include_revoked: bool, limit: i64, offset: i64) -> PyResult<CoreCall> {
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.list",
            async move { app.agents().list(include_revoked, limit, offset).await },
            |py, r| model(py, "AgentListResult", &r),
        ))
    }

    fn get(&self, agent_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.get",
            async move { app.agents().get(&id).await },
            |py, r| model(py, "AgentInfo", &r),
        ))
    }

    /// The non-revoked agent with this name, or None.
    fn get_by_name(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let name = opt_string(py, Some(name), "name")?.unwrap_or_default();
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.get_by_name",
            async move { app.agents().get_by_name(&name).await },
            |py, r| match r {
                Some(info) => model(py, "AgentInfo", &info),
                None => Ok(py.None()),
            },
        ))
    }

    #[pyo3(signature = (
        agent_id, *, display_name=None, metadata=None, scopes=None, expected_version=None,
        grace_seconds=None, policy=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        py: Python<'_>,
        agent_id: &Bound<'_, PyAny>,
        display_name: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        expected_version: Option<&Bound<'_, PyAny>>,
        grace_seconds: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let u = UpdateAgent {
            display_name: opt_string(py, display_name, "display_name")?,
            metadata: json_object(py, metadata, "metadata")?,
            scopes: json_object(py, scopes, "scopes")?,
            expected_version: opt_int(py, expected_version, "expected_version")?,
            grace_seconds: opt_int(py, grace_seconds, "grace_seconds")?,
            policy: json_object(py, policy, "policy")?,
        };
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.update",
            async move { app.agents().update(&id, u).await },
            |py, r| model(py, "AgentInfo", &r),
        ))
    }

    /// Pauses the agent (its keys fail everywhere but `me()`).
    fn suspend(&self, agent_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.suspend",
            async move { app.agents().suspend(&id).await },
            |py, r| model(py, "AgentInfo", &r),
        ))
    }

    fn resume(&self, agent_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.resume",
            async move { app.agents().resume(&id).await },
            |py, r| model(py, "AgentInfo", &r),
        ))
    }

    /// Revokes the agent and all its keys (terminal).
    fn delete(&self, agent_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.delete",
            async move { app.agents().delete(&id).await },
            |py, r| model(py, "AgentInfo", &r),
        ))
    }

    /// Mints another key for the agent; the plaintext is shown only once.
    fn mint_key(&self, agent_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.mint_key",
            async move { app.agents().mint_key(&id).await },
            |py, r| model(py, "AgentKeyMintResult", &r),
        ))
    }

    fn list_keys(&self, agent_id: &Bound<'_, PyAny>) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.list_keys",
            async move { app.agents().list_keys(&id).await },
            |py, r| model(py, "AgentKeyList", &r),
        ))
    }

    fn deprecate_key(
        &self,
        agent_id: &Bound<'_, PyAny>,
        key_id: &Bound<'_, PyAny>,
    ) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let key = str_like(key_id, "key_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.deprecate_key",
            async move { app.agents().deprecate_key(&id, &key).await },
            |py, r| model(py, "AgentKey", &r),
        ))
    }

    fn undeprecate_key(
        &self,
        agent_id: &Bound<'_, PyAny>,
        key_id: &Bound<'_, PyAny>,
    ) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let key = str_like(key_id, "key_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.undeprecate_key",
            async move { app.agents().undeprecate_key(&id, &key).await },
            |py, r| model(py, "AgentKey", &r),
        ))
    }

    /// Revokes a key; revoking the last active key needs `force=True`.
    #[pyo3(signature = (agent_id, key_id, *, force=false))]
    fn revoke_key(
        &self,
        agent_id: &Bound<'_, PyAny>,
        key_id: &Bound<'_, PyAny>,
        force: bool,
    ) -> PyResult<CoreCall> {
        let id = str_like(agent_id, "agent_id")?;
        let key = str_like(key_id, "key_id")?;
        let app = self.app.clone();
        Ok(bridge::call(
            "agents.revoke_key",
            async move { app.agents().revoke_key(&id, &key, force).await },
            |py, r| model(py, "AgentKey", &r),
        ))
    }

    fn __repr__(&self) -> &'static str {
        "<AgentsNamespace>"
    }
}
