//! The local identity provider's user tokens: HS256 JWTs, hand-rolled with
//! hmac + base64 (a JWT crate would be a large dependency for two functions).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The identity-assertion signing key (ES256, P-256). Made at start-up and
/// never persisted: assertions live at most 300 s, and the public half is
/// served as a JWKS (inferred; the product's key management is not visible).
pub struct Es256Key {
    pair: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
    pub kid: String,
}

impl Es256Key {
    pub fn generate() -> Es256Key {
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the system RNG works");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("a freshly generated key parses");
        let kid = format!("alter-dev-{}", &crate::util::random_hex(8));
        Es256Key { pair, rng, kid }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        use ring::signature::KeyPair;
        // Uncompressed point: 0x04 || x (32) || y (32).
        let point = self.pair.public_key().as_ref();
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        })
    }

    /// Signs `claims` as a compact JWS with this header type.
    pub fn sign(&self, typ: &str, claims: &Value) -> String {
        let header = serde_json::json!({"alg": "ES256", "typ": typ, "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .expect("signing with a valid key succeeds");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

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
    fn es256_signatures_verify_with_the_published_key() {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
        let key = Es256Key::generate();
        let tok = key.sign("alter-identity+jwt", &json!({"sub": "x"}));
        let (input, sig) = tok.rsplit_once('.').unwrap();
        let jwk = key.jwk();
        let mut point = vec![4u8];
        for c in ["x", "y"] {
            point.extend(URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap());
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
            .unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(tok.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["typ"], "alter-identity+jwt");
        assert_eq!(header["kid"], jwk["kid"]);
    }

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
