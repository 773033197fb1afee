//! `Agent.trace()`: the ambient audit context lives in a Python
//! `ContextVar` (so it follows tasks the way Python code expects: inherited
//! by child tasks, restored on exit, independent across concurrent tasks)
//! and is handed to the core as the ambient context of every call started
//! while it is set. The map itself is built and validated by the core.

use crate::bridge;
use crate::errors::{to_pyerr, value_error};
use alter_core::context::Context;
use alter_core::trace::{build_trace_context, TraceOptions, TraceParent};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use std::sync::Mutex;

static TRACE_VAR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn trace_var(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    TRACE_VAR
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            let cv = py.import("contextvars")?.getattr("ContextVar")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("default", py.None())?;
            Ok(cv.call(("alter_sdk.trace",), Some(&kwargs))?.unbind())
        })
        .map(|v| v.bind(py))
}

/// The scope a `trace()` block set: an immutable context map.
#[pyclass(module = "alter_sdk._alter_sdk", name = "TraceScope", frozen)]
pub struct TraceScope {
    ctx: Context,
}

#[pymethods]
impl TraceScope {
    /// The audit context as a dict (insertion order kept).
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.ctx {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let keys: Vec<&str> = self.ctx.iter().map(|(k, _)| k.as_str()).collect();
        format!("<TraceScope keys={keys:?}>")
    }
}

/// The ambient context of the calling task, if a `trace()` block is active.
pub fn current(py: Python<'_>) -> PyResult<Option<Context>> {
    let value = trace_var(py)?.call_method0("get")?;
    if value.is_none() {
        return Ok(None);
    }
    Ok(value.cast::<TraceScope>().ok().map(|s| s.get().ctx.clone()))
}

/// The async context manager `Agent.trace(...)` returns. Nothing is checked
/// or set until it is entered.
#[pyclass(module = "alter_sdk._alter_sdk", name = "TraceContext", frozen)]
pub struct TraceContext {
    identity: String,
    opts: TraceOptions,
    token: Mutex<Vec<Py<PyAny>>>,
}

impl TraceContext {
    pub fn new(identity: String, opts: TraceOptions) -> TraceContext {
        TraceContext {
            identity,
            opts,
            token: Mutex::new(Vec::new()),
        }
    }
}

/// Reads `trace()`'s keyword arguments.
pub fn options(
    py: Python<'_>,
    run_id: Option<&Bound<'_, PyAny>>,
    thread_id: Option<&Bound<'_, PyAny>>,
    parent: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyDict>>,
) -> PyResult<TraceOptions> {
    let id = |v: Option<&Bound<'_, PyAny>>, name: &str| -> PyResult<Option<String>> {
        match v {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => match v.cast::<PyString>() {
                Ok(s) => Ok(Some(s.to_str()?.to_string())),
                Err(_) => Err(value_error(py, format!("{name} must be a str"))),
            },
        }
    };
    let parent = match parent {
        None => TraceParent::Inherit,
        Some(p) if p.is_none() => TraceParent::Clear,
        Some(p) => match p.cast::<PyString>() {
            Ok(s) => TraceParent::Set(s.to_str()?.to_string()),
            Err(_) => return Err(value_error(py, "parent must be a str or None")),
        },
    };
    let mut md = Vec::new();
    if let Some(m) = metadata {
        for (k, v) in m.iter() {
            let k: String = k.extract()?;
            let Ok(v) = v.cast::<PyString>() else {
                return Err(value_error(
                    py,
                    format!("trace metadata value for {k:?} must be a str"),
                ));
            };
            md.push((k, v.to_str()?.to_string()));
        }
    }
    Ok(TraceOptions {
        run_id: id(run_id, "run_id")?,
        thread_id: id(thread_id, "thread_id")?,
        parent,
        metadata: md,
    })
}

#[pymethods]
impl TraceContext {
    /// Enters the scope in the calling task's context. The returned
    /// awaitable is already complete.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<bridge::CoreCall> {
        let var = trace_var(py)?;
        let enclosing = current(py)?;
        let ctx = build_trace_context(enclosing.as_deref(), &self.identity, &self.opts)
            .map_err(|e| to_pyerr(py, &e))?;
        let scope = Py::new(py, TraceScope { ctx })?;
        let token = var.call_method1("set", (scope,))?;
        self.token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(token.unbind());
        Ok(bridge::ready("Agent.trace.__aenter__", py.None()))
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__(
        &self,
        py: Python<'_>,
        _exc: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<bridge::CoreCall> {
        let token = self.token.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(token) = token {
            trace_var(py)?.call_method1("reset", (token,))?;
        }
        Ok(bridge::ready("Agent.trace.__aexit__", py.None()))
    }

    fn __repr__(&self) -> String {
        "<Agent.trace scope>".to_string()
    }
}
