//! HMAC-SHA256 request signing, as a pure function.
//!
//! The signer takes everything that varies (clock, nonce, identity header
//! values) as input, so the same code signs live requests, reproduces the
//! official package's vectors byte for byte, and verifies requests in the
//! local vault.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the empty string, the content hash of a request without body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The 32-byte key every signature is made with: HMAC-SHA256 keyed by the API
/// key over the fixed label `alter-signing-v1`. Deriving it once means the raw
/// key need not be kept next to it.
///
/// Exactly one copy exists per client: the type is not `Clone` (so the
/// key cannot be duplicated by accident), and its bytes are wiped when it
/// is dropped.
///
/// ```compile_fail
/// fn needs_clone<T: Clone>() {}
/// needs_clone::<alter_core::signing::SigningKey>();
/// ```
///
/// (The same check for a trait it does have compiles, so the test above
/// fails for the right reason.)
///
/// ```
/// fn needs_send_sync<T: Send + Sync + zeroize::ZeroizeOnDrop>() {}
/// needs_send_sync::<alter_core::signing::SigningKey>();
/// ```
pub struct SigningKey([u8; 32]);

impl Zeroize for SigningKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for SigningKey {}

impl SigningKey {
    /// Derives the signing key from an API key.
    pub fn derive(api_key: &str) -> SigningKey {
        let mut mac = HmacSha256::new_from_slice(api_key.as_bytes()).expect("any key length");
        mac.update(b"alter-signing-v1");
        SigningKey(mac.finalize().into_bytes().into())
    }

    /// Lower-case hex HMAC-SHA256 of `message` under this key.
    pub fn sign(&self, message: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("32-byte key");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check that `signature_hex` is the signature of `message`.
    pub fn verify(&self, message: &str, signature_hex: &str) -> bool {
        let Ok(sig) = hex::decode(signature_hex) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("32-byte key");
        mac.update(message.as_bytes());
        mac.verify_slice(&sig).is_ok()
    }

    /// Hex form of the key, for tests that compare with the spec's example.
    #[cfg(test)]
    fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Lower-case hex SHA-256 of a body.
pub fn content_sha256(body: &[u8]) -> String {
    if body.is_empty() {
        return EMPTY_SHA256.to_string();
    }
    hex::encode(Sha256::digest(body))
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (malformed ones stay literal), optionally turning
/// `+` into a space first, then reads the bytes as UTF-8 with U+FFFD for
/// invalid sequences.
fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if plus_as_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Form encoding of one query name or value: unreserved `A-Za-z0-9_.-~`
/// kept, space as `+`, every other byte `%XX` in upper-case hex.
pub fn form_encode(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

/// The canonical form of a request target (`/sdk/...?query`): the path
/// percent-decoded, the query decoded, sorted by name then value and
/// re-encoded in form style. A non-empty raw query keeps its `?` even when
/// nothing survives canonicalisation.
pub fn canonical_target(target: &str) -> String {
    let (raw_path, raw_query) = match target.find('?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, ""),
    };
    let mut out = percent_decode(raw_path, false);
    if raw_query.is_empty() {
        return out;
    }
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(n, true), percent_decode(v, true))
        })
        .collect();
    // Rust's `str` ordering is byte-wise UTF-8, which orders the same as
    // Unicode code points.
    pairs.sort();
    out.push('?');
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode(n, &mut out);
        out.push('=');
        form_encode(v, &mut out);
    }
    out
}

/// Everything a signature covers. Empty strings mean "absent" for the
/// optional fields, as on the wire.
#[derive(Debug, Clone, Default)]
pub struct SignatureInput<'a> {
    pub method: &'a str,
    /// SDK-relative target (`/sdk/...` plus optional `?query`), raw.
    pub target: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    /// Hex SHA-256 of the body bytes.
    pub content_sha256: &'a str,
    pub scope_constraints: &'a str,
    pub request_rule: &'a str,
    pub caller: &'a str,
    pub caller_type: &'a str,
    pub actor_id: &'a str,
    pub context: &'a str,
}

/// The legacy string-to-sign and, when any identity line applies, the V2 one.
pub fn strings_to_sign(input: &SignatureInput<'_>) -> (String, Option<String>) {
    let mut legacy = String::with_capacity(256);
    legacy.push_str(&input.method.to_ascii_uppercase());
    legacy.push('\n');
    legacy.push_str(&canonical_target(input.target));
    for field in [
        input.timestamp,
        input.nonce,
        input.content_sha256,
        input.scope_constraints,
    ] {
        legacy.push('\n');
        legacy.push_str(field);
    }
    if !input.request_rule.is_empty() {
        legacy.push_str("\nrequest-rule:");
        legacy.push_str(input.request_rule);
    }
    let mut v2 = legacy.clone();
    for (label, value) in [
        ("caller", input.caller),
        ("caller-type", input.caller_type),
        ("actor-id", input.actor_id),
        ("actor-context", input.context),
    ] {
        if !value.is_empty() {
            v2.push('\n');
            v2.push_str(label);
            v2.push(':');
            v2.push_str(value);
        }
    }
    if v2.len() == legacy.len() {
        (legacy, None)
    } else {
        (legacy, Some(v2))
    }
}

/// The signature headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `X-Alter-Signature`.
    pub signature: String,
    /// `X-Alter-Signature-V2`: present (with the same value) when the V2
    /// string was signed.
    pub signature_v2: Option<String>,
}

/// Signs one request.
pub fn sign(key: &SigningKey, input: &SignatureInput<'_>) -> Signature {
    let (legacy, v2) = strings_to_sign(input);
    match v2 {
        None => Signature {
            signature: key.sign(&legacy),
            signature_v2: None,
        },
        Some(v2) => {
            let sig = key.sign(&v2);
            Signature {
                signature: sig.clone(),
                signature_v2: Some(sig),
            }
        }
    }
}

