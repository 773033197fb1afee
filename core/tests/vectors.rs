//! The official package's own vectors, read from `../shared/vectors`: every
//! key verdict and every signed request must be reproduced byte for byte.

use alter_core::keys::{checksum, is_valid_key};
use alter_core::signing::{content_sha256, signing_headers, SignatureInput, SigningKey};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn vectors(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

#[test]
fn every_key_vector() {
    let doc = vectors("keys.json");
    let keys = doc["keys"].as_array().expect("keys array");
    assert!(keys.len() >= 30, "suspiciously few key vectors");
    let mut checked = 0;
    for case in keys {
        // One entry carries CRC examples rather than a key verdict.
        if let Some(examples) = case["crc_examples"].as_array() {
            for ex in examples {
                let (tag, random) = s(ex, "body").split_once(':').expect("type:random");
                assert_eq!(
                    checksum(tag, random),
                    s(ex, "checksum"),
                    "crc of {}",
                    s(ex, "body")
                );
                checked += 1;
            }
            continue;
        }
        let key = s(case, "key");
        let want = case["valid"].as_bool().expect("valid flag");
        assert_eq!(is_valid_key(key), want, "key {key:?}");
        checked += 1;
    }
    assert_eq!(checked, keys.len() + 2);
}

#[test]
fn every_signing_vector() {
    let doc = vectors("signing.json");
    let cases = doc["vectors"].as_array().expect("vectors array");
    assert_eq!(cases.len(), 39);
    for (i, case) in cases.iter().enumerate() {
        let body = case["body"].as_str().unwrap_or("");
        let hash = content_sha256(body.as_bytes());
        let input = SignatureInput {
            method: s(case, "method"),
            target: s(case, "path"),
            timestamp: s(case, "timestamp"),
            nonce: s(case, "nonce"),
            content_sha256: &hash,
            scope_constraints: s(case, "scope_constraints"),
            request_rule: s(case, "request_rule"),
            caller: s(case, "caller"),
            caller_type: s(case, "caller_type"),
            actor_id: s(case, "actor_id"),
            context: s(case, "context"),
        };
        let key = SigningKey::derive(s(case, "api_key"));
        let got: BTreeMap<String, String> = signing_headers(&key, &input)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let want: BTreeMap<String, String> = case["expected_headers"]
            .as_object()
            .expect("expected_headers")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        assert_eq!(got, want, "vector {i}: {} {}", input.method, input.target);
    }
}
