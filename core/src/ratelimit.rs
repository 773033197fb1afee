//! Rate-limit response headers (`wire.md` §5.2) and `Retry-After` (§5.3).
//!
//! Everything here is a pure parser: callers pass header values in and get a
//! number or a snapshot out. Nothing is ever slept on.

use serde_json::Value;
use time::OffsetDateTime;

/// Latest accepted reset instant: 9999-12-31T23:59:59Z.
pub const MAX_RESET_UNIX: i64 = 253_402_300_799;

/// Integers with more significant digits than this are treated as absent.
const MAX_SIGNIFICANT_DIGITS: usize = 12;

/// The backend's advertised request budget, as of the last response that
/// carried parseable rate-limit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSnapshot {
    pub limit: u64,
    pub remaining: u64,
    /// UTC instant at which the window resets.
    pub reset_at: OffsetDateTime,
}

/// Trims, requires ASCII digits only, and returns the digits without leading
/// zeros (`"0"` for an all-zero value). `None` for anything else.
fn significant_digits(value: &str) -> Option<&str> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let stripped = v.trim_start_matches('0');
    Some(if stripped.is_empty() { "0" } else { stripped })
}

/// A rate-limit header integer: ASCII digits after trimming, leading zeros
/// ignored, at most 12 significant digits.
pub fn parse_rate_limit_int(value: &str) -> Option<u64> {
    let digits = significant_digits(value)?;
    if digits.len() > MAX_SIGNIFICANT_DIGITS {
        return None;
    }
    digits.parse().ok()
}

/// `Retry-After` in delta-seconds form, clamped to `ceiling`. An HTTP-date,
/// a sign, a decimal point or an empty value gives `None`.
pub fn parse_retry_after(value: &str, ceiling: u64) -> Option<u64> {
    let digits = significant_digits(value)?;
    // Anything with more digits than a u64 can hold is above every ceiling.
    match digits.parse::<u64>() {
        Ok(n) => Some(n.min(ceiling)),
        Err(_) => Some(ceiling),
    }
}

/// The body field `retry_after`: a non-negative JSON integer, or a float
/// without a fractional part, clamped to `ceiling`. Booleans, strings,
/// negatives and fractions give `None`.
pub fn retry_after_from_json(value: &Value, ceiling: u64) -> Option<u64> {
    json_non_negative_int(value).map(|n| n.min(ceiling))
}

/// A non-negative whole JSON number (an integral float such as `60.0` is
/// accepted). Values beyond `u64` saturate.
pub(crate) fn json_non_negative_int(value: &Value) -> Option<u64> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    if n.is_i64() {
        return None; // negative integer
    }
    let f = n.as_f64()?;
    if !f.is_finite() || f < 0.0 || f.fract() != 0.0 {
        return None;
    }
    // `as` saturates at u64::MAX for larger floats.
    Some(f as u64)
}

/// Builds a snapshot from response headers (`wire.md` §5.2).
///
/// `get` looks a header up case-insensitively and returns repeated values
/// joined with `", "`. `now_unix` is the current time in whole seconds; it is
/// only used for the draft-11 `RateLimit` form, whose reset is relative.
/// `None` means the response carried nothing usable and the previous
/// snapshot should be kept.
pub fn snapshot_from_headers(
    get: impl Fn(&str) -> Option<String>,
    now_unix: i64,
) -> Option<RateLimitSnapshot> {
    legacy_snapshot(&get).or_else(|| structured_snapshot(&get, now_unix))
}

fn legacy_snapshot(get: &impl Fn(&str) -> Option<String>) -> Option<RateLimitSnapshot> {
    let limit = parse_rate_limit_int(&get("X-RateLimit-Limit")?)?;
    let remaining = parse_rate_limit_int(&get("X-RateLimit-Remaining")?)?;
    let reset = parse_rate_limit_int(&get("X-RateLimit-Reset")?)?;
    let reset = i64::try_from(reset).ok()?;
    if reset > MAX_RESET_UNIX {
        return None;
    }
    Some(RateLimitSnapshot {
        limit,
        remaining,
        reset_at: OffsetDateTime::from_unix_timestamp(reset).ok()?,
    })
}

