//! Retrieve mode: `alter_request`, its callback variant, and the
//! `AlterResponse` it yields.

use crate::client::AlterClient;
use crate::error::AlterError;
use crate::guard::{
    block, c_string, entry, give, handle, opt_bytes, opt_str, out_ptr, quiet, req_str, Fail,
};
use crate::options::request_options;
use crate::AlterStatus;
use alter_core::{Error, Response};
use futures_util::FutureExt;
use serde_json::Value;
use std::ffi::{c_char, c_void, CString};
use std::panic::AssertUnwindSafe;
use std::ptr;
use tokio_util::sync::CancellationToken;

/// A provider's answer to `alter_request`. Owned by the caller: free it with
/// `alter_response_free`. Strings and buffers its accessors return are owned
/// by the response and valid until it is freed.
pub struct AlterResponse {
    status: u16,
    /// The body followed by one NUL byte (not counted in its length).
    body: Vec<u8>,
    headers: Vec<(CString, CString)>,
    headers_json: CString,
    url: CString,
    elapsed_ms: u64,
}

impl AlterResponse {
    fn new(r: Response) -> AlterResponse {
        let mut body = r.body.to_vec();
        body.push(0);
        let headers_json = Value::Array(
            r.headers
                .iter()
                .map(|(k, v)| Value::Array(vec![k.as_str().into(), v.as_str().into()]))
                .collect(),
        );
        AlterResponse {
            status: r.status,
            body,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (c_string(k), c_string(v)))
                .collect(),
            headers_json: c_string(&headers_json.to_string()),
            url: c_string(&r.url),
            elapsed_ms: r.elapsed.as_millis().try_into().unwrap_or(u64::MAX),
        }
    }
}

/// Arguments of a request, owned so that they can move to another thread.
struct Call {
    method: String,
    url: String,
    opts: alter_core::RequestOptions,
}

unsafe fn read_call(
    method: *const c_char,
    url: *const c_char,
    options_json: *const c_char,
    body: *const u8,
    body_len: usize,
) -> Result<Call, Fail> {
    let method = req_str(method, "method")?.to_string();
    let url = req_str(url, "url")?.to_string();
    let raw = opt_bytes(body, body_len, "body")?;
    let opts = request_options(opt_str(options_json, "options_json")?, raw)?;
    Ok(Call { method, url, opts })
}

/// Retrieve mode: fetches the credential from the vault, injects it into the
/// provider request, calls the provider directly and reports the call to the
/// audit log in the background. Blocks until the provider has answered.
/// Safe to call from several threads at once on one client.
///
/// - `method`: NUL-terminated HTTP method (`"GET"`, `"post"`, ...).
/// - `url`: NUL-terminated provider URL (`https://...`; `{name}` segments
///   are filled from `path_params`).
/// - `options_json`: NUL-terminated JSON object, or NULL. Keys (all
///   optional, unknown keys refused):
///
/// ```text
/// {
///   "grant_id":    "uuid",                   // exactly one of grant_id and provider
///   "provider":    "google",
///   "user_token":  "<end-user JWT>",         // with provider
///   "account":     "user@example.com",       // with provider
///   "label":       "work",                   // with provider
///   "app_user_id": "...",                    // with provider
///   "headers":     {"Accept": "application/json"}   // or [["name","value"], ...]
///   "query":       {"q": "x", "n": 5, "tag": ["a","b"]} // or [["name", value], ...]
///   "path_params": {"id": "42"},             // or [["id", 42]]; strings or numbers
///   "json":        <any JSON>,               // JSON body (sets Content-Type)
///   "body":        "raw text body",          // or "body_base64": "..."
///   "reason":      "why (audit)",
///   "context":     {"run_id": "r1"},         // audit context, string values
///   "caller":      "per-call caller override"
/// }
/// ```
///
/// `extra_headers` and `query_params` (the Python and Node names) are
/// accepted for `headers` and `query`; giving both names of a pair is an
/// error.
///
/// - `body`/`body_len`: a raw request body of `body_len` bytes (any bytes,
///   copied before the call returns), or NULL and 0. At most one of `json`,
///   `body`, `body_base64` and this argument may be given.
///
/// A provider answer with status >= 400 is an error (`ProviderAPIError` or
/// a subclass; `alter_error_status` gives the provider's status). On success
/// `*response_out` receives the response (free it with
/// `alter_response_free`).
#[no_mangle]
pub unsafe extern "C" fn alter_request(
    client: *const AlterClient,
    method: *const c_char,
    url: *const c_char,
    options_json: *const c_char,
    body: *const u8,
    body_len: usize,
    response_out: *mut *mut AlterResponse,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_request", error_out, || {
        let out = out_ptr(response_out, "response_out")?;
        let client = handle(client, "client")?;
        let call = read_call(method, url, options_json, body, body_len)?;
        let resp = block(client.principal.request(&call.method, &call.url, call.opts))?;
        give(out, AlterResponse::new(resp));
        Ok(())
    })
}

