//! Promises settled from the core's tokio runtime, and their cancellation.

use crate::errors::{self, Failure};
use futures_util::FutureExt;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tokio_util::sync::CancellationToken;

/// Cancels the native side of one call (wired to an `AbortSignal`).
#[napi]
pub struct CancelToken {
    inner: CancellationToken,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl CancelToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        CancelToken {
            inner: CancellationToken::new(),
        }
    }

    /// Drops the call's future: its in-flight HTTP exchange is abandoned.
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    pub fn token(&self) -> CancellationToken {
        self.inner.clone()
    }
}

/// A provider response as handed to the JavaScript `Response` class.
pub struct ResponseOut {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub url: String,
    pub elapsed_ms: f64,
    pub retry_info: Option<Value>,
    pub backend_attempts: u32,
}

/// What an operation resolves with.
pub enum Out {
    Undefined,
    Json(Value),
    Response(ResponseOut),
    /// A new client (`App.getAgent`).
    Client(crate::client::NativeClient),
}

/// The raw response as the JavaScript layer receives it.
#[napi(object)]
pub struct NativeResponse {
    pub status: u32,
    /// `[name, value]` pairs in wire order; names lower-cased.
    pub headers: Vec<Vec<String>>,
    pub body: Buffer,
    pub url: String,
    pub elapsed_ms: f64,
    #[napi(ts_type = "unknown")]
    pub retry_info: Option<Value>,
    pub backend_attempts: u32,
}

impl ToNapiValue for Out {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val {
            Out::Undefined => unsafe { <()>::to_napi_value(env, ()) },
            Out::Json(v) => unsafe { Value::to_napi_value(env, v) },
            Out::Client(c) => unsafe { crate::client::NativeClient::to_napi_value(env, c) },
            Out::Response(r) => {
                let native = NativeResponse {
                    status: u32::from(r.status),
                    headers: r.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
                    body: Buffer::from(r.body),
                    url: r.url,
                    elapsed_ms: r.elapsed_ms,
                    retry_info: r.retry_info,
                    backend_attempts: r.backend_attempts,
                };
                unsafe { NativeResponse::to_napi_value(env, native) }
            }
        }
    }
}

/// Runs `fut` on the core's runtime and returns a promise settled with its
/// outcome. A cancelled token drops the future at once.
pub fn spawn<'env, F>(
    env: &'env Env,
    cancel: Option<CancellationToken>,
    fut: F,
) -> Result<Object<'env>>
where
    F: Future<Output = std::result::Result<Out, Failure>> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    let task = async move {
        let guarded = AssertUnwindSafe(fut).catch_unwind();
        let outcome = match cancel {
            Some(token) => tokio::select! {
                biased;
                _ = token.cancelled() => Ok(Err(Failure::Aborted)),
                r = guarded => r,
            },
            None => guarded.await,
        };
        let outcome = outcome.unwrap_or_else(|payload| {
            Err(Failure::Core(alter_core::guard::panic_error(
                "the Alter SDK native module",
                payload.as_ref(),
            )))
        });
        deferred.resolve(move |env: Env| match outcome {
            Ok(out) => Ok(out),
            Err(f) => Err(errors::to_js(&env, &f)),
        });
    };
    // Starting the runtime (first call) can fail, e.g. when no thread can
    // be created: thrown as an AlterSDKError, since a panic here, on the
    // JavaScript thread, would abort the process.
    std::panic::catch_unwind(AssertUnwindSafe(|| alter_core::runtime::spawn(task))).map_err(
        |payload| {
            errors::throw(
                env,
                alter_core::guard::panic_error("the Alter SDK native module", payload.as_ref()),
            )
        },
    )?;
    Ok(promise)
}
