//! The audit report of a retrieve-mode call (`POST
//! /sdk/oauth/audit/api-call`, requests.md §9) and the scope-mismatch report
//! (`POST /sdk/grants/{grant_id}/report-scope-mismatch`, §10): their bodies,
//! header redaction, body caps and the warning logged when a row is refused.

use crate::headers::is_sensitive_header;
use crate::inject::RequestBody;
use crate::provider_url::ParsedUrl;
use crate::token::TokenResponse;
use base64::Engine;
use serde_json::{Map, Value};

/// Bodies larger than this are replaced by a size placeholder.
pub const MAX_BODY_SIZE_BYTES: usize = 10_000;

/// Header names the SigV4 injection strip removes (§6.5, §9.4 pass 1).
pub const SIGV4_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
];

/// The audit `response_body` of a provider transport failure other than a
/// timeout (§8.3).
pub const TRANSPORT_NETWORK_PLACEHOLDER: &str = "<transport error: network>";

/// The audit `response_body` of a provider timeout (§8.3).
pub fn transport_timeout_placeholder(latency_ms: u64) -> String {
    format!("<transport error: timeout after {latency_ms}ms>")
}

/// The audit `response_body` of a provider answer whose body went over the
/// client's `max_response_bytes` and was not read (none of it is logged).
pub fn body_over_cap_placeholder(max_bytes: u64) -> String {
    format!("<response body exceeded max_response_bytes ({max_bytes} bytes); not read>")
}

/// The most of a `WWW-Authenticate` value kept anywhere: the scope report
/// (the server's own limit) and the error that quotes it.
pub const MAX_WWW_AUTHENTICATE_CHARS: usize = 4096;

/// The request headers as logged: first every name in `injection_strip`
/// (the injected header and header-rule keys, or [`SIGV4_HEADERS`]), then
/// every credential header ([`crate::headers::is_sensitive_header`]: the
/// §9.4 names, every name proxy mode reserves and the common API-key
/// headers), all compared case-insensitively.
pub fn redact_request_headers<S: AsRef<str>>(
    headers: &[(String, String)],
    injection_strip: &[S],
) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| {
            !injection_strip
                .iter()
                .any(|s| s.as_ref().eq_ignore_ascii_case(k))
                && !is_sensitive_header(k)
        })
        .cloned()
        .collect()
}

/// The response headers as logged: names lower-cased, repeats joined with
/// `, `, sensitive names removed.
pub fn redact_response_headers(headers: &[(String, String)]) -> Map<String, Value> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in headers {
        if is_sensitive_header(k) {
            continue;
        }
        let name = k.to_ascii_lowercase();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(v);
            }
            None => out.push((name, v.clone())),
        }
    }
    out.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn headers_object(headers: &[(String, String)]) -> Map<String, Value> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// §9.5, response rule: complete text, or a size placeholder.
pub fn safe_response_body(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    if body.len() > MAX_BODY_SIZE_BYTES {
        return format!("<response too large: {} bytes>", body.len());
    }
    match std::str::from_utf8(body) {
        Ok(s) => s.to_string(),
        Err(_) => format!("<binary response: {} bytes>", body.len()),
    }
}

/// §9.5, request rule for a raw `body`.
pub fn safe_request_body(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    match std::str::from_utf8(body) {
        Ok(s) if body.len() <= MAX_BODY_SIZE_BYTES => s.to_string(),
        _ => format!("<binary body: {} bytes>", body.len()),
    }
}

/// The audit `request_body`: a JSON body as is (uncapped), a raw body under
/// the request rule, otherwise `null`.
pub fn audit_request_body(body: &RequestBody) -> Value {
    match body {
        RequestBody::None => Value::Null,
        RequestBody::Json(v) => v.clone(),
        RequestBody::Raw(b) => Value::String(safe_request_body(b)),
    }
}

