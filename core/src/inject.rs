//! Building the provider request of retrieve mode: header and query
//! injection (requests.md §5) or AWS SigV4 signing (§6), the provider body,
//! the final URL and its length check, and the redacted header set for the
//! audit row (§9.4).
//!
//! Divergence from the reference, as its Recommendation suggests: header
//! names are compared case-insensitively everywhere. Setting a header (the
//! injected credential, an additional injection, a SigV4 header) replaces
//! every caller header of the same name in any case, and the default
//! `User-Agent` and JSON `Content-Type` are added only when no header of
//! that name exists in any case.

use crate::audit;
use crate::error::{Details, Error, Result};
use crate::provider_url::{self, ParsedUrl, QueryParams, QueryValue};
use crate::sigv4;
use crate::token::{InjectionTarget, TokenResponse, ValueSource};
use std::fmt;
use std::time::SystemTime;
use zeroize::Zeroize;

/// The caller's request body.
#[derive(Clone, PartialEq)]
pub enum RequestBody {
    None,
    /// Sent as JSON (a JSON `null` body cannot be expressed: use `None`).
    Json(serde_json::Value),
    /// Sent verbatim.
    Raw(Vec<u8>),
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestBody::None => f.write_str("None"),
            RequestBody::Json(_) => f.write_str("Json(..)"),
            RequestBody::Raw(b) => write!(f, "Raw({} bytes)", b.len()),
        }
    }
}

/// The provider request, ready to send.
#[derive(Clone)]
pub struct ProviderRequest {
    /// Upper-case.
    pub method: String,
    /// The final wire URL (may carry an injected query credential).
    pub url: String,
    /// In send order; may hold the credential.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The request headers with credentials removed (§9.4), for the audit
    /// row.
    pub audit_headers: Vec<(String, String)>,
}

impl Drop for ProviderRequest {
    /// The headers and the URL may hold the credential.
    fn drop(&mut self) {
        for (_, v) in &mut self.headers {
            v.zeroize();
        }
        self.url.zeroize();
    }
}

impl fmt::Debug for ProviderRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match self.url.split_once('?') {
            Some((base, _)) => format!("{base}?<redacted>"),
            None => self.url.clone(),
        };
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = self.audit_headers.iter().any(|(ak, av)| ak == k && av == v);
                (k.as_str(), if shown { v.as_str() } else { "<redacted>" })
            })
            .collect();
        f.debug_struct("ProviderRequest")
            .field("method", &self.method)
            .field("url", &url)
            .field("headers", &headers)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field("audit_headers", &self.audit_headers)
            .finish()
    }
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// Sets `name: value`, replacing every header of that name in any case (at
/// the position of the first one), or appending it.
fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    match headers
        .iter()
        .position(|(k, _)| k.eq_ignore_ascii_case(name))
    {
        Some(i) => {
            headers[i] = (name.to_string(), value.to_string());
            let mut j = 0;
            headers.retain(|(k, _)| {
                let keep = j == i || !k.eq_ignore_ascii_case(name);
                j += 1;
                keep
            });
        }
        None => headers.push((name.to_string(), value.to_string())),
    }
}

/// Sets a query parameter as a dict assignment would: in place when the key
/// exists (dropping any later duplicate), else appended.
fn set_query(query: &mut QueryParams, key: &str, value: &str) {
    match query.iter().position(|(k, _)| k == key) {
        Some(i) => {
            query[i].1 = QueryValue::Str(value.to_string());
            let mut j = 0;
            query.retain(|(k, _)| {
                let keep = j <= i || k != key;
                j += 1;
                keep
            });
        }
        None => query.push((key.to_string(), QueryValue::Str(value.to_string()))),
    }
}

fn add_user_agent(headers: &mut Vec<(String, String)>, user_agent: &str) {
    if !has_header(headers, "user-agent") {
        headers.push(("User-Agent".to_string(), user_agent.to_string()));
    }
}

const APPLICATION_JSON: &str = "application/json";

/// Builds the provider request for one retrieve-mode call. `expanded_url`
/// is the URL after path-template expansion (already checked against the
/// URL rules); `query` is the caller's `query_params`.
#[allow(clippy::too_many_arguments)]
pub fn build_provider_request(
    token: &TokenResponse,
    method: &str,
    expanded_url: &str,
    extra_headers: &[(String, String)],
    query: Option<&QueryParams>,
    body: &RequestBody,
    user_agent: &str,
    now: SystemTime,
) -> Result<ProviderRequest> {
    let method = method.to_ascii_uppercase();
    if token.uses_sigv4() {
        build_sigv4(
            token,
            method,
            expanded_url,
            extra_headers,
            query,
            body,
            user_agent,
            now,
        )
    } else {
        build_injected(
            token,
            method,
            expanded_url,
            extra_headers,
            query,
            body,
            user_agent,
        )
    }
}

