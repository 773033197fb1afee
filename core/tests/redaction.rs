//! No API key, signing key, token or injected credential may appear in the
//! `Debug` output of any type that holds one.

use alter_core::inject::{build_provider_request, RequestBody};
use alter_core::signing::SigningKey;
use alter_core::token::parse_token_response;
use alter_core::*;
use std::sync::Arc;

const API_KEY: &str = "alter_rk_pycdybk377oxtzq6svizx3_a5u5gr";
const TOKEN: &str = "tok-SECRET-4f1e2d";
const AWS_SECRET: &str = "wJalrSECRETKEYexample";
const USER_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.SECRETJWT.sig";

fn assert_clean(what: &str, text: &str) {
    for secret in [API_KEY, TOKEN, AWS_SECRET, USER_JWT, "SECRET"] {
        assert!(!text.contains(secret), "{what} leaks {secret:?}: {text}");
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        api_key: API_KEY.into(),
        base_url: Some("http://127.0.0.1:9".into()),
        user_token_getter: Some(Arc::new(|| Box::pin(async { Ok(USER_JWT.to_string()) }))),
        warnings: Some(Arc::new(|_: &str| {})),
        ..Default::default()
    }
}

#[test]
fn clients_and_options_are_redacted() {
    let app = App::new(options()).unwrap();
    let agent = Agent::new(options()).unwrap();
    assert_clean("ClientOptions", &format!("{:?}", options()));
    assert_clean("App", &format!("{app:?}"));
    assert_clean("Agent", &format!("{agent:?}"));
    assert_clean("SigningKey", &format!("{:?}", SigningKey::derive(API_KEY)));
    let sibling = app
        .with_constraints(Some(&["tokens:retrieve".to_string()]), None)
        .unwrap();
    assert_clean("constrained App", &format!("{sibling:?}"));
}

#[test]
fn request_options_are_redacted() {
    let r = RequestOptions {
        user_token: Some(USER_JWT.into()),
        headers: vec![("X-Secret".into(), TOKEN.into())],
        ..Default::default()
    };
    assert_clean("RequestOptions", &format!("{r:?}"));
    let p = ProxyOptions {
        user_token: Some(USER_JWT.into()),
        headers: Some(vec![("X-Secret".into(), TOKEN.into())]),
        ..Default::default()
    };
    assert_clean("ProxyOptions", &format!("{p:?}"));
}

#[test]
fn tokens_and_provider_requests_are_redacted() {
    let grant = "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60";
    let body = serde_json::json!({
        "access_token": TOKEN, "grant_id": grant,
        "injection_header": "x-api-key", "injection_format": "{token}",
        "additional_credentials": {"account": AWS_SECRET},
        "additional_injections": [{"target": "query_param", "key": "k", "value_source": "token"}]
    });
    let token = parse_token_response(body.to_string().as_bytes(), Some(grant)).unwrap();
    assert_clean("TokenResponse", &format!("{token:?}"));
    let req = build_provider_request(
        &token,
        "GET",
        "https://api.example.com/x",
        &[],
        None,
        &RequestBody::None,
        "ua",
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert!(req.url.contains(TOKEN), "the query credential is injected");
    assert_clean("ProviderRequest", &format!("{req:?}"));

    let aws = serde_json::json!({
        "access_token": "AKIAEXAMPLE", "grant_id": grant,
        "injection_format": "AWS4-HMAC-SHA256",
        "additional_credentials": {"secret_key": AWS_SECRET, "region": "us-east-1", "service": "s3", "session_token": TOKEN}
    });
    let token = parse_token_response(aws.to_string().as_bytes(), Some(grant)).unwrap();
    assert_clean("AWS TokenResponse", &format!("{token:?}"));
}

#[test]
fn one_time_keys_are_redacted() {
    let v = serde_json::json!({
        "id": "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60", "name": "bot", "type": "agent",
        "status": "active", "version": 1, "created_at": "2026-01-01T00:00:00Z",
        "api_key": format!("alter_key_{}", "SECRET".repeat(6) + "abcd"), "key_id": "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f61"
    });
    let created: AgentCreateResult = serde_json::from_value(v).unwrap();
    assert!(created.api_key.is_some());
    assert_clean("AgentCreateResult", &format!("{created:?}"));
}

#[tokio::test]
async fn errors_never_carry_the_key() {
    // A transport failure against a closed port: the message names the
    // backend, never the key.
    let app = App::new(ClientOptions {
        retry: Some(RetryPolicy::disabled()),
        ..options()
    })
    .unwrap();
    let e = app
        .request(
            "GET",
            &format!("https://api.example.com/x?api_key={TOKEN}"),
            RequestOptions {
                grant_id: Some("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "NetworkError");
    assert_clean("Error Debug", &format!("{e:?}"));
    assert_clean("Error Display", &e.to_string());
}