/// The §9.3 body, keys in the documented order. `url` is the expanded URL
/// (no `query_params`, no query credential); `request_headers` are already
/// redacted ([`crate::inject::ProviderRequest::audit_headers`]);
/// `response_headers` is `None` on a transport failure (with status 0 and a
/// transport placeholder as `response_body`).
#[allow(clippy::too_many_arguments)]
pub fn audit_body(
    token: &TokenResponse,
    method: &str,
    url: &str,
    request_headers: &[(String, String)],
    request_body: &RequestBody,
    response_status: u16,
    response_headers: Option<&Vec<(String, String)>>,
    response_body: &str,
    latency_ms: u64,
    reason: Option<&str>,
    context: Option<&[(String, String)]>,
) -> Value {
    let mut m = Map::new();
    m.insert("grant_id".into(), token.grant_id.clone().into());
    m.insert("provider_id".into(), token.provider_id.clone().into());
    m.insert(
        "token_generation".into(),
        token
            .token_generation
            .clone()
            .map_or(Value::Null, Value::String),
    );
    m.insert("method".into(), method.to_ascii_uppercase().into());
    m.insert("url".into(), url.into());
    m.insert(
        "request_headers".into(),
        Value::Object(headers_object(request_headers)),
    );
    m.insert("request_body".into(), audit_request_body(request_body));
    m.insert("response_status".into(), response_status.into());
    m.insert(
        "response_headers".into(),
        response_headers.map_or(Value::Null, |h| Value::Object(redact_response_headers(h))),
    );
    m.insert("response_body".into(), response_body.into());
    m.insert("latency_ms".into(), latency_ms.into());
    m.insert(
        "reason".into(),
        reason.map_or(Value::Null, |r| Value::String(r.to_string())),
    );
    m.insert(
        "context".into(),
        match context {
            Some(c) if !c.is_empty() => Value::Object(headers_object(c)),
            _ => Value::Null,
        },
    );
    Value::Object(m)
}

/// The first `max_chars` characters of `s`.
pub fn cut(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// 16 random bytes, base64url without padding (22 characters).
pub fn new_correlation_id() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The §10 body, keys in the documented order, with the server's limits
/// applied: at most 50 scopes of at most 256 characters, the header cut to
/// 4096 characters and the endpoint to 2048.
pub fn scope_mismatch_report_body(
    missing_scopes: Option<&[String]>,
    raw_www_authenticate: &str,
    api_endpoint: &str,
) -> Value {
    let mut m = Map::new();
    m.insert("provider_status_code".into(), 403.into());
    m.insert("provider_error_code".into(), "insufficient_scope".into());
    m.insert(
        "missing_scopes".into(),
        missing_scopes.map_or(Value::Null, |s| {
            Value::Array(
                s.iter()
                    .take(50)
                    .map(|x| Value::String(cut(x, 256)))
                    .collect(),
            )
        }),
    );
    m.insert(
        "raw_www_authenticate".into(),
        cut(raw_www_authenticate, MAX_WWW_AUTHENTICATE_CHARS).into(),
    );
    m.insert("api_endpoint".into(), cut(api_endpoint, 2048).into());
    m.insert("detection_source".into(), "www_authenticate_rfc6750".into());
    m.insert("sdk_correlation_id".into(), new_correlation_id().into());
    Value::Object(m)
}

/// A provider URL reduced to `scheme://host` for logs (IPv6 bracketed), or
/// `<unparseable-url>`.
pub fn url_origin_for_log(url: &str) -> String {
    match ParsedUrl::parse(url) {
        Ok(p) if !p.scheme.is_empty() && !p.host.is_empty() => {
            if p.host.contains(':') {
                format!("{}://[{}]", p.scheme, p.host)
            } else {
                format!("{}://{}", p.scheme, p.host)
            }
        }
        _ => "<unparseable-url>".to_string(),
    }
}

/// The refusal message of a non-2xx audit reply: top-level `message`, else
/// `detail` as a string, else `detail.message`; read only from bodies of at
/// most 64 KiB, control characters replaced by spaces, cut to 300
/// characters plus `…`.
pub fn refusal_message(body: &[u8]) -> Option<String> {
    if body.len() > crate::error::MAX_ERROR_BODY_BYTES {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let msg = match (v.get("message"), v.get("detail")) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::String(s))) => s.clone(),
        (_, Some(d)) => d.get("message")?.as_str()?.to_string(),
        _ => return None,
    };
    let clean: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() > 300 {
        Some(format!("{}…", cut(&clean, 300)))
    } else {
        Some(clean)
    }
}

