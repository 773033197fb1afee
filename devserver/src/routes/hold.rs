//! Held provider answers, for tests that need calls in flight without
//! sleeping: `/_provider/hold/{name}` (any method) answers only once the
//! gate `name` is released (or the server shuts down). The operator API
//! counts the requests waiting at a gate (`GET /_dev/holds/{name}`) and
//! releases it (`POST /_dev/holds/{name}`); a released gate stays open.

use crate::ctx::{lock, Ctx};
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Gates one server keeps at once; a test uses one or two.
const MAX_GATES: usize = 64;
/// Longest gate name.
const MAX_NAME: usize = 64;

struct Gate {
    waiting: usize,
    open: watch::Sender<bool>,
}

/// The gates of one server.
#[derive(Default)]
pub struct Holds(Mutex<HashMap<String, Gate>>);

impl Holds {
    /// The gate `name`, created closed on first use.
    fn with_gate<T>(&self, name: &str, f: impl FnOnce(&mut Gate) -> T) -> ApiResult<T> {
        if name.len() > MAX_NAME {
            return Err(ApiError::new(422, "validation_error", "hold name too long"));
        }
        let mut gates = lock(&self.0);
        if !gates.contains_key(name) && gates.len() >= MAX_GATES {
            return Err(ApiError::new(
                503,
                "too_many_holds",
                format!("at most {MAX_GATES} hold gates"),
            ));
        }
        let gate = gates.entry(name.to_string()).or_insert_with(|| Gate {
            waiting: 0,
            open: watch::channel(false).0,
        });
        Ok(f(gate))
    }
}

/// Counts one waiting request for as long as it waits (a request given up
/// by its client is no longer counted).
struct Waiting<'a> {
    holds: &'a Holds,
    name: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let _ = self.holds.with_gate(self.name, |g| g.waiting -= 1);
    }
}

pub fn provider_router() -> Router<Arc<Ctx>> {
    Router::new().route("/_provider/hold/{name}", any(hold))
}

/// Merged into the operator API's router (behind its admin check).
pub fn admin_router() -> Router<Arc<Ctx>> {
    Router::new().route("/_dev/holds/{name}", get(gate_state).post(release))
}

async fn hold(State(ctx): State<Arc<Ctx>>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let mut open = ctx.holds.with_gate(&name, |g| {
        g.waiting += 1;
        g.open.subscribe()
    })?;
    let _waiting = Waiting {
        holds: &ctx.holds,
        name: &name,
    };
    tokio::select! {
        _ = open.wait_for(|o| *o) => {}
        _ = ctx.shutting_down() => {}
    }
    Ok(Json(json!({ "released": name })))
}

async fn gate_state(
    State(ctx): State<Arc<Ctx>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let (waiting, released) = ctx
        .holds
        .with_gate(&name, |g| (g.waiting, *g.open.borrow()))?;
    Ok(Json(json!({ "waiting": waiting, "released": released })))
}

async fn release(State(ctx): State<Arc<Ctx>>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let waiting = ctx.holds.with_gate(&name, |g| {
        g.open.send_replace(true);
        g.waiting
    })?;
    Ok(Json(json!({ "released": name, "waiting": waiting })))
}
