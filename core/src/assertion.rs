//! Offline verification of an identity assertion (`verify_identity_assertion`):
//! the compact ES256 JWS that `assert_identity` returns, checked against a
//! key set the caller already trusts. Nothing is fetched: a URL in the token
//! is never followed.
//!
//! What is checked (`grants-and-connect.md` §6, the official 0.29.0
//! verifier's rules): the header (`alg` ES256, `typ` alter-identity+jwt, a
//! `kid`, no `crit`, no unencoded payload); exactly one key of that `kid`,
//! a public P-256 verification key; the signature; `iss` and `aud`; the
//! lifetime (`iat < exp <= iat + 300`, `iat` at most 5 s ahead of this
//! clock, `exp` strictly in the future); the claims every assertion has;
//! and the binding to the expected app (and agent). A failure is a
//! `MemoryIsolationError` with code `memory_assertion_invalid` and a coarse
//! `details["reason"]` that never echoes token or key material.

use crate::error::{Error, Result};
use crate::identity::IdentityContext;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The longest lifetime the server issues (shared with `assert_identity`).
const MAX_TTL_SECONDS: i64 = 300;
/// How far `iat` may be ahead of this clock.
const IAT_LEEWAY_SECONDS: i64 = 5;

/// Why a token was refused: one of a closed set of categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    Malformed,
    Header,
    Key,
    Signature,
    Lifetime,
    Claims,
    Binding,
}

impl Reject {
    fn as_str(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::Header => "header",
            Reject::Key => "key",
            Reject::Signature => "signature",
            Reject::Lifetime => "lifetime",
            Reject::Claims => "claims",
            Reject::Binding => "binding",
        }
    }

    fn into_error(self) -> Error {
        let mut e = Error::memory_isolation(
            "memory_assertion_invalid",
            "the identity assertion was refused",
        );
        e.base_mut()
            .details
            .insert("reason".into(), Value::String(self.as_str().into()));
        e
    }
}

/// What the caller trusts, and expects the assertion to be bound to.
#[derive(Debug, Clone, Copy)]
pub struct AssertionCheck<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// A JWK Set: `{"keys": [...]}`.
    pub jwks: &'a Value,
    pub expected_app_id: &'a str,
    pub expected_agent_id: Option<&'a str>,
}

/// Verifies `token` against `check` at the current time; returns who it
/// proves at the moment it was issued (revocations since then cannot be
/// seen offline).
/// Bad arguments are an `AlterValueError` naming the argument.
pub fn verify_identity_assertion(token: &str, check: &AssertionCheck) -> Result<IdentityContext> {
    verify_identity_assertion_until(token, check).map(|(identity, _)| identity)
}

/// [`verify_identity_assertion`], also returning the assertion's expiry
/// (Unix seconds): a binding that lets memory be partitioned by the
/// verified identity stops trusting it at that instant.
pub fn verify_identity_assertion_until(
    token: &str,
    check: &AssertionCheck,
) -> Result<(IdentityContext, i64)> {
    verify_until(
        token,
        check,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )
}

/// [`verify_identity_assertion`] at the Unix time `now`.
pub fn verify_at(token: &str, check: &AssertionCheck, now: i64) -> Result<IdentityContext> {
    verify_until(token, check, now).map(|(identity, _)| identity)
}

fn verify_until(token: &str, check: &AssertionCheck, now: i64) -> Result<(IdentityContext, i64)> {
    for (name, value) in [
        ("token", token),
        ("issuer", check.issuer),
        ("audience", check.audience),
        ("expected_app_id", check.expected_app_id),
    ] {
        if value.is_empty() {
            return Err(Error::value(format!("{name} must be a non-empty string")));
        }
    }
    if check.expected_agent_id == Some("") {
        return Err(Error::value(
            "expected_agent_id, when given, must be a non-empty string",
        ));
    }
    let Some(keys) = check.jwks.get("keys").and_then(Value::as_array) else {
        return Err(Error::value(
            "jwks must be a JWK Set: an object whose \"keys\" is a list",
        ));
    };
    verify(token, check, keys, now).map_err(Reject::into_error)
}