/// The warning logged when the backend refuses an audit row (§9.2).
pub fn refusal_warning(
    status: u16,
    body: &[u8],
    grant_id: &str,
    method: &str,
    url: &str,
) -> String {
    let mut out = format!(
        "Audit row was not recorded (HTTP {status}) for {method} {} on grant {grant_id}",
        url_origin_for_log(url)
    );
    if let Some(m) = refusal_message(body) {
        out.push_str(": ");
        out.push_str(&m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::build_provider_request;
    use crate::provider_url::QueryValue;
    use crate::token::parse_token_response;
    use serde_json::json;
    use std::time::SystemTime;

    const GID: &str = "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60";

    fn token(v: Value) -> TokenResponse {
        parse_token_response(v.to_string().as_bytes(), None).unwrap()
    }

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn documented_example_in_key_order() {
        let t = token(json!({"access_token": "tok", "grant_id": GID, "provider_id": "google"}));
        let body = audit_body(
            &t,
            "post",
            "https://api.example.com/prov/a%2Fb%20c/x?keep=1",
            &hdrs(&[("X-Custom", "v"), ("User-Agent", "alter-sdk-python/0.29.0")]),
            &RequestBody::Json(json!({"a": 1})),
            200,
            Some(&hdrs(&[
                ("content-type", "application/json"),
                ("content-length", "11"),
            ])),
            &safe_response_body(b"{\"ok\":true}"),
            8,
            Some("why"),
            Some(&hdrs(&[("k", "v")])),
        );
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"grant_id":"0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60","provider_id":"google","token_generation":null,"method":"POST","url":"https://api.example.com/prov/a%2Fb%20c/x?keep=1","request_headers":{"X-Custom":"v","User-Agent":"alter-sdk-python/0.29.0"},"request_body":{"a":1},"response_status":200,"response_headers":{"content-type":"application/json","content-length":"11"},"response_body":"{\"ok\":true}","latency_ms":8,"reason":"why","context":{"k":"v"}}"#
        );
    }

    #[test]
    fn transport_failure_row() {
        let t = token(json!({"access_token": "tok", "grant_id": GID, "token_generation": GID}));
        let body = audit_body(
            &t,
            "GET",
            "https://h/p",
            &[],
            &RequestBody::Raw(vec![0xff, 0x00]),
            0,
            None,
            &transport_timeout_placeholder(1234),
            1234,
            None,
            Some(&[]),
        );
        assert_eq!(body["response_status"], json!(0));
        assert_eq!(body["response_headers"], Value::Null);
        assert_eq!(
            body["response_body"],
            json!("<transport error: timeout after 1234ms>")
        );
        assert_eq!(body["request_body"], json!("<binary body: 2 bytes>"));
        assert_eq!(body["token_generation"], json!(GID));
        assert_eq!(body["reason"], Value::Null);
        assert_eq!(body["context"], Value::Null);
        assert_eq!(TRANSPORT_NETWORK_PLACEHOLDER, "<transport error: network>");
    }

    #[test]
    fn secrets_never_reach_the_audit_body() {
        let t = token(json!({
            "access_token": "TOKSECRET", "grant_id": GID, "injection_header": "X-Vendor-Key",
            "injection_format": "Key {token}",
            "additional_credentials": {"acct": "ACCTSECRET"},
            "additional_injections": [
                {"target": "header", "key": "X-Acct", "value_source": "additional_credentials.acct"},
                {"target": "query_param", "key": "api_key", "value_source": "token"}
            ]
        }));
        let req = build_provider_request(
            &t,
            "GET",
            "https://h/p",
            &hdrs(&[
                ("x-vendor-key", "CALLERDUP"),
                ("X-API-KEY", "APIKEYSECRET"),
                ("Cookie", "COOKIESECRET"),
                ("X-Auth-Token", "AUTHTOKSECRET"),
                ("X-Keep", "kept"),
            ]),
            Some(&vec![("q".to_string(), QueryValue::Str("QPARAM".into()))]),
            &RequestBody::None,
            "ua/1",
            SystemTime::now(),
        )
        .unwrap();
        assert!(req.url.contains("TOKSECRET"));
        let body = audit_body(
            &t,
            "GET",
            "https://h/p",
            &req.audit_headers,
            &RequestBody::None,
            200,
            Some(&hdrs(&[
                ("Set-Cookie", "SETCOOKIESECRET"),
                ("X-Amz-Security-Token", "AMZSECRET"),
                ("Vary", "a"),
                ("vary", "b"),
            ])),
            "",
            1,
            None,
            None,
        );
        let s = serde_json::to_string(&body).unwrap();
        for secret in [
            "TOKSECRET",
            "ACCTSECRET",
            "CALLERDUP",
            "APIKEYSECRET",
            "COOKIESECRET",
            "AUTHTOKSECRET",
            "SETCOOKIESECRET",
            "AMZSECRET",
            "QPARAM",
        ] {
            assert!(!s.contains(secret), "{secret} leaked: {s}");
        }
        assert_eq!(
            body["request_headers"],
            json!({"X-Keep": "kept", "User-Agent": "ua/1"})
        );
        assert_eq!(body["response_headers"], json!({"vary": "a, b"}));
    }

    #[test]
    fn sigv4_headers_never_reach_the_audit_body() {
        let t = token(json!({
            "access_token": "AKIASECRET", "grant_id": GID, "injection_format": "AWS4-HMAC-SHA256",
            "additional_credentials": {"secret_key": "SKSECRET", "session_token": "STSECRET"}
        }));
        let req = build_provider_request(
            &t,
            "POST",
            "https://sqs.us-east-1.amazonaws.com/",
            &hdrs(&[("X-Amz-Target", "T")]),
            None,
            &RequestBody::Json(json!({"a": 1})),
            "ua/1",
            SystemTime::now(),
        )
        .unwrap();
        assert!(req.headers.iter().any(|(k, _)| k == "x-amz-security-token"));
        let body = audit_body(
            &t,
            "POST",
            "https://sqs.us-east-1.amazonaws.com/",
            &req.audit_headers,
            &RequestBody::Json(json!({"a": 1})),
            200,
            Some(&vec![]),
            "",
            1,
            None,
            None,
        );
        let s = serde_json::to_string(&body).unwrap();
        for secret in [
            "AKIASECRET",
            "SKSECRET",
            "STSECRET",
            "AWS4-HMAC-SHA256",
            "x-amz-date",
            "x-amz-content-sha256",
        ] {
            assert!(!s.contains(secret), "{secret} leaked: {s}");
        }
        assert_eq!(
            body["request_headers"],
            json!({"X-Amz-Target": "T", "Content-Type": "application/json", "User-Agent": "ua/1"})
        );
    }

    #[test]
    fn redaction_passes() {
        let h = hdrs(&[
            ("Authorization", "a"),
            ("X-Inj", "b"),
            ("x-inj", "c"),
            ("X-AMZ-DATE", "d"),
            ("Other", "e"),
        ]);
        assert_eq!(
            redact_request_headers(&h, &["X-INJ"]),
            hdrs(&[("Other", "e")])
        );
        assert_eq!(
            redact_request_headers(&h, &[] as &[&str]),
            hdrs(&[("X-Inj", "b"), ("x-inj", "c"), ("Other", "e")])
        );
    }

    #[test]
    fn body_caps() {
        assert_eq!(safe_response_body(b""), "");
        assert_eq!(safe_response_body("é".as_bytes()), "é");
        assert_eq!(safe_response_body(&[b'a'; 10_000]), "a".repeat(10_000));
        assert_eq!(
            safe_response_body(&[b'a'; 10_001]),
            "<response too large: 10001 bytes>"
        );
        assert_eq!(safe_response_body(&[0xc3]), "<binary response: 1 bytes>");
        assert_eq!(
            safe_response_body(&[0xff; 10_001]),
            "<response too large: 10001 bytes>"
        );

        assert_eq!(safe_request_body(b""), "");
        assert_eq!(safe_request_body(b"a=b"), "a=b");
        assert_eq!(safe_request_body(&[b'a'; 10_000]), "a".repeat(10_000));
        assert_eq!(
            safe_request_body(&[b'a'; 10_001]),
            "<binary body: 10001 bytes>"
        );
        assert_eq!(safe_request_body(&[0xff]), "<binary body: 1 bytes>");

        let big = json!({"k": "x".repeat(20_000)});
        assert_eq!(audit_request_body(&RequestBody::Json(big.clone())), big);
        assert_eq!(audit_request_body(&RequestBody::None), Value::Null);
        assert_eq!(
            audit_request_body(&RequestBody::Raw(b"hi".to_vec())),
            json!("hi")
        );
    }

    #[test]
    fn scope_mismatch_report_clamps() {
        let scopes: Vec<String> = (0..60).map(|i| format!("{i}{}", "s".repeat(300))).collect();
        let body = scope_mismatch_report_body(Some(&scopes), &"w".repeat(5000), &"u".repeat(3000));
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "provider_status_code",
                "provider_error_code",
                "missing_scopes",
                "raw_www_authenticate",
                "api_endpoint",
                "detection_source",
                "sdk_correlation_id"
            ]
        );
        let missing = body["missing_scopes"].as_array().unwrap();
        assert_eq!(missing.len(), 50);
        assert!(missing
            .iter()
            .all(|s| s.as_str().unwrap().chars().count() == 256));
        assert_eq!(
            missing[0].as_str().unwrap(),
            format!("0{}", "s".repeat(255))
        );
        assert_eq!(body["raw_www_authenticate"].as_str().unwrap().len(), 4096);
        assert_eq!(body["api_endpoint"].as_str().unwrap().len(), 2048);
        assert_eq!(body["provider_status_code"], json!(403));
        assert_eq!(body["provider_error_code"], json!("insufficient_scope"));
        assert_eq!(body["detection_source"], json!("www_authenticate_rfc6750"));
        let id = body["sdk_correlation_id"].as_str().unwrap();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(id)
                .unwrap()
                .len(),
            16
        );
        assert_ne!(new_correlation_id(), new_correlation_id());

        let none =
            scope_mismatch_report_body(None, "Bearer error=\"insufficient_scope\"", "https://h/p");
        assert_eq!(none["missing_scopes"], Value::Null);
        // Multi-byte characters are cut by character, not byte.
        let e = scope_mismatch_report_body(Some(&["é".repeat(300)]), "", "");
        assert_eq!(
            e["missing_scopes"][0].as_str().unwrap().chars().count(),
            256
        );
    }

    #[test]
    fn refusal_warnings() {
        assert_eq!(
            url_origin_for_log("https://API.example.com:8443/p?k=SECRET"),
            "https://api.example.com"
        );
        assert_eq!(url_origin_for_log("http://[::1]:8080/x"), "http://[::1]");
        assert_eq!(url_origin_for_log("https://h:zz/"), "<unparseable-url>");
        assert_eq!(url_origin_for_log("/relative"), "<unparseable-url>");

        assert_eq!(
            refusal_message(br#"{"message":"no\u0007way"}"#).as_deref(),
            Some("no way")
        );
        assert_eq!(
            refusal_message(br#"{"detail":"plain"}"#).as_deref(),
            Some("plain")
        );
        assert_eq!(
            refusal_message(br#"{"detail":{"message":"nested"}}"#).as_deref(),
            Some("nested")
        );
        assert_eq!(refusal_message(br#"{"detail":[1]}"#), None);
        assert_eq!(refusal_message(b"<html>"), None);
        let long = json!({"message": "m".repeat(400)}).to_string();
        assert_eq!(
            refusal_message(long.as_bytes()).unwrap(),
            format!("{}…", "m".repeat(300))
        );
        let huge = json!({"message": "x", "pad": "p".repeat(70_000)}).to_string();
        assert_eq!(refusal_message(huge.as_bytes()), None);

        let w = refusal_warning(
            403,
            br#"{"detail":{"message":"missing audit:emit"}}"#,
            GID,
            "GET",
            "https://h.example/p?api_key=SECRET",
        );
        assert!(w.contains("403") && w.contains(GID) && w.contains("GET"));
        assert!(w.contains("https://h.example") && w.contains("missing audit:emit"));
        assert!(!w.contains("SECRET"));
    }
}
