//! The async bridge: every SDK coroutine is a [`CoreCall`].
//!
//! A `CoreCall` is a native coroutine object (it has `send`, `throw`,
//! `close` and `__await__`, so asyncio accepts it anywhere a coroutine goes:
//! `await`, `asyncio.run`, `create_task`, `gather`). Nothing happens until
//! it is first stepped by a task. Then, on the task's running loop, it
//!
//! 1. creates an asyncio future and yields it to the task;
//! 2. spawns the core's future on the shared, fork-safe runtime
//!    (`alter_core::runtime`), with the caller's loop and context attached
//!    (the `user_token_getter` runs there) and the ambient `trace()` context
//!    scoped over it;
//! 3. when the Rust future finishes, attaches to Python on that worker
//!    thread, converts the result (or maps the error through the exception
//!    table) and hands it to the loop with `call_soon_threadsafe`.
//!
//! Cancelling the Python task cancels the asyncio future, whose done
//! callback aborts the tokio task (dropping the Rust future). Because the
//! loop is looked up at each call, clients work from any event loop, one
//! after another, and in a forked child (the runtime rebuilds itself there).

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::AbortHandle;

/// Aborts a runtime task, unless this process is a fork of the one that
/// spawned it: the parent's runtime has no threads in a child, and touching
/// its scheduler there (its locks may have been held by a thread that no
/// longer exists) could hang the child. The task is simply forgotten then.
#[derive(Clone)]
struct TaskAbort {
    handle: AbortHandle,
    pid: u32,
}

impl TaskAbort {
    fn new(handle: AbortHandle) -> TaskAbort {
        TaskAbort {
            handle,
            pid: std::process::id(),
        }
    }

    fn abort(&self) {
        if self.pid == std::process::id() {
            self.handle.abort();
        }
    }
}

/// Calls whose Rust future is alive on the runtime (spawned, not yet
/// finished or dropped). Exposed for tests of cancellation.
static INFLIGHT: AtomicUsize = AtomicUsize::new(0);

struct Inflight;

impl Inflight {
    fn new() -> Inflight {
        INFLIGHT.fetch_add(1, Ordering::SeqCst);
        Inflight
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        INFLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Set by an `atexit` hook: once the interpreter is shutting down, runtime
/// threads no longer attach to it. CPython ends any thread that tries to take
/// the GIL during finalisation with `pthread_exit`, which would unwind through
/// Rust frames and abort the process.
static SHUTTING_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runtime threads currently attached (or about to attach) to the
/// interpreter, and a condition the `atexit` hook waits on until it is zero.
static ATTACHED: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static DETACHED: std::sync::Condvar = std::sync::Condvar::new();

/// The `atexit` hook. First it gives the audit rows of clients nobody
/// closed up to `EXIT_FLUSH_TIMEOUT` to reach the backend (the rest are
/// abandoned and counted), while Python can still be entered (a refused row
/// is reported through the client's logger). Then it refuses new
/// attachments and waits (with the GIL released, so they can finish) for
/// threads already inside Python — e.g. one in `loop.call_soon_threadsafe`,
/// which drops the GIL while it writes to the loop's wake-up socket — to
/// leave before finalisation starts.
#[pyfunction]
pub fn _shutdown(py: Python<'_>) {
    if alter_core::client::pending_background_posts() > 0 {
        py.detach(|| {
            alter_core::runtime::block_on(alter_core::client::flush_background_posts(
                alter_core::client::EXIT_FLUSH_TIMEOUT,
            ))
        });
    }
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    py.detach(|| {
        let mut n = ATTACHED.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a thread stuck in user code must not hang the exit.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while *n > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            n = DETACHED
                .wait_timeout(n, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    });
}

/// Runs `f` attached to the interpreter, unless it is gone or going.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    // Count ourselves in before looking at the flag: either the hook sees
    // us and waits, or we see its flag and stay out.
    *ATTACHED.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let mut n = ATTACHED.lock().unwrap_or_else(|p| p.into_inner());
            *n -= 1;
            if *n == 0 {
                DETACHED.notify_all();
            }
        }
    }
    let _leave = Leave;
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        return None;
    }
    Python::try_attach(f)
}

/// The number of SDK calls currently running on the runtime.
#[pyfunction]
pub fn _inflight_calls() -> usize {
    INFLIGHT.load(Ordering::SeqCst)
}

/// Converts the outcome of a finished Rust future into a Python value (or
/// the Python exception to raise). Runs attached, on a runtime thread.
pub type Finish = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Py<PyAny>> + Send>;

/// The caller's event loop and a copy of its `contextvars` context, for
/// calling back into Python (the `user_token_getter`) while a call runs.
#[derive(Clone)]
pub struct CallerScope {
    pub event_loop: Arc<Py<PyAny>>,
    pub context: Arc<Py<PyAny>>,
}

tokio::task_local! {
    /// The scope of the Python call a runtime task belongs to.
    pub static CALLER: CallerScope;
}

