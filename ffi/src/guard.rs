//! The panic boundary every entry point runs inside, argument checks for raw
//! pointers, and the blocking bridge onto the core's runtime.

use crate::error::AlterError;
use crate::AlterStatus;
use alter_core::ops::OpError;
use alter_core::Error;
use std::any::Any;
use std::ffi::{c_char, CStr, CString};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failed call: the status to return and the error to hand out.
#[derive(Debug)]
pub(crate) struct Fail {
    pub status: AlterStatus,
    pub error: Error,
}

impl Fail {
    pub fn null(name: &str) -> Fail {
        Fail {
            status: AlterStatus::ALTER_NULL_ARGUMENT,
            error: Error::value(format!("{name} must not be NULL")),
        }
    }

    pub fn utf8(name: &str) -> Fail {
        Fail {
            status: AlterStatus::ALTER_INVALID_UTF8,
            error: Error::value(format!("{name} is not valid UTF-8")),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Fail {
        Fail {
            status: AlterStatus::ALTER_INVALID_ARGUMENT,
            error: Error::value(message),
        }
    }

    pub fn panic(entry: &str, payload: &(dyn Any + Send)) -> Fail {
        Fail {
            status: AlterStatus::ALTER_PANIC,
            error: alter_core::guard::panic_error(entry, payload),
        }
    }
}

/// An argument refused by the core's reader is the caller's mistake
/// (`ALTER_INVALID_ARGUMENT`); any other failure is the SDK's answer.
impl From<OpError> for Fail {
    fn from(e: OpError) -> Fail {
        match e {
            OpError::Arguments(error) => Fail {
                status: AlterStatus::ALTER_INVALID_ARGUMENT,
                error,
            },
            OpError::Failed(error) => Fail::from(error),
        }
    }
}

impl From<Error> for Fail {
    fn from(error: Error) -> Fail {
        Fail {
            status: AlterStatus::ALTER_ERROR,
            error,
        }
    }
}

pub(crate) type FfiResult<T> = Result<T, Fail>;

/// Stores `fail` into `error_out` (when the caller asked for it).
///
/// # Safety
/// `error_out` is NULL or valid for a pointer write.
pub(crate) unsafe fn report(error_out: *mut *mut AlterError, fail: Fail) -> AlterStatus {
    let status = fail.status;
    if !error_out.is_null() {
        *error_out = Box::into_raw(Box::new(AlterError::new(fail.error)));
    }
    status
}

/// Runs one entry point: clears `*error_out`, runs `f` inside the panic
/// boundary and turns its failure (or a panic) into a status and an error.
///
/// # Safety
/// `error_out` is NULL or valid for a pointer write.
pub(crate) unsafe fn entry<F>(
    name: &'static str,
    error_out: *mut *mut AlterError,
    f: F,
) -> AlterStatus
where
    F: FnOnce() -> FfiResult<()>,
{
    if !error_out.is_null() {
        *error_out = std::ptr::null_mut();
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => AlterStatus::ALTER_OK,
        Ok(Err(fail)) => report(error_out, fail),
        Err(payload) => {
            let fail = Fail::panic(name, payload.as_ref());
            // Building the error must not unwind either.
            match catch_unwind(AssertUnwindSafe(|| report(error_out, fail))) {
                Ok(status) => status,
                Err(_) => AlterStatus::ALTER_PANIC,
            }
        }
    }
}

/// Runs an entry point that returns a value instead of a status; a panic
/// yields `fallback`.
pub(crate) fn quiet<T, F: FnOnce() -> T>(fallback: T, f: F) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Clears an out-parameter and checks it is present.
///
/// # Safety
/// `out` is NULL or valid for a pointer write.
pub(crate) unsafe fn out_ptr<'a, T>(out: *mut *mut T, name: &str) -> FfiResult<&'a mut *mut T> {
    if out.is_null() {
        return Err(Fail::null(name));
    }
    *out = std::ptr::null_mut();
    Ok(&mut *out)
}

/// Moves a value to the heap and stores it into an out-parameter.
pub(crate) fn give<T>(slot: &mut *mut T, value: T) {
    *slot = Box::into_raw(Box::new(value));
}

/// A required NUL-terminated UTF-8 argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn req_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(Fail::null(name));
    }
    CStr::from_ptr(p).to_str().map_err(|_| Fail::utf8(name))
}

