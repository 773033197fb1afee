//! Approvals (HITL): status long poll, result fetch, and the decision logic
//! the operator API drives (requests.md §13, §14.7).

use crate::audit::event;
use crate::auth::{Auth, Who};
use crate::ctx::{Ctx, HeldPoll};
use crate::error::{ApiError, ApiResult};
use crate::routes::proxy::{execute, result_json};
use crate::state::{Approval, ApprovalStatus, State as VaultState};
use crate::util::{now, parse_uuid, rfc3339};
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Longest a status poll is held (the backend's maximum).
const MAX_WAIT_SECS: u64 = 25;

/// The `ApprovalStatus` body.
pub fn status_json(a: &Approval, t: i64) -> Value {
    let status = a.projected(t);
    // The one gate's own status is only ever a decision value.
    let gate_status = match status {
        ApprovalStatus::Pending | ApprovalStatus::Denied | ApprovalStatus::Expired => status,
        _ => ApprovalStatus::Approved,
    };
    json!({
        "approval_id": a.approval_id.to_string(),
        "status": status.as_str(),
        "approval_group_id": a.approval_group_id.to_string(),
        "gates": [{
            "approval_id": a.approval_id.to_string(),
            "status": gate_status.as_str(),
            "expires_at": rfc3339(a.expires_at),
            "decided_at": a.decided_at.map(rfc3339),
        }],
        "expires_at": rfc3339(a.expires_at),
        "decided_at": a.decided_at.map(rfc3339),
        "decision_reason": a.decision_reason,
        "executed_at": a.executed_at.map(rfc3339),
        "execution_error": a.execution_error,
        "has_result": status == ApprovalStatus::Executed && a.result.is_some(),
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("approval_not_found", "approval not found")
}

/// An approval the caller may see: the operator sees every approval of the
/// app; an agent key only those its agent created (inferred).
fn visible(s: &VaultState, auth: &Auth, id: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(id).ok_or_else(not_found)?;
    let a = s.approval(id).ok_or_else(not_found)?;
    match auth.who() {
        Who::Agent(agent) if a.request.actor.agent_id != Some(agent) => Err(not_found()),
        _ => Ok(id),
    }
}

fn parse_wait(query: Option<&str>) -> ApiResult<u64> {
    let mut wait = 0;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == "wait" {
            wait = v
                .parse::<u64>()
                .ok()
                .filter(|w| *w <= MAX_WAIT_SECS)
                .ok_or_else(|| {
                    ApiError::new(
                        422,
                        "validation_error",
                        "wait must be an integer from 0 to 25",
                    )
                    .with("loc", vec!["query", "wait"])
                })?;
        }
    }
    Ok(wait)
}

pub async fn status(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    auth.require_any(&["approvals:read", "proxy:execute"])?;
    let wait = parse_wait(query.as_deref())?;
    let id = ctx.store.read(|s| visible(s, &auth, &id))?;
    let read = |ctx: &Ctx| {
        ctx.store.read(|s| {
            let a = s.approval(id).expect("approvals are never deleted");
            (a.projected(now()), a.expires_at)
        })
    };
    let (initial, expires_at) = read(&ctx);
    // A terminal status will not change again: answer at once.
    let terminal = matches!(
        initial,
        ApprovalStatus::Denied
            | ApprovalStatus::Expired
            | ApprovalStatus::Executed
            | ApprovalStatus::Failed
    );
    if wait > 0 && !terminal {
        let _held = HeldPoll::new(&ctx.held_polls);
        let deadline = Instant::now() + Duration::from_secs(wait);
        let mut changes = ctx.approvals.subscribe();
        loop {
            // Mark the current version seen before reading, so a change
            // landing between the read and the wait still wakes us.
            changes.borrow_and_update();
            let (current, _) = read(&ctx);
            if current != initial || Instant::now() >= deadline {
                break;
            }
            // The window closing is a change too, though nothing writes it.
            let mut wake = deadline;
            if current == ApprovalStatus::Pending {
                // Checked: a far-off expiry cannot overflow the clock.
                let secs = u64::try_from(expires_at.saturating_sub(now())).unwrap_or(0);
                if let Some(at) = Instant::now().checked_add(Duration::from_secs(secs)) {
                    wake = wake.min(at);
                }
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(wake) => {}
                _ = ctx.shutting_down() => break,
            }
        }
    }
    Ok(Json(ctx.store.read(|s| {
        status_json(s.approval(id).expect("exists"), now())
    })))
}

pub async fn result(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_any(&["approvals:read", "proxy:execute"])?;
    ctx.store.read(|s| {
        let id = visible(s, &auth, &id)?;
        let a = s.approval(id).expect("exists");
        match (a.projected(now()), &a.result) {
            (ApprovalStatus::Executed, Some(r)) => Ok(Json(result_json(r, Some(id)))),
            (ApprovalStatus::Denied, _) => Err(ApiError::new(
                403,
                "approval_denied",
                a.decision_reason
                    .clone()
                    .unwrap_or_else(|| "approver denied the request".into()),
            )),
            (ApprovalStatus::Expired, _) => Err(ApiError::new(
                410,
                "approval_expired",
                "approval window elapsed without a decision",
            )),
            (ApprovalStatus::Failed, _) => Err(ApiError::new(
                409,
                "approval_execution_failed",
                a.execution_error
                    .clone()
                    .unwrap_or_else(|| "execution failed".into()),
            )),
            // Any other code works here: the client only fetches once
            // has_result is true (inferred).
            (other, _) => Err(ApiError::new(
                409,
                "approval_result_not_ready",
                format!("approval is {}; no result yet", other.as_str()),
            )),
        }
    })
}

fn record(ctx: &Ctx, a: &Approval, status: ApprovalStatus) {
    let mut ev = event("approval", &a.request.actor);
    ev.context = a.request.context.clone();
    ev.grant_id = Some(a.grant_id);
    ev.approval_id = Some(a.approval_id);
    ev.method = Some(a.request.method.clone());
    ev.url = Some(a.request.url.clone());
    ev.reason = a.decision_reason.clone();
    ev.details = Some(json!({"approval_status": status.as_str()}));
    ctx.store.write(|s| s.push_audit(ev));
}

/// Applies an operator decision. Approving executes the frozen request
/// before returning, so the caller sees the final status; every transition
/// wakes the long polls.
pub async fn decide(
    ctx: &Arc<Ctx>,
    id: Uuid,
    decision: &str,
    reason: Option<String>,
) -> ApiResult<Value> {
    let next = match decision {
        "approve" => ApprovalStatus::Approved,
        "deny" => ApprovalStatus::Denied,
        // Not in the brief, but tests of ApprovalExpiredError need it.
        "expire" => ApprovalStatus::Expired,
        _ => {
            return Err(ApiError::validation(
                "decision",
                "decision must be 'approve', 'deny' or 'expire'",
            ))
        }
    };
    let t = now();
    let approval = ctx.store.write(|s| {
        let a = s.approval_mut(id).ok_or_else(not_found)?;
        let current = a.projected(t);
        if current != ApprovalStatus::Pending {
            return Err(ApiError::new(
                409,
                "approval_already_decided",
                format!("approval is already {}", current.as_str()),
            )
            .with("status", current.as_str()));
        }
        a.status = next;
        a.decided_at = Some(t);
        a.decision_reason = reason;
        Ok(a.clone())
    })?;
    ctx.bump_approvals();
    record(ctx, &approval, next);
    if next != ApprovalStatus::Approved {
        return Ok(status_json(&approval, t));
    }

    ctx.store.write(|s| {
        if let Some(a) = s.approval_mut(id) {
            a.status = ApprovalStatus::Executing;
        }
    });
    ctx.bump_approvals();
    let outcome = execute(ctx, approval.grant_id, &approval.request, Some(id)).await;
    let done = now();
    let final_row = ctx.store.write(|s| {
        let a = s.approval_mut(id).expect("exists");
        a.executed_at = Some(done);
        match outcome {
            Ok(r) => {
                a.status = ApprovalStatus::Executed;
                a.result = Some(r);
            }
            Err(e) => {
                a.status = ApprovalStatus::Failed;
                a.execution_error = Some(
                    e.body
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("execution failed")
                        .to_string(),
                );
            }
        }
        a.clone()
    });
    ctx.bump_approvals();
    record(ctx, &final_row, final_row.status);
    Ok(status_json(&final_row, done))
}
