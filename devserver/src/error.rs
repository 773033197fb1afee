//! The one error type every route returns, rendered as the FastAPI-style
//! envelope `{"detail": {"error": "<code>", "message": "<text>", ...}}` that
//! the SDK's mappers unwrap (errors.md §4).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Map<String, Value>,
    pub headers: Vec<(&'static str, String)>,
    /// Rendered as `detail` instead of `body` when set (FastAPI's list-shaped
    /// request-validation answer).
    pub raw_detail: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        let mut body = Map::new();
        body.insert("error".into(), Value::from(code));
        body.insert("message".into(), Value::from(message.into()));
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            headers: Vec::new(),
            raw_detail: None,
        }
    }

    /// A 422 exactly as FastAPI renders a request-validation failure:
    /// `{"detail": [{"type", "loc", "msg", "input"}]}`, with no `error` code,
    /// for the cases the spec documents that way (the client maps it to a
    /// plain `BackendError`).
    pub fn fastapi_422(loc: &[&str], kind: &str, msg: &str, input: Value) -> ApiError {
        let mut e = ApiError::new(422, "validation_error", msg);
        e.raw_detail = Some(serde_json::json!([{
            "type": kind,
            "loc": loc,
            "msg": msg,
            "input": input,
        }]));
        e
    }

    /// A request that fails schema checks. The real backend answers these
    /// with FastAPI's list-shaped `detail`; an object with a code carries the
    /// same information and is easier to assert on (inferred).
    /// 422 `blocked_destination` with an `X-Request-ID` header
    /// (requests.md §14.6; the client maps the code to
    /// `BlockedDestinationError` on any route).
    pub fn blocked_destination(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "blocked_destination", message)
            .header("x-request-id", uuid::Uuid::new_v4().to_string())
    }

    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(422, "validation_error", message).with("loc", vec!["body", field])
    }

    /// Adds an extra field to the error object.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.body.insert(key.to_string(), value.into());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }

    pub fn code(&self) -> &str {
        self.body.get("error").and_then(Value::as_str).unwrap_or("")
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(404, code, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal_error", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.raw_detail.unwrap_or(Value::Object(self.body));
        let body = serde_json::json!({ "detail": detail });
        let mut resp = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(HeaderName::from_static(name), v);
            }
        }
        resp
    }
}

/// Parses a JSON request body into an object, or a 422.
pub fn json_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::validation("body", "body must be a JSON object")),
        Err(_) if body.is_empty() => Err(ApiError::validation("body", "a JSON body is required")),
        Err(e) => Err(ApiError::validation(
            "body",
            format!("body is not valid JSON: {e}"),
        )),
    }
}

/// Reads an optional string field: absent or null → None; another type → 422.
pub fn opt_str(map: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::validation(
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// Reads an optional non-empty string field.
pub fn opt_nonempty(map: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match opt_str(map, field)? {
        Some(s) if s.is_empty() => Err(ApiError::validation(
            field,
            format!("{field} must be a non-empty string"),
        )),
        other => Ok(other),
    }
}

/// Reads an optional boolean field.
pub fn opt_bool(map: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::validation(
            field,
            format!("{field} must be a boolean"),
        )),
    }
}

/// Reads an optional non-negative integer field (JSON integers only).
pub fn opt_u64(map: &Map<String, Value>, field: &str) -> ApiResult<Option<u64>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::validation(field, format!("{field} must be a non-negative integer"))
        }),
    }
}
