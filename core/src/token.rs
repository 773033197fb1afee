//! The `POST /sdk/token` success contract (requests.md §4 and §11).
//!
//! A token response is checked field by field before the credential is used
//! for anything: one bad field refuses the whole response with a
//! `BackendError` whose message names the field and never the value. The
//! parsed [`TokenResponse`] keeps the credential private and its `Debug`
//! output redacts every secret.

use crate::error::{Details, Error, Result};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Message for an envelope failure and for the strict typed pass.
const MALFORMED: &str = "Backend returned a malformed token response";

/// Header names the backend may never ask the client to inject (§4.2),
/// lower-case; compare case-insensitively.
pub const FORBIDDEN_INJECTION_HEADERS: [&str; 22] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "cookie",
    "set-cookie",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-http-method-override",
    "x-method-override",
    "www-authenticate",
    "strict-transport-security",
    "content-security-policy",
];

/// Whether `name` is in the forbidden injection set, ignoring case.
pub fn is_forbidden_injection_header(name: &str) -> bool {
    FORBIDDEN_INJECTION_HEADERS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
}

/// The `injection_format` prefix that selects AWS SigV4 signing.
pub const SIGV4_FORMAT_PREFIX: &str = "AWS4-HMAC-SHA256";

/// Where an additional injection puts its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectionTarget {
    Header,
    QueryParam,
}

/// Where an additional injection takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// The raw access token (not the formatted header value).
    Token,
    /// One entry of `additional_credentials`, by name.
    AdditionalCredential(String),
}

/// One validated `additional_injections` rule (§4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectionRule {
    pub target: InjectionTarget,
    pub key: String,
    pub value_source: ValueSource,
}

/// One failed backend attempt reported in `retry_info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryErrorInfo {
    pub attempt: u32,
    pub error: String,
    pub error_type: String,
    pub delay_s: f64,
    pub permanent: bool,
}

/// Retries the backend made while refreshing the credential (§11).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryInfo {
    pub total_attempts: u32,
    /// 0 means no attempt succeeded.
    pub successful_attempt: u32,
    pub errors: Vec<RetryErrorInfo>,
}

/// A validated `/sdk/token` success response.
#[derive(Clone)]
pub struct TokenResponse {
    access_token: String,
    pub grant_id: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub expires_at: Option<String>,
    pub scopes: Vec<String>,
    pub provider_id: String,
    pub scope_mismatch: bool,
    pub token_generation: Option<String>,
    pub injection_header: String,
    pub injection_format: String,
    /// In the order the backend sent them. Values are secrets (AWS secret
    /// key, session token, account parts).
    pub additional_credentials: Option<Vec<(String, String)>>,
    pub additional_injections: Option<Vec<InjectionRule>>,
    pub retry_info: Option<RetryInfo>,
}

impl TokenResponse {
    /// The raw credential. Use only to build the provider request.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// `injection_format` with only its first `{token}` replaced by the
    /// access token; later occurrences stay literal.
    pub fn header_value(&self) -> Zeroizing<String> {
        Zeroizing::new(
            self.injection_format
                .replacen("{token}", &self.access_token, 1),
        )
    }

    /// One `additional_credentials` entry by name.
    pub fn additional_credential(&self, name: &str) -> Option<&str> {
        self.additional_credentials
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// SigV4 mode (§6.1): the format starts with `AWS4-HMAC-SHA256` and
    /// `additional_credentials` is present (even empty).
    pub fn uses_sigv4(&self) -> bool {
        self.injection_format.starts_with(SIGV4_FORMAT_PREFIX)
            && self.additional_credentials.is_some()
    }
}

impl Zeroize for TokenResponse {
    /// Wipes the credential and the additional credentials.
    fn zeroize(&mut self) {
        self.access_token.zeroize();
        for (_, v) in self.additional_credentials.iter_mut().flatten() {
            v.zeroize();
        }
    }
}

impl Drop for TokenResponse {
    /// Each clone wipes its own copy when dropped.
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted<'a>(&'a [(String, String)]);
        impl fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, _)| (k, "<redacted>")))
                    .finish()
            }
        }
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("grant_id", &self.grant_id)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("provider_id", &self.provider_id)
            .field("scope_mismatch", &self.scope_mismatch)
            .field("token_generation", &self.token_generation)
            .field("injection_header", &self.injection_header)
            .field("injection_format", &self.injection_format)
            .field(
                "additional_credentials",
                &self.additional_credentials.as_deref().map(Redacted),
            )
            .field("additional_injections", &self.additional_injections)
            .field("retry_info", &self.retry_info)
            .finish()
    }
}

fn fail(msg: &str) -> Error {
    Error::backend(msg, Details::new(), None)
}

/// Python `str.isspace()`: Unicode white space plus the four separators
/// U+001C..U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn has_surrounding_space(s: &str) -> bool {
    s.starts_with(py_space) || s.ends_with(py_space)
}