fn structured_snapshot(
    get: &impl Fn(&str) -> Option<String>,
    now_unix: i64,
) -> Option<RateLimitSnapshot> {
    let policy_header = get("RateLimit-Policy")?;
    let state_header = get("RateLimit")?;
    let policies = parse_structured_items(&policy_header);
    for item in parse_structured_items(&state_header) {
        let Some(policy) = policies.iter().find(|p| p.name == item.name) else {
            continue;
        };
        let (Some(q), Some(r), Some(t)) = (policy.param("q"), item.param("r"), item.param("t"))
        else {
            continue;
        };
        let Some(reset) = i64::try_from(t).ok().and_then(|t| now_unix.checked_add(t)) else {
            continue;
        };
        if reset > MAX_RESET_UNIX {
            continue;
        }
        let Ok(reset_at) = OffsetDateTime::from_unix_timestamp(reset) else {
            continue;
        };
        return Some(RateLimitSnapshot {
            limit: q,
            remaining: r,
            reset_at,
        });
    }
    None
}

/// One `"<name>";k=v;…` item of a draft-11 header.
#[derive(Debug, PartialEq)]
struct StructuredItem<'a> {
    name: &'a str,
    /// Raw digit strings; parsed with the integer grammar on use.
    params: Vec<(&'a str, &'a str)>,
}

impl StructuredItem<'_> {
    /// The first value of parameter `key`, if it is a valid integer.
    fn param(&self, key: &str) -> Option<u64> {
        self.params
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| parse_rate_limit_int(v))
    }
}

/// Splits a draft-11 header into items, discarding any item whose name or
/// parameters do not have the expected shape.
fn parse_structured_items(header: &str) -> Vec<StructuredItem<'_>> {
    header
        .split(',')
        .filter_map(parse_structured_item)
        .collect()
}

