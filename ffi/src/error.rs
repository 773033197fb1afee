//! `AlterError`: what a failed call hands back, with its accessors.

use crate::guard::{c_string, quiet, req_str};
use alter_core::Error;
use serde_json::Value;
use std::ffi::{c_char, CString};
use std::ptr;

/// An error the library reports. Owned by the caller once handed out; free
/// it with `alter_error_free`. Every string an accessor returns is
/// NUL-terminated UTF-8 owned by the error and valid until it is freed.
pub struct AlterError {
    error: Error,
    kind: CString,
    code: Option<CString>,
    message: CString,
    details_json: CString,
    attributes_json: CString,
}

/// The backend's error code: `details["error"]` when it is a string, else the
/// class's fixed code (`AgentError` family, `MemoryIsolationError`).
fn backend_code(e: &Error) -> Option<String> {
    if let Some(Value::String(s)) = e.details().get("error") {
        return Some(s.clone());
    }
    match e.attributes().get("code") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

impl AlterError {
    pub(crate) fn new(error: Error) -> AlterError {
        let details = Value::Object(error.details().clone());
        let attributes = Value::Object(error.attributes());
        AlterError {
            kind: c_string(error.kind()),
            code: backend_code(&error).map(|c| c_string(&c)),
            message: c_string(error.message()),
            details_json: c_string(&details.to_string()),
            attributes_json: c_string(&attributes.to_string()),
            error,
        }
    }
}

/// The official class name of the error, e.g. `"KeyRevokedError"`,
/// `"GrantNotFoundError"`, `"AlterValueError"` (the SDK's error hierarchy;
/// see `alter_error_is_a`). NULL only when `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_error_kind(error: *const AlterError) -> *const c_char {
    quiet(ptr::null(), || match error.as_ref() {
        Some(e) => e.kind.as_ptr(),
        None => ptr::null(),
    })
}

/// True when the error's class is `kind` or derives from it, e.g.
/// `alter_error_is_a(e, "AgentError")` for a `KeyRevokedError`. False when
/// either argument is NULL or `kind` is not valid UTF-8.
#[no_mangle]
pub unsafe extern "C" fn alter_error_is_a(error: *const AlterError, kind: *const c_char) -> bool {
    quiet(false, || {
        let Some(e) = error.as_ref() else {
            return false;
        };
        match req_str(kind, "kind") {
            Ok(k) => e.error.is_a(k),
            Err(_) => false,
        }
    })
}

/// The backend's error code (the wire `error` field, e.g. `"key_revoked"`,
/// `"grant_not_found"`), or the class's fixed code when the wire carried
/// none. NULL when there is no code (local errors, transport errors).
#[no_mangle]
pub unsafe extern "C" fn alter_error_code(error: *const AlterError) -> *const c_char {
    quiet(ptr::null(), || match error.as_ref() {
        Some(AlterError { code: Some(c), .. }) => c.as_ptr(),
        _ => ptr::null(),
    })
}

/// The HTTP status: the backend's for backend errors, the provider's for
/// `ProviderAPIError` and its subclasses. 0 when the error has none.
#[no_mangle]
pub unsafe extern "C" fn alter_error_status(error: *const AlterError) -> u16 {
    quiet(0, || match error.as_ref() {
        Some(e) => e.error.status_code().unwrap_or(0),
        None => 0,
    })
}

/// The human-readable message (never includes the details). NULL only when
/// `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_error_message(error: *const AlterError) -> *const c_char {
    quiet(ptr::null(), || match error.as_ref() {
        Some(e) => e.message.as_ptr(),
        None => ptr::null(),
    })
}

/// The error's details as a JSON object (`{}` when there are none). They may
/// hold identifiers or provider payloads: do not log them blindly. NULL only
/// when `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_error_details_json(error: *const AlterError) -> *const c_char {
    quiet(ptr::null(), || match error.as_ref() {
        Some(e) => e.details_json.as_ptr(),
        None => ptr::null(),
    })
}

/// The class-specific attributes as a JSON object under their official
/// names (e.g. `retry_after` of a `RateLimitError`, `hint` and `code` of an
/// `AgentError`, `approval_id` of an `ApprovalError`, `status_code` of the
/// backend and provider families). NULL only when `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_error_attributes_json(error: *const AlterError) -> *const c_char {
    quiet(ptr::null(), || match error.as_ref() {
        Some(e) => e.attributes_json.as_ptr(),
        None => ptr::null(),
    })
}

/// Frees an error. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn alter_error_free(error: *mut AlterError) {
    quiet((), || {
        if !error.is_null() {
            drop(Box::from_raw(error));
        }
    })
}