fn build_injected(
    token: &TokenResponse,
    method: String,
    expanded_url: &str,
    extra_headers: &[(String, String)],
    query: Option<&QueryParams>,
    body: &RequestBody,
    user_agent: &str,
) -> Result<ProviderRequest> {
    let mut headers = extra_headers.to_vec();
    set_header(&mut headers, &token.injection_header, &token.header_value());
    add_user_agent(&mut headers, user_agent);

    let mut query: Option<QueryParams> = query.cloned();
    let mut strip: Vec<&str> = vec![token.injection_header.as_str()];
    for rule in token.additional_injections.iter().flatten() {
        if rule.target == InjectionTarget::Header {
            strip.push(&rule.key);
        }
        let value = match &rule.value_source {
            ValueSource::Token => Some(token.access_token()),
            ValueSource::AdditionalCredential(field) => token.additional_credential(field),
        };
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        match rule.target {
            InjectionTarget::Header => set_header(&mut headers, &rule.key, value),
            InjectionTarget::QueryParam => {
                set_query(query.get_or_insert_with(Vec::new), &rule.key, value)
            }
        }
    }
    // The audit sees the headers the SDK built, not the transport's JSON
    // Content-Type.
    let audit_headers = audit::redact_request_headers(&headers, &strip);

    let body = match body {
        RequestBody::None => None,
        RequestBody::Raw(b) => Some(b.clone()),
        RequestBody::Json(v) => {
            if !has_header(&headers, "content-type") {
                headers.push(("Content-Type".to_string(), APPLICATION_JSON.to_string()));
            }
            Some(crate::json::compact_utf8(v).into_bytes())
        }
    };
    let url = provider_url::url_with_replaced_query(expanded_url, query.as_ref())?;
    provider_url::check_final_length(&url)?;
    Ok(ProviderRequest {
        method,
        url,
        headers,
        body,
        audit_headers,
    })
}

/// The message of the missing-secret refusal (§6.1).
const MISSING_SECRET_KEY: &str = "AWS SigV4 credential is missing secret_key in additional_credentials. Re-store the credential with both Access Key ID and Secret Access Key.";

