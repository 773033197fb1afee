//! Client configuration: base URL resolution and validation, caller rules,
//! timeouts. Everything here is checked at construction, before any I/O.

use crate::error::{Error, Result};
use std::time::Duration;

/// Where clients talk to when nothing else is configured.
pub const DEFAULT_BASE_URL: &str = "https://backend.alterauth.com";
/// Environment variable consulted when no base URL is passed.
pub const BASE_URL_ENV: &str = "ALTER_BASE_URL";
/// The public default timeout of `App` and `Agent`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Our product token; servers must not depend on it.
pub const USER_AGENT: &str = concat!("alter-sdk-rust/", env!("CARGO_PKG_VERSION"));

/// The audit grouping of a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerType {
    #[default]
    Service,
    Agent,
}

impl CallerType {
    pub fn as_str(self) -> &'static str {
        match self {
            CallerType::Service => "service",
            CallerType::Agent => "agent",
        }
    }

    /// Exactly `"agent"` or `"service"`, case-sensitive.
    pub fn parse(s: &str) -> Result<CallerType> {
        match s {
            "service" => Ok(CallerType::Service),
            "agent" => Ok(CallerType::Agent),
            _ => Err(Error::value(format!(
                "caller_type must be 'agent' or 'service', got {s:?}"
            ))),
        }
    }
}

/// The longest time, in seconds, that any timeout, wait, poll interval or
/// backoff argument may ask for: 10^9 s, about 31.7 years. No real deadline
/// is that far away, and the bound keeps every computation done with the
/// value exact and panic-free: `Duration` itself tops out near 1.8·10^19 s
/// (larger finite floats make `Duration::from_secs_f64` panic), and
/// `Instant`/`SystemTime` additions and millisecond counts in `i64`/`u64`
/// overflow long before that. Refusing (rather than saturating) tells the
/// caller their number was not what they meant.
pub const MAX_SECONDS: f64 = 1.0e9;

/// A caller's seconds value for a timeout, poll interval or backoff:
/// finite, greater than 0 and at most [`MAX_SECONDS`]; anything else is an
/// `AlterValueError` naming the argument.
pub fn positive_seconds(name: &str, secs: f64) -> Result<Duration> {
    if !(secs.is_finite() && secs > 0.0) {
        return Err(Error::value(format!(
            "{name} must be a finite number greater than 0"
        )));
    }
    bounded_seconds(name, secs)
}

/// A caller's deadline in seconds where zero or a negative value means
/// "already passed" (`await_approval`'s `timeout`): finite and at most
/// [`MAX_SECONDS`]; a value ≤ 0 gives [`Duration::ZERO`].
pub fn deadline_seconds(name: &str, secs: f64) -> Result<Duration> {
    if !secs.is_finite() {
        return Err(Error::value(format!("{name} must be a finite number")));
    }
    bounded_seconds(name, secs.max(0.0))
}

/// `secs` is finite and not negative here.
fn bounded_seconds(name: &str, secs: f64) -> Result<Duration> {
    let too_long = || Error::value(format!("{name} must be at most {MAX_SECONDS} seconds"));
    if secs > MAX_SECONDS {
        return Err(too_long());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| too_long())
}

/// A caller string: 1–255 characters of printable ASCII (0x20–0x7E).
pub fn validate_caller(caller: &str) -> Result<()> {
    if caller.is_empty() {
        return Err(Error::value("caller must be a non-empty string"));
    }
    let len = caller.chars().count();
    if len > 255 {
        return Err(Error::value(format!(
            "caller exceeds max length (255): {len}"
        )));
    }
    if !caller.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(Error::value(
            "caller contains invalid characters (only printable ASCII allowed)",
        ));
    }
    Ok(())
}

/// The per-call override has its own messages (requests.md §2.2 row 16).
pub fn validate_caller_override(caller: &str) -> Result<()> {
    if caller.is_empty() {
        return Err(Error::value("caller override must be a non-empty string"));
    }
    let len = caller.chars().count();
    if len > 255 {
        return Err(Error::value(format!(
            "caller override exceeds max length (255): {len}"
        )));
    }
    if !caller.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(Error::value(
            "caller override contains invalid characters (only printable ASCII allowed)",
        ));
    }
    Ok(())
}

/// True for the hosts plain `http` is allowed to: exactly `localhost`,
/// `127.0.0.1` or `::1` (case-insensitive).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h == "127.0.0.1" || h == "::1"
}