fn verify(
    token: &str,
    check: &AssertionCheck,
    keys: &[Value],
    now: i64,
) -> std::result::Result<(IdentityContext, i64), Reject> {
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::Malformed);
    };
    let header = json_segment(head)?;
    let header_ok = header.get("alg").and_then(Value::as_str) == Some("ES256")
        && header.get("typ").and_then(Value::as_str) == Some("alter-identity+jwt")
        && header.get("crit").is_none_or(Value::is_null)
        && header.get("b64") != Some(&Value::Bool(false));
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
    if !header_ok || kid.is_empty() {
        return Err(Reject::Header);
    }
    let public_key = trusted_key(keys, kid)?;

    let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Reject::Malformed)?;
    let signed = &token[..head.len() + 1 + body.len()];
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| Reject::Signature)?;

    let claims = json_segment(body)?;
    for name in ["iss", "aud", "sub", "iat", "exp", "jti", "azp", "alter"] {
        if claims.get(name).is_none_or(Value::is_null) {
            return Err(Reject::Claims);
        }
    }
    // Expiry before issuer and audience, in the order a standard JWT library
    // checks them, so an expired token reports `lifetime` whatever else is
    // wrong with it (as the official verifier does).
    if claims["exp"].as_f64().is_some_and(|exp| exp <= now as f64) {
        return Err(Reject::Lifetime);
    }
    if claims["iss"].as_str() != Some(check.issuer) || !audience_matches(&claims["aud"], check) {
        return Err(Reject::Claims);
    }
    let expires = lifetime(&claims["iat"], &claims["exp"], now)?;
    Ok((identity(&claims, check)?, expires))
}

/// A base64url segment holding a JSON object.
fn json_segment(segment: &str) -> std::result::Result<Map<String, Value>, Reject> {
    if segment.is_empty() {
        return Err(Reject::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| Reject::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reject::Malformed),
    }
}

/// The uncompressed P-256 point of the one key named `kid`, if it is a
/// public ES256 verification key. A key with the private part `d` is
/// refused: the verifier was handed the signing key.
fn trusted_key(keys: &[Value], kid: &str) -> std::result::Result<Vec<u8>, Reject> {
    let mut named = keys
        .iter()
        .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid));
    let (Some(Value::Object(key)), None) = (named.next(), named.next()) else {
        return Err(Reject::Key);
    };
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    let ops_ok = match key.get("key_ops") {
        None => true,
        Some(Value::Array(ops)) => ops.iter().any(|o| o == "verify"),
        Some(_) => false,
    };
    let usable = text("kty") == Some("EC")
        && text("crv") == Some("P-256")
        && key.get("alg").is_none_or(|a| a == "ES256")
        && key.get("use").is_none_or(|u| u == "sig")
        && ops_ok
        && !key.contains_key("d");
    if !usable {
        return Err(Reject::Key);
    }
    let coordinate = |name: &str| {
        text(name)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .filter(|b| b.len() == 32)
            .ok_or(Reject::Key)
    };
    let mut point = vec![0x04];
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    Ok(point)
}

/// `aud` is the audience, or a list holding it.
fn audience_matches(aud: &Value, check: &AssertionCheck) -> bool {
    match aud {
        Value::String(a) => a == check.audience,
        Value::Array(list) => list.iter().any(|a| a.as_str() == Some(check.audience)),
        _ => false,
    }
}

/// The expiry, when the token is within its lifetime at `now`.
fn lifetime(iat: &Value, exp: &Value, now: i64) -> std::result::Result<i64, Reject> {
    // Integers only (a float or a numeric string is refused).
    let (Some(iat), Some(exp)) = (iat.as_i64(), exp.as_i64()) else {
        return Err(Reject::Lifetime);
    };
    // Checked sums: `iat` is the token's claim, and near `i64::MAX` a plain
    // sum would panic (debug) or wrap into a passing check (release).
    let within_ttl = iat
        .checked_add(MAX_TTL_SECONDS)
        .is_some_and(|limit| exp <= limit);
    let issued_by_now = now
        .checked_add(IAT_LEEWAY_SECONDS)
        .is_some_and(|limit| iat <= limit);
    let ok = iat < exp && within_ttl && issued_by_now && exp > now;
    if ok {
        Ok(exp)
    } else {
        Err(Reject::Lifetime)
    }
}

