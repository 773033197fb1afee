//! `LocalVault` (`@alter-ai/alter-sdk/testing`): the embedded local vault,
//! started in-process on loopback, and its operator API.

use crate::convert::{camel_keys, Positional};
use crate::errors::Failure;
use crate::promise::{self, Out};
use alter_devserver::{Admin, AdminError, DevServer, ServerOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// A local vault running on its own thread and runtime.
#[napi]
pub struct NativeLocalVault {
    server: Arc<Mutex<Option<DevServer>>>,
}

fn admin_failure(e: AdminError) -> Failure {
    Failure::Other(e.to_string())
}

/// `userToken` → `user_token` for the top-level keys of an operator body;
/// nested values are wire data and kept as given.
fn snake_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(alter_core::ops::snake_case(&k), v);
            }
            Value::Object(out)
        }
        other => other,
    }
}

fn body_arg(a: &Positional, i: usize) -> Value {
    a.value(i).map(snake_keys).unwrap_or_else(|| json!({}))
}

#[napi]
impl NativeLocalVault {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeLocalVault {
            server: Arc::new(Mutex::new(None)),
        }
    }

    /// Starts the server; resolves with `{baseUrl, adminToken, appId,
    /// appApiKey}`.
    #[napi(
        ts_return_type = "Promise<{ baseUrl: string; adminToken: string; appId: string; appApiKey: string }>"
    )]
    pub fn start<'env>(&self, env: &'env Env, state_file: Option<String>) -> Result<Object<'env>> {
        let slot = self.server.clone();
        promise::spawn(env, None, async move {
            let started = tokio::task::spawn_blocking(move || {
                DevServer::start(ServerOptions {
                    state_file: state_file.map(Into::into),
                    ..ServerOptions::default()
                })
            })
            .await
            .map_err(|_| Failure::Other("the local vault failed to start".into()))?
            .map_err(|e| Failure::Other(format!("the local vault failed to start: {e}")))?;
            let info = camel_keys(serde_json::to_value(started.info()).unwrap_or(Value::Null));
            *alter_core::guard::lock(&slot) = Some(started);
            Ok(Out::Json(info))
        })
    }

    /// Stops the server and waits for its thread; idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let server = alter_core::guard::lock(&self.server).take();
        promise::spawn(env, None, async move {
            if let Some(s) = server {
                tokio::task::spawn_blocking(move || s.stop())
                    .await
                    .map_err(|_| Failure::Other("the local vault did not stop cleanly".into()))?;
            }
            Ok(Out::Undefined)
        })
    }

    /// One operator call by name (the methods of the Rust `Admin`), with
    /// JSON arguments; resolves with its camelCase result.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn admin<'env>(&self, env: &'env Env, op: String, args: String) -> Result<Object<'env>> {
        let admin = alter_core::guard::lock(&self.server)
            .as_ref()
            .map(DevServer::admin);
        promise::spawn(env, None, async move {
            let admin =
                admin.ok_or_else(|| Failure::Other("the local vault is not running".into()))?;
            let args: Value = serde_json::from_str(&args)
                .map_err(|_| Failure::Other("arguments are not valid JSON".into()))?;
            let v = admin_call(&admin, &op, Positional::new("admin", args)).await?;
            Ok(Out::Json(camel_keys(v)))
        })
    }
}

impl Default for NativeLocalVault {
    fn default() -> Self {
        Self::new()
    }
}

async fn admin_call(admin: &Admin, op: &str, a: Positional) -> std::result::Result<Value, Failure> {
    let s = |i: usize, name: &str| a.str(i, name).map_err(Failure::Core);
    let v = match op {
        "health" => admin.health().await.map_err(admin_failure)?,
        "createManagedSecret" => admin
            .create_managed_secret(body_arg(&a, 0))
            .await
            .map(Value::String)
            .map_err(admin_failure)?,
        "managedSecret" => admin
            .managed_secret(&s(0, "slug")?, &s(1, "credential")?)
            .await
            .map(Value::String)
            .map_err(admin_failure)?,
        "createManagedSecretGrant" => admin
            .create_managed_secret_grant(&s(0, "managedSecretId")?, body_arg(&a, 1))
            .await
            .map(Value::String)
            .map_err(admin_failure)?,
        "managedSecretGrant" => {
            let agent = a.opt_str(1);
            admin
                .managed_secret_grant(&s(0, "managedSecretId")?, agent.as_deref(), &s(2, "label")?)
                .await
                .map(Value::String)
                .map_err(admin_failure)?
        }
        "createUser" => {
            let u = admin
                .create_user(&s(0, "email")?)
                .await
                .map_err(admin_failure)?;
            json!({"user_id": u.user_id, "user_token": u.user_token})
        }
        "createOAuthGrant" => {
            let g = admin
                .create_oauth_grant(body_arg(&a, 0))
                .await
                .map_err(admin_failure)?;
            json!({"grant_id": g.grant_id, "delegation_grant_id": g.delegation_grant_id, "credential_id": g.credential_id})
        }
        "updateGrant" => admin
            .update_grant(&s(0, "grantId")?, body_arg(&a, 1))
            .await
            .map_err(admin_failure)?,
        "approval" => admin
            .approval(&s(0, "approvalId")?)
            .await
            .map_err(admin_failure)?,
        "decide" => {
            let reason = a.opt_str(2);
            admin
                .decide(&s(0, "approvalId")?, &s(1, "decision")?, reason.as_deref())
                .await
                .map_err(admin_failure)?
        }
        "audit" => Value::Array(admin.audit().await.map_err(admin_failure)?),
        "addFault" => admin
            .add_fault(body_arg(&a, 0))
            .await
            .map_err(admin_failure)?,
        "clearFaults" => admin.clear_faults().await.map_err(admin_failure)?,
        "updateKey" => admin
            .update_key(body_arg(&a, 0))
            .await
            .map_err(admin_failure)?,
        "updateAgent" => admin
            .update_agent(&s(0, "agentId")?, body_arg(&a, 1))
            .await
            .map_err(admin_failure)?,
        "connectSession" => admin
            .connect_session(&s(0, "sessionToken")?)
            .await
            .map_err(admin_failure)?,
        "completeConnect" => admin
            .drive_connect(&s(0, "sessionToken")?, body_arg(&a, 1))
            .await
            .map_err(admin_failure)?,
        other => return Err(Failure::Other(format!("unknown operator call {other}"))),
    };
    Ok(v)
}
