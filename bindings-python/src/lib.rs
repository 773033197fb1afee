//! `alter_sdk._alter_sdk`: the native half of the Python package.
//!
//! A thin layer over `alter-core`: it converts Python arguments into the
//! core's options, runs core futures through the async bridge
//! ([`bridge`]), converts results into the public models (defined in
//! `python/alter_sdk/_models.py` and `_approvals.py`, on the base in
//! `_modelbase.py`) and maps core errors to the exception
//! classes of `python/alter_sdk/_errors.py` by their kind. No protocol rule
//! lives here.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

mod bridge;
mod callbacks;
mod client;
mod convert;
mod errors;
mod memory;
mod more;
mod namespaces;
mod response;
#[cfg(feature = "vault")]
mod testing;
mod trace;

/// Offline check of an API key's grammar and checksum; never raises.
#[pyfunction]
fn is_valid_key(plain_key: &Bound<'_, PyAny>) -> bool {
    plain_key
        .extract::<&str>()
        .map(alter_core::is_valid_key)
        .unwrap_or(false)
}

/// Test hook, debug builds only: a synchronous function that panics, to
/// prove the panic arrives as an `AlterSDKError`.
#[cfg(debug_assertions)]
#[pyfunction]
fn _debug_panic(py: Python<'_>) -> PyResult<()> {
    errors::guarded(py, "_debug_panic", || {
        alter_core::guard::deliberate_panic("python sync")
    })
}

/// Test hook, debug builds only: a coroutine whose Rust future panics on
/// the runtime, to prove the awaiting task gets an `AlterSDKError`.
#[cfg(debug_assertions)]
#[pyfunction]
fn _debug_panic_async() -> bridge::CoreCall {
    bridge::call(
        "_debug_panic_async",
        async { alter_core::guard::deliberate_panic::<alter_core::Result<()>>("python async") },
        |py, ()| Ok(py.None()),
    )
}

fn str_tuple<'py>(py: Python<'py>, items: &[&str]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, items)
}

#[pymodule]
fn _alter_sdk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<client::BaseClient>()?;
    m.add_class::<client::App>()?;
    m.add_class::<client::Agent>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<bridge::CoreCall>()?;
    m.add_class::<namespaces::AgentsNamespace>()?;
    m.add_class::<more::KeysNamespace>()?;
    m.add_class::<more::ScopesNamespace>()?;
    m.add_class::<more::SpansNamespace>()?;
    m.add_class::<more::OAuthProvidersNamespace>()?;
    m.add_class::<more::ProviderSpecsNamespace>()?;
    m.add_class::<trace::TraceContext>()?;
    #[cfg(feature = "vault")]
    m.add_class::<testing::LocalVault>()?;
    m.add_function(wrap_pyfunction!(is_valid_key, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_inflight_calls, m)?)?;
    #[cfg(debug_assertions)]
    {
        m.add_function(wrap_pyfunction!(_debug_panic, m)?)?;
        m.add_function(wrap_pyfunction!(_debug_panic_async, m)?)?;
    }
    let shutdown = wrap_pyfunction!(bridge::_shutdown, m)?;
    py.import("atexit")?
        .call_method1("register", (&shutdown,))?;
    m.add_function(shutdown)?;
    m.add_function(wrap_pyfunction!(more::content_match_rule, m)?)?;
    m.add_function(wrap_pyfunction!(more::verify_identity_assertion, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_scope, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_path, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_key, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_page, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_item, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_memory_under, m)?)?;
    m.add(
        "RATE_LIMIT_SCOPE_VALUES",
        str_tuple(py, alter_core::error::RATE_LIMIT_SCOPE_VALUES)?,
    )?;
    m.add(
        "MEMORY_ISOLATION_CODES",
        str_tuple(py, alter_core::error::MEMORY_ISOLATION_CODES)?,
    )?;
    // The core's class table, for the test that checks the Python tree.
    let kinds = alter_core::error::ERROR_KINDS
        .iter()
        .map(|(name, parent)| PyTuple::new(py, [Some(*name), *parent]))
        .collect::<PyResult<Vec<_>>>()?;
    m.add("ERROR_KINDS", PyTuple::new(py, kinds)?)?;
    m.add("USER_AGENT", client::USER_AGENT)?;
    m.add("MAX_SPANS_PER_BATCH", alter_core::MAX_SPANS_PER_BATCH)?;
    Ok(())
}
