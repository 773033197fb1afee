//! Every error class the spec maps from `/sdk/token` and `/sdk/proxy`, with
//! the backend's answer injected over real HTTP by the vault's fault hook.

mod common;

use alter_core::{ProxyOptions, RequestOptions};
use common::{no_retry, Vault};
use serde_json::{json, Value};

fn detail(code: &str, extra: Value) -> Value {
    let mut d = json!({"error": code, "message": format!("{code} happened")});
    if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    json!({ "detail": d })
}

/// (status, body, class the App sees) for answers both endpoints share.
fn shared_cases() -> Vec<(u16, Value, &'static str)> {
    vec![
        (
            401,
            detail("jwt_validation_error", json!({})),
            "ReAuthRequiredError",
        ),
        (401, detail("invalid_key", json!({})), "InvalidKeyError"),
        (401, detail("key_expired", json!({})), "KeyExpiredError"),
        (
            401,
            detail("key_rotated_grace_expired", json!({})),
            "KeyRotationExpiredError",
        ),
        (401, detail("key_not_active", json!({})), "KeyInactiveError"),
        (401, detail("agent_revoked", json!({})), "AgentRevokedError"),
        (401, detail("invalid_signature", json!({})), "BackendError"),
        (
            403,
            detail("grant_expired", json!({"provider_id": "google"})),
            "GrantExpiredError",
        ),
        (
            403,
            detail("credential_revoked", json!({"grant_id": "g"})),
            "CredentialRevokedError",
        ),
        (
            403,
            detail(
                "insufficient_scope",
                json!({"required": ["tokens:retrieve"], "granted": [], "missing": ["tokens:retrieve"]}),
            ),
            "InsufficientScopeError",
        ),
        (
            403,
            detail("step_up_required", json!({"max_session_age_seconds": 300})),
            "StepUpRequiredError",
        ),
        (
            403,
            detail("redact_discharge_failed", json!({})),
            "RedactDischargeFailedError",
        ),
        (
            403,
            detail(
                "grant_not_delegable",
                json!({"detail_reason": "ceiling_off"}),
            ),
            "GrantNotDelegableError",
        ),
        (
            403,
            detail("agent_scope_not_allowed", json!({})),
            "PolicyViolationError",
        ),
        (
            403,
            detail(
                "scope_mismatch",
                json!({"details": {"grant_id": "g", "provider_id": "p"}}),
            ),
            "ScopeReauthRequiredError",
        ),
        (
            404,
            detail("grant_not_found", json!({})),
            "GrantNotFoundError",
        ),
        (
            404,
            detail("no_delegated_grant", json!({"provider_id": "google"})),
            "NoDelegatedGrantError",
        ),
        (
            404,
            detail("caller_agent_unresolved", json!({})),
            "AgentNotFoundError",
        ),
        (
            409,
            detail(
                "ambiguous_grant",
                json!({"provider_id": "google", "candidates": [{"grant_id": "a"}, {"grant_id": "b"}]}),
            ),
            "AmbiguousGrantError",
        ),
        (
            409,
            detail("token_refresh_in_progress", json!({"grant_id": "g"})),
            "TokenRefreshInProgressError",
        ),
        (
            409,
            detail("sibling_label_conflict", json!({"label": "x"})),
            "SiblingLabelConflictError",
        ),
        (
            409,
            detail(
                "credential_id_required",
                json!({"details": {"credentials": [{"id": "c1", "label": "one"}]}}),
            ),
            "CredentialIdRequiredError",
        ),
        (
            409,
            detail("end_user_credential_not_assignable", json!({})),
            "EndUserCredentialNotAssignableError",
        ),
        (410, detail("grant_deleted", json!({})), "GrantDeletedError"),
        (
            400,
            detail("caller_agent_mismatch", json!({})),
            "CallerAgentMismatchError",
        ),
        (
            400,
            detail("constraint_not_narrowing", json!({})),
            "BackendError",
        ),
        (
            429,
            detail("quota_exceeded", json!({"retry_after": 60})),
            "QuotaExceededError",
        ),
        (
            429,
            detail("rate_limit_exceeded", json!({"retry_after": 5})),
            "RateLimitError",
        ),
        (
            500,
            detail("app_not_found_for_key", json!({})),
            "KeyAppNotFoundError",
        ),
        (
            503,
            detail("caller_agent_resolution_error", json!({})),
            "CallerAgentResolutionError",
        ),
        (
            422,
            detail("blocked_destination", json!({})),
            "BlockedDestinationError",
        ),
        (
            504,
            detail(
                "gateway_timeout",
                json!({"timeout_reason": "upstream_timeout"}),
            ),
            "BackendError",
        ),
    ]
}