#[allow(clippy::too_many_arguments)]
fn build_sigv4(
    token: &TokenResponse,
    method: String,
    expanded_url: &str,
    extra_headers: &[(String, String)],
    query: Option<&QueryParams>,
    body: &RequestBody,
    user_agent: &str,
    now: SystemTime,
) -> Result<ProviderRequest> {
    let Some(secret_key) = token
        .additional_credential("secret_key")
        .filter(|s| !s.is_empty())
    else {
        return Err(Error::backend(MISSING_SECRET_KEY, Details::new(), None));
    };
    // (b): the merged URL is both signed and sent.
    let url = provider_url::url_with_merged_query(expanded_url, query)?;
    provider_url::check_final_length(&url)?;

    let mut headers = extra_headers.to_vec();
    let payload = match body {
        RequestBody::None => None,
        RequestBody::Raw(b) => Some(b.clone()),
        RequestBody::Json(v) => {
            if !has_header(&headers, "content-type") {
                headers.push(("Content-Type".to_string(), APPLICATION_JSON.to_string()));
            }
            Some(crate::json::spaced_ascii(v).into_bytes())
        }
    };

    let host = ParsedUrl::parse(&url)
        .map_err(|_| Error::value("url must be a valid absolute HTTP URL"))?
        .host;
    let (service, region) = sigv4::resolve_service_region(
        &host,
        token.additional_credential("service"),
        token.additional_credential("region"),
        expanded_url,
    )?;
    // The signed host is always the URL's, the host connected to: callers
    // cannot set `Host` (it is a framing header, refused before the token
    // fetch by `headers::check_caller_headers`), so §6.2 step 6's caller
    // `Host` case never arises.
    let signed = sigv4::sign(&sigv4::SigV4Request {
        method: &method,
        url: &url,
        host_header: None,
        payload: payload.as_deref().unwrap_or(b""),
        access_key_id: token.access_token(),
        secret_key,
        session_token: token.additional_credential("session_token"),
        service: &service,
        region: &region,
        now,
    })?;
    for (k, v) in &signed.headers {
        set_header(&mut headers, k, v);
    }
    add_user_agent(&mut headers, user_agent);
    let audit_headers = audit::redact_request_headers(&headers, &audit::SIGV4_HEADERS);
    Ok(ProviderRequest {
        method,
        url,
        headers,
        body: payload,
        audit_headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::parse_token_response;
    use serde_json::{json, Value};
    use std::time::{Duration, UNIX_EPOCH};

    const GID: &str = "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60";
    const UA: &str = "alter-sdk-rust/0.1.0";

    fn token(extra: Value) -> TokenResponse {
        let mut body = json!({"access_token": "tok123", "grant_id": GID});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        parse_token_response(body.to_string().as_bytes(), None).unwrap()
    }

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn q(pairs: &[(&str, &str)]) -> QueryParams {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), QueryValue::Str(v.to_string())))
            .collect()
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn build(
        t: &TokenResponse,
        url: &str,
        headers: &[(&str, &str)],
        query: Option<&QueryParams>,
        body: &RequestBody,
    ) -> Result<ProviderRequest> {
        build_provider_request(t, "post", url, &hdrs(headers), query, body, UA, now())
    }

    #[test]
    fn the_documented_wire_example() {
        let t = token(json!({}));
        let r = build(
            &t,
            "https://api.example.com/prov/a%2Fb%20c/x?keep=1",
            &[("X-Custom", "v")],
            Some(&q(&[("q", "1")])),
            &RequestBody::Json(json!({"a": 1})),
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "https://api.example.com/prov/a%2Fb%20c/x?q=1");
        assert_eq!(
            r.headers,
            hdrs(&[
                ("X-Custom", "v"),
                ("Authorization", "Bearer tok123"),
                ("User-Agent", UA),
                ("Content-Type", "application/json"),
            ])
        );
        assert_eq!(r.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(
            r.audit_headers,
            hdrs(&[("X-Custom", "v"), ("User-Agent", UA)])
        );
    }

    #[test]
    fn case_insensitive_header_handling() {
        let t = token(json!({}));
        let r = build(
            &t,
            "https://h/p",
            &[
                ("authorization", "caller-1"),
                ("X", "1"),
                ("AUTHORIZATION", "caller-2"),
                ("user-agent", "mine/1"),
                ("content-type", "application/vnd+json"),
            ],
            None,
            &RequestBody::Json(json!({"é": [1.5, 1e20]})),
        )
        .unwrap();
        assert_eq!(
            r.headers,
            hdrs(&[
                ("Authorization", "Bearer tok123"),
                ("X", "1"),
                ("user-agent", "mine/1"),
                ("content-type", "application/vnd+json"),
            ])
        );
        assert_eq!(
            String::from_utf8(r.body.clone().unwrap()).unwrap(),
            "{\"é\":[1.5,1e+20]}"
        );
        assert_eq!(r.url, "https://h/p");
    }

    #[test]
    fn raw_and_absent_bodies() {
        let t = token(json!({}));
        let r = build(
            &t,
            "https://h/p?x=1",
            &[],
            None,
            &RequestBody::Raw(b"a=b".to_vec()),
        )
        .unwrap();
        assert_eq!(r.body.as_deref(), Some(&b"a=b"[..]));
        assert!(!has_header(&r.headers, "content-type"));
        assert_eq!(r.url, "https://h/p?x=1");
        let r = build(&t, "https://h/p", &[], Some(&vec![]), &RequestBody::None).unwrap();
        assert_eq!(r.body, None);
    }

    #[test]
    fn custom_header_and_format() {
        let t = token(
            json!({"injection_header": "x-api-key", "injection_format": "Token {token} {token}"}),
        );
        let r = build(
            &t,
            "https://h/p",
            &[("X-API-KEY", "callers")],
            None,
            &RequestBody::None,
        )
        .unwrap();
        assert_eq!(
            r.headers,
            hdrs(&[("x-api-key", "Token tok123 {token}"), ("User-Agent", UA)])
        );
        assert_eq!(r.audit_headers, hdrs(&[("User-Agent", UA)]));
    }

    #[test]
    fn additional_injections_apply_in_order() {
        let t = token(json!({
            "injection_header": "x-api-key", "injection_format": "{token}",
            "additional_credentials": {"account_id": "AC123", "region": "eu"},
            "additional_injections": [
                {"target": "header", "key": "X-Account-Id", "value_source": "additional_credentials.account_id"},
                {"target": "query_param", "key": "api_key", "value_source": "token"},
                {"target": "query_param", "key": "acct", "value_source": "additional_credentials.account_id"},
                {"target": "query_param", "key": "acct", "value_source": "additional_credentials.region"},
                {"target": "header", "key": "X-Missing", "value_source": "additional_credentials.nope"},
                {"target": "header", "key": "X-API-Key", "value_source": "additional_credentials.account_id"}
            ]
        }));
        let r = build(
            &t,
            "https://h/p?own=1",
            &[("X-Missing", "caller value"), ("x-account-id", "old")],
            Some(&q(&[("api_key", "caller"), ("z", "1")])),
            &RequestBody::None,
        )
        .unwrap();
        // The query credential overrides the caller's value in place; the
        // URL's own query is discarded; a later rule wins.
        assert_eq!(r.url, "https://h/p?api_key=tok123&z=1&acct=eu");
        assert_eq!(
            r.headers,
            hdrs(&[
                ("X-Missing", "caller value"),
                ("X-Account-Id", "AC123"),
                ("X-API-Key", "AC123"),
                ("User-Agent", UA),
            ])
        );
        // Every header-rule key is stripped from the audit, applied or not.
        assert_eq!(r.audit_headers, hdrs(&[("User-Agent", UA)]));

        // A query credential alone still replaces the URL's query.
        let r = build(&t, "https://h/p?own=1", &[], None, &RequestBody::None).unwrap();
        assert_eq!(r.url, "https://h/p?api_key=tok123&acct=eu");
    }

    #[test]
    fn empty_or_missing_values_are_skipped() {
        let t = token(json!({
            "additional_injections": [
                {"target": "query_param", "key": "k", "value_source": "additional_credentials.account_id"}
            ]
        }));
        let r = build(&t, "https://h/p?own=1", &[], None, &RequestBody::None).unwrap();
        assert_eq!(r.url, "https://h/p?own=1");
    }

    #[test]
    fn final_length_check_includes_the_query_credential() {
        let t = token(json!({
            "additional_injections": [{"target": "query_param", "key": "k", "value_source": "token"}]
        }));
        // Exactly at the limit without the credential.
        let url = format!(
            "https://h/{}",
            "a".repeat(provider_url::MAX_URL_LENGTH - 10)
        );
        assert_eq!(url.len(), provider_url::MAX_URL_LENGTH);
        let plain = token(json!({}));
        assert!(build(&plain, &url, &[], None, &RequestBody::None).is_ok());
        let Err(e) = build(&t, &url, &[], None, &RequestBody::None) else {
            panic!("the query credential should push the URL over the limit");
        };
        assert_eq!(e.kind(), "AlterValueError");
        assert_eq!(
            e.message(),
            "url with query_params must be at most 65,536 characters once percent-encoded, and valid"
        );
    }

    fn aws(extra_creds: Value) -> TokenResponse {
        let mut creds = json!({"secret_key": "wJalrSECRET", "region": "us-west-2", "session_token": "IQoSESSION"});
        for (k, v) in extra_creds.as_object().unwrap() {
            creds[k] = v.clone();
        }
        token(json!({
            "access_token": "AKIAEXAMPLE", "injection_format": "AWS4-HMAC-SHA256",
            "additional_credentials": creds,
            "additional_injections": [{"target": "header", "key": "X-Ignored", "value_source": "token"}]
        }))
    }

    #[test]
    fn sigv4_mode() {
        let t = aws(json!({"service": "execute-api"}));
        let r = build(
            &t,
            "https://sqs.us-east-1.amazonaws.com/q?b=2&a=1",
            &[
                ("authorization", "stale"),
                ("X-Amz-Target", "T"),
                ("Cookie", "c=1"),
            ],
            Some(&q(&[("a", "9"), ("n", "x y")])),
            &RequestBody::Json(json!({"a": 1, "b": "é"})),
        )
        .unwrap();
        assert_eq!(r.url, "https://sqs.us-east-1.amazonaws.com/q?b=2&a=9&n=x+y");
        assert_eq!(r.body.as_deref(), Some(&br#"{"a": 1, "b": "\u00e9"}"#[..]));
        let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Authorization",
                "X-Amz-Target",
                "Cookie",
                "Content-Type",
                "x-amz-date",
                "x-amz-content-sha256",
                "x-amz-security-token",
                "User-Agent"
            ]
        );
        let auth = &r.headers[0].1;
        // Host detection (sqs, us-east-1) wins over the credential.
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20150830/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="), "{auth}");
        assert_eq!(r.headers[4].1, "20150830T123600Z");
        assert_eq!(
            r.headers[5].1,
            crate::signing::content_sha256(br#"{"a": 1, "b": "\u00e9"}"#)
        );
        assert!(!has_header(&r.headers, "X-Ignored"));
        // The signature matches an independent signing of the same request.
        let again = sigv4::sign(&sigv4::SigV4Request {
            method: "POST",
            url: &r.url,
            host_header: None,
            payload: r.body.as_deref().unwrap(),
            access_key_id: "AKIAEXAMPLE",
            secret_key: "wJalrSECRET",
            session_token: Some("IQoSESSION"),
            service: "sqs",
            region: "us-east-1",
            now: now(),
        })
        .unwrap();
        assert_eq!(&again.headers[0].1, auth);
        assert_eq!(
            r.audit_headers,
            hdrs(&[
                ("X-Amz-Target", "T"),
                ("Content-Type", "application/json"),
                ("User-Agent", UA)
            ])
        );
    }

    #[test]
    fn sigv4_fallbacks_and_refusals() {
        // The credential's region and service when the host says nothing.
        let t = aws(json!({"service": "execute-api"}));
        let r = build(
            &t,
            "https://api.example.com/x",
            &[("X-Custom", "c")],
            None,
            &RequestBody::None,
        )
        .unwrap();
        let auth = &r
            .headers
            .iter()
            .find(|(k, _)| k == "Authorization")
            .unwrap()
            .1;
        assert!(
            auth.contains("/us-west-2/execute-api/aws4_request"),
            "{auth}"
        );
        assert_eq!(r.headers[0], ("X-Custom".to_string(), "c".to_string()));
        assert_eq!(r.body, None);
        assert_eq!(r.url, "https://api.example.com/x");

        let e = build(
            &aws(json!({})),
            "https://api.example.com/x?q=1",
            &[],
            None,
            &RequestBody::None,
        )
        .unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        assert_eq!(
            e.message(),
            "Cannot determine AWS service from URL 'https://api.example.com/x?q=1'. Pass service explicitly via additional_credentials."
        );
        let t = token(
            json!({"access_token": "AKIAEXAMPLE", "injection_format": "AWS4-HMAC-SHA256",
            "additional_credentials": {"secret_key": "k", "service": "s"}}),
        );
        let e = build(
            &t,
            "https://api.example.com/x",
            &[],
            None,
            &RequestBody::None,
        )
        .unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        assert_eq!(
            e.message(),
            "Cannot determine AWS region from URL 'https://api.example.com/x'. Pass region explicitly via additional_credentials."
        );

        // `{}` still selects SigV4 and then lacks the secret key.
        for creds in [json!({}), json!({"region": "us-east-1"})] {
            let t = token(
                json!({"injection_format": "AWS4-HMAC-SHA256", "additional_credentials": creds}),
            );
            assert!(t.uses_sigv4());
            let e = build(
                &t,
                "https://sqs.us-east-1.amazonaws.com/",
                &[],
                None,
                &RequestBody::None,
            )
            .unwrap_err();
            assert_eq!(e.kind(), "BackendError");
            assert_eq!(e.message(), MISSING_SECRET_KEY);
        }
    }

    #[test]
    fn aws_format_without_credentials_is_literal_header_injection() {
        let t = token(json!({
            "injection_format": "AWS4-HMAC-SHA256",
            "additional_injections": [{"target": "header", "key": "X-Key", "value_source": "token"}]
        }));
        let r = build(
            &t,
            "https://sqs.us-east-1.amazonaws.com/",
            &[],
            None,
            &RequestBody::None,
        )
        .unwrap();
        assert_eq!(
            r.headers,
            hdrs(&[
                ("Authorization", "AWS4-HMAC-SHA256"),
                ("User-Agent", UA),
                ("X-Key", "tok123")
            ])
        );
    }

    #[test]
    fn debug_never_shows_credentials() {
        let t = token(json!({
            "additional_credentials": {"account_id": "ACSECRET"},
            "additional_injections": [
                {"target": "query_param", "key": "api_key", "value_source": "token"},
                {"target": "header", "key": "X-Acct", "value_source": "additional_credentials.account_id"}
            ]
        }));
        let r = build(
            &t,
            "https://h/p",
            &[("X-Custom", "visible")],
            None,
            &RequestBody::None,
        )
        .unwrap();
        let dbg = format!("{r:?} {r:#?}");
        assert!(
            !dbg.contains("tok123") && !dbg.contains("ACSECRET"),
            "{dbg}"
        );
        assert!(dbg.contains("visible"));

        let r = build(
            &aws(json!({"service": "s"})),
            "https://api.example.com/",
            &[],
            None,
            &RequestBody::None,
        )
        .unwrap();
        let dbg = format!("{r:?}");
        for s in ["AKIAEXAMPLE", "wJalrSECRET", "IQoSESSION"] {
            assert!(!dbg.contains(s), "{dbg}");
        }
    }
}