/// Resolves the base URL: the explicit value, else `ALTER_BASE_URL`, else the
/// default. A set-but-empty variable is not "unset": it fails validation.
pub fn resolve_base_url(explicit: Option<&str>) -> Result<String> {
    match explicit {
        Some(v) => validate_base_url(v),
        None => match std::env::var(BASE_URL_ENV) {
            Ok(v) => validate_base_url(&v),
            Err(std::env::VarError::NotPresent) => Ok(DEFAULT_BASE_URL.to_string()),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::sdk(format!("{BASE_URL_ENV} is not valid UTF-8")))
            }
        },
    }
}

/// Validates and normalises a base URL (trailing slashes removed, case kept).
pub fn validate_base_url(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::sdk(format!("Invalid base URL: {why}"));
    if raw.is_empty() {
        return Err(bad("must be a non-empty string"));
    }
    let trimmed = raw.trim_end_matches('/');
    let parsed = url::Url::parse(trimmed).map_err(|_| bad("cannot be parsed as a URL"))?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(bad("scheme must be http or https"));
    }
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h,
        _ => return Err(bad("a host is required")),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials are not allowed in the URL"));
    }
    // A bare trailing `?` or `#` parses as an empty query/fragment and is
    // accepted unchanged.
    if parsed.query().is_some_and(|q| !q.is_empty())
        || parsed.fragment().is_some_and(|f| !f.is_empty())
    {
        return Err(bad("query and fragment are not allowed"));
    }
    if scheme == "http" && !is_loopback_host(host) {
        return Err(bad(
            "http is allowed only for localhost, 127.0.0.1 or ::1; use https",
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert_eq!(
            validate_base_url("https://x/api///").unwrap(),
            "https://x/api"
        );
        assert_eq!(
            validate_base_url("http://LOCALHOST:8080").unwrap(),
            "http://LOCALHOST:8080"
        );
        assert!(validate_base_url("http://[::1]:8080/").is_ok());
        assert!(validate_base_url("http://127.0.0.1:1").is_ok());
        for bad in [
            "",
            "http://127.0.0.2",
            "http://example.com",
            "ftp://x",
            "https://u:p@x",
            "https://x?a=1",
            "https://x#f",
            "https://x:99999",
            "https://x:abc",
            "not a url",
        ] {
            let e = validate_base_url(bad).unwrap_err();
            assert_eq!(e.kind(), "AlterSDKError", "{bad}");
        }
        assert!(validate_base_url("https://x?").is_ok());
    }

    #[test]
    fn seconds_become_durations_or_typed_errors_naming_the_argument() {
        assert_eq!(
            positive_seconds("timeout", 2.5).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(
            positive_seconds("timeout", MAX_SECONDS).unwrap(),
            Duration::from_secs(1_000_000_000)
        );
        // Every value that used to reach `Duration::from_secs_f64` and panic
        // (or overflow an `Instant` later), and every non-positive one.
        for bad in [
            1e20,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -1.0,
            0.0,
            -0.0,
            MAX_SECONDS * 1.000001,
        ] {
            let e = positive_seconds("poll_interval", bad).unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "{bad}");
            assert!(
                e.message().starts_with("poll_interval must be"),
                "{bad}: {}",
                e.message()
            );
        }
        assert_eq!(
            positive_seconds("timeout", 1e20).unwrap_err().message(),
            "timeout must be at most 1000000000 seconds"
        );
        // A deadline may be zero or negative: it has already passed.
        assert_eq!(deadline_seconds("timeout", -1.0).unwrap(), Duration::ZERO);
        assert_eq!(deadline_seconds("timeout", 0.0).unwrap(), Duration::ZERO);
        assert_eq!(
            deadline_seconds("timeout", 1.5).unwrap(),
            Duration::from_millis(1500)
        );
        for bad in [1e20, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let e = deadline_seconds("timeout", bad).unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "{bad}");
            assert!(e.message().starts_with("timeout must be"), "{bad}");
        }
        // The largest accepted value is safe to add to the clocks.
        let max = positive_seconds("timeout", MAX_SECONDS).unwrap();
        assert!(std::time::Instant::now().checked_add(max).is_some());
        assert!(std::time::SystemTime::now().checked_add(max).is_some());
    }

    #[test]
    fn caller_rules() {
        assert!(validate_caller("billing svc").is_ok());
        assert!(validate_caller(&"a".repeat(255)).is_ok());
        for bad in ["", "é", "a\nb", &"a".repeat(256)] {
            assert_eq!(validate_caller(bad).unwrap_err().kind(), "AlterValueError");
        }
        assert!(CallerType::parse("Agent").is_err());
        assert_eq!(CallerType::parse("agent").unwrap(), CallerType::Agent);
    }
}