#[tokio::test]
async fn token_endpoint_error_table() {
    let vault = Vault::start();
    let app = vault.app_with(no_retry);
    let mut cases = shared_cases();
    cases.extend([
        (
            400,
            detail("hitl_grant_requires_proxy", json!({})),
            "RestrictedGrantRequiresProxyError",
        ),
        (
            400,
            detail("delegated_grant_requires_proxy", json!({})),
            "RestrictedGrantRequiresProxyError",
        ),
        (
            400,
            detail("user_limits_require_proxy", json!({})),
            "RestrictedGrantRequiresProxyError",
        ),
        // The token path re-wraps Connect configuration errors (errors.md §6.1).
        (404, detail("secret_not_found", json!({})), "BackendError"),
    ]);
    for (status, body, want) in cases {
        vault
            .admin
            .add_fault(
                json!({"path_prefix": "/sdk/token", "count": 1, "status": status, "body": body}),
            )
            .await
            .unwrap();
        let e = app
            .request(
                "GET",
                &vault.echo("/x"),
                RequestOptions {
                    grant_id: Some("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), want, "HTTP {status} {body}: {e:?}");
    }
    app.close().await;
}

#[tokio::test]
async fn proxy_endpoint_error_table() {
    let vault = Vault::start();
    let app = vault.app_with(no_retry);
    let mut cases = shared_cases();
    cases.extend([
        (
            403,
            detail("approval_denied", json!({})),
            "ApprovalDeniedError",
        ),
        (
            410,
            detail("approval_expired", json!({})),
            "ApprovalExpiredError",
        ),
        (
            409,
            detail("approval_execution_failed", json!({})),
            "ApprovalExecutionFailedError",
        ),
        (
            404,
            detail("secret_not_found", json!({})),
            "ConnectConfigError",
        ),
        (422, detail("query_too_long", json!({})), "BackendError"),
    ]);
    for (status, body, want) in cases {
        vault
            .admin
            .add_fault(
                json!({"path_prefix": "/sdk/proxy", "count": 1, "status": status, "body": body}),
            )
            .await
            .unwrap();
        let e = app
            .proxy_request(
                "GET",
                &vault.echo("/x"),
                ProxyOptions {
                    grant_id: Some("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), want, "HTTP {status} {body}: {e:?}");
        if want != "ScopeReauthRequiredError" && !want.starts_with("Approval") {
            assert_eq!(e.details()["status_code"], status, "{want}");
        }
    }
    app.close().await;
}

#[tokio::test]
async fn agents_see_a_missing_grant_as_a_missing_delegation() {
    let vault = Vault::start();
    let (_, key) = vault.new_agent("lost").await;
    let agent = vault.agent_with(&key, no_retry);
    for path in ["/sdk/token", "/sdk/proxy"] {
        vault
            .admin
            .add_fault(json!({"path_prefix": path, "count": 1, "status": 404, "body": detail("grant_not_found", json!({"provider_id": "google"}))}))
            .await
            .unwrap();
    }
    let grant = Some("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60".to_string());
    let e = agent
        .request(
            "GET",
            &vault.echo("/x"),
            RequestOptions {
                grant_id: grant.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "AgentDelegationMissingError");
    assert_eq!(e.attributes()["provider_id"], "google");
    let e = agent
        .proxy_request(
            "GET",
            &vault.echo("/x"),
            ProxyOptions {
                grant_id: grant,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "AgentDelegationMissingError");
    agent.close().await;
}