fn parse_structured_item(raw: &str) -> Option<StructuredItem<'_>> {
    let mut parts = raw.trim().split(';');
    let name = parts.next()?.trim().strip_prefix('"')?.strip_suffix('"')?;
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if !name_ok {
        return None;
    }
    let mut params = Vec::new();
    for part in parts {
        let (key, value) = part.trim().split_once('=')?;
        let mut key_bytes = key.bytes();
        let key_ok = key_bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && key_bytes.all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'.' | b'*' | b'-')
            });
        let value_ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        if !key_ok || !value_ok {
            return None;
        }
        params.push((key, value));
    }
    Some(StructuredItem { name, params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        move |name: &str| map.get(&name.to_ascii_lowercase()).cloned()
    }

    /// Hostile numbers from a peer neither panic nor wrap: they are
    /// ignored, or clamped where a ceiling exists.
    #[test]
    fn extreme_peer_numbers_are_ignored_or_clamped() {
        const NOW: i64 = 1_700_000_000;
        for reset in [
            "-9223372036854775808",
            "9223372036854775807",
            "18446744073709551616",
            "1e308",
        ] {
            let h = headers(&[
                ("X-RateLimit-Limit", "100"),
                ("X-RateLimit-Remaining", "5"),
                ("X-RateLimit-Reset", reset),
            ]);
            assert_eq!(snapshot_from_headers(h, NOW), None, "{reset}");
        }
        let h = headers(&[
            ("RateLimit-Policy", "\"p\";q=100;w=60"),
            ("RateLimit", "\"p\";r=5;t=999999999999"),
        ]);
        assert_eq!(snapshot_from_headers(&h, i64::MAX - 5), None);
        assert_eq!(snapshot_from_headers(h, NOW), None);
        assert_eq!(parse_retry_after("99999999999999999999999", 60), Some(60));
        assert_eq!(parse_retry_after("-1", 60), None);
        assert_eq!(retry_after_from_json(&json!(1e308), 60), Some(60));
        assert_eq!(
            retry_after_from_json(&json!(-9_223_372_036_854_775_808i64), 60),
            None
        );
        assert_eq!(retry_after_from_json(&json!(f64::MAX), 60), Some(60));
    }

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn retry_after_delta_seconds_grammar() {
        let rows: &[(&str, Option<u64>)] = &[
            ("60", Some(60)),
            ("000060", Some(60)),
            ("0000", Some(0)),
            ("  42\t", Some(42)),
            ("3600", Some(3600)),
            ("3601", Some(3600)),
            ("18446744073709551616", Some(3600)), // beyond u64
            ("99999999999999999999999999999999999999", Some(3600)),
            ("", None),
            ("   ", None),
            ("-1", None),
            ("+5", None),
            ("1.5", None),
            ("1e3", None),
            ("1_000", None),
            ("٣", None), // non-ASCII digit
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("60, 70", None),
        ];
        for (value, expected) in rows {
            assert_eq!(parse_retry_after(value, 3600), *expected, "{value:?}");
        }
        assert_eq!(parse_retry_after("5000000", 2_678_400), Some(2_678_400));
        assert_eq!(parse_retry_after("2678399", 2_678_400), Some(2_678_399));
    }

    #[test]
    fn retry_after_body_field() {
        let rows = [
            (json!(30), Some(30)),
            (json!(0), Some(0)),
            (json!(30.0), Some(30)),
            (json!(1e300), Some(3600)),
            (json!(99999), Some(3600)),
            (json!(30.5), None),
            (json!(-1), None),
            (json!(-1.0), None),
            (json!(true), None),
            (json!("30"), None),
            (json!(null), None),
            (json!([30]), None),
        ];
        for (value, expected) in rows {
            assert_eq!(retry_after_from_json(&value, 3600), expected, "{value}");
        }
    }

    #[test]
    fn rate_limit_integer_grammar() {
        let rows: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("000", Some(0)),
            (" 100 ", Some(100)),
            ("007", Some(7)),
            ("999999999999", Some(999_999_999_999)),
            ("0000999999999999", Some(999_999_999_999)), // 12 significant digits
            ("1000000000000", None),                     // 13 significant digits
            ("-1", None),
            ("+1", None),
            ("1.0", None),
            ("", None),
            ("1 2", None),
            ("１２", None), // full-width digits
        ];
        for (value, expected) in rows {
            assert_eq!(parse_rate_limit_int(value), *expected, "{value:?}");
        }
    }

    #[test]
    fn legacy_triple_is_preferred() {
        let get = headers(&[
            ("X-RateLimit-Limit", "100"),
            ("x-ratelimit-remaining", "99"),
            ("X-RATELIMIT-RESET", "1700000060"),
            ("RateLimit-Policy", "\"default\";q=600;w=60"),
            ("RateLimit", "\"default\";r=599;t=30"),
        ]);
        let snap = snapshot_from_headers(get, NOW).unwrap();
        assert_eq!(snap.limit, 100);
        assert_eq!(snap.remaining, 99);
        assert_eq!(snap.reset_at.unix_timestamp(), 1_700_000_060);
        assert_eq!(snap.reset_at.offset(), time::UtcOffset::UTC);
    }

    #[test]
    fn legacy_reset_ceiling_and_partial_triples_fall_back() {
        let at_ceiling = headers(&[
            ("X-RateLimit-Limit", "1"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "253402300799"),
        ]);
        let snap = snapshot_from_headers(at_ceiling, NOW).unwrap();
        assert_eq!(snap.reset_at.year(), 9999);

        let over = headers(&[
            ("X-RateLimit-Limit", "1"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "253402300800"),
        ]);
        assert_eq!(snapshot_from_headers(over, NOW), None);

        // incomplete or invalid triple → draft-11 pair is used
        let fallback = headers(&[
            ("X-RateLimit-Limit", "100"),
            ("X-RateLimit-Remaining", "-1"),
            ("X-RateLimit-Reset", "1700000060"),
            ("RateLimit-Policy", "\"default\";q=600;w=60"),
            ("RateLimit", "\"default\";r=599;t=30"),
        ]);
        let snap = snapshot_from_headers(fallback, NOW).unwrap();
        assert_eq!((snap.limit, snap.remaining), (600, 599));
        assert_eq!(snap.reset_at.unix_timestamp(), NOW + 30);
    }

    #[test]
    fn structured_pair_matches_names_and_validates_items() {
        // the first RateLimit item whose name is in the policy wins
        let get = headers(&[
            (
                "RateLimit-Policy",
                "\"burst\";q=10;w=1, \"daily\";q=1000;w=86400",
            ),
            (
                "RateLimit",
                "\"other\";r=1;t=1, \"daily\";r=900;t=3600, \"burst\";r=9;t=1",
            ),
        ]);
        let snap = snapshot_from_headers(get, NOW).unwrap();
        assert_eq!((snap.limit, snap.remaining), (1000, 900));
        assert_eq!(snap.reset_at.unix_timestamp(), NOW + 3600);

        // an item with a malformed parameter is discarded whole
        let get = headers(&[
            ("RateLimit-Policy", "\"a\";q=10;W=1, \"b\";q=20"),
            ("RateLimit", "\"a\";r=1;t=1, \"b\";r=2;t=2"),
        ]);
        let snap = snapshot_from_headers(get, NOW).unwrap();
        assert_eq!((snap.limit, snap.remaining), (20, 2));

        // missing q/r/t skips the item
        let get = headers(&[
            ("RateLimit-Policy", "\"a\";w=10, \"b\";q=5"),
            ("RateLimit", "\"a\";r=1;t=1, \"b\";r=4"),
        ]);
        assert_eq!(snapshot_from_headers(get, NOW), None);

        // unquoted or over-long names are not accepted
        let long = "x".repeat(65);
        let policy = format!("default;q=1, \"{long}\";q=1");
        let state = format!("default;r=1;t=1, \"{long}\";r=1;t=1");
        let get = headers(&[("RateLimit-Policy", &policy), ("RateLimit", &state)]);
        assert_eq!(snapshot_from_headers(get, NOW), None);

        // a reset beyond the ceiling skips the item; the next one may match
        let get = headers(&[
            ("RateLimit-Policy", "\"a\";q=1, \"b\";q=2"),
            ("RateLimit", "\"a\";r=0;t=999999999999, \"b\";r=1;t=5"),
        ]);
        let snap = snapshot_from_headers(get, 253_402_300_000).unwrap();
        assert_eq!((snap.limit, snap.remaining), (2, 1));

        // values use the integer grammar (at most 12 significant digits)
        let get = headers(&[
            ("RateLimit-Policy", "\"a\";q=1000000000000"),
            ("RateLimit", "\"a\";r=1;t=1"),
        ]);
        assert_eq!(snapshot_from_headers(get, NOW), None);
    }

    #[test]
    fn nothing_usable_means_no_snapshot() {
        assert_eq!(snapshot_from_headers(headers(&[]), NOW), None);
        let only_policy = headers(&[("RateLimit-Policy", "\"a\";q=1")]);
        assert_eq!(snapshot_from_headers(only_policy, NOW), None);
        let garbage = headers(&[
            ("X-RateLimit-Limit", "lots"),
            ("RateLimit-Policy", "nonsense"),
            ("RateLimit", "\"a\";r=1;t=1"),
        ]);
        assert_eq!(snapshot_from_headers(garbage, NOW), None);
    }

    #[test]
    fn structured_item_parser() {
        assert_eq!(
            parse_structured_item(" \"a.b:c-d_9\";q=5;w=60 "),
            Some(StructuredItem {
                name: "a.b:c-d_9",
                params: vec![("q", "5"), ("w", "60")],
            })
        );
        assert_eq!(
            parse_structured_item("\"n\";x.*-_1=0").map(|i| i.params),
            Some(vec![("x.*-_1", "0")])
        );
        for bad in [
            "\"\";q=1",
            "\"a b\";q=1",
            "\"a\";q=-1",
            "\"a\";q=",
            "\"a\";1q=1",
            "\"a\";q",
            "\"a\";q=1.5",
            "\"a\";q=\"1\"",
        ] {
            assert_eq!(parse_structured_item(bad), None, "{bad}");
        }
    }
}