fn has_cr_lf_nul(s: &str) -> bool {
    s.contains(['\r', '\n', '\0'])
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn is_hex_lower(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Canonical UUID text: 8-4-4-4-12 lower-case hex digits.
pub fn is_canonical_uuid(s: &str) -> bool {
    uuid_shape(s, is_hex_lower)
}

/// Hyphenated 8-4-4-4-12 UUID text in any letter case.
pub fn is_uuid_case_insensitive(s: &str) -> bool {
    uuid_shape(s, |b| b.is_ascii_hexdigit())
}

fn uuid_shape(s: &str, hex: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => hex(c),
        })
}

/// Text a lenient UUID parser would accept: `urn:`/`uuid:` prefixes,
/// braces and hyphens removed, 32 hex digits in any case remain.
fn parses_as_uuid(s: &str) -> bool {
    let s = s.replace("urn:", "").replace("uuid:", "");
    let s = s.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u32::from(a - b'0') * 10 + u32::from(c - b'0'))
        }
        _ => None,
    }
}

/// RFC 3339 with a mandatory offset, a real calendar date and time,
/// upper-case `T` and `Z`, 1–9 fraction digits.
pub fn is_valid_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || !b[..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let year: u32 = s[..4].parse().unwrap_or(0);
    let (Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        two_digits(&b[5..7]),
        two_digits(&b[8..10]),
        two_digits(&b[11..13]),
        two_digits(&b[14..16]),
        two_digits(&b[17..19]),
    ) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(month as u8) else {
        return false;
    };
    let month_days = u32::from(month.length(year as i32));
    if year == 0 || day == 0 || day > month_days || hour > 23 || min > 59 || sec > 59 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            matches!(two_digits(&[*h1, *h2]), Some(h) if h <= 23)
                && matches!(two_digits(&[*m1, *m2]), Some(m) if m <= 59)
        }
        _ => false,
    }
}

fn is_header_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_rule_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_credential_field(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A present, non-null field, or `default` when absent; `null` is a
/// violation (`Err(())`).
fn non_null<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> std::result::Result<Option<&'a Value>, ()> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Err(()),
        Some(v) => Ok(Some(v)),
    }
}

/// A field where absent and `null` both mean "none".
fn nullable<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn check_access_token(v: &Value) -> Result<String> {
    match v {
        Value::String(s) if !s.is_empty() && !has_cr_lf_nul(s) => Ok(s.clone()),
        _ => Err(fail("Backend returned an invalid access_token")),
    }
}

fn check_token_type(obj: &Map<String, Value>) -> Result<String> {
    let err = || fail("Backend returned an invalid token_type");
    match non_null(obj, "token_type").map_err(|_| err())? {
        None => Ok("Bearer".to_string()),
        Some(Value::String(s))
            if !s.is_empty()
                && !has_surrounding_space(s)
                && char_len(s) <= 255
                && !s.chars().any(|c| c < ' ' || c == '\u{7f}') =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(err()),
    }
}

fn check_expires_in(obj: &Map<String, Value>) -> Result<Option<u64>> {
    match nullable(obj, "expires_in") {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(_) => Err(fail("Backend returned an invalid expires_in")),
    }
}

fn check_expires_at(obj: &Map<String, Value>) -> Result<Option<String>> {
    match nullable(obj, "expires_at") {
        None => Ok(None),
        Some(Value::String(s)) if is_valid_rfc3339(s) => Ok(Some(s.clone())),
        Some(_) => Err(fail("Backend returned an invalid expires_at")),
    }
}

fn check_scopes(obj: &Map<String, Value>) -> Result<Vec<String>> {
    let err = || fail("Backend returned invalid scopes");
    match non_null(obj, "scopes").map_err(|_| err())? {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s)
                    if !s.is_empty() && !has_surrounding_space(s) && !has_control(s) =>
                {
                    Ok(s.clone())
                }
                _ => Err(err()),
            })
            .collect(),
        Some(_) => Err(err()),
    }
}

fn check_grant_id(v: &Value) -> Result<String> {
    match v {
        Value::String(s) if is_canonical_uuid(s) => Ok(s.clone()),
        Value::String(s) if parses_as_uuid(s) => {
            Err(fail("Backend returned a non-canonical grant_id"))
        }
        _ => Err(fail("Backend returned an invalid grant_id")),
    }
}

fn check_provider_id(obj: &Map<String, Value>) -> Result<String> {
    let err = || fail("Backend returned an invalid provider_id");
    match non_null(obj, "provider_id").map_err(|_| err())? {
        None => Ok(String::new()),
        Some(Value::String(s))
            if !has_surrounding_space(s) && char_len(s) <= 255 && !has_control(s) =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(err()),
    }
}

fn check_scope_mismatch(obj: &Map<String, Value>) -> Result<bool> {
    match obj.get("scope_mismatch") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(fail("Backend returned invalid scope_mismatch")),
    }
}

fn check_injection_header(obj: &Map<String, Value>) -> Result<String> {
    let err = || fail("Backend returned an invalid injection_header");
    match non_null(obj, "injection_header").map_err(|_| err())? {
        None => Ok("Authorization".to_string()),
        Some(Value::String(s))
            if s.len() <= 60 && is_header_token(s) && !is_forbidden_injection_header(s) =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(err()),
    }
}

