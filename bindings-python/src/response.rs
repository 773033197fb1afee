//! The retrieve-mode response: the parts of `httpx.Response` that users
//! touch, over the core's `Response`.

use crate::convert::model;
use crate::errors::to_pyerr;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::time::Duration;

/// The provider's answer to `request()`.
#[pyclass(module = "alter_sdk", name = "Response", frozen)]
pub struct Response {
    status: u16,
    headers_pairs: Vec<(String, String)>,
    body: Py<PyBytes>,
    url: String,
    elapsed: Duration,
    retry_info: Py<PyAny>,
    headers: PyOnceLock<Py<PyAny>>,
}

static HEADERS_CLS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TIMEDELTA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static HTTP_STATUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

impl Response {
    pub fn from_core(py: Python<'_>, r: alter_core::Response) -> PyResult<Response> {
        let retry_info = match &r.retry_info {
            Some(info) => model(py, "RetryInfo", info)?,
            None => py.None(),
        };
        Ok(Response {
            status: r.status,
            headers_pairs: r.headers,
            body: PyBytes::new(py, &r.body).unbind(),
            url: r.url,
            elapsed: r.elapsed,
            retry_info,
            headers: PyOnceLock::new(),
        })
    }
}

#[pymethods]
impl Response {
    /// The HTTP status code.
    #[getter]
    fn status_code(&self) -> u16 {
        self.status
    }

    /// Case-insensitive, multi-valued response headers.
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let h = self
            .headers
            .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
                let cls = HEADERS_CLS.import(py, "alter_sdk._types", "Headers")?;
                let pairs = PyList::empty(py);
                for (k, v) in &self.headers_pairs {
                    pairs.append(PyTuple::new(py, [k.as_str(), v.as_str()])?)?;
                }
                Ok(cls.call1((pairs,))?.unbind())
            })?;
        Ok(h.clone_ref(py))
    }

    /// The body, as bytes.
    #[getter]
    fn content(&self, py: Python<'_>) -> Py<PyBytes> {
        self.body.clone_ref(py)
    }

    /// The body decoded as text (the charset of `Content-Type`, else UTF-8;
    /// undecodable bytes are replaced).
    #[getter]
    fn text(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let charset = self.charset().unwrap_or_else(|| "utf-8".to_string());
        let body = self.body.bind(py);
        match body.call_method1("decode", (charset.as_str(), "replace")) {
            Ok(s) => Ok(s.unbind()),
            Err(_) => Ok(body.call_method1("decode", ("utf-8", "replace"))?.unbind()),
        }
    }

    /// The character set named by `Content-Type`, if any.
    #[getter]
    fn encoding(&self) -> Option<String> {
        self.charset()
    }

    /// The body parsed as JSON (`json.loads` keyword arguments accepted).
    #[pyo3(signature = (**kwargs))]
    fn json(&self, py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let loads = JSON_LOADS.import(py, "json", "loads")?;
        Ok(loads.call((self.body.bind(py),), kwargs)?.unbind())
    }

    /// True for a 2xx status.
    #[getter]
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    #[getter]
    fn is_informational(&self) -> bool {
        (100..200).contains(&self.status)
    }

    #[getter]
    fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }

    #[getter]
    fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }

    #[getter]
    fn is_server_error(&self) -> bool {
        (500..600).contains(&self.status)
    }

    #[getter]
    fn is_error(&self) -> bool {
        (400..600).contains(&self.status)
    }

    /// The standard reason phrase of the status.
    #[getter]
    fn reason_phrase(&self, py: Python<'_>) -> String {
        HTTP_STATUS
            .import(py, "http", "HTTPStatus")
            .and_then(|s| s.call1((self.status,)))
            .and_then(|s| s.getattr("phrase"))
            .and_then(|p| p.extract::<String>())
            .unwrap_or_default()
    }

    /// Returns the response when its status is 2xx; otherwise raises
    /// `ProviderAPIError` (the body is not included in the message).
    fn raise_for_status(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        let me = slf.get();
        if me.is_success() {
            return Ok(slf);
        }
        let mut details = alter_core::error::Details::new();
        details.insert("url".into(), me.url.as_str().into());
        let err = alter_core::Error::provider_api(
            format!("Provider returned HTTP {} for this request", me.status),
            me.status,
            None,
            details,
        );
        Err(to_pyerr(py, &err))
    }

    /// The URL the provider was called with (before credential injection).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Time spent on the provider exchange.
    #[getter]
    fn elapsed(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let td = TIMEDELTA.import(py, "datetime", "timedelta")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("microseconds", self.elapsed.as_micros() as u64)?;
        Ok(td.call((), Some(&kwargs))?.unbind())
    }

    /// The backend's own retries while fetching the credential, if any.
    #[getter]
    fn retry_info(&self, py: Python<'_>) -> Py<PyAny> {
        self.retry_info.clone_ref(py)
    }

    /// The body (already read; for code written against `httpx`).
    fn read(&self, py: Python<'_>) -> Py<PyBytes> {
        self.body.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        format!("<Response [{}]>", self.status)
    }

    fn __bool__(&self) -> bool {
        true
    }
}

impl Response {
    fn charset(&self) -> Option<String> {
        let ct = self
            .headers_pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())?;
        ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
        })
    }
}
