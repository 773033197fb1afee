//! `_LocalVault`: the embedded local vault (`alter-devserver`) for
//! `alter_sdk.testing.LocalVault`. The server runs on its own thread and
//! runtime; operator calls block the calling thread (the interpreter is
//! released meanwhile) on the shared runtime.

use crate::convert::{py_to_value, value_to_py};
use alter_devserver::{Admin, AdminError, DevServer, ServerInfo, ServerOptions};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Mutex;

#[pyclass(module = "alter_sdk._alter_sdk", name = "_LocalVault", frozen)]
pub struct LocalVault {
    server: Mutex<Option<DevServer>>,
    info: ServerInfo,
    /// The process that started the server: a forked child must neither
    /// stop nor join the parent's server thread.
    pid: u32,
    admin: Mutex<Option<(u32, Admin)>>,
}

impl Drop for LocalVault {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            if let Some(server) = self
                .server
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                std::mem::forget(server);
            }
        }
    }
}

fn admin_err(e: AdminError) -> PyErr {
    PyRuntimeError::new_err(format!("local vault: {e}"))
}

fn reqwest_method(m: &str) -> PyResult<reqwest::Method> {
    reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
        .map_err(|_| PyValueError::new_err("not an HTTP method"))
}

fn arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    match obj {
        None => Ok(Value::Object(Default::default())),
        Some(o) => {
            py_to_value(o).map_err(|_| PyValueError::new_err("body must be JSON-serialisable"))
        }
    }
}

impl LocalVault {
    /// An operator client for this process.
    fn admin(&self) -> Admin {
        let pid = std::process::id();
        let mut slot = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some((p, a)) if *p == pid => a.clone(),
            _ => {
                let a = Admin::new(&self.info.base_url, &self.info.admin_token);
                *slot = Some((pid, a.clone()));
                a
            }
        }
    }

    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl std::future::Future<Output = Result<T, AdminError>> + Send,
    ) -> PyResult<T> {
        py.detach(move || alter_core::runtime::block_on(f))
            .map_err(admin_err)
    }

    fn json_result(&self, py: Python<'_>, v: Value) -> PyResult<Py<PyAny>> {
        Ok(value_to_py(py, &v)?.unbind())
    }
}

#[pymethods]
impl LocalVault {
    /// Starts a vault on 127.0.0.1 (a free port); `state_file` keeps its
    /// state in SQLite across restarts.
    #[new]
    #[pyo3(signature = (*, state_file=None, port=0))]
    fn new(py: Python<'_>, state_file: Option<PathBuf>, port: u16) -> PyResult<LocalVault> {
        let opts = ServerOptions {
            port,
            state_file,
            ..ServerOptions::default()
        };
        let server = py
            .detach(move || DevServer::start(opts))
            .map_err(|e| PyRuntimeError::new_err(format!("local vault did not start: {e}")))?;
        Ok(LocalVault {
            info: server.info().clone(),
            server: Mutex::new(Some(server)),
            pid: std::process::id(),
            admin: Mutex::new(None),
        })
    }

    #[getter]
    fn base_url(&self) -> &str {
        &self.info.base_url
    }

    #[getter]
    fn app_id(&self) -> &str {
        &self.info.app_id
    }

    #[getter]
    fn app_api_key(&self) -> &str {
        &self.info.app_api_key
    }

    #[getter]
    fn admin_token(&self) -> &str {
        &self.info.admin_token
    }

