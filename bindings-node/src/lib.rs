//! `@alter-ai/alter-sdk`: the Node.js binding of the Alter Vault SDK core.
//!
//! The native module converts types and nothing else: every rule lives in
//! `alter-core`. JavaScript sees a `NativeClient` per `App`/`Agent` whose
//! asynchronous operations run on the core's shared tokio runtime and settle
//! promises from there, so no call ever blocks the event loop. The thin
//! JavaScript layer (`index.js`) adds the error classes, the fetch-style
//! `Response`, `AbortSignal` handling and secret-safe representations.

pub mod assertion;
mod client;
mod convert;
mod errors;
mod more;
mod promise;
pub mod rules;
mod testing;

use napi_derive::napi;
use serde_json::Value;

pub use client::NativeClient;
pub use promise::CancelToken;
pub use testing::NativeLocalVault;

/// The error classes as `{name, parent, code, attributes}` rows, parents
/// first: the one table the JavaScript error hierarchy is built from.
#[napi(
    ts_return_type = "Array<{ name: string; parent: string | null; code: string; attributes: string[] }>"
)]
pub fn error_kinds() -> Value {
    errors::kinds_table()
}

/// Offline check of an API key's grammar and checksum; never throws.
#[napi]
pub fn is_valid_key(key: String) -> bool {
    alter_core::is_valid_key(&key)
}

/// Test hook, debug builds only: a synchronous function that panics, to
/// prove the panic is thrown as an `AlterSDKError` instead of aborting.
#[cfg(debug_assertions)]
#[napi]
pub fn debug_panic(env: napi::Env) -> napi::Result<()> {
    errors::run_sync(&env, "debugPanic", || {
        alter_core::guard::deliberate_panic("node sync")
    })
}

/// Background posts (audit rows, reports) not finished yet, over every
/// client of the process.
#[napi]
pub fn pending_background_posts() -> u32 {
    u32::try_from(alter_core::client::pending_background_posts()).unwrap_or(u32::MAX)
}

/// Waits up to the core's exit deadline for every pending background post
/// of the process, then abandons (and counts) the rest; resolves with how
/// many were abandoned. What the `beforeExit` hook runs.
#[napi(ts_return_type = "Promise<number>")]
pub fn flush_background_posts(env: &napi::Env) -> napi::Result<napi::bindgen_prelude::Object<'_>> {
    promise::spawn(env, None, async {
        let abandoned =
            alter_core::client::flush_background_posts(alter_core::client::EXIT_FLUSH_TIMEOUT)
                .await;
        Ok(promise::Out::Json(Value::from(abandoned)))
    })
}

/// The `User-Agent` product token of this binding.
#[napi]
pub fn user_agent() -> String {
    client::USER_AGENT.to_string()
}
