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

/// The `User-Agent` product token of this binding.
#[napi]
pub fn user_agent() -> String {
    client::USER_AGENT.to_string()
}