enum State {
    /// Not stepped yet.
    Ready(BoxFuture<'static, Finish>),
    /// Already known: the first step returns it (no loop needed).
    Immediate(Py<PyAny>),
    /// Running on the runtime; the task waits on `fut`.
    Waiting { fut: Py<PyAny>, abort: TaskAbort },
    /// Finished, failed, thrown into or closed.
    Done,
}

/// A native coroutine running one core call.
#[pyclass(module = "alter_sdk._alter_sdk", name = "CoreCall", frozen)]
pub struct CoreCall {
    state: Mutex<State>,
    name: &'static str,
}

impl Drop for CoreCall {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let State::Waiting { abort, .. } = state {
            abort.abort();
        }
    }
}

/// Builds a coroutine from a core future and the conversion of its value.
pub fn call<T, F, C>(name: &'static str, fut: F, convert: C) -> CoreCall
where
    T: Send + 'static,
    F: Future<Output = alter_core::Result<T>> + Send + 'static,
    C: for<'py> FnOnce(Python<'py>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let job = async move {
        let out = fut.await;
        Box::new(move |py: Python<'_>| match out {
            Ok(v) => convert(py, v),
            Err(e) => Err(crate::errors::to_pyerr(py, &e)),
        }) as Finish
    };
    CoreCall {
        state: Mutex::new(State::Ready(Box::pin(job))),
        name,
    }
}

/// A coroutine that returns `value` at once.
pub fn ready(name: &'static str, value: Py<PyAny>) -> CoreCall {
    CoreCall {
        state: Mutex::new(State::Immediate(value)),
        name,
    }
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static COPY_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn stop_iteration(value: Py<PyAny>) -> PyErr {
    // A 1-tuple: a tuple result must not be spread into the exception's args.
    PyStopIteration::new_err((value,))
}

impl CoreCall {
    fn take(&self) -> State {
        let mut slot = self.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *slot, State::Done)
    }

    fn put(&self, state: State) {
        let mut slot = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *slot = state;
    }

    /// One step: yields the asyncio future to wait on, or returns (raises
    /// `StopIteration`) with the result.
    fn step(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.take() {
            State::Immediate(v) => Err(stop_iteration(v)),
            State::Ready(job) => self.start(py, job),
            State::Waiting { fut, abort } => {
                let b = fut.bind(py);
                if b.call_method0("done")?.is_truthy()? {
                    // Raises the call's exception (or CancelledError) as is.
                    let value = b.call_method0("result")?;
                    Err(stop_iteration(value.unbind()))
                } else {
                    b.setattr("_asyncio_future_blocking", true)?;
                    let out = fut.clone_ref(py);
                    self.put(State::Waiting { fut, abort });
                    Ok(out)
                }
            }
            State::Done => Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited coroutine",
            )),
        }
    }

    fn start(&self, py: Python<'_>, job: BoxFuture<'static, Finish>) -> PyResult<Py<PyAny>> {
        let event_loop = GET_RUNNING_LOOP
            .import(py, "asyncio", "get_running_loop")?
            .call0()?;
        let fut = event_loop.call_method0("create_future")?;
        let context = COPY_CONTEXT
            .import(py, "contextvars", "copy_context")?
            .call0()?;
        let ambient = crate::trace::current(py)?;
        let traceparent = otel_traceparent(py);
        let scope = CallerScope {
            event_loop: Arc::new(event_loop.clone().unbind()),
            context: Arc::new(context.unbind()),
        };
        let loop_ref = event_loop.unbind();
        let fut_ref = fut.clone().unbind();
        let inflight = Inflight::new();
        let name = self.name;
        let task = async move {
            let finish = {
                let _inflight = inflight;
                let job: BoxFuture<'static, Finish> = match traceparent {
                    Some(tp) => Box::pin(alter_core::context::with_traceparent(tp, job)),
                    None => job,
                };
                let run: BoxFuture<'static, Finish> = match ambient {
                    Some(ctx) => {
                        Box::pin(CALLER.scope(scope, alter_core::context::with_ambient(ctx, job)))
                    }
                    None => Box::pin(CALLER.scope(scope, job)),
                };
                // A panic in the call must still settle the future: the
                // awaiting task would otherwise wait forever.
                std::panic::AssertUnwindSafe(run)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|payload| panicked(name, payload.as_ref()))
            };
            deliver(loop_ref, fut_ref, finish, name);
        };
        // Starting the runtime (first call, or first call after a fork) and
        // spawning touch locks only: never hold the interpreter meanwhile.
        // Building the runtime can fail (no threads left): an error, not
        // a PanicException, reaches the awaiting task.
        let handle = py
            .detach(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    alter_core::runtime::spawn(task)
                }))
            })
            .map_err(|payload| crate::errors::panic_err(py, name, payload.as_ref()))?;
        let abort = TaskAbort::new(handle.abort_handle());
        fut.call_method1(
            "add_done_callback",
            (AbortOnCancel {
                abort: abort.clone(),
            },),
        )?;
        fut.setattr("_asyncio_future_blocking", true)?;
        self.put(State::Waiting {
            fut: fut.clone().unbind(),
            abort,
        });
        Ok(fut.unbind())
    }

    fn stop(&self) {
        if let State::Waiting { abort, .. } = self.take() {
            abort.abort();
        }
    }
}