fn check_injection_format(obj: &Map<String, Value>) -> Result<String> {
    let err = || fail("Backend returned an invalid injection_format");
    match non_null(obj, "injection_format").map_err(|_| err())? {
        None => Ok("Bearer {token}".to_string()),
        Some(Value::String(s))
            if char_len(s) <= 200
                && !has_cr_lf_nul(s)
                && (s.contains("{token}") || s.starts_with(SIGV4_FORMAT_PREFIX)) =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(err()),
    }
}

fn check_additional_credentials(obj: &Map<String, Value>) -> Result<Option<Vec<(String, String)>>> {
    let err = || fail("Backend returned invalid additional_credentials");
    let Some(v) = nullable(obj, "additional_credentials") else {
        return Ok(None);
    };
    let Value::Object(map) = v else {
        return Err(err());
    };
    if map.len() > 10 {
        return Err(err());
    }
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s)
                if char_len(k) <= 50
                    && !s.trim_matches(py_space).is_empty()
                    && char_len(s) <= 8192
                    && !has_cr_lf_nul(s) =>
            {
                Ok((k.clone(), s.clone()))
            }
            _ => Err(err()),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Step 3 check of the injection rules; unexpected keys are left for the
/// strict pass.
fn check_additional_injections(obj: &Map<String, Value>) -> Result<Option<Vec<InjectionRule>>> {
    let err = || fail("Backend returned invalid additional_injections");
    let Some(v) = nullable(obj, "additional_injections") else {
        return Ok(None);
    };
    let Value::Array(items) = v else {
        return Err(err());
    };
    if items.len() > 10 {
        return Err(err());
    }
    let mut rules = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(rule) = item else {
            return Err(err());
        };
        let (Some(Value::String(target)), Some(Value::String(key)), Some(Value::String(source))) = (
            rule.get("target"),
            rule.get("key"),
            rule.get("value_source"),
        ) else {
            return Err(err());
        };
        let target = match target.as_str() {
            "header" => InjectionTarget::Header,
            "query_param" => InjectionTarget::QueryParam,
            _ => return Err(err()),
        };
        if key.len() > 100 || !is_rule_key(key) {
            return Err(err());
        }
        if target == InjectionTarget::Header && is_forbidden_injection_header(key) {
            return Err(err());
        }
        if char_len(source) > 100 {
            return Err(err());
        }
        let value_source = if source == "token" {
            ValueSource::Token
        } else {
            match source.strip_prefix("additional_credentials.") {
                Some(field) if is_credential_field(field) => {
                    ValueSource::AdditionalCredential(field.to_string())
                }
                _ => return Err(err()),
            }
        };
        rules.push(InjectionRule {
            target,
            key: key.clone(),
            value_source,
        });
    }
    Ok(Some(rules))
}

/// Step 4: the strict typed pass over what the field checks did not cover.
fn strict_pass(obj: &Map<String, Value>) -> Result<Option<String>> {
    if let Some(Value::Array(items)) = nullable(obj, "additional_injections") {
        for item in items {
            if let Value::Object(rule) = item {
                if rule
                    .keys()
                    .any(|k| !matches!(k.as_str(), "target" | "key" | "value_source"))
                {
                    return Err(fail(MALFORMED));
                }
            }
        }
    }
    match nullable(obj, "token_generation") {
        None => Ok(None),
        Some(Value::String(s)) if is_canonical_uuid(s) => Ok(Some(s.clone())),
        Some(_) => Err(fail(MALFORMED)),
    }
}

fn strict_u32(v: Option<&Value>) -> Option<u32> {
    match v {
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => {
            n.as_u64().and_then(|x| u32::try_from(x).ok())
        }
        _ => None,
    }
}

fn parse_retry_error(v: &Value) -> Option<RetryErrorInfo> {
    let Value::Object(o) = v else {
        return None;
    };
    let attempt = strict_u32(o.get("attempt")).filter(|&a| a >= 1)?;
    let error = match o.get("error") {
        Some(Value::String(s)) if char_len(s) <= 500 => s.clone(),
        _ => return None,
    };
    let error_type = match o.get("error_type") {
        Some(Value::String(s)) => s.clone(),
        _ => return None,
    };
    let delay_s = match o.get("delay_s") {
        Some(Value::Number(n)) => n.as_f64().filter(|d| *d >= 0.0)?,
        _ => return None,
    };
    let permanent = match o.get("permanent") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return None,
    };
    Some(RetryErrorInfo {
        attempt,
        error,
        error_type,
        delay_s,
        permanent,
    })
}

