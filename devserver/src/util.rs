//! Small helpers shared by every module: clocks, timestamps, ids, digests.

use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// The longest lifetime, in seconds, a caller may ask for (a TTL or an
/// `expires_in`): 100 years. Every such value is added to a Unix timestamp;
/// refusing larger ones (422) keeps that arithmetic far from `i64`'s limits
/// and tells the caller their number was not what they meant.
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 86_400;

/// A caller's TTL within [`MAX_TTL_SECONDS`], else `None`.
pub fn bounded_ttl(secs: u64) -> Option<u64> {
    (secs <= MAX_TTL_SECONDS).then_some(secs)
}

/// The message for a TTL above [`MAX_TTL_SECONDS`].
pub fn ttl_too_long(field: &str) -> String {
    format!("{field} must be at most {MAX_TTL_SECONDS} seconds")
}

/// Wall-clock Unix time in whole seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Wall-clock Unix time in milliseconds (audit rows want sub-second order).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 UTC with a `Z` and no fraction: the shape the SDK's token
/// contract accepts for `expires_at` and the models parse everywhere else.
pub fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// RFC 3339 UTC with milliseconds, for audit timestamps.
pub fn rfc3339_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| rfc3339(ms / 1000))
}

/// Parses an RFC 3339 timestamp (any offset) into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

/// Parses a UUID the way path parameters arrive (any standard form); the
/// server only ever emits the canonical lower-case hyphenated form.
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s.trim()).ok()
}

/// True for the canonical lower-case hyphenated form only.
pub fn is_canonical_uuid(s: &str) -> bool {
    Uuid::parse_str(s).is_ok_and(|u| u.to_string() == s)
}

/// Headers as a JSON object: names lower-case (as `http` stores them),
/// repeated headers joined with `, `.
pub fn header_map(headers: &axum::http::HeaderMap) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes());
        match out.get_mut(name.as_str()) {
            Some(serde_json::Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                out.insert(name.as_str().to_string(), v.into_owned().into());
            }
        }
    }
    out
}

/// A parsed CIDR block (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|n| *n <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    fn bits(ip: std::net::IpAddr) -> (u128, u8) {
        match ip {
            std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (u128::from(u32::from(v4)), 32),
                None => (u128::from(v6), 128),
            },
        }
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let (net, width) = Cidr::bits(self.addr);
        let (cand, cwidth) = Cidr::bits(ip);
        if width != cwidth {
            return false;
        }
        let shift = u32::from(width - self.prefix);
        if shift >= 128 {
            return true;
        }
        (net >> shift) == (cand >> shift)
    }

    /// Every address of `self` lies in `outer`.
    pub fn within(&self, outer: &Cidr) -> bool {
        self.prefix >= outer.prefix && outer.contains(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.1.2.0/24").unwrap().within(&net));
        assert!(!Cidr::parse("10.0.0.0/8").unwrap().within(&net));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00+00:00"), Some(60));
        assert_eq!(rfc3339_ms(1500), "1970-01-01T00:00:01.5Z");
    }

    #[test]
    fn canonical_uuid_check() {
        assert!(is_canonical_uuid("0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60"));
        assert!(!is_canonical_uuid("0B7E3F1A-5C2D-4E8F-9A10-1B2C3D4E5F60"));
        assert!(!is_canonical_uuid("0b7e3f1a5c2d4e8f9a101b2c3d4e5f60"));
    }
}
