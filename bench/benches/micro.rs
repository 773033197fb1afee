//! Micro benchmarks: signing one request and parsing one token response.

use alter_core::signing::{content_sha256, signing_headers, SignatureInput, SigningKey};
use alter_core::token::parse_token_response;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn sign_one(c: &mut Criterion) {
    let key = SigningKey::derive("alter_rk_pycdybk377oxtzq6svizx3_a5u5gr");
    let body = br#"{"grant_id":"6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","reason":null,"request":{"method":"GET","url":"https://api.example.com/v1/items"}}"#;
    c.bench_function("sign_request", |b| {
        b.iter(|| {
            let hash = content_sha256(black_box(body));
            signing_headers(
                &key,
                &SignatureInput {
                    method: "POST",
                    target: "/sdk/token",
                    timestamp: "1763800000",
                    nonce: "6396e0221e527ff9160ef7a449f1c7e2",
                    content_sha256: &hash,
                    caller: "svc",
                    caller_type: "service",
                    ..Default::default()
                },
            )
        })
    });
}

fn parse_token(c: &mut Criterion) {
    let body = br#"{"access_token":"ya29.a0Af-example","token_type":"Bearer","expires_in":3599,"expires_at":"2026-05-01T12:00:00Z","scopes":["https://www.googleapis.com/auth/calendar.readonly"],"grant_id":"0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60","provider_id":"google","token_generation":"7d1c2a4e-0f3b-4c5d-8e6f-a1b2c3d4e5f6","scope_mismatch":false,"injection_header":"Authorization","injection_format":"Bearer {token}"}"#;
    c.bench_function("parse_token_response", |b| {
        b.iter(|| {
            parse_token_response(
                black_box(body),
                Some("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60"),
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, sign_one, parse_token);
criterion_main!(benches);