    #[getter]
    fn running(&self) -> bool {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Stops the server and waits for it (idempotent).
    fn stop(&self, py: Python<'_>) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            if std::process::id() == self.pid {
                py.detach(move || server.stop());
            } else {
                std::mem::forget(server);
            }
        }
    }

    /// `POST /_dev/managed-secrets`; returns the managed secret's id.
    fn create_managed_secret(&self, py: Python<'_>, body: &Bound<'_, PyAny>) -> PyResult<String> {
        let body = arg(Some(body))?;
        let admin = self.admin();
        self.run(py, async move { admin.create_managed_secret(body).await })
    }

    /// `POST /_dev/managed-secrets/{id}/grants`; returns the grant id.
    fn create_managed_secret_grant(
        &self,
        py: Python<'_>,
        managed_secret_id: String,
        body: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let body = arg(Some(body))?;
        let admin = self.admin();
        self.run(py, async move {
            admin
                .create_managed_secret_grant(&managed_secret_id, body)
                .await
        })
    }

    /// `POST /_dev/users`; returns `(user_id, user_token)`.
    fn create_user(&self, py: Python<'_>, email: String) -> PyResult<(String, String)> {
        let admin = self.admin();
        let u = self.run(py, async move { admin.create_user(&email).await })?;
        Ok((u.user_id, u.user_token))
    }

    /// `POST /_dev/oauth-grants`; returns `{grant_id, delegation_grant_id,
    /// credential_id}`.
    fn create_oauth_grant(&self, py: Python<'_>, body: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let body = arg(Some(body))?;
        let admin = self.admin();
        let ids = self.run(py, async move { admin.create_oauth_grant(body).await })?;
        self.json_result(
            py,
            json!({
                "grant_id": ids.grant_id,
                "delegation_grant_id": ids.delegation_grant_id,
                "credential_id": ids.credential_id,
            }),
        )
    }

    /// `POST /_dev/grants/{id}`: toggles grant flags; returns the grant.
    fn update_grant(
        &self,
        py: Python<'_>,
        grant_id: String,
        body: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let body = arg(Some(body))?;
        let admin = self.admin();
        let v = self.run(py, async move { admin.update_grant(&grant_id, body).await })?;
        self.json_result(py, v)
    }

    /// `GET /_dev/approvals/{id}`.
    fn approval(&self, py: Python<'_>, approval_id: String) -> PyResult<Py<PyAny>> {
        let admin = self.admin();
        let v = self.run(py, async move { admin.approval(&approval_id).await })?;
        self.json_result(py, v)
    }

    /// `POST /_dev/approvals/{id}/decision` (`approve`, `deny`, `expire`).
    #[pyo3(signature = (approval_id, decision, reason=None))]
    fn decide(
        &self,
        py: Python<'_>,
        approval_id: String,
        decision: String,
        reason: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let admin = self.admin();
        let v = self.run(py, async move {
            admin
                .decide(&approval_id, &decision, reason.as_deref())
                .await
        })?;
        self.json_result(py, v)
    }

    /// `GET /_dev/audit`: every stored audit event.
    fn audit(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let admin = self.admin();
        let v = self.run(py, async move { admin.audit().await })?;
        self.json_result(py, Value::Array(v))
    }

    /// `POST /_dev/faults`.
    fn add_fault(&self, py: Python<'_>, body: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let body = arg(Some(body))?;
        let admin = self.admin();
        let v = self.run(py, async move { admin.add_fault(body).await })?;
        self.json_result(py, v)
    }

    /// `DELETE /_dev/faults`.
    fn clear_faults(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let admin = self.admin();
        let v = self.run(py, async move { admin.clear_faults().await })?;
        self.json_result(py, v)
    }

    /// `POST /_dev/keys`.
    fn update_key(&self, py: Python<'_>, body: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let body = arg(Some(body))?;
        let admin = self.admin();
        let v = self.run(py, async move { admin.update_key(body).await })?;
        self.json_result(py, v)
    }

    /// `POST /_dev/agents/{id}`.
    fn update_agent(
        &self,
        py: Python<'_>,
        agent_id: String,
        body: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let body = arg(Some(body))?;
        let admin = self.admin();
        let v = self.run(py, async move { admin.update_agent(&agent_id, body).await })?;
        self.json_result(py, v)
    }

    /// Any operator call (`method`, `/_dev/...` path, optional JSON body);
    /// returns the JSON answer (None for an empty body).
    #[pyo3(signature = (method, path, body=None))]
    fn call(
        &self,
        py: Python<'_>,
        method: String,
        path: String,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let method = reqwest_method(&method)?;
        let body = match body.filter(|b| !b.is_none()) {
            Some(b) => Some(arg(Some(b))?),
            None => None,
        };
        let admin = self.admin();
        let v = self.run(
            py,
            async move { admin.call(method, &path, body.as_ref()).await },
        )?;
        self.json_result(py, v)
    }

    fn __repr__(&self) -> String {
        format!("<LocalVault base_url={:?}>", self.info.base_url)
    }
}