/// Best-effort `retry_info` parse (§11): any deviation gives `None`.
pub fn parse_retry_info(v: Option<&Value>) -> Option<RetryInfo> {
    let Some(Value::Object(o)) = v else {
        return None;
    };
    if o.is_empty() {
        return None;
    }
    let total_attempts = strict_u32(o.get("total_attempts")).filter(|&t| t >= 1)?;
    let successful_attempt =
        strict_u32(o.get("successful_attempt")).filter(|&s| s <= total_attempts)?;
    let errors = match o.get("errors") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(parse_retry_error)
            .collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    Some(RetryInfo {
        total_attempts,
        successful_attempt,
        errors,
    })
}

/// Parses and validates a `/sdk/token` 2xx body (§4.1). `grant_id_arg` is
/// the caller's `grant_id` (None in provider mode), echoed in the details of
/// a non-object body.
pub fn parse_token_response(body: &[u8], grant_id_arg: Option<&str>) -> Result<TokenResponse> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err(fail(MALFORMED));
    };
    let Value::Object(obj) = value else {
        let mut details = Details::new();
        details.insert(
            "grant_id".into(),
            Value::String(grant_id_arg.unwrap_or("None").to_string()),
        );
        return Err(Error::backend(MALFORMED, details, None));
    };

    // 1. Required fields.
    let missing: Vec<Value> = ["access_token", "grant_id"]
        .into_iter()
        .filter(|k| !obj.contains_key(*k))
        .map(|k| Value::String(k.to_string()))
        .collect();
    if !missing.is_empty() {
        let mut details = Details::new();
        details.insert("missing_fields".into(), Value::Array(missing));
        return Err(Error::backend(MALFORMED, details, None));
    }

    // 2. Identity and lifetime fields.
    let access_token = check_access_token(&obj["access_token"])?;
    let token_type = check_token_type(&obj)?;
    let expires_in = check_expires_in(&obj)?;
    let expires_at = check_expires_at(&obj)?;
    let scopes = check_scopes(&obj)?;
    let grant_id = check_grant_id(&obj["grant_id"])?;
    let provider_id = check_provider_id(&obj)?;
    let scope_mismatch = check_scope_mismatch(&obj)?;

    // 3. Injection metadata.
    let injection_header = check_injection_header(&obj)?;
    let injection_format = check_injection_format(&obj)?;
    let additional_credentials = check_additional_credentials(&obj)?;
    let additional_injections = check_additional_injections(&obj)?;

    // 4. Strict typed pass.
    let token_generation = strict_pass(&obj)?;

    // 5. Best effort.
    let retry_info = parse_retry_info(obj.get("retry_info"));

    Ok(TokenResponse {
        access_token,
        grant_id,
        token_type,
        expires_in,
        expires_at,
        scopes,
        provider_id,
        scope_mismatch,
        token_generation,
        injection_header,
        injection_format,
        additional_credentials,
        additional_injections,
        retry_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroize_wipes_every_secret_value() {
        let mut t = parse_token_response(
            br#"{"access_token":"tok-WIPE","grant_id":"0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60","additional_credentials":{"k":"cred-WIPE"}}"#,
            None,
        )
        .unwrap();
        assert_eq!(t.access_token(), "tok-WIPE");
        // Drop runs exactly this.
        t.zeroize();
        assert_eq!(t.access_token(), "");
        assert_eq!(t.additional_credential("k"), Some(""));
        assert_eq!(t.grant_id, "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60");
    }
    use serde_json::json;

    const GID: &str = "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60";
    const SECRET: &str = "ya29.SECRET-token-value";

    fn base() -> Map<String, Value> {
        let Value::Object(m) = json!({"access_token": SECRET, "grant_id": GID}) else {
            unreachable!()
        };
        m
    }

    fn parse_obj(m: &Map<String, Value>) -> Result<TokenResponse> {
        parse_token_response(&serde_json::to_vec(m).unwrap(), Some(GID))
    }

    fn with(key: &str, v: Value) -> Result<TokenResponse> {
        let mut m = base();
        m.insert(key.to_string(), v);
        parse_obj(&m)
    }

    fn err_msg(r: Result<TokenResponse>) -> String {
        let e = r.expect_err("should be rejected");
        assert_eq!(e.kind(), "BackendError");
        e.message().to_string()
    }

    fn rejects(key: &str, v: Value, msg: &str) {
        assert_eq!(err_msg(with(key, v.clone())), msg, "{key} = {v}");
    }

    fn accepts(key: &str, v: Value) -> TokenResponse {
        with(key, v.clone()).unwrap_or_else(|e| panic!("{key} = {v}: {}", e.message()))
    }

    /// A hostile `expires_in` is a typed refusal, never a cast or an
    /// overflow.
    #[test]
    fn extreme_expires_in_is_refused() {
        let m = "Backend returned an invalid expires_in";
        for v in [
            json!(1e308),
            json!(-9_223_372_036_854_775_808i64),
            json!(-1),
            json!(1.5),
        ] {
            rejects("expires_in", v, m);
        }
        assert_eq!(
            accepts("expires_in", json!(u64::MAX)).expires_in,
            Some(u64::MAX)
        );
    }

    #[test]
    fn full_oauth_example_parses() {
        let body = br#"{"access_token":"ya29.a0Af","token_type":"Bearer","expires_in":3599,"expires_at":"2026-05-01T12:00:00Z","scopes":["https://www.googleapis.com/auth/calendar.readonly"],"grant_id":"0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60","provider_id":"google","token_generation":"7d1c2a4e-0f3b-4c5d-8e6f-a1b2c3d4e5f6","scope_mismatch":false,"injection_header":"Authorization","injection_format":"Bearer {token}","token_expires_at":"ignored"}"#;
        let t = parse_token_response(body, None).unwrap();
        assert_eq!(t.access_token(), "ya29.a0Af");
        assert_eq!(t.grant_id, GID);
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, Some(3599));
        assert_eq!(t.expires_at.as_deref(), Some("2026-05-01T12:00:00Z"));
        assert_eq!(
            t.scopes,
            ["https://www.googleapis.com/auth/calendar.readonly"]
        );
        assert_eq!(t.provider_id, "google");
        assert_eq!(
            t.token_generation.as_deref(),
            Some("7d1c2a4e-0f3b-4c5d-8e6f-a1b2c3d4e5f6")
        );
        assert!(!t.scope_mismatch);
        assert_eq!(t.header_value().as_str(), "Bearer ya29.a0Af");
        assert!(t.retry_info.is_none());
        assert!(!t.uses_sigv4());
    }

    #[test]
    fn defaults_when_optional_fields_are_absent() {
        let t = parse_obj(&base()).unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, None);
        assert_eq!(t.expires_at, None);
        assert!(t.scopes.is_empty());
        assert_eq!(t.provider_id, "");
        assert!(!t.scope_mismatch);
        assert_eq!(t.token_generation, None);
        assert_eq!(t.injection_header, "Authorization");
        assert_eq!(t.injection_format, "Bearer {token}");
        assert_eq!(t.additional_credentials, None);
        assert_eq!(t.additional_injections, None);
    }

    #[test]
    fn managed_secret_example_parses() {
        let body = json!({"access_token":"sk-live-1","grant_id":GID,"provider_id":"acme-prod","injection_header":"x-api-key","injection_format":"{token}","additional_credentials":{"account_id":"AC123","z":"last"},"additional_injections":[{"target":"header","key":"X-Account-Id","value_source":"additional_credentials.account_id"},{"target":"query_param","key":"api_key","value_source":"token"}]});
        let t = parse_token_response(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(t.header_value().as_str(), "sk-live-1");
        assert_eq!(
            t.additional_credentials.as_deref(),
            Some(
                &[
                    ("account_id".into(), "AC123".into()),
                    ("z".into(), "last".into())
                ][..]
            )
        );
        assert_eq!(t.additional_credential("account_id"), Some("AC123"));
        assert_eq!(
            t.additional_injections.clone().unwrap(),
            vec![
                InjectionRule {
                    target: InjectionTarget::Header,
                    key: "X-Account-Id".into(),
                    value_source: ValueSource::AdditionalCredential("account_id".into()),
                },
                InjectionRule {
                    target: InjectionTarget::QueryParam,
                    key: "api_key".into(),
                    value_source: ValueSource::Token,
                },
            ]
        );
    }

    #[test]
    fn envelope_failures() {
        let e = parse_token_response(b"not json", Some(GID)).unwrap_err();
        assert_eq!(e.message(), MALFORMED);
        assert!(e.details().is_empty());

        let e = parse_token_response(b"[1]", Some("g-1")).unwrap_err();
        assert_eq!(e.message(), MALFORMED);
        assert_eq!(e.details().get("grant_id"), Some(&json!("g-1")));
        let e = parse_token_response(b"\"x\"", None).unwrap_err();
        assert_eq!(e.details().get("grant_id"), Some(&json!("None")));

        let e = parse_token_response(b"{}", None).unwrap_err();
        assert_eq!(e.message(), MALFORMED);
        assert_eq!(
            e.details().get("missing_fields"),
            Some(&json!(["access_token", "grant_id"]))
        );
        let e = parse_token_response(br#"{"grant_id":"x","token_type":7}"#, None).unwrap_err();
        assert_eq!(
            e.details().get("missing_fields"),
            Some(&json!(["access_token"]))
        );
        let e = parse_token_response(br#"{"access_token":""}"#, None).unwrap_err();
        assert_eq!(
            e.details().get("missing_fields"),
            Some(&json!(["grant_id"]))
        );
    }

    #[test]
    fn access_token_rules() {
        let m = "Backend returned an invalid access_token";
        for v in [
            json!(""),
            json!("a\rb"),
            json!("a\nb"),
            json!("a\u{0}b"),
            json!(null),
            json!(5),
        ] {
            rejects("access_token", v, m);
        }
        assert_eq!(
            accepts("access_token", json!("a\tb")).access_token(),
            "a\tb"
        );
    }

    #[test]
    fn grant_id_invalid_vs_non_canonical() {
        let nc = "Backend returned a non-canonical grant_id";
        let inv = "Backend returned an invalid grant_id";
        for v in [
            "0B7E3F1A-5C2D-4E8F-9A10-1B2C3D4E5F60",
            "{0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60}",
            "0b7e3f1a5c2d4e8f9a101b2c3d4e5f60",
            "urn:uuid:0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60",
        ] {
            rejects("grant_id", json!(v), nc);
        }
        for v in [
            json!("nope"),
            json!(""),
            json!("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f6"),
            json!(null),
            json!(1),
        ] {
            rejects("grant_id", v, inv);
        }
    }

    #[test]
    fn token_type_rules() {
        let m = "Backend returned an invalid token_type";
        for v in [
            json!(""),
            json!(" Bearer"),
            json!("Bearer "),
            json!("a\u{1}"),
            json!("a\u{7f}"),
            json!(null),
            json!(1),
            json!("x".repeat(256)),
        ] {
            rejects("token_type", v, m);
        }
        assert_eq!(
            accepts("token_type", json!("x".repeat(255)))
                .token_type
                .len(),
            255
        );
        assert_eq!(accepts("token_type", json!("mac")).token_type, "mac");
    }

    #[test]
    fn expires_in_rules() {
        let m = "Backend returned an invalid expires_in";
        for v in [json!(1.0), json!(true), json!(-1), json!("5")] {
            rejects("expires_in", v, m);
        }
        assert_eq!(accepts("expires_in", json!(0)).expires_in, Some(0));
        assert_eq!(accepts("expires_in", json!(null)).expires_in, None);
    }

    #[test]
    fn expires_at_rules() {
        let m = "Backend returned an invalid expires_at";
        for v in [
            "2026-05-01T12:00:00",
            "2026-05-01t12:00:00Z",
            "2026-05-01T12:00:00z",
            "2026-05-01 12:00:00Z",
            "2026-02-29T12:00:00Z",
            "2026-04-31T12:00:00Z",
            "2026-13-01T12:00:00Z",
            "2026-05-01T24:00:00Z",
            "2026-05-01T12:60:00Z",
            "2026-05-01T12:00:60Z",
            "2026-05-01T12:00:00.Z",
            "2026-05-01T12:00:00.1234567890Z",
            "2026-05-01T12:00:00+01:60",
            "2026-05-01T12:00:00+0100",
            "0000-01-01T00:00:00Z",
            "2026-05-01T12:00:00Z ",
        ] {
            rejects("expires_at", json!(v), m);
        }
        rejects("expires_at", json!(5), m);
        for v in [
            "2024-02-29T23:59:59Z",
            "2026-05-01T12:00:00.5Z",
            "2026-05-01T12:00:00.123456789-05:30",
            "2026-05-01T12:00:00+00:00",
        ] {
            assert_eq!(
                accepts("expires_at", json!(v)).expires_at.as_deref(),
                Some(v)
            );
        }
        assert_eq!(accepts("expires_at", json!(null)).expires_at, None);
    }

    #[test]
    fn scopes_rules() {
        let m = "Backend returned invalid scopes";
        for v in [
            json!(null),
            json!("a"),
            json!([""]),
            json!([" a"]),
            json!(["a\n"]),
            json!(["a\u{1}b"]),
            json!([1]),
        ] {
            rejects("scopes", v, m);
        }
        assert_eq!(accepts("scopes", json!(["a", "b c"])).scopes, ["a", "b c"]);
    }

    #[test]
    fn provider_id_rules() {
        let m = "Backend returned an invalid provider_id";
        for v in [
            json!(null),
            json!(" g"),
            json!("g "),
            json!("g\u{1}"),
            json!("x".repeat(256)),
            json!(3),
        ] {
            rejects("provider_id", v, m);
        }
        assert_eq!(accepts("provider_id", json!("")).provider_id, "");
    }

    #[test]
    fn scope_mismatch_rules() {
        let m = "Backend returned invalid scope_mismatch";
        for v in [json!(null), json!("true"), json!(1)] {
            rejects("scope_mismatch", v, m);
        }
        assert!(accepts("scope_mismatch", json!(true)).scope_mismatch);
    }

    #[test]
    fn injection_header_rules() {
        let m = "Backend returned an invalid injection_header";
        for v in [
            json!(null),
            json!(""),
            json!("X_Api_Key"),
            json!("1abc"),
            json!("a b"),
            json!(format!("X{}", "a".repeat(60))),
            json!(7),
        ] {
            rejects("injection_header", v, m);
        }
        for name in FORBIDDEN_INJECTION_HEADERS {
            rejects("injection_header", json!(name), m);
            rejects("injection_header", json!(name.to_ascii_uppercase()), m);
        }
        assert_eq!(
            accepts("injection_header", json!("x-api-key")).injection_header,
            "x-api-key"
        );
        accepts("injection_header", json!("authorization"));
        accepts("injection_header", json!(format!("X{}", "a".repeat(59))));
    }

    #[test]
    fn injection_format_rules() {
        let m = "Backend returned an invalid injection_format";
        for v in [
            json!(null),
            json!("Bearer"),
            json!("Bearer {token}\r\n"),
            json!(format!("{{token}}{}", "a".repeat(194))),
            json!(1),
        ] {
            rejects("injection_format", v, m);
        }
        accepts(
            "injection_format",
            json!(format!("{{token}}{}", "a".repeat(193))),
        );
        assert_eq!(
            accepts("injection_format", json!("AWS4-HMAC-SHA256"))
                .header_value()
                .as_str(),
            "AWS4-HMAC-SHA256"
        );
    }

    #[test]
    fn header_value_replaces_only_the_first_placeholder() {
        let t = accepts("injection_format", json!("Token {token} {token}"));
        assert_eq!(*t.header_value(), format!("Token {SECRET} {{token}}"));
    }

    #[test]
    fn additional_credentials_rules() {
        let m = "Backend returned invalid additional_credentials";
        let eleven: Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
        for v in [
            json!("x"),
            json!([]),
            Value::Object(eleven),
            json!({"k": ""}),
            json!({"k": "  "}),
            json!({"k": "a\nb"}),
            json!({"k": 1}),
            json!({"k": null}),
            json!({"k": "x".repeat(8193)}),
            json!({"x".repeat(51): "v"}),
        ] {
            rejects("additional_credentials", v, m);
        }
        let ten: Map<String, Value> = (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(
            accepts("additional_credentials", Value::Object(ten))
                .additional_credentials
                .clone()
                .unwrap()
                .len(),
            10
        );
        assert_eq!(
            accepts(
                "additional_credentials",
                json!({"": "v", "k": "x".repeat(8192)})
            )
            .additional_credential(""),
            Some("v")
        );
        assert_eq!(
            accepts("additional_credentials", json!(null)).additional_credentials,
            None
        );
        assert_eq!(
            accepts("additional_credentials", json!({})).additional_credentials,
            Some(vec![])
        );
    }

    #[test]
    fn additional_injections_rules() {
        let m = "Backend returned invalid additional_injections";
        let rule = |t: &str, k: &str, s: &str| json!({"target": t, "key": k, "value_source": s});
        let eleven: Vec<Value> = (0..11).map(|_| rule("header", "X-A", "token")).collect();
        for v in [
            json!({}),
            json!([1]),
            Value::Array(eleven),
            json!([rule("body", "X-A", "token")]),
            json!([rule("header", "", "token")]),
            json!([rule("header", "1a", "token")]),
            json!([rule("header", "a b", "token")]),
            json!([rule("header", &"a".repeat(101), "token")]),
            json!([rule("header", "Cookie", "token")]),
            json!([rule("header", "X-A", "secret")]),
            json!([rule("header", "X-A", "additional_credentials.Bad")]),
            json!([rule("header", "X-A", "additional_credentials.")]),
            json!([{"target": "header", "key": "X-A"}]),
            json!([{"target": "header", "key": "X-A", "value_source": 1}]),
            // An invalid rule with an extra key fails in step 3 first.
            json!([{"target": "x", "key": "X-A", "value_source": "token", "extra": 1}]),
        ] {
            rejects("additional_injections", v, m);
        }
        // Forbidden header names are fine as query parameter keys.
        let t = accepts(
            "additional_injections",
            json!([rule("query_param", "cookie", "token")]),
        );
        assert_eq!(
            t.additional_injections.as_ref().unwrap()[0].target,
            InjectionTarget::QueryParam
        );
        accepts(
            "additional_injections",
            json!([rule(
                "header",
                &"a".repeat(100),
                "additional_credentials.a_1"
            )]),
        );
        // An unexpected key in an otherwise valid rule: the strict pass.
        rejects(
            "additional_injections",
            json!([{"target": "header", "key": "X-A", "value_source": "token", "extra": 1}]),
            MALFORMED,
        );
    }

    #[test]
    fn token_generation_is_checked_in_the_strict_pass() {
        rejects(
            "token_generation",
            json!("7D1C2A4E-0F3B-4C5D-8E6F-A1B2C3D4E5F6"),
            MALFORMED,
        );
        rejects("token_generation", json!("gen-1"), MALFORMED);
        rejects("token_generation", json!(1), MALFORMED);
        assert_eq!(
            accepts("token_generation", json!(null)).token_generation,
            None
        );
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let mut m = base();
        m.insert("access_token".into(), json!(""));
        m.insert("grant_id".into(), json!("bad"));
        assert_eq!(
            err_msg(parse_obj(&m)),
            "Backend returned an invalid access_token"
        );

        let mut m = base();
        m.insert("scopes".into(), json!(null));
        m.insert("grant_id".into(), json!("bad"));
        assert_eq!(err_msg(parse_obj(&m)), "Backend returned invalid scopes");

        let mut m = base();
        m.insert("grant_id".into(), json!("bad"));
        m.insert("provider_id".into(), json!(null));
        assert_eq!(
            err_msg(parse_obj(&m)),
            "Backend returned an invalid grant_id"
        );

        let mut m = base();
        m.insert("scope_mismatch".into(), json!("x"));
        m.insert("injection_header".into(), json!("Host"));
        assert_eq!(
            err_msg(parse_obj(&m)),
            "Backend returned invalid scope_mismatch"
        );

        let mut m = base();
        m.insert("injection_format".into(), json!("nope"));
        m.insert("token_generation".into(), json!("bad"));
        assert_eq!(
            err_msg(parse_obj(&m)),
            "Backend returned an invalid injection_format"
        );

        let mut m = base();
        m.insert("token_generation".into(), json!("bad"));
        m.insert("retry_info".into(), json!("garbage"));
        assert_eq!(err_msg(parse_obj(&m)), MALFORMED);
    }

    #[test]
    fn errors_never_contain_the_token() {
        let mut m = base();
        m.insert("access_token".into(), json!(format!("{SECRET}\n")));
        let e = parse_obj(&m).unwrap_err();
        assert!(!format!("{e:?} {}", e.message()).contains(SECRET));
    }

    #[test]
    fn retry_info_is_best_effort() {
        let ok = json!({"total_attempts": 3, "successful_attempt": 3, "errors": [
            {"attempt": 1, "error": "boom", "error_type": "transient_refresh", "delay_s": 1, "permanent": false, "extra": 1},
            {"attempt": 2, "error": "boom", "error_type": "transient_refresh", "delay_s": 2.5}
        ]});
        let t = accepts("retry_info", ok);
        let ri = t.retry_info.clone().unwrap();
        assert_eq!(ri.total_attempts, 3);
        assert_eq!(ri.successful_attempt, 3);
        assert_eq!(ri.errors.len(), 2);
        assert_eq!(ri.errors[0].delay_s, 1.0);
        assert!(!ri.errors[1].permanent);
        assert_eq!(
            serde_json::to_value(&ri.errors[1]).unwrap(),
            json!({"attempt": 2, "error": "boom", "error_type": "transient_refresh", "delay_s": 2.5, "permanent": false})
        );

        let no_errors = accepts(
            "retry_info",
            json!({"total_attempts": 1, "successful_attempt": 0}),
        );
        assert_eq!(no_errors.retry_info.clone().unwrap().errors, vec![]);

        let e = |over: Value| {
            let mut base = json!({"attempt": 1, "error": "e", "error_type": "t", "delay_s": 0});
            for (k, v) in over.as_object().unwrap() {
                base[k] = v.clone();
            }
            json!({"total_attempts": 2, "successful_attempt": 1, "errors": [base]})
        };
        for bad in [
            json!(null),
            json!("x"),
            json!({}),
            json!({"successful_attempt": 0}),
            json!({"total_attempts": 0, "successful_attempt": 0}),
            json!({"total_attempts": 2.0, "successful_attempt": 0}),
            json!({"total_attempts": true, "successful_attempt": 0}),
            json!({"total_attempts": 2}),
            json!({"total_attempts": 2, "successful_attempt": -1}),
            json!({"total_attempts": 2, "successful_attempt": 3}),
            json!({"total_attempts": 2, "successful_attempt": 1, "errors": null}),
            json!({"total_attempts": 2, "successful_attempt": 1, "errors": [1]}),
            e(json!({"attempt": 0})),
            e(json!({"attempt": 1.0})),
            e(json!({"error": "x".repeat(501)})),
            e(json!({"error": 1})),
            e(json!({"error_type": null})),
            e(json!({"delay_s": -0.5})),
            e(json!({"delay_s": "1"})),
            e(json!({"permanent": "yes"})),
        ] {
            assert_eq!(accepts("retry_info", bad.clone()).retry_info, None, "{bad}");
        }
        assert!(accepts(
            "retry_info",
            e(json!({"error": "x".repeat(500), "permanent": true}))
        )
        .retry_info
        .is_some());
    }

    #[test]
    fn uuid_helpers() {
        assert!(is_canonical_uuid(GID));
        assert!(!is_canonical_uuid(&GID.to_uppercase()));
        assert!(is_uuid_case_insensitive(&GID.to_uppercase()));
        assert!(!is_uuid_case_insensitive(
            "0b7e3f1a5c2d4e8f9a101b2c3d4e5f60"
        ));
        assert!(!is_canonical_uuid("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f6g"));
    }

    #[test]
    fn debug_redacts_every_secret() {
        let body = json!({"access_token": SECRET, "grant_id": GID, "injection_format": "AWS4-HMAC-SHA256",
            "additional_credentials": {"secret_key": "wJalrSECRETKEY", "session_token": "IQoSESSION", "region": "us-west-2"}});
        let t = parse_token_response(body.to_string().as_bytes(), None).unwrap();
        assert!(t.uses_sigv4());
        let dbg = format!("{t:?} {t:#?}");
        for s in [SECRET, "wJalrSECRETKEY", "IQoSESSION", "us-west-2"] {
            assert!(!dbg.contains(s), "{s} leaked: {dbg}");
        }
        assert!(dbg.contains("secret_key") && dbg.contains(GID) && dbg.contains("<redacted>"));
    }
}
