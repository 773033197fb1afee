//! Python callables the core calls back: the `user_token_getter` (sync or
//! async) and the warning sink.

use crate::bridge::{with_python, CALLER};
use alter_core::{UserTokenGetter, WarningSink};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<String, ()>>;

/// Wraps a Python callable as the core's getter. Each call is scheduled on
/// the event loop of the SDK call that needs it, in that call's context
/// (so a getter reading a `ContextVar` sees the request's value); a
/// coroutine result is run as a task there. Any failure becomes the core's
/// fixed "user_token_getter failed": the callable's own error text might
/// contain a token and is never chained.
pub fn user_token_getter(callable: Py<PyAny>) -> UserTokenGetter {
    let callable = Arc::new(callable);
    Arc::new(move || {
        let callable = callable.clone();
        let scope = CALLER.try_with(|s| s.clone()).ok();
        Box::pin(async move {
            let scope = scope.ok_or(())?;
            let (tx, rx) = oneshot::channel();
            let scheduled = with_python(|py| -> PyResult<()> {
                let job = RunGetter {
                    callable: callable.clone_ref(py),
                    reply: Mutex::new(Some(tx)),
                };
                let kwargs = PyDict::new(py);
                kwargs.set_item("context", scope.context.bind(py))?;
                scope.event_loop.bind(py).call_method(
                    "call_soon_threadsafe",
                    (job,),
                    Some(&kwargs),
                )?;
                Ok(())
            });
            match scheduled {
                Some(Ok(())) => rx.await.map_err(|_| ())?,
                _ => Err(()),
            }
        })
    })
}

/// Runs the getter on the caller's loop.
#[pyclass(module = "alter_sdk._alter_sdk", frozen)]
struct RunGetter {
    callable: Py<PyAny>,
    reply: Mutex<Option<Reply>>,
}

fn send(reply: &Mutex<Option<Reply>>, value: Result<String, ()>) {
    if let Some(tx) = reply.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = tx.send(value);
    }
}

/// A non-string result is reported as empty, which the core rejects with
/// its own message ("must return a non-empty string").
fn as_token(v: &Bound<'_, PyAny>) -> Result<String, ()> {
    match v.cast::<PyString>() {
        Ok(s) => s.to_str().map(str::to_string).map_err(|_| ()),
        Err(_) => Ok(String::new()),
    }
}

static ENSURE_FUTURE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pymethods]
impl RunGetter {
    fn __call__(&self, py: Python<'_>) {
        let result = match self.callable.bind(py).call0() {
            Ok(r) => r,
            Err(_) => return send(&self.reply, Err(())),
        };
        if result.hasattr("__await__").unwrap_or(false) {
            let tx = self.reply.lock().unwrap_or_else(|p| p.into_inner()).take();
            let task = ENSURE_FUTURE
                .import(py, "asyncio", "ensure_future")
                .and_then(|f| f.call1((result,)));
            let Ok(task) = task else {
                if let Some(tx) = tx {
                    let _ = tx.send(Err(()));
                }
                return;
            };
            let done = GetterDone {
                reply: Mutex::new(tx),
            };
            if task.call_method1("add_done_callback", (done,)).is_err() {
                // The reply sender was moved into the callback and dropped
                // with it: the waiting call sees a failure.
            }
        } else {
            send(&self.reply, as_token(&result));
        }
    }
}

/// Collects an async getter's result.
#[pyclass(module = "alter_sdk._alter_sdk", frozen)]
struct GetterDone {
    reply: Mutex<Option<Reply>>,
}

#[pymethods]
impl GetterDone {
    fn __call__(&self, task: &Bound<'_, PyAny>) {
        let value = match task.call_method0("cancelled") {
            Ok(c) if c.is_truthy().unwrap_or(true) => Err(()),
            Ok(_) => match task.call_method0("result") {
                Ok(v) => as_token(&v),
                Err(_) => Err(()),
            },
            Err(_) => Err(()),
        };
        send(&self.reply, value);
    }
}

static WARN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static USER_WARNING: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The core's warnings: to `logger.warning(msg)` when a logger was given,
/// else `warnings.warn(msg, UserWarning)`. A failing logger or a warning
/// filter set to "error" never fails the SDK call.
pub fn warning_sink(logger: Option<Py<PyAny>>) -> WarningSink {
    let logger = logger.map(Arc::new);
    Arc::new(move |msg: &str| {
        let _ = with_python(|py| {
            let outcome = match &logger {
                Some(l) => l.bind(py).call_method1("warning", (msg,)).map(drop),
                None => WARN
                    .import(py, "warnings", "warn")
                    .and_then(|warn| {
                        let category = USER_WARNING.import(py, "builtins", "UserWarning")?;
                        warn.call1((msg, category, 1))
                    })
                    .map(drop),
            };
            if let Err(e) = outcome {
                drop(e);
            }
        });
    })
}
