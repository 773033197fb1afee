//! Credentials go only where the vault approved, end to end against the
//! local vault: refused URLs and headers never reach it, the URL it
//! approves is the URL the provider is called with, its allowed host
//! patterns are enforced, and a provider echoing the credential does not
//! get it into errors or audit rows.

mod common;

use alter_core::{Error, ProxyOptions, RequestOptions};
use common::{no_retry, Vault};
use serde_json::{json, Value};

async fn events(vault: &Vault, kind: &str) -> Vec<Value> {
    vault
        .audit()
        .await
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn opts(grant: &str) -> RequestOptions {
    RequestOptions {
        grant_id: Some(grant.to_string()),
        ..Default::default()
    }
}

fn proxy_opts(grant: &str) -> ProxyOptions {
    ProxyOptions {
        grant_id: Some(grant.to_string()),
        ..Default::default()
    }
}

/// Bad headers and URLs are refused before anything is sent: the vault
/// records no `/sdk/token` issuance, no proxied call and no audit row,
/// although the grant is valid and a call would have succeeded.
#[tokio::test]
async fn refused_headers_and_urls_never_reach_the_vault() {
    let vault = Vault::start();
    let grant = vault
        .bound_secret("refusals", "tok-never-issued", None)
        .await;
    let app = vault.app();
    let port = vault.base_url().rsplit(':').next().unwrap().to_string();
    let echo = vault.echo("/x");

    let bad_headers = [
        ("X-Trace", "1\r\nX-Injected: yes"),
        ("X-Trace", "a\nb"),
        ("X-Trace", "nul\0"),
        ("X Trace", "v"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "5"),
        ("Host", "evil.example"),
        ("Connection", "keep-alive, x-api-key"),
        ("Keep-Alive", "timeout=5"),
        ("Upgrade", "websocket"),
        ("TE", "trailers"),
        ("Trailer", "x"),
        ("Proxy-Connection", "close"),
    ];
    for (name, value) in bad_headers {
        let headers = vec![(name.to_string(), value.to_string())];
        let e: Error = app
            .request(
                "GET",
                &echo,
                RequestOptions {
                    headers: headers.clone(),
                    ..opts(&grant)
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "AlterValueError", "{name}: {}", e.message());
        assert!(
            e.message().contains(&format!("'{}'", name.escape_debug())),
            "{}",
            e.message()
        );
        let e = app
            .proxy_request(
                "GET",
                &echo,
                ProxyOptions {
                    headers: Some(headers),
                    ..proxy_opts(&grant)
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "AlterValueError", "{name}: {}", e.message());
    }
    for url in [
        format!("http://user:pw@127.0.0.1:{port}/_provider/echo/x"),
        format!("http://2130706433:{port}/_provider/echo/x"),
        format!("http://127.1:{port}/_provider/echo/x"),
        format!("http://0x7f.0.0.1:{port}/_provider/echo/x"),
        format!("http://0177.0.0.1:{port}/_provider/echo/x"),
    ] {
        let e = app.request("GET", &url, opts(&grant)).await.unwrap_err();
        assert_eq!(e.kind(), "AlterValueError", "{url}");
        assert!(e.message().starts_with("url "), "{}", e.message());
        let e = app
            .proxy_request("GET", &url, proxy_opts(&grant))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "AlterValueError", "{url}");
    }
    app.close().await;
    assert_eq!(vault.audit().await, Vec::<Value>::new());

    // The same grant works: the refusals were about the input alone.
    let app = vault.app();
    let ok = app
        .request(
            "GET",
            &echo,
            RequestOptions {
                headers: vec![("X-Trace".into(), "1".into())],
                ..opts(&grant)
            },
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    app.close().await;
    assert_eq!(events(&vault, "token").await.len(), 1);
}

/// The vault approves exactly what is requested: the scheme, host, port,
/// path and query in `/sdk/token` `request.url` (and the audit row's `url`)
/// are those the provider received, however the caller spelled the URL.
#[tokio::test]
async fn the_vault_is_told_the_url_the_provider_receives() {
    let vault = Vault::start();
    let grant = vault.bound_secret("declared", "tok-declared", None).await;
    let base = vault.base_url();
    let port = base.rsplit(':').next().unwrap().to_string();
    let app = vault.app();
    let spelled = format!("HTTP://127.0.0.1:{port}/_provider/echo/a/./b/../c d/é?x=1 2&y='#frag");
    let resp = app.request("GET", &spelled, opts(&grant)).await.unwrap();
    let echo: Value = resp.json().unwrap();
    app.close().await;

    let host = echo["headers"]["host"].as_str().unwrap();
    let path = echo["path"].as_str().unwrap();
    let query = echo["query"].as_str().unwrap();
    let received = format!("http://{host}{path}?{query}");
    assert_eq!(
        received,
        format!("http://127.0.0.1:{port}/_provider/echo/a/c%20d/%C3%A9?x=1%202&y=%27")
    );
    let token = events(&vault, "token").await;
    assert_eq!(token.len(), 1);
    assert_eq!(token[0]["url"], json!(received), "what the vault approved");
    let call = events(&vault, "api_call").await;
    assert_eq!(call[0]["url"], json!(received), "what the audit row says");
}

/// A provider's allowed host patterns are enforced by the vault: a URL
/// outside them gets no credential (422 `blocked_destination`, surfaced as
/// `BlockedDestinationError`) in either mode, and the same grant works once
/// the host is allowed.
#[tokio::test]
async fn host_patterns_are_enforced_by_the_vault() {
    let vault = Vault::start();
    let ms = vault
        .admin
        .create_managed_secret(json!({
            "slug": "pinned", "credential": "tok-pinned",
            "host_patterns": ["api.pinned.example", "*.pinned.example"]
        }))
        .await
        .unwrap();
    let grant = vault
        .admin
        .managed_secret_grant(&ms, None, "pinned")
        .await
        .unwrap();
    let app = vault.app_with(no_retry);
    let echo = vault.echo("/x");

    let e = app.request("GET", &echo, opts(&grant)).await.unwrap_err();
    assert_eq!(e.kind(), "BlockedDestinationError", "{}", e.message());
    assert!(e.details().get("request_id").is_some(), "{:?}", e.details());
    let e = app
        .proxy_request("GET", &echo, proxy_opts(&grant))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "BlockedDestinationError", "{}", e.message());
    assert!(
        events(&vault, "token").await.is_empty(),
        "no credential issued"
    );
    assert!(events(&vault, "proxy").await.is_empty());

    let port = vault.base_url().rsplit(':').next().unwrap().to_string();
    for patterns in [json!([format!("127.0.0.1:{port}")]), json!(["127.0.0.1"])] {
        vault
            .admin
            .update_managed_secret(&ms, json!({ "host_patterns": patterns }))
            .await
            .unwrap();
        let ok = app.request("GET", &echo, opts(&grant)).await.unwrap();
        assert_eq!(ok.status, 200);
    }
    // Pinned to another port: refused again.
    vault
        .admin
        .update_managed_secret(&ms, json!({"host_patterns": ["127.0.0.1:1"]}))
        .await
        .unwrap();
    let e = app.request("GET", &echo, opts(&grant)).await.unwrap_err();
    assert_eq!(e.kind(), "BlockedDestinationError");
    app.close().await;
}

/// The echo provider reflects the injected credential in its body and, with
/// `echo_headers=1`, in `x-echo-*` response headers. The SDK's error and the
/// audit row it posts carry neither; the vault confirms the row arrived
/// clean (it flags rows that needed its own scrub).
#[tokio::test]
async fn an_echoing_provider_cannot_leak_the_credential() {
    let vault = Vault::start();
    let secret = "tok-ECHOED-e2e-5b7d";
    let grant = vault.bound_secret("echoer", secret, None).await;
    let app = vault.app();
    for (status, kind) in [
        (401, "ProviderUnauthorizedError"),
        (500, "ProviderAPIError"),
    ] {
        let url = vault.echo(&format!("/leak?echo_status={status}&echo_headers=1"));
        let e = app.request("GET", &url, opts(&grant)).await.unwrap_err();
        assert_eq!(e.kind(), kind);
        let text = format!(
            "{} {} {} {e:?}",
            e.message(),
            serde_json::to_string(e.details()).unwrap(),
            serde_json::to_string(&e.attributes()).unwrap()
        );
        assert!(!text.contains(secret), "{text}");
        // The echoed header value is quoted, with the credential cut out.
        assert!(
            text.contains(r#"\"authorization\":\"<redacted>\""#),
            "{text}"
        );
    }
    // A success is audited too (the caller gets the provider's body as is).
    let ok = app
        .request("GET", &vault.echo("/ok?echo_headers=1"), opts(&grant))
        .await
        .unwrap();
    assert!(
        ok.text().contains(secret),
        "the caller's own response is untouched"
    );
    app.close().await;

    let rows = events(&vault, "api_call").await;
    assert_eq!(rows.len(), 3);
    for row in rows {
        let text = row.to_string();
        assert!(!text.contains(secret), "{text}");
        assert_eq!(
            row["details"],
            Value::Null,
            "the SDK sent it unscrubbed: {text}"
        );
        assert!(
            row["response_headers"]["x-echo-authorization"] == json!("<redacted>"),
            "{text}"
        );
    }
}
