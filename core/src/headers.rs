//! Rules for the headers a caller hands to `request()` or `proxy_request()`,
//! checked before anything is sent, and the one list of header names whose
//! values are credentials (never logged, never written to an audit row).
//!
//! Divergence from the reference, which checks nothing in retrieve mode
//! (requests.md §2.2): a header the HTTP layer would refuse, or one that
//! changes how the message is framed or routed, is an `AlterValueError`
//! naming the header before the token is fetched, in both modes. Otherwise
//! a CR/LF value fails only when the provider call is sent, after the
//! credential was issued and with a misleading network error.

use crate::error::{Error, Result};

/// Headers that decide message framing, the connection or the target host.
/// The HTTP client sets them itself; a caller value could smuggle a second
/// request or send the credential to another host. Refused in both modes.
///
/// `Host` is on this list, so the AWS SigV4 signer always signs the URL's
/// host (requests.md §6.2 step 6 lets a caller `Host` header win; here the
/// header cannot be given, so the signed host is the host connected to).
pub const FRAMING_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// Header names whose values are credentials, compared case-insensitively:
/// every name proxy mode reserves ([`crate::proxy::RESERVED_HEADERS`]) plus
/// these common API-key headers. Both lists together are the one redaction
/// rule ([`is_sensitive_header`]) for request and response headers in audit
/// rows and anything else the SDK logs.
pub const API_KEY_HEADERS: [&str; 21] = [
    "api-key",
    "apikey",
    "x-api-token",
    "x-apikey",
    "x-goog-api-key",
    "private-token",
    "job-token",
    "x-access-token",
    "x-auth-key",
    "x-csrf-token",
    "x-xsrf-token",
    "x-figma-token",
    "x-vault-token",
    "x-consul-token",
    "x-rapidapi-key",
    "x-dd-api-key",
    "dd-api-key",
    "x-dd-application-key",
    "ocp-apim-subscription-key",
    "x-functions-key",
    "x-client-secret",
];

/// Whether a header's value is a credential (see [`API_KEY_HEADERS`]).
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.trim();
    crate::proxy::RESERVED_HEADERS
        .iter()
        .chain(API_KEY_HEADERS.iter())
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// RFC 9110 `tchar`.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header name: one or more token characters.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_char)
}

/// A header value the HTTP layer sends as is: no control character but
/// horizontal tab (so no CR, LF or NUL), no DEL. Bytes from 0x80 up
/// (`obs-text`) are allowed, as the HTTP client allows them.
pub fn is_valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// Whether `name` is one of the [`FRAMING_HEADERS`].
pub fn is_framing_header(name: &str) -> bool {
    FRAMING_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// Checks every caller header: a valid name, a value HTTP allows, and not
/// a framing header. `ctx` (`request` or `proxy_request`) starts the
/// message. Values are never quoted: they may be credentials.
pub fn check_caller_headers(headers: &[(String, String)], ctx: &str) -> Result<()> {
    for (name, value) in headers {
        let shown = name.escape_debug();
        if !is_valid_name(name) {
            return Err(Error::value(format!(
                "{ctx}: header name '{shown}' is not a valid HTTP header name (RFC 9110 token characters only)"
            )));
        }
        if !is_valid_value(value) {
            return Err(Error::value(format!(
                "{ctx}: header '{shown}' has a value HTTP forbids (CR, LF, NUL or another control character)"
            )));
        }
        if is_framing_header(name) {
            return Err(Error::value(format!(
                "{ctx}: header '{shown}' controls message framing or routing and is set by the HTTP client; it cannot be sent from the SDK"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, value: &str) -> Result<()> {
        check_caller_headers(&[(name.to_string(), value.to_string())], "request")
    }

    #[test]
    fn names_must_be_tokens() {
        for ok in ["X-Custom", "a", "x_y", "!#$%&'*+-.^_`|~09"] {
            check(ok, "v").unwrap();
        }
        for bad in ["", "bad name", "a:b", "é", "x\r\ny", "(x)", "a\"b"] {
            let e = check(bad, "v").unwrap_err();
            assert_eq!(e.kind(), "AlterValueError");
            assert!(e.message().starts_with("request: header name '"), "{bad:?}");
        }
        // The name is shown escaped, never with raw line breaks.
        let e = check("x\r\ny", "v").unwrap_err();
        assert!(e.message().contains("'x\\r\\ny'"), "{}", e.message());
    }

    #[test]
    fn values_must_be_sendable_and_are_never_quoted() {
        for ok in ["", "a b", "tab\there", "ünïcode", "\u{80}"] {
            check("X", ok).unwrap();
        }
        for bad in [
            "SECRET\r\nX-Injected: 1",
            "SECRET\n",
            "SECRET\0",
            "SECRET\x7f",
            "SECRET\x01",
        ] {
            let e = check("X-Key", bad).unwrap_err();
            assert_eq!(e.kind(), "AlterValueError");
            assert!(e.message().contains("'X-Key'"), "{}", e.message());
            assert!(!e.message().contains("SECRET"), "{}", e.message());
        }
    }

    #[test]
    fn framing_headers_are_refused_in_any_case() {
        for name in FRAMING_HEADERS {
            for spelled in [name.to_string(), name.to_ascii_uppercase()] {
                let e = check(&spelled, "1").unwrap_err();
                assert_eq!(e.kind(), "AlterValueError");
                assert!(e.message().contains(&format!("'{spelled}'")));
                assert!(e.message().contains("framing"), "{}", e.message());
            }
        }
        check("X-Host", "h").unwrap();
    }

    #[test]
    fn the_redaction_rule_covers_reserved_and_api_key_headers() {
        for name in crate::proxy::RESERVED_HEADERS {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in [
            "Authorization",
            "Proxy-Authorization",
            "X-Api-Key",
            "Api-Key",
            "X-Goog-Api-Key",
            "PRIVATE-TOKEN",
            "X-Auth-Token",
            "Cookie",
            "Set-Cookie",
            " x-api-key ",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in ["Content-Type", "X-Request-Id", "User-Agent", "Vary"] {
            assert!(!is_sensitive_header(name), "{name}");
        }
    }
}