/// Why a request's signature was refused (used by the local vault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Identity headers present but no `X-Alter-Signature-V2`.
    MissingV2,
    /// A stray `X-Alter-Signature-V2` on a request without identity headers.
    UnexpectedV2,
    /// The signature does not match.
    Mismatch,
}

/// Server-side verification: both headers must carry the V2 digest when an
/// identity line applies, so stripping identity headers cannot downgrade a
/// request to a valid legacy signature.
pub fn verify(
    key: &SigningKey,
    input: &SignatureInput<'_>,
    signature: &str,
    signature_v2: Option<&str>,
) -> Result<(), VerifyError> {
    let (legacy, v2) = strings_to_sign(input);
    match (v2, signature_v2) {
        (Some(_), None) => Err(VerifyError::MissingV2),
        (None, Some(_)) => Err(VerifyError::UnexpectedV2),
        (Some(v2), Some(sig2)) => {
            if key.verify(&v2, signature) && key.verify(&v2, sig2) {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            }
        }
        (None, None) => {
            if key.verify(&legacy, signature) {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            }
        }
    }
}

/// The `X-Alter-*` signing headers of one request, in the order they are
/// sent: timestamp, nonce, content hash, signature, then the optional V2
/// signature, scope constraints and request rule.
pub fn signing_headers(
    key: &SigningKey,
    input: &SignatureInput<'_>,
) -> Vec<(&'static str, String)> {
    let sig = sign(key, input);
    let mut out = Vec::with_capacity(7);
    out.push(("X-Alter-Timestamp", input.timestamp.to_string()));
    out.push(("X-Alter-Nonce", input.nonce.to_string()));
    out.push(("X-Alter-Content-SHA256", input.content_sha256.to_string()));
    out.push(("X-Alter-Signature", sig.signature));
    if let Some(v2) = sig.signature_v2 {
        out.push(("X-Alter-Signature-V2", v2));
    }
    if !input.scope_constraints.is_empty() {
        out.push((
            "X-Alter-Scope-Constraints",
            input.scope_constraints.to_string(),
        ));
    }
    if !input.request_rule.is_empty() {
        out.push(("X-Alter-Request-Rule", input.request_rule.to_string()));
    }
    out
}

/// 16 random bytes as 32 lower-case hex characters.
pub fn new_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_is_wiped_by_zeroize() {
        let mut key = SigningKey::derive("alter_key_example");
        assert_ne!(key.0, [0u8; 32]);
        // Drop runs exactly this; after it the bytes are gone.
        key.zeroize();
        assert_eq!(key.0, [0u8; 32]);
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn signing_key_matches_the_spec_example() {
        let k = SigningKey::derive("alter_rk_pycdybk377oxtzq6svizx3_a5u5gr");
        assert_eq!(
            k.to_hex(),
            "47413b5c3ca9afdd23a78c7d5d11cdf7a5f22415c13ba14e29a3abc5b243f4b7"
        );
        assert_eq!(format!("{k:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn canonical_targets_from_the_spec_table() {
        let cases = [
            (
                "/sdk/agents?offset=0&limit=50",
                "/sdk/agents?limit=50&offset=0",
            ),
            (
                "/sdk/grants/list?provider_id=google&limit=100&offset=0&q=a+b%20c&empty=",
                "/sdk/grants/list?empty=&limit=100&offset=0&provider_id=google&q=a+b+c",
            ),
            ("/sdk/agents/me?", "/sdk/agents/me"),
            ("/x?&", "/x?"),
            ("/x?=", "/x?="),
            ("/x?a", "/x?a="),
            ("/x?b=2&a=1&a=", "/x?a=&a=1&b=2"),
            ("/x?x=%C3%A9&b=2&b=1", "/x?b=1&b=2&x=%C3%A9"),
            ("/x?x=%E9", "/x?x=%EF%BF%BD"),
            ("/x?k=a%2Bb", "/x?k=a%2Bb"),
            ("/x?a=1;b=2", "/x?a=1%3Bb%3D2"),
            ("/x?%20=1", "/x?+=1"),
            (
                "/sdk/provider-specs/openapi/post%3A%2Femails",
                "/sdk/provider-specs/openapi/post:/emails",
            ),
            ("/a%zz/b%", "/a%zz/b%"),
            ("/a+b", "/a+b"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_target(raw), want, "{raw}");
        }
    }

    #[test]
    fn verify_rejects_downgrade_and_tampering() {
        let key = SigningKey::derive("alter_rk_pycdybk377oxtzq6svizx3_a5u5gr");
        let input = SignatureInput {
            method: "POST",
            target: "/sdk/token",
            timestamp: "1",
            nonce: "n",
            content_sha256: EMPTY_SHA256,
            caller: "svc",
            caller_type: "service",
            ..Default::default()
        };
        let sig = sign(&key, &input);
        assert!(sig.signature_v2.is_some());
        assert_eq!(
            verify(&key, &input, &sig.signature, sig.signature_v2.as_deref()),
            Ok(())
        );
        let stripped = SignatureInput {
            caller: "",
            caller_type: "",
            ..input.clone()
        };
        assert_eq!(
            verify(&key, &stripped, &sig.signature, None),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&key, &input, &sig.signature, None),
            Err(VerifyError::MissingV2)
        );
        let other = SignatureInput {
            caller: "other",
            ..input.clone()
        };
        assert_eq!(
            verify(&key, &other, &sig.signature, sig.signature_v2.as_deref()),
            Err(VerifyError::Mismatch)
        );
    }
}
