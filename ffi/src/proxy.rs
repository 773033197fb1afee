//! Proxy mode and approvals: `alter_proxy_request`, `alter_await_approval`,
//! `alter_get_approval_status`, and the `AlterProxyResult` they yield.

use crate::client::AlterClient;
use crate::error::AlterError;
use crate::guard::{block, c_string, entry, give, handle, opt_str, out_ptr, quiet, req_str};
use crate::json::AlterJson;
use crate::options::proxy_options;
use crate::AlterStatus;
use alter_core::{ApprovalResult, PendingApproval, ProxyOutcome};
use serde_json::{json, Value};
use std::ffi::{c_char, CString};
use std::ptr;

/// What a proxied call produced: the provider's captured answer, or an
/// approval to wait for. Owned by the caller: free it with
/// `alter_proxy_result_free`. Strings and buffers its accessors return are
/// owned by it and valid until it is freed.
pub struct AlterProxyResult {
    pending: bool,
    status: u16,
    approval_id: Option<CString>,
    approval_url: Option<CString>,
    /// The decoded body followed by one NUL byte (not counted).
    body: Vec<u8>,
    headers_json: CString,
    json: CString,
}

impl AlterProxyResult {
    fn executed(r: ApprovalResult) -> AlterProxyResult {
        let mut body = r.body_bytes();
        body.push(0);
        let whole = json!({
            "outcome": "result",
            "approval_id": r.approval_id,
            "status_code": r.status_code,
            "headers": r.headers,
            "body_b64": r.body_b64,
            "body_truncated": r.body_truncated,
            "duration_ms": r.duration_ms,
            "credential_hint": r.credential_hint,
        });
        AlterProxyResult {
            pending: false,
            status: r.status_code,
            approval_id: r.approval_id.as_deref().map(c_string),
            approval_url: None,
            body,
            headers_json: c_string(&Value::Object(r.headers.clone()).to_string()),
            json: c_string(&whole.to_string()),
        }
    }

    fn pending(p: PendingApproval) -> AlterProxyResult {
        let mut whole = serde_json::to_value(&p).unwrap_or_else(|_| json!({}));
        if let Value::Object(m) = &mut whole {
            m.insert("outcome".into(), "pending".into());
        }
        AlterProxyResult {
            pending: true,
            status: 0,
            approval_id: Some(c_string(&p.approval_id)),
            approval_url: Some(c_string(&p.approval_url)),
            body: vec![0],
            headers_json: c_string("{}"),
            json: c_string(&whole.to_string()),
        }
    }
}

/// Proxy mode: the vault resolves the credential, applies policy, calls the
/// provider itself and returns the captured answer; the credential never
/// reaches this process. Blocks until the vault answers. A grant that needs
/// a human's approval yields a pending result
/// (`alter_proxy_result_is_pending`) to pass to `alter_await_approval`.
///
/// `options_json` (NUL-terminated JSON object or NULL) takes the keys of
/// `alter_request` except the raw-body ones (`body`, `body_base64`): a body
/// goes in `"json"`. `headers` may not name credential headers
/// (`Authorization`, `Cookie`, `X-API-Key`, ...). Unlike `alter_request`, a
/// provider status >= 400 is not an error: read it from the result.
/// On success `*result_out` receives the result.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_request(
    client: *const AlterClient,
    method: *const c_char,
    url: *const c_char,
    options_json: *const c_char,
    result_out: *mut *mut AlterProxyResult,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_proxy_request", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let client = handle(client, "client")?;
        let method = req_str(method, "method")?;
        let url = req_str(url, "url")?;
        let opts = proxy_options(opt_str(options_json, "options_json")?)?;
        let outcome = block(client.principal.proxy_request(method, url, opts))?;
        give(
            out,
            match outcome {
                ProxyOutcome::Result(r) => AlterProxyResult::executed(r),
                ProxyOutcome::Pending(p) => AlterProxyResult::pending(p),
            },
        );
        Ok(())
    })
}

