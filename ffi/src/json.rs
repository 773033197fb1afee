//! `AlterJson`: a JSON document the library returns (agent records, grant
//! pages, approval status, generic calls), with JSON-pointer accessors so
//! that C callers need no JSON parser for the common fields.

use crate::error::AlterError;
use crate::guard::{c_string, entry, give, out_ptr, quiet, req_str, Fail};
use crate::AlterStatus;
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::ptr;
use std::sync::Mutex;

/// A JSON document owned by the caller; free it with `alter_json_free`.
/// Strings its accessors return are NUL-terminated UTF-8 owned by the
/// document and valid until it is freed. Accessors may be called from
/// several threads at once.
pub struct AlterJson {
    value: Value,
    text: CString,
    /// Strings handed out by pointer, kept for the document's life.
    strings: Mutex<HashMap<(u8, String), CString>>,
}

impl AlterJson {
    pub(crate) fn new(value: Value) -> AlterJson {
        AlterJson {
            text: c_string(&value.to_string()),
            value,
            strings: Mutex::new(HashMap::new()),
        }
    }

    fn at(&self, pointer: *const c_char) -> Option<&Value> {
        let p = unsafe { req_str(pointer, "pointer") }.ok()?;
        self.value.pointer(p)
    }

    /// A string kept alive with the document, cached under (kind, pointer).
    fn keep(&self, kind: u8, pointer: &str, make: impl FnOnce() -> String) -> *const c_char {
        let mut map = self.strings.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((kind, pointer.to_string()))
            .or_insert_with(|| c_string(&make()))
            .as_ptr()
    }
}

/// Parses `len` bytes of UTF-8 JSON text (no NUL needed; e.g. a provider's
/// response body from `alter_response_body`) into a document, so that its
/// fields can be read with the accessors below. `*json_out` receives the
/// document; malformed text gives `ALTER_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn alter_json_parse(
    text: *const u8,
    len: usize,
    json_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_json_parse", error_out, || {
        let out = out_ptr(json_out, "json_out")?;
        if text.is_null() {
            return Err(Fail::null("text"));
        }
        let bytes = std::slice::from_raw_parts(text, len);
        let text = std::str::from_utf8(bytes).map_err(|_| Fail::utf8("text"))?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Fail::invalid(format!("text is not valid JSON: {e}")))?;
        give(out, AlterJson::new(value));
        Ok(())
    })
}

/// The whole document as compact JSON text, NUL-terminated. When `len_out`
/// is not NULL it receives the length in bytes (without the NUL). NULL only
/// when `json` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_json_text(
    json: *const AlterJson,
    len_out: *mut usize,
) -> *const c_char {
    quiet(ptr::null(), || {
        let Some(j) = json.as_ref() else {
            return ptr::null();
        };
        if !len_out.is_null() {
            *len_out = j.text.as_bytes().len();
        }
        j.text.as_ptr()
    })
}

/// The string at a JSON pointer (RFC 6901, e.g. `"/id"`, `"/agents/0/name"`;
/// `""` is the whole document). NULL when the value is absent or not a
/// string, or when an argument is NULL or not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn alter_json_get_string(
    json: *const AlterJson,
    pointer: *const c_char,
) -> *const c_char {
    quiet(ptr::null(), || {
        let Some(j) = json.as_ref() else {
            return ptr::null();
        };
        match j.at(pointer) {
            Some(Value::String(s)) => {
                let key = req_str(pointer, "pointer").unwrap_or_default();
                j.keep(b's', key, || s.clone())
            }
            _ => ptr::null(),
        }
    })
}

/// The value at a JSON pointer rendered as compact JSON text (a string comes
/// back quoted). NULL when absent or when an argument is NULL or not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn alter_json_get_json(
    json: *const AlterJson,
    pointer: *const c_char,
) -> *const c_char {
    quiet(ptr::null(), || {
        let Some(j) = json.as_ref() else {
            return ptr::null();
        };
        match j.at(pointer) {
            Some(v) => {
                let key = req_str(pointer, "pointer").unwrap_or_default();
                j.keep(b'j', key, || v.to_string())
            }
            None => ptr::null(),
        }
    })
}

/// Reads the integer at a JSON pointer into `*value_out`. Returns false (and
/// leaves `*value_out` alone) when the value is absent or not an integer
/// that fits in 64 signed bits.
#[no_mangle]
pub unsafe extern "C" fn alter_json_get_int(
    json: *const AlterJson,
    pointer: *const c_char,
    value_out: *mut i64,
) -> bool {
    quiet(false, || {
        let (Some(j), false) = (json.as_ref(), value_out.is_null()) else {
            return false;
        };
        match j.at(pointer).and_then(Value::as_i64) {
            Some(n) => {
                *value_out = n;
                true
            }
            None => false,
        }
    })
}

/// Reads the boolean at a JSON pointer into `*value_out`. Returns false (and
/// leaves `*value_out` alone) when the value is absent or not a boolean.
#[no_mangle]
pub unsafe extern "C" fn alter_json_get_bool(
    json: *const AlterJson,
    pointer: *const c_char,
    value_out: *mut bool,
) -> bool {
    quiet(false, || {
        let (Some(j), false) = (json.as_ref(), value_out.is_null()) else {
            return false;
        };
        match j.at(pointer).and_then(Value::as_bool) {
            Some(b) => {
                *value_out = b;
                true
            }
            None => false,
        }
    })
}

/// The number of elements of the array (or members of the object) at a JSON
/// pointer; -1 when the value is absent or neither.
#[no_mangle]
pub unsafe extern "C" fn alter_json_get_len(json: *const AlterJson, pointer: *const c_char) -> i64 {
    quiet(-1, || {
        let Some(j) = json.as_ref() else {
            return -1;
        };
        match j.at(pointer) {
            Some(Value::Array(a)) => a.len() as i64,
            Some(Value::Object(o)) => o.len() as i64,
            _ => -1,
        }
    })
}

/// Frees a document. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn alter_json_free(json: *mut AlterJson) {
    quiet((), || {
        if !json.is_null() {
            drop(Box::from_raw(json));
        }
    })
}
