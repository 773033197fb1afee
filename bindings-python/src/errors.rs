//! Core errors → Python exceptions, through one table: the core's error
//! kind *is* the class name in `alter_sdk._errors`.

use crate::convert::value_to_py;
use alter_core::Error;
use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS_MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(PyModule::import(py, "alter_sdk._errors")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// Attributes whose items are records in Python (`GrantCandidate`,
/// `CredentialChoice`) rather than dicts.
const RECORD_ATTRIBUTES: [(&str, &str); 2] = [
    ("candidates", "GrantCandidate"),
    ("credentials", "CredentialChoice"),
];

/// The Python exception for a core error: the class named by `kind()`,
/// with `message`, `details` and every class attribute set.
pub fn to_pyerr(py: Python<'_>, err: &Error) -> PyErr {
    match build(py, err) {
        Ok(exc) => PyErr::from_value(exc),
        // Only if the shim itself is broken; keep the message at least.
        Err(e) => e,
    }
}

fn build<'py>(py: Python<'py>, err: &Error) -> PyResult<Bound<'py, PyAny>> {
    let module = errors_module(py)?;
    let cls = module.getattr(err.kind())?;
    let message = PyString::new(py, err.message());
    // Bypass the per-class constructors (their signatures differ) and set
    // the state they would have set.
    let exc = cls.call_method1("__new__", (&cls, &message))?;
    py.get_type::<PyBaseException>()
        .call_method1("__init__", (&exc, &message))?;
    exc.setattr("message", &message)?;
    let details = value_to_py(py, &Value::Object(err.details().clone()))?;
    exc.setattr("details", details)?;
    for (name, value) in err.attributes() {
        let mut obj = value_to_py(py, &value)?;
        if let Some((_, record)) = RECORD_ATTRIBUTES.iter().find(|(n, _)| *n == name) {
            if let Value::Array(items) = &value {
                let rec = module.getattr(*record)?;
                let list = PyList::empty(py);
                for item in items {
                    let kwargs = value_to_py(py, item)?;
                    let kwargs = kwargs.cast::<PyDict>()?;
                    list.append(rec.call((), Some(kwargs))?)?;
                }
                obj = list.into_any();
            }
        }
        // Read-only aliases (properties) of the class are derived already.
        if is_property(&cls, &name)? {
            continue;
        }
        exc.setattr(name.as_str(), obj)?;
    }
    Ok(exc)
}

fn is_property(cls: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    let py = cls.py();
    let Ok(attr) = cls.getattr(name) else {
        return Ok(false);
    };
    static PROPERTY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let property = PROPERTY.import(py, "builtins", "property")?;
    attr.is_instance(property)
}

/// `AlterValueError(message)`, through the same table.
pub fn value_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_pyerr(py, &Error::value(message.into()))
}

/// `AlterSDKError(message)`, through the same table.
pub fn sdk_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_pyerr(py, &Error::sdk(message.into()))
}

/// The `AlterSDKError` for a panic caught in `entry`.
pub fn panic_err(py: Python<'_>, entry: &str, payload: &(dyn std::any::Any + Send)) -> PyErr {
    to_pyerr(py, &alter_core::guard::panic_error(entry, payload))
}

/// Runs the body of a synchronous entry point, turning a panic into the
/// typed `AlterSDKError` (PyO3 would raise its `PanicException`, a
/// `BaseException` that `except AlterSDKError` / `except Exception` miss).
pub fn guarded<T>(
    py: Python<'_>,
    entry: &'static str,
    body: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(panic_err(py, entry, payload.as_ref())))
}
