//! The local identity provider's user tokens: HS256 JWTs, hand-rolled with
//! hmac + base64 (a JWT crate would be a large dependency for two functions).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Issuer of every token this vault mints. Constant rather than the base URL
/// so tokens survive a restart on another port (inferred).
pub const ISSUER: &str = "alter-dev";

/// Signs `claims` as a compact HS256 JWT.
pub fn sign(secret: &[u8], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Verifies signature, algorithm, issuer and expiry; returns the claims.
/// The error text is for the 401 message and never echoes the token.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<Map<String, Value>, &'static str> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("user_token is not a compact JWT");
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("user_token header is malformed")?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("user_token algorithm is not accepted");
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "user_token signature is malformed")?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| "user_token signature is invalid")?;
    let claims: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("user_token payload is malformed")?;
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return Err("user_token issuer is not this vault");
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now => {}
        Some(_) => return Err("user_token has expired"),
        None => return Err("user_token has no expiry"),
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_rejections() {
        let secret = b"s3cret";
        let tok = sign(secret, &json!({"iss": ISSUER, "sub": "u", "exp": 100}));
        assert_eq!(verify(secret, &tok, 50).unwrap()["sub"], "u");
        assert!(verify(secret, &tok, 100).is_err());
        assert!(verify(b"other", &tok, 50).is_err());
        let mut tampered = tok.clone();
        tampered.insert(tok.find('.').unwrap() + 2, 'x');
        assert!(verify(secret, &tampered, 50).is_err());
        let foreign = sign(secret, &json!({"iss": "x", "sub": "u", "exp": 100}));
        assert!(verify(secret, &foreign, 50).is_err());
    }
}
