//! Native helpers of `alter_sdk._memory` (`ScopedMemoryStore`,
//! `IdentityContext.memory_scope`, `MemoryScope.namespace_for`): Python
//! values in, the core's partition rules (`alter_core::memory`) applied,
//! Python values out. Provenance (whether an identity object came from
//! Alter) is tracked per object in `_memory.py`.

use crate::convert::{model, py_to_value};
use crate::errors::{to_pyerr, value_error};
use alter_core::memory;
use alter_core::IdentityContext;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyList, PySequence, PyString, PyTuple};

/// The `MemoryScope` of an `IdentityContext` (already known to be verified).
#[pyfunction]
pub fn _memory_scope(
    py: Python<'_>,
    identity: &Bound<'_, PyAny>,
    agent_only: bool,
) -> PyResult<Py<PyAny>> {
    let identity: IdentityContext = py_to_value(identity)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| value_error(py, "identity must be an IdentityContext"))?;
    let scope = memory::memory_scope(&identity, agent_only).map_err(|e| to_pyerr(py, &e))?;
    model(py, "MemoryScope", &scope)
}

/// Encodes a developer path (a non-string sequence of strings) into
/// namespace segments.
#[pyfunction]
pub fn _memory_path<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let not_a_path = || value_error(py, "path must be a sequence of strings (a list or a tuple)");
    // A str is a sequence of characters and bytes one of integers: both
    // are almost always a forgotten pair of brackets, so both are refused.
    if path.cast::<PyString>().is_ok()
        || path.cast::<PyBytes>().is_ok()
        || path.cast::<PyByteArray>().is_ok()
    {
        return Err(not_a_path());
    }
    let seq = path.cast::<PySequence>().map_err(|_| not_a_path())?;
    let mut segments = Vec::new();
    for item in seq.try_iter()? {
        let item = item?;
        let text = item.cast::<PyString>().ok().and_then(|s| s.to_str().ok());
        match text {
            Some(s) => segments.push(s.to_string()),
            None => {
                return Err(value_error(
                    py,
                    "path: memory path segments must be non-empty Unicode strings",
                ))
            }
        }
    }
    let encoded = memory::encode_path(&segments).map_err(|e| to_pyerr(py, &e))?;
    PyTuple::new(py, encoded)
}

/// Checks an item key.
#[pyfunction]
pub fn _memory_key(py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
    let key = key
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok())
        .ok_or_else(|| value_error(py, "key must be a non-empty string"))?;
    memory::check_key(key).map_err(|e| to_pyerr(py, &e))
}

/// Checks `limit` / `offset` of a search or listing.
#[pyfunction]
pub fn _memory_page(
    py: Python<'_>,
    limit: &Bound<'_, PyAny>,
    offset: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let int = |v: &Bound<'_, PyAny>, what: &str, rule: &str| -> PyResult<i64> {
        if v.cast::<PyBool>().is_ok() || v.cast::<PyInt>().is_err() {
            return Err(value_error(py, format!("{what} must be {rule}")));
        }
        // Out of i64 range: far beyond any page; saturate, and let the core
        // judge the sign.
        Ok(v.extract::<i64>()
            .unwrap_or(if v.lt(0)? { i64::MIN } else { i64::MAX }))
    };
    let limit = int(limit, "limit", "a positive integer")?;
    let offset = int(offset, "offset", "a non-negative integer")?;
    memory::check_page(limit, offset).map_err(|e| to_pyerr(py, &e))
}

/// A namespace as a store returned it: a list or tuple of strings, else
/// `None` (unreadable, never inside a partition).
fn namespace_of(v: Option<&Bound<'_, PyAny>>) -> Option<Vec<String>> {
    let v = v?;
    if v.cast::<PyList>().is_err() && v.cast::<PyTuple>().is_err() {
        return None;
    }
    v.try_iter()
        .ok()?
        .map(|part| {
            Some(
                part.ok()?
                    .cast::<PyString>()
                    .ok()?
                    .to_str()
                    .ok()?
                    .to_string(),
            )
        })
        .collect()
}

/// Checks a store's answer to a read of `key` at `asked` (the item's
/// `namespace` and `key` attributes).
#[pyfunction]
pub fn _memory_item(
    py: Python<'_>,
    item: &Bound<'_, PyAny>,
    asked: Vec<String>,
    key: &str,
) -> PyResult<()> {
    let namespace = namespace_of(item.getattr("namespace").ok().as_ref());
    let returned_key = item
        .getattr("key")
        .ok()
        .and_then(|k| k.extract::<String>().ok());
    memory::check_item(namespace.as_deref(), returned_key.as_deref(), &asked, key)
        .map_err(|e| to_pyerr(py, &e))
}

/// Checks the namespaces of a search's or a listing's answer under `asked`
/// (each one as `_memory_item` reads it; `None` for an unreadable one).
#[pyfunction]
pub fn _memory_under(
    py: Python<'_>,
    namespaces: Vec<Bound<'_, PyAny>>,
    asked: Vec<String>,
) -> PyResult<()> {
    let read: Vec<Option<Vec<String>>> = namespaces.iter().map(|n| namespace_of(Some(n))).collect();
    memory::check_under(read.iter().map(Option::as_deref), &asked).map_err(|e| to_pyerr(py, &e))
}

static TRUST: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TRUST_ASSERTION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Records that `identity` (an `IdentityContext` just built from an
/// authenticated answer of Alter, or from a verified assertion) may key
/// memory: until `expires_at` (Unix seconds) for an assertion, as a
/// snapshot needing live refresh for a resolved identity (`None`).
pub fn trusted(
    py: Python<'_>,
    identity: Py<PyAny>,
    expires_at: Option<i64>,
) -> PyResult<Py<PyAny>> {
    let trust = TRUST.import(py, "alter_sdk._memory", "_trust")?;
    Ok(trust.call1((identity, expires_at))?.unbind())
}

/// [`trusted`] for the identity inside an `IdentityAssertion`, until the
/// assertion expires.
pub fn trusted_assertion(py: Python<'_>, assertion: Py<PyAny>) -> PyResult<Py<PyAny>> {
    let trust = TRUST_ASSERTION.import(py, "alter_sdk._memory", "_trust_assertion")?;
    Ok(trust.call1((assertion,))?.unbind())
}