static SYS_MODULES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The W3C `traceparent` of the caller's active OpenTelemetry span, when
/// the application uses OpenTelemetry (never imported here) and the span is
/// valid. The core checks the value again before sending it.
fn otel_traceparent(py: Python<'_>) -> Option<String> {
    let modules = SYS_MODULES.import(py, "sys", "modules").ok()?;
    let otel = modules.get_item("opentelemetry.trace").ok()?;
    let ctx = otel
        .call_method0("get_current_span")
        .and_then(|span| span.call_method0("get_span_context"))
        .ok()?;
    if !ctx.getattr("is_valid").ok()?.is_truthy().ok()? {
        return None;
    }
    let trace_id: u128 = ctx.getattr("trace_id").ok()?.extract().ok()?;
    let span_id: u64 = ctx.getattr("span_id").ok()?.extract().ok()?;
    let flags: u64 = ctx.getattr("trace_flags").ok()?.extract().ok()?;
    Some(format!(
        "00-{trace_id:032x}-{span_id:016x}-{:02x}",
        flags & 0xff
    ))
}

/// The outcome of a call whose Rust future panicked: an `AlterSDKError`.
fn panicked(name: &'static str, payload: &(dyn std::any::Any + Send)) -> Finish {
    let error = alter_core::guard::panic_error(name, payload);
    Box::new(move |py: Python<'_>| Err(crate::errors::to_pyerr(py, &error)))
}

/// Hands a finished call's outcome to its event loop.
fn deliver(event_loop: Py<PyAny>, fut: Py<PyAny>, finish: Finish, name: &'static str) {
    // The interpreter may be gone (shutdown): then nobody is waiting.
    let _ = with_python(|py| {
        // Converting the result runs Rust code too: a panic there settles
        // the future with the error instead of leaving it pending.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish(py)))
            .unwrap_or_else(|payload| Err(crate::errors::panic_err(py, name, payload.as_ref())));
        let (ok, value) = match outcome {
            Ok(v) => (true, v),
            Err(e) => (false, e.into_value(py).into_any()),
        };
        let settle = Settle {
            fut,
            ok,
            value: Mutex::new(Some(value)),
        };
        // Fails only when the loop is closed: nobody is waiting then either.
        if let Err(e) = event_loop
            .bind(py)
            .call_method1("call_soon_threadsafe", (settle,))
        {
            drop(e);
        }
    });
}

/// Sets the future's result or exception on its loop, unless it is already
/// done (cancelled meanwhile).
#[pyclass(module = "alter_sdk._alter_sdk", frozen)]
struct Settle {
    fut: Py<PyAny>,
    ok: bool,
    value: Mutex<Option<Py<PyAny>>>,
}

#[pymethods]
impl Settle {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let fut = self.fut.bind(py);
        let value = self.value.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(value) = value else { return Ok(()) };
        if fut.call_method0("done")?.is_truthy()? {
            return Ok(());
        }
        if self.ok {
            fut.call_method1("set_result", (value,))?;
        } else {
            fut.call_method1("set_exception", (value,))?;
        }
        Ok(())
    }
}

/// Done callback of the asyncio future: a cancelled future aborts the
/// runtime task, which drops the Rust future.
#[pyclass(module = "alter_sdk._alter_sdk", frozen)]
struct AbortOnCancel {
    abort: TaskAbort,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut.call_method0("cancelled")?.is_truthy()? {
            self.abort.abort();
        }
        Ok(())
    }
}

#[pymethods]
impl CoreCall {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    /// The coroutine protocol's `send`; only `None` is meaningful.
    #[pyo3(signature = (value=None, /))]
    fn send(&self, py: Python<'_>, value: Option<Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        drop(value);
        self.step(py)
    }

    /// Raises the given exception in the coroutine: the call is abandoned
    /// (its runtime task aborted) and the exception propagates.
    #[pyo3(signature = (typ, val=None, tb=None, /))]
    fn throw(
        &self,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        drop(tb);
        self.stop();
        let exc = if let Ok(t) = typ.cast::<PyType>() {
            match val {
                Some(v) if v.is_instance(t)? => v,
                Some(v) if !v.is_none() => t.call1((v,))?,
                _ => t.call0()?,
            }
        } else {
            typ
        };
        Err(PyErr::from_value(exc))
    }

    /// Abandons the call (aborting its runtime task).
    fn close(&self) {
        self.stop();
    }

    #[getter]
    fn __qualname__(&self) -> &'static str {
        self.name
    }

    #[getter]
    fn __name__(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    #[getter]
    fn cr_running(&self) -> bool {
        false
    }

    fn __repr__(&self) -> String {
        format!("<coroutine {}>", self.name)
    }
}