/// An optional NUL-terminated UTF-8 argument (NULL means absent).
///
/// # Safety
/// As [`req_str`].
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        req_str(p, name).map(Some)
    }
}

/// An optional byte buffer: NULL with length 0 means absent.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn opt_bytes<'a>(
    p: *const u8,
    len: usize,
    name: &str,
) -> FfiResult<Option<&'a [u8]>> {
    if p.is_null() {
        if len == 0 {
            Ok(None)
        } else {
            Err(Fail::null(name))
        }
    } else {
        Ok(Some(std::slice::from_raw_parts(p, len)))
    }
}

/// A required handle.
///
/// # Safety
/// `p` is NULL or a live handle of this type.
pub(crate) unsafe fn handle<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    p.as_ref().ok_or_else(|| Fail::null(name))
}

/// A C string for output: an interior NUL (possible in text that came from
/// the network) becomes U+FFFD so that the string stays whole.
pub(crate) fn c_string(s: &str) -> CString {
    match CString::new(s) {
        Ok(c) => c,
        Err(_) => CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default(),
    }
}

/// Runs a future to completion on the core's runtime from a blocking call.
///
/// From a thread of the runtime itself (a host calling back into the library
/// from a callback), the thread is first handed over as a blocking one so
/// the runtime keeps its workers.
pub(crate) fn block<F: Future>(fut: F) -> F::Output {
    if tokio::runtime::Handle::try_current().is_ok() {
        let handle = alter_core::runtime::handle();
        tokio::task::block_in_place(move || handle.block_on(fut))
    } else {
        alter_core::runtime::block_on(fut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_reports_failures_and_panics() {
        let mut err: *mut AlterError = std::ptr::null_mut();
        let ok = unsafe { entry("t", &mut err, || Ok(())) };
        assert_eq!(ok, AlterStatus::ALTER_OK);
        assert!(err.is_null());

        let st = unsafe { entry("t", &mut err, || Err(Fail::null("x"))) };
        assert_eq!(st, AlterStatus::ALTER_NULL_ARGUMENT);
        assert!(!err.is_null());
        unsafe { crate::error::alter_error_free(err) };

        let st = unsafe { entry("t", &mut err, || panic!("boom")) };
        assert_eq!(st, AlterStatus::ALTER_PANIC);
        let msg = unsafe { CStr::from_ptr(crate::error::alter_error_message(err)) };
        assert!(msg.to_str().unwrap().contains("boom"));
        unsafe { crate::error::alter_error_free(err) };

        // Without an error_out the status alone reports.
        let st = unsafe { entry("t", std::ptr::null_mut(), || Err(Fail::utf8("x"))) };
        assert_eq!(st, AlterStatus::ALTER_INVALID_UTF8);
    }

    #[test]
    fn text_arguments_are_checked() {
        let good = CString::new("héllo").unwrap();
        assert_eq!(unsafe { req_str(good.as_ptr(), "a") }.unwrap(), "héllo");
        assert_eq!(
            unsafe { req_str(std::ptr::null(), "a") }
                .unwrap_err()
                .status,
            AlterStatus::ALTER_NULL_ARGUMENT
        );
        let bad = CString::new(vec![0xffu8, 0xfe]).unwrap();
        assert_eq!(
            unsafe { req_str(bad.as_ptr(), "a") }.unwrap_err().status,
            AlterStatus::ALTER_INVALID_UTF8
        );
        assert!(unsafe { opt_str(std::ptr::null(), "a") }.unwrap().is_none());
        assert!(unsafe { opt_bytes(std::ptr::null(), 0, "b") }
            .unwrap()
            .is_none());
        assert!(unsafe { opt_bytes(std::ptr::null(), 1, "b") }.is_err());
        assert_eq!(c_string("a\0b").to_str().unwrap(), "a\u{FFFD}b");
    }

    #[test]
    fn block_works_inside_the_runtime_too() {
        assert_eq!(block(async { 7 }), 7);
        let nested = alter_core::runtime::block_on(async {
            tokio::task::spawn_blocking(|| block(async { 8 }))
                .await
                .unwrap()
        });
        assert_eq!(nested, 8);
        let on_worker = alter_core::runtime::block_on(async {
            alter_core::runtime::spawn(async { block(async { 9 }) })
                .await
                .unwrap()
        });
        assert_eq!(on_worker, 9);
    }
}