/// Receives the outcome of `alter_request_async`, exactly once.
///
/// Runs on a library thread (one of the core runtime's blocking-pool
/// threads), never on the thread that started the request; it may run
/// before `alter_request_async` has returned. On `ALTER_OK` `response` is
/// the response and `error` is NULL; otherwise `response` is NULL and
/// `error` describes the failure (`ALTER_CANCELLED` after
/// `alter_cancel`). The callback owns both: free them with
/// `alter_response_free` and `alter_error_free`. It may call any library
/// function, but should hand long work to the host's own threads.
pub type AlterResponseCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        status: AlterStatus,
        response: *mut AlterResponse,
        error: *mut AlterError,
    ),
>;

/// Cancels an in-flight `alter_request_async`. Owned by the caller: free it
/// with `alter_cancel_free` (freeing does not cancel).
pub struct AlterCancel {
    token: CancellationToken,
}

/// `user_data` crosses to a library thread; the host vouches for it.
struct UserData(*mut c_void);
unsafe impl Send for UserData {}

/// `alter_request` for event-loop hosts: validates the arguments, starts the
/// request on the library's runtime and returns at once. Arguments as
/// `alter_request` (all copied before returning). When the call returns
/// `ALTER_OK`, `callback` will be called exactly once with `user_data`;
/// when it returns anything else the request was not started, the callback
/// is never called and `*error_out` says why.
///
/// `cancel_out` may be NULL; otherwise it receives a token for
/// `alter_cancel` (free it with `alter_cancel_free`). The client may be
/// closed or freed while the request is in flight: the request then
/// completes or fails on its own.
#[no_mangle]
pub unsafe extern "C" fn alter_request_async(
    client: *const AlterClient,
    method: *const c_char,
    url: *const c_char,
    options_json: *const c_char,
    body: *const u8,
    body_len: usize,
    callback: AlterResponseCallback,
    user_data: *mut c_void,
    cancel_out: *mut *mut AlterCancel,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_request_async", error_out, || {
        if !cancel_out.is_null() {
            *cancel_out = ptr::null_mut();
        }
        let client = handle(client, "client")?.principal.clone();
        let callback = callback.ok_or_else(|| Fail::null("callback"))?;
        let call = read_call(method, url, options_json, body, body_len)?;
        let token = CancellationToken::new();
        if !cancel_out.is_null() {
            give(
                &mut *cancel_out,
                AlterCancel {
                    token: token.clone(),
                },
            );
        }
        let user_data = UserData(user_data);
        alter_core::runtime::spawn(async move {
            let work =
                AssertUnwindSafe(client.request(&call.method, &call.url, call.opts)).catch_unwind();
            let outcome: Result<Response, Fail> = tokio::select! {
                r = work => match r {
                    Ok(Ok(resp)) => Ok(resp),
                    Ok(Err(e)) => Err(Fail::from(e)),
                    Err(p) => Err(Fail::panic("alter_request_async", p.as_ref())),
                },
                _ = token.cancelled() => Err(Fail {
                    status: AlterStatus::ALTER_CANCELLED,
                    error: Error::sdk("the request was cancelled"),
                }),
            };
            let deliver = move || {
                let user_data = user_data;
                let (status, resp, err) = match outcome {
                    Ok(r) => (
                        AlterStatus::ALTER_OK,
                        Box::into_raw(Box::new(AlterResponse::new(r))),
                        ptr::null_mut(),
                    ),
                    Err(f) => (
                        f.status,
                        ptr::null_mut(),
                        Box::into_raw(Box::new(AlterError::new(f.error))),
                    ),
                };
                // The host's function: a C callback cannot unwind into us.
                unsafe { callback(user_data.0, status, resp, err) };
            };
            // Off the runtime's workers, so a slow callback stalls nothing.
            let _ = tokio::task::spawn_blocking(deliver).await;
        });
        Ok(())
    })
}