/// Waits for an approval (NUL-terminated UUID) to be decided and returns the
/// executed call's captured answer. Polls the vault (long polls of up to 25 s)
/// until a terminal status or until `timeout_seconds` have passed
/// (`ApprovalTimeoutError`; <= 0 times out at once); transient failures are
/// retried within the deadline. `poll_interval_seconds` (> 0) spaces the
/// polls. A denied, expired or failed approval is an error
/// (`ApprovalDeniedError`, `ApprovalExpiredError`,
/// `ApprovalExecutionFailedError`).
#[no_mangle]
pub unsafe extern "C" fn alter_await_approval(
    client: *const AlterClient,
    approval_id: *const c_char,
    timeout_seconds: f64,
    poll_interval_seconds: f64,
    result_out: *mut *mut AlterProxyResult,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_await_approval", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let client = handle(client, "client")?;
        let id = req_str(approval_id, "approval_id")?;
        let r = block(
            client
                .client()
                .await_approval(id, timeout_seconds, poll_interval_seconds),
        )?;
        give(out, AlterProxyResult::executed(r));
        Ok(())
    })
}

/// One status poll of an approval (NUL-terminated UUID). `wait_seconds` > 0
/// asks the vault to hold the poll until the status changes (at most 25 s).
/// `*status_out` receives the status as JSON:
/// `{"approval_id", "status", "approval_group_id", "gates": [{"approval_id",
/// "status", "expires_at", "decided_at"}], "expires_at", "decided_at",
/// "decision_reason", "executed_at", "execution_error", "has_result"}` where
/// `status` is one of pending, approved, executing, denied, expired,
/// executed, failed.
#[no_mangle]
pub unsafe extern "C" fn alter_get_approval_status(
    client: *const AlterClient,
    approval_id: *const c_char,
    wait_seconds: f64,
    status_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_get_approval_status", error_out, || {
        let out = out_ptr(status_out, "status_out")?;
        let client = handle(client, "client")?;
        let id = req_str(approval_id, "approval_id")?;
        let s = block(client.client().get_approval_status(id, wait_seconds))?;
        give(
            out,
            AlterJson::new(serde_json::to_value(&s).unwrap_or(Value::Null)),
        );
        Ok(())
    })
}

/// True when the proxied call waits for an approval (no provider answer
/// yet); false for NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_is_pending(result: *const AlterProxyResult) -> bool {
    quiet(false, || result.as_ref().is_some_and(|r| r.pending))
}

/// The approval id (NUL-terminated UUID): the one to await when pending, the
/// approval that ran the call otherwise. NULL when there is none.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_approval_id(
    result: *const AlterProxyResult,
) -> *const c_char {
    quiet(ptr::null(), || {
        result
            .as_ref()
            .and_then(|r| r.approval_id.as_ref())
            .map_or(ptr::null(), |c| c.as_ptr())
    })
}

/// Where a human approves a pending call (NUL-terminated); NULL when not
/// pending.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_approval_url(
    result: *const AlterProxyResult,
) -> *const c_char {
    quiet(ptr::null(), || {
        result
            .as_ref()
            .and_then(|r| r.approval_url.as_ref())
            .map_or(ptr::null(), |c| c.as_ptr())
    })
}

/// The provider's HTTP status; 0 when pending or NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_status(result: *const AlterProxyResult) -> u16 {
    quiet(0, || result.as_ref().map_or(0, |r| r.status))
}

/// The provider's body, decoded: `*len_out` (when not NULL) receives its
/// length in bytes; a NUL follows that is not counted. Empty when pending;
/// NULL when `result` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_body(
    result: *const AlterProxyResult,
    len_out: *mut usize,
) -> *const u8 {
    quiet(ptr::null(), || {
        let Some(r) = result.as_ref() else {
            return ptr::null();
        };
        if !len_out.is_null() {
            *len_out = r.body.len() - 1;
        }
        r.body.as_ptr()
    })
}

/// The provider's headers as a JSON object of strings (`{}` when pending);
/// NULL when `result` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_headers_json(
    result: *const AlterProxyResult,
) -> *const c_char {
    quiet(ptr::null(), || {
        result
            .as_ref()
            .map_or(ptr::null(), |r| r.headers_json.as_ptr())
    })
}

/// The whole result as JSON (NUL-terminated). Executed:
/// `{"outcome":"result", "approval_id", "status_code", "headers", "body_b64",
/// "body_truncated", "duration_ms", "credential_hint"}`. Pending:
/// `{"outcome":"pending", "approval_id", "approval_group_id", "status",
/// "expires_at", "expires_in", "approval_url", "gates": [...]}`. NULL when
/// `result` is NULL.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_json(result: *const AlterProxyResult) -> *const c_char {
    quiet(ptr::null(), || {
        result.as_ref().map_or(ptr::null(), |r| r.json.as_ptr())
    })
}

/// Frees a proxy result. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn alter_proxy_result_free(result: *mut AlterProxyResult) {
    quiet((), || {
        if !result.is_null() {
            drop(Box::from_raw(result));
        }
    })
}
