//! Surviving faults: locks that stay usable after a panic elsewhere, and a
//! panic caught at a binding's boundary turned into the SDK's own error.
//!
//! The bindings (Python, Node, C) each catch unwinds where control leaves
//! Rust; they all describe the panic with [`panic_error`], so a caller sees
//! one `AlterSDKError` shape whatever the language.

use crate::error::Error;
use std::any::Any;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the guard when another thread panicked while
/// holding it.
///
/// Every lock of the SDK guards plain data that each critical section
/// leaves whole (a value replaced or taken at once, never half-written), so
/// the data behind a poisoned lock is still valid; refusing it would turn
/// one panic into a panic in every later call of the process.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The message of a panic payload (`panic!` with a literal or a format).
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string())
}

/// The `AlterSDKError` a binding reports for a panic it caught in `entry`
/// (the function or operation the caller called).
pub fn panic_error(entry: &str, payload: &(dyn Any + Send)) -> Error {
    Error::sdk(format!(
        "internal error in {entry}: {}",
        panic_text(payload)
    ))
}

/// Test hook, debug builds only: the operation name (`ops::call`, the C
/// ABI's `alter_call`, Node's `call`) that panics on purpose, so each
/// binding's tests can prove a panic arrives as an `AlterSDKError`.
#[cfg(debug_assertions)]
pub const PANIC_OP: &str = "internal.panic";

/// Test hook, debug builds only: panics with a recognisable message. It
/// "returns" any type so that a caller can use it where a value is due.
#[cfg(debug_assertions)]
pub fn deliberate_panic<T>(path: &str) -> T {
    panic!("deliberate panic (test hook: {path})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_stays_usable() {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let poisoner = std::thread::spawn(move || {
            let _held = m2.lock().unwrap();
            panic!("poison");
        });
        assert!(poisoner.join().is_err());
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }

    #[test]
    fn panics_become_sdk_errors_with_their_message() {
        let caught = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
        let e = panic_error("request", caught.as_ref());
        assert_eq!(e.kind(), "AlterSDKError");
        assert_eq!(e.message(), "internal error in request: boom 7");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(5u8)).unwrap_err();
        assert_eq!(panic_text(caught.as_ref()), "unknown panic payload");
    }
}
