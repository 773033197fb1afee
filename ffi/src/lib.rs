//! The C ABI of the Alter Vault SDK (`libalter`, header `include/alter.h`).
//!
//! Conventions every function follows, stated once here and in the header:
//! - Every entry point runs inside a panic boundary; a panic is reported as
//!   `ALTER_PANIC` with an error, never unwound into the caller.
//! - Fallible calls return an [`AlterStatus`]. Their last parameter is an
//!   optional `AlterError **error_out`: set to NULL on success, to a new
//!   error on failure (free it with `alter_error_free`).
//! - Pointers passed in must be NULL or valid; NULL where a value is
//!   required yields `ALTER_NULL_ARGUMENT`, text that is not UTF-8
//!   `ALTER_INVALID_UTF8`.
//! - Every object handed out has exactly one owner and one `alter_*_free`.
//!   Strings returned by accessors are borrowed from their object.
//! - Calls block on the core's shared runtime and are safe to make from
//!   several threads at once on one handle.
//!
//! The functions are `unsafe` in Rust because they take raw pointers; their
//! safety contract is the one above, documented per function in the header.
#![allow(clippy::missing_safety_doc)]

// Declared in the order the header presents them (cbindgen follows it).
mod client;

mod request;

mod proxy;

mod ops;

mod json;

mod error;

mod guard;
mod options;

pub use client::{AlterAgent, AlterApp, AlterClient};
pub use error::AlterError;
pub use json::AlterJson;
pub use proxy::AlterProxyResult;
pub use request::{AlterCancel, AlterResponse};

use std::ffi::{c_char, c_int};

/// What a call returned. Anything but `ALTER_OK` comes with an `AlterError`
/// (when the caller passed an `error_out`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterStatus {
    /// The call succeeded.
    ALTER_OK = 0,
    /// The SDK reported an error; `alter_error_kind` names its class.
    ALTER_ERROR = 1,
    /// A required pointer argument was NULL.
    ALTER_NULL_ARGUMENT = 2,
    /// A text argument was not valid UTF-8.
    ALTER_INVALID_UTF8 = 3,
    /// An argument was malformed: options JSON that does not parse or has an
    /// unknown key or a wrong type, an unknown operation, an operation the
    /// client's principal cannot perform.
    ALTER_INVALID_ARGUMENT = 4,
    /// The library hit an internal bug (a Rust panic), caught at the boundary.
    ALTER_PANIC = 5,
    /// The request was cancelled with `alter_cancel`.
    ALTER_CANCELLED = 6,
}

/// The library's version, e.g. `"0.1.0"` (static, NUL-terminated).
#[no_mangle]
pub extern "C" fn alter_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The name of a status value, e.g. `"ALTER_NULL_ARGUMENT"` (static,
/// NUL-terminated; `"ALTER_UNKNOWN"` for a value outside the enum).
#[no_mangle]
pub extern "C" fn alter_status_name(status: c_int) -> *const c_char {
    let name: &'static str = match status {
        0 => "ALTER_OK\0",
        1 => "ALTER_ERROR\0",
        2 => "ALTER_NULL_ARGUMENT\0",
        3 => "ALTER_INVALID_UTF8\0",
        4 => "ALTER_INVALID_ARGUMENT\0",
        5 => "ALTER_PANIC\0",
        6 => "ALTER_CANCELLED\0",
        _ => "ALTER_UNKNOWN\0",
    };
    name.as_ptr().cast()
}
