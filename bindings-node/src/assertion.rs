//! `verifyIdentityAssertion`: the core's offline check of an identity
//! assertion against a key set the caller trusts, as a synchronous function
//! (camelCase options in, the camelCase `IdentityContext` out). A refused
//! token throws the core's `MemoryIsolationError`
//! (`memory_assertion_invalid`, `details.reason`); a bad argument its
//! `AlterValueError`.

use crate::client::js_options;
use crate::convert::model;
use crate::errors;
use alter_core::assertion::{verify_identity_assertion as verify, AssertionCheck};
use alter_core::Error;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

#[napi(ts_return_type = "Record<string, unknown>")]
pub fn verify_identity_assertion(env: Env, token: String, options: String) -> Result<Value> {
    let run = || -> std::result::Result<Value, Error> {
        let parsed = serde_json::from_str(&options)
            .map_err(|_| Error::value("verifyIdentityAssertion: options are not valid JSON"))?;
        let mut o = js_options("verifyIdentityAssertion", Some(parsed))?;
        let issuer = o.string("issuer")?.unwrap_or_default();
        let audience = o.string("audience")?.unwrap_or_default();
        let expected_app_id = o.string("expected_app_id")?.unwrap_or_default();
        let expected_agent_id = o.string("expected_agent_id")?;
        // The key set as given: JWK member names are never renamed.
        let jwks = o.wire_value("jwks")?.unwrap_or(Value::Null);
        o.finish()?;
        let check = AssertionCheck {
            issuer: &issuer,
            audience: &audience,
            jwks: &jwks,
            expected_app_id: &expected_app_id,
            expected_agent_id: expected_agent_id.as_deref(),
        };
        verify(&token, &check).map(|identity| model(&identity))
    };
    errors::run_sync(&env, "verifyIdentityAssertion", run)
}
