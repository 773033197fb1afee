//! The process-wide flush the bindings' exit hooks run: audit rows of a
//! client nobody closed still reach the vault, and posts the vault holds are
//! abandoned (and counted) at the deadline. Its own test binary: the flush
//! covers every client of the process, so no other test may run beside it.

mod common;

use alter_core::client::{flush_background_posts, pending_background_posts};
use alter_core::RequestOptions;
use common::Vault;
use serde_json::json;
use std::time::Duration;

const AUDIT: &str = "/sdk/oauth/audit/api-call";

#[tokio::test]
async fn the_exit_flush_delivers_pending_rows_and_abandons_held_ones() {
    let vault = Vault::start();
    let grant = vault.bound_secret("acme", "tok-1", None).await;
    let app = vault.app();
    let url = vault.echo("/exit");
    let call = || {
        app.request(
            "GET",
            &url,
            RequestOptions {
                grant_id: Some(grant.clone()),
                ..Default::default()
            },
        )
    };

    // The first audit attempt is refused with Retry-After: 1, so the row is
    // still pending (waiting to retry) when the call returns.
    vault
        .admin
        .add_fault(json!({"path_prefix": AUDIT, "count": 1, "status": 503, "retry_after": "1"}))
        .await
        .unwrap();
    call().await.unwrap();
    assert_eq!(pending_background_posts(), 1);
    assert_eq!(flush_background_posts(Duration::from_secs(30)).await, 0);
    let rows: Vec<_> = vault
        .audit()
        .await
        .into_iter()
        .filter(|r| r["kind"] == "api_call")
        .collect();
    assert_eq!(rows.len(), 1, "the row reached the vault without close()");
    assert_eq!(vault.admin.requests_to(AUDIT).await.unwrap(), 2);

    // A post the vault holds past the deadline is abandoned and counted.
    vault
        .admin
        .add_fault(json!({"path_prefix": AUDIT, "count": 1, "delay_ms": 600_000}))
        .await
        .unwrap();
    call().await.unwrap();
    assert_eq!(flush_background_posts(Duration::from_millis(100)).await, 1);
    assert_eq!(app.dropped_reports(), 1);
    assert_eq!(pending_background_posts(), 0);

    // The client still works, and its later rows go out as usual.
    call().await.unwrap();
    assert_eq!(app.close().await, 0);
    let rows = vault
        .audit()
        .await
        .into_iter()
        .filter(|r| r["kind"] == "api_call")
        .count();
    assert_eq!(rows, 2);
}