/// Asks an in-flight `alter_request_async` to stop; its callback then
/// receives `ALTER_CANCELLED` unless the request had already finished.
/// Idempotent; NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn alter_cancel(cancel: *const AlterCancel) {
    quiet((), || {
        if let Some(c) = cancel.as_ref() {
            c.token.cancel();
        }
    })
}

/// Frees a cancellation token (without cancelling). NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn alter_cancel_free(cancel: *mut AlterCancel) {
    quiet((), || {
        if !cancel.is_null() {
            drop(Box::from_raw(cancel));
        }
    })
}

/// The provider's HTTP status; 0 when `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_response_status(response: *const AlterResponse) -> u16 {
    quiet(0, || response.as_ref().map_or(0, |r| r.status))
}

/// The response body: `*len_out` (when not NULL) receives its length in
/// bytes. The bytes are followed by a NUL that is not counted, so a text
/// body can be read as a C string (it may itself contain NULs). NULL when
/// `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_response_body(
    response: *const AlterResponse,
    len_out: *mut usize,
) -> *const u8 {
    quiet(ptr::null(), || {
        let Some(r) = response.as_ref() else {
            return ptr::null();
        };
        if !len_out.is_null() {
            *len_out = r.body.len() - 1;
        }
        r.body.as_ptr()
    })
}

/// The number of response headers (repeats counted; names lower-cased).
#[no_mangle]
pub unsafe extern "C" fn alter_response_header_count(response: *const AlterResponse) -> usize {
    quiet(0, || response.as_ref().map_or(0, |r| r.headers.len()))
}

/// The name of header `index` (NUL-terminated, lower-case); NULL when out of
/// range or `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_response_header_name(
    response: *const AlterResponse,
    index: usize,
) -> *const c_char {
    quiet(ptr::null(), || {
        response
            .as_ref()
            .and_then(|r| r.headers.get(index))
            .map_or(ptr::null(), |(k, _)| k.as_ptr())
    })
}

/// The value of header `index` (NUL-terminated); NULL when out of range or
/// `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_response_header_value(
    response: *const AlterResponse,
    index: usize,
) -> *const c_char {
    quiet(ptr::null(), || {
        response
            .as_ref()
            .and_then(|r| r.headers.get(index))
            .map_or(ptr::null(), |(_, v)| v.as_ptr())
    })
}

/// The first value of the header `name` (NUL-terminated, case-insensitive);
/// NULL when absent or an argument is NULL or not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn alter_response_header(
    response: *const AlterResponse,
    name: *const c_char,
) -> *const c_char {
    quiet(ptr::null(), || {
        let (Some(r), Ok(name)) = (response.as_ref(), req_str(name, "name")) else {
            return ptr::null();
        };
        r.headers
            .iter()
            .find(|(k, _)| k.to_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map_or(ptr::null(), |(_, v)| v.as_ptr())
    })
}

/// Every header as a JSON array of `[name, value]` pairs in wire order
/// (NUL-terminated); NULL when `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_response_headers_json(
    response: *const AlterResponse,
) -> *const c_char {
    quiet(ptr::null(), || {
        response
            .as_ref()
            .map_or(ptr::null(), |r| r.headers_json.as_ptr())
    })
}

/// The URL the provider was called with, before credential injection
/// (NUL-terminated); NULL when `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_response_url(response: *const AlterResponse) -> *const c_char {
    quiet(ptr::null(), || {
        response.as_ref().map_or(ptr::null(), |r| r.url.as_ptr())
    })
}

/// Milliseconds the provider exchange took; 0 when `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_response_elapsed_ms(response: *const AlterResponse) -> u64 {
    quiet(0, || response.as_ref().map_or(0, |r| r.elapsed_ms))
}

/// Frees a response. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn alter_response_free(response: *mut AlterResponse) {
    quiet((), || {
        if !response.is_null() {
            drop(Box::from_raw(response));
        }
    })
}