/// Who the claims prove, once bound to the expected app (and agent). The
/// result names the app, the user and the agent only: the other claims
/// (earlier actors, trace, groups, profile) prove nothing about ownership.
fn identity(
    claims: &Map<String, Value>,
    check: &AssertionCheck,
) -> std::result::Result<IdentityContext, Reject> {
    let Some(alter) = claims["alter"].as_object() else {
        return Err(Reject::Claims);
    };
    if alter.get("app_id").and_then(Value::as_str) != Some(check.expected_app_id)
        || claims["azp"].as_str() != Some(check.expected_app_id)
    {
        return Err(Reject::Binding);
    }
    let (Some(sub), Some(jti)) = (claims["sub"].as_str(), claims["jti"].as_str()) else {
        return Err(Reject::Claims);
    };
    if jti.is_empty() {
        return Err(Reject::Claims);
    }
    let app_user_id = match sub.strip_prefix("alter:user:") {
        Some(user) if !user.is_empty() => Some(user.to_string()),
        _ if sub == format!("alter:app:{}", check.expected_app_id) => None,
        _ if sub.starts_with("alter:app:") => return Err(Reject::Binding),
        _ => return Err(Reject::Claims),
    };
    let agent_id = match claims.get("act") {
        None | Some(Value::Null) => None,
        Some(Value::Object(actor)) => {
            let agent = actor
                .get("sub")
                .and_then(Value::as_str)
                .and_then(|s| s.strip_prefix("alter:agent:"))
                .filter(|a| !a.is_empty());
            // How the agent was authenticated must be stated with any actor.
            let how = alter.get("agent_auth").and_then(Value::as_str);
            match (agent, how) {
                (Some(agent), Some(how)) if !how.is_empty() => Some(agent.to_string()),
                _ => return Err(Reject::Claims),
            }
        }
        Some(_) => return Err(Reject::Claims),
    };
    if check.expected_agent_id.is_some() && agent_id.as_deref() != check.expected_agent_id {
        return Err(Reject::Binding);
    }
    Ok(IdentityContext {
        app_id: check.expected_app_id.to_string(),
        // The assertion endpoint only serves active users.
        user_status: app_user_id.as_ref().map(|_| "active".to_string()),
        app_user_id,
        external_subject_id: None,
        idp_id: None,
        group_ids: Vec::new(),
        agent_id,
        actor_id: None,
        trace: None,
        email: None,
        display_name: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims at the edge of `i64` are refused as a bad lifetime, never an
    /// overflow (which panicked in debug builds and could wrap in release).
    #[test]
    fn lifetime_claims_at_the_integer_limits_are_refused() {
        let now = 1_700_000_000;
        for (iat, exp) in [
            (i64::MAX - 1, i64::MAX),
            (i64::MAX, i64::MAX),
            (i64::MIN, i64::MIN + 1),
            (now - 10, i64::MAX),
        ] {
            let r = lifetime(&serde_json::json!(iat), &serde_json::json!(exp), now);
            assert!(matches!(r, Err(Reject::Lifetime)), "iat={iat} exp={exp}");
        }
        let near_max = i64::MAX - IAT_LEEWAY_SECONDS + 1;
        let r = lifetime(
            &serde_json::json!(now - 10),
            &serde_json::json!(now + 60),
            near_max,
        );
        assert!(matches!(r, Err(Reject::Lifetime)));
        assert!(lifetime(
            &serde_json::json!(now - 10),
            &serde_json::json!(now + 60),
            now
        )
        .is_ok());
    }
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const APP: &str = "8f9a3e4c-0000-4000-8000-000000000001";
    const USER: &str = "5b1c2d3e-0000-4000-8000-000000000002";
    const AGENT: &str = "7d6e5f4a-0000-4000-8000-000000000003";

    struct Signer {
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Signer {
        fn new() -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            Signer { pair, rng }
        }

        fn jwk(&self, kid: &str) -> Value {
            let point = self.pair.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                   "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                   "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
        }

        fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self.pair.sign(&self.rng, input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }

    fn header() -> Value {
        json!({"alg": "ES256", "typ": "alter-identity+jwt", "kid": "k1"})
    }

    fn claims() -> Value {
        json!({"iss": "https://vault.example", "aud": "https://mcp.example", "sub": format!("alter:user:{USER}"),
               "iat": NOW - 10, "exp": NOW + 100, "jti": "j-1", "azp": APP, "alter": {"app_id": APP}})
    }

    fn check(jwks: &Value) -> AssertionCheck<'_> {
        AssertionCheck {
            issuer: "https://vault.example",
            audience: "https://mcp.example",
            jwks,
            expected_app_id: APP,
            expected_agent_id: None,
        }
    }

    /// The coarse reason of a refusal (and that it is the right class).
    fn reason(r: Result<IdentityContext>) -> String {
        let e = r.expect_err("refused");
        assert_eq!(e.kind(), "MemoryIsolationError");
        assert_eq!(e.details()["code"], "memory_assertion_invalid");
        e.details()["reason"].as_str().unwrap().to_string()
    }

    #[test]
    fn a_valid_user_assertion_proves_the_user() {
        let s = Signer::new();
        let jwks = json!({"keys": [s.jwk("other"), s.jwk("k1")]});
        let token = s.sign(&header(), &claims());
        let (who, expires) = verify_until(&token, &check(&jwks), NOW).unwrap();
        assert_eq!(expires, NOW + 100);
        assert_eq!(who.app_id, APP);
        assert_eq!(who.app_user_id.as_deref(), Some(USER));
        assert_eq!(who.user_status.as_deref(), Some("active"));
        assert_eq!(who.agent_id, None);
        // A headless assertion names the app itself.
        let mut c = claims();
        c["sub"] = json!(format!("alter:app:{APP}"));
        let who = verify_at(&s.sign(&header(), &c), &check(&jwks), NOW).unwrap();
        assert_eq!((who.app_user_id, who.user_status), (None, None));
        // `aud` may be a list holding the audience.
        let mut c = claims();
        c["aud"] = json!(["https://other", "https://mcp.example"]);
        assert!(verify_at(&s.sign(&header(), &c), &check(&jwks), NOW).is_ok());
    }

    #[test]
    fn an_agent_actor_is_bound_and_needs_its_authentication() {
        let s = Signer::new();
        let jwks = json!({"keys": [s.jwk("k1")]});
        let mut c = claims();
        c["act"] = json!({"sub": format!("alter:agent:{AGENT}")});
        c["alter"]["agent_auth"] = json!("api_key");
        let token = s.sign(&header(), &c);
        let mut expected = check(&jwks);
        expected.expected_agent_id = Some(AGENT);
        assert_eq!(
            verify_at(&token, &expected, NOW)
                .unwrap()
                .agent_id
                .as_deref(),
            Some(AGENT)
        );
        expected.expected_agent_id = Some("someone-else");
        assert_eq!(reason(verify_at(&token, &expected, NOW)), "binding");
        // An actor without `agent_auth` (or with a non-string one).
        c["alter"]["agent_auth"] = json!({"key_id": "k"});
        assert_eq!(
            reason(verify_at(&s.sign(&header(), &c), &check(&jwks), NOW)),
            "claims"
        );
        // An expected agent where the assertion names none.
        expected.expected_agent_id = Some(AGENT);
        let plain = s.sign(&header(), &claims());
        assert_eq!(reason(verify_at(&plain, &expected, NOW)), "binding");
    }

    #[test]
    fn each_failure_has_its_category() {
        let s = Signer::new();
        let jwks = json!({"keys": [s.jwk("k1")]});
        let c = check(&jwks);
        let token = s.sign(&header(), &claims());

        // Signature: another key, or a changed payload.
        let forged = Signer::new().sign(&header(), &claims());
        assert_eq!(reason(verify_at(&forged, &c, NOW)), "signature");
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut other = claims();
        other["sub"] = json!("alter:user:someone-else");
        let swapped = URL_SAFE_NO_PAD.encode(other.to_string());
        parts[1] = &swapped;
        assert_eq!(reason(verify_at(&parts.join("."), &c, NOW)), "signature");

        // Header.
        for h in [
            json!({"alg": "ES384", "typ": "alter-identity+jwt", "kid": "k1"}),
            json!({"alg": "ES256", "typ": "JWT", "kid": "k1"}),
            json!({"alg": "ES256", "typ": "alter-identity+jwt"}),
            json!({"alg": "ES256", "typ": "alter-identity+jwt", "kid": "k1", "crit": ["exp"]}),
            json!({"alg": "ES256", "typ": "alter-identity+jwt", "kid": "k1", "b64": false}),
        ] {
            assert_eq!(
                reason(verify_at(&s.sign(&h, &claims()), &c, NOW)),
                "header",
                "{h}"
            );
        }

        // Key: unknown kid, two of it, a private key, the wrong curve.
        let mut private = s.jwk("k1");
        private["d"] = json!("AAAA");
        let mut p384 = s.jwk("k1");
        p384["crv"] = json!("P-384");
        for keys in [
            json!({"keys": [s.jwk("k2")]}),
            json!({"keys": [s.jwk("k1"), s.jwk("k1")]}),
            json!({"keys": [private]}),
            json!({"keys": [p384]}),
        ] {
            assert_eq!(
                reason(verify_at(&token, &check(&keys), NOW)),
                "key",
                "{keys}"
            );
        }

        // Lifetime: expired, too long, issued in the future (5 s of leeway).
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            s.sign(&header(), &c)
        };
        assert_eq!(reason(verify_at(&token, &c, NOW + 100)), "lifetime");
        let long = with(&|c| c["exp"] = json!(NOW - 10 + 301));
        assert_eq!(reason(verify_at(&long, &c, NOW)), "lifetime");
        let early = with(&|c| {
            c["iat"] = json!(NOW + 6);
            c["exp"] = json!(NOW + 60)
        });
        assert_eq!(reason(verify_at(&early, &c, NOW)), "lifetime");
        let skewed = with(&|c| {
            c["iat"] = json!(NOW + 4);
            c["exp"] = json!(NOW + 60)
        });
        assert!(verify_at(&skewed, &c, NOW).is_ok());
        let float = with(&|c| c["exp"] = json!(NOW as f64 + 50.5));
        assert_eq!(reason(verify_at(&float, &c, NOW)), "lifetime");

        // Claims: issuer, audience, a missing claim.
        let iss = with(&|c| c["iss"] = json!("https://elsewhere"));
        assert_eq!(reason(verify_at(&iss, &c, NOW)), "claims");
        let aud = with(&|c| c["aud"] = json!("https://other"));
        assert_eq!(reason(verify_at(&aud, &c, NOW)), "claims");
        // Expired and for another audience: the expiry is what is reported.
        assert_eq!(reason(verify_at(&aud, &c, NOW + 100)), "lifetime");
        let no_jti = with(&|c| {
            c.as_object_mut().unwrap().remove("jti");
        });
        assert_eq!(reason(verify_at(&no_jti, &c, NOW)), "claims");

        // Binding: another app.
        let azp = with(&|c| c["azp"] = json!("another-app"));
        assert_eq!(reason(verify_at(&azp, &c, NOW)), "binding");
        let app_sub = with(&|c| c["sub"] = json!("alter:app:another-app"));
        assert_eq!(reason(verify_at(&app_sub, &c, NOW)), "binding");

        // Malformed.
        for bad in ["a.b", "a.b.c.d", "!!.e30.x", ".e30.x"] {
            assert_eq!(reason(verify_at(bad, &c, NOW)), "malformed", "{bad}");
        }
    }

    #[test]
    fn bad_arguments_name_the_argument_and_refusals_echo_nothing() {
        let s = Signer::new();
        let jwks = json!({"keys": [s.jwk("k1")]});
        let mut c = check(&jwks);
        c.issuer = "";
        let e = verify_at("a.b.c", &c, NOW).unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        assert!(e.to_string().contains("issuer"), "{e}");
        let no_keys = json!({"keys": "none"});
        let e = verify_at("a.b.c", &check(&no_keys), NOW).unwrap_err();
        assert!(e.to_string().contains("jwks"), "{e}");

        let token = Signer::new().sign(&header(), &claims());
        let e = verify_at(&token, &check(&jwks), NOW).unwrap_err();
        let shown = format!("{e} {e:?} {}", Value::Object(e.details().clone()));
        for secret in token.split('.') {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(!shown.contains(USER));
    }
}
