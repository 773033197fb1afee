//! Type conversions between Python objects and the core's types.

use crate::errors::value_error;
use alter_core::{QueryParams, QueryValue};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple,
};
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// A JSON value as a Python object (dicts keep their order).
pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Why a Python object is not JSON.
pub enum NotJson {
    /// NaN or an infinity.
    NonFinite,
    /// Nested deeper than any sane document (a cycle, in practice).
    TooDeep,
    /// Not a JSON type.
    Type(String),
}

const MAX_DEPTH: usize = 256;

/// A Python object as JSON: dict (string keys; int, float, bool and None
/// keys are rendered as `json.dumps` does), list, tuple, str, int, float,
/// bool, None, and the SDK's models (their `model_dump(mode="json")`).
pub fn py_to_value(obj: &Bound<'_, PyAny>) -> Result<Value, NotJson> {
    to_value(obj, 0)
}

fn to_value(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, NotJson> {
    if depth > MAX_DEPTH {
        return Err(NotJson::TooDeep);
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_str()
            .map(|s| Value::String(s.to_string()))
            .map_err(|_| NotJson::Type("str with surrogates".into()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(NotJson::Type("int out of range".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let f = f.value();
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or(NotJson::NonFinite);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            map.insert(key_string(&k)?, to_value(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let mut items = Vec::new();
        for item in obj.try_iter().map_err(|_| NotJson::Type("list".into()))? {
            let item = item.map_err(|_| NotJson::Type("list".into()))?;
            items.push(to_value(&item, depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    if is_model(obj) {
        let dumped = obj
            .call_method("model_dump", (), Some(&json_mode(obj.py())))
            .map_err(|_| NotJson::Type("model".into()))?;
        return to_value(&dumped, depth + 1);
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let mut map = Map::new();
        let items = m.items().map_err(|_| NotJson::Type("mapping".into()))?;
        for pair in items.iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
                .extract()
                .map_err(|_| NotJson::Type("mapping".into()))?;
            map.insert(key_string(&k)?, to_value(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    Err(NotJson::Type(type_name(obj)))
}

fn json_mode(py: Python<'_>) -> Bound<'_, PyDict> {
    let d = PyDict::new(py);
    let _ = d.set_item("mode", "json");
    d
}

fn key_string(k: &Bound<'_, PyAny>) -> Result<String, NotJson> {
    if let Ok(s) = k.cast::<PyString>() {
        return s
            .to_str()
            .map(str::to_string)
            .map_err(|_| NotJson::Type("key".into()));
    }
    if k.is_none() {
        return Ok("null".into());
    }
    if let Ok(b) = k.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.into());
    }
    if k.cast::<PyInt>().is_ok() || k.cast::<PyFloat>().is_ok() {
        return match to_value(k, 0)? {
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(NotJson::Type("key".into())),
        };
    }
    Err(NotJson::Type(format!("key of type {}", type_name(k))))
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

static MODEL_BASE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn is_model(obj: &Bound<'_, PyAny>) -> bool {
    MODEL_BASE
        .import(obj.py(), "alter_sdk._modelbase", "_Model")
        .and_then(|base| obj.is_instance(base))
        .unwrap_or(false)
}

/// The `json=` argument of `request()` / `proxy_request()`.
pub fn json_arg(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    py_to_value(obj).map_err(|_| {
        value_error(
            py,
            "json must be JSON-serialisable with finite numbers (no NaN/Infinity, circular references, or custom objects).",
        )
    })
}

/// A string argument that may also be given as a `UUID` (or a str enum).
pub fn str_like(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.to_string());
    }
    let tn = type_name(obj);
    if tn == "UUID" {
        return Ok(obj.str()?.to_str()?.to_string());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a str, not {tn}"
    )))
}

/// An optional string-like argument.
pub fn opt_str_like(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<String>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => str_like(o, what).map(Some),
    }
}

/// A `dict[str, str]` in insertion order; `err` is raised for anything else.
pub fn str_pairs(
    obj: &Bound<'_, PyAny>,
    err: &dyn Fn() -> PyErr,
) -> PyResult<Vec<(String, String)>> {
    let Ok(d) = obj.cast::<PyDict>() else {
        return Err(err());
    };
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let (Ok(k), Ok(v)) = (k.cast::<PyString>(), v.cast::<PyString>()) else {
            return Err(err());
        };
        let (Ok(k), Ok(v)) = (k.to_str(), v.to_str()) else {
            return Err(err());
        };
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// A JSON object argument (`dict[str, Any]`).
pub fn json_object(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<Map<String, Value>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    match py_to_value(obj) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        _ => Err(value_error(
            py,
            format!("{what} must be a JSON object (dict)"),
        )),
    }
}

/// Any JSON argument (`None` stays absent).
pub fn json_value(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<Value>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    py_to_value(obj).map(Some).map_err(|e| {
        let why = match e {
            NotJson::NonFinite => "NaN and infinities are not JSON".to_string(),
            NotJson::TooDeep => "it is nested too deeply (circular?)".to_string(),
            NotJson::Type(t) => format!("{t} is not JSON"),
        };
        value_error(py, format!("{what} must be JSON-serialisable: {why}"))
    })
}

/// `query_params`: values are str, int, float, bool, None, or lists of them.
pub fn query_params(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<QueryParams> {
    let Ok(d) = obj.cast::<PyDict>() else {
        return Err(value_error(
            py,
            "query_params cannot be encoded into the URL",
        ));
    };
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let key = match k.cast::<PyString>() {
            Ok(s) => s.to_str()?.to_string(),
            Err(_) => k.str()?.to_str()?.to_string(),
        };
        out.push((key, query_value(py, &v, true)?));
    }
    Ok(out)
}

fn query_value(py: Python<'_>, v: &Bound<'_, PyAny>, top: bool) -> PyResult<QueryValue> {
    if v.is_none() {
        return Ok(QueryValue::Null);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(QueryValue::Bool(b.is_true()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(QueryValue::Str(s.to_str()?.to_string()));
    }
    if v.cast::<PyInt>().is_ok() {
        return match v.extract::<i64>() {
            Ok(i) => Ok(QueryValue::Int(i)),
            // Beyond i64: its decimal rendering is the same thing on the wire.
            Err(_) => Ok(QueryValue::Str(v.str()?.to_str()?.to_string())),
        };
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(QueryValue::Float(f.value()));
    }
    if top && (v.cast::<PyList>().is_ok() || v.cast::<PyTuple>().is_ok()) {
        let mut items = Vec::new();
        for item in v.try_iter()? {
            items.push(query_value(py, &item?, false)?);
        }
        return Ok(QueryValue::List(items));
    }
    Err(value_error(
        py,
        format!(
            "query_params values must be str, int, float, bool, None or a list of those, not {}",
            type_name(v)
        ),
    ))
}

/// `body=`: bytes only (a text body would be sent differently by every HTTP
/// library; the official package fails late on it).
pub fn body_arg(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if type_name(obj) == "memoryview" {
        return obj.call_method0("tobytes")?.extract();
    }
    Err(value_error(
        py,
        format!("body must be bytes, not {}", type_name(obj)),
    ))
}

static MODELS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Builds the public model `name` from a serialisable core value.
pub fn model<T: Serialize>(py: Python<'_>, name: &str, value: &T) -> PyResult<Py<PyAny>> {
    let v = serde_json::to_value(value)
        .map_err(|e| PyTypeError::new_err(format!("cannot convert {name}: {e}")))?;
    model_from_value(py, name, &v)
}

/// Builds the public model `name` from a JSON value.
pub fn model_from_value(py: Python<'_>, name: &str, v: &Value) -> PyResult<Py<PyAny>> {
    // Through the package: it builds each group of model classes on first
    // use (an approval record does not need the management models).
    let module = MODELS.get_or_try_init(py, || {
        Ok::<_, PyErr>(PyModule::import(py, "alter_sdk")?.unbind())
    })?;
    let cls = module.bind(py).getattr(name)?;
    let data = value_to_py(py, v)?;
    Ok(cls.call_method1("_from_core", (data,))?.unbind())
}
