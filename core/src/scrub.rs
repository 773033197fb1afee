//! Removing the injected credential from provider text before it leaves
//! the SDK.
//!
//! A provider may echo what it received: a debugging endpoint that reflects
//! the request, an error page quoting the `Authorization` header, a header
//! that repeats the key. Header redaction by name cannot catch that, so the
//! audit row and every error that quotes a provider body or header pass
//! through a [`Scrubber`] built from the credential of the call. It
//! replaces each secret value, and the forms a provider is likely to echo
//! it in, with [`REDACTED`]:
//!
//! - the raw value and the formatted header value (`Bearer <token>`);
//! - standard and URL-safe base64, padded or not;
//! - percent-encoding (upper- and lower-case hex, space as `%20` or `+`);
//! - the JSON string escape, when it differs;
//! - for a `Basic` injection, the decoded `user:password`, and the password
//!   (or the user name, when the password is empty).
//!
//! Forms are tried longest first, each with a SIMD substring search
//! (`memchr::memmem`) over the text. A scrubber is built for every call, so
//! this beats a multi-pattern automaton, whose construction alone cost more
//! than a hundred microseconds; the texts searched are capped (audit bodies
//! and quoted error bodies at 10,000 bytes).

use crate::token::TokenResponse;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use zeroize::Zeroizing;

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Replaces a call's secret values (and their encodings) in text.
pub struct Scrubber {
    /// Longest first. The needles themselves are secrets: kept
    /// zeroizing, never printed.
    needles: Vec<Zeroizing<String>>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} forms)", self.needles.len())
    }
}

fn percent_encoded(s: &str, space_as_plus: bool, lower_hex: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else if lower_hex {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every form of one secret worth looking for.
fn forms(secret: &str, out: &mut Vec<Zeroizing<String>>) {
    if secret.is_empty() {
        return;
    }
    let bytes = secret.as_bytes();
    let mut add = |s: String| out.push(Zeroizing::new(s));
    add(secret.to_string());
    // Unpadded: a prefix of the padded form, so it matches both (the `=`
    // left over reveals nothing).
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        add(engine.encode(bytes));
    }
    for plus in [false, true] {
        for lower in [false, true] {
            add(percent_encoded(secret, plus, lower));
        }
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    if json.len() >= 2 {
        add(json[1..json.len() - 1].to_string());
    }
}

/// For a `Basic` injection: the `user:password` pair the token encodes (or
/// is), and its secret half.
fn basic_auth_parts(token: &str) -> Vec<Zeroizing<String>> {
    let mut pairs = vec![Zeroizing::new(token.to_string())];
    if let Some(decoded) = STANDARD
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        pairs.push(Zeroizing::new(decoded));
    }
    let mut out = Vec::new();
    for pair in pairs {
        let Some((user, password)) = pair.split_once(':') else {
            continue;
        };
        let secret_half = if password.is_empty() { user } else { password };
        if !secret_half.is_empty() {
            out.push(Zeroizing::new(secret_half.to_string()));
        }
        out.push(Zeroizing::new(pair.to_string()));
    }
    out
}

/// `text` with every occurrence of `needle` replaced by [`REDACTED`], or
/// `None` when it has none. Both are UTF-8, so every match starts and ends
/// on a character boundary.
fn replace_all(text: &str, needle: &str) -> Option<String> {
    let mut hits = memchr::memmem::find_iter(text.as_bytes(), needle.as_bytes()).peekable();
    hits.peek()?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for at in hits {
        if at < last {
            continue; // overlaps the previous match
        }
        out.push_str(&text[last..at]);
        out.push_str(REDACTED);
        last = at + needle.len();
    }
    out.push_str(&text[last..]);
    Some(out)
}

impl Scrubber {
    /// A scrubber for these secret values (and their encodings).
    pub fn from_secrets<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Scrubber {
        let mut needles = Vec::new();
        for s in secrets {
            forms(s, &mut needles);
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Scrubber { needles }
    }

    /// The scrubber for one call's credential: the access token, the
    /// formatted header value, the additional credentials (in SigV4 mode
    /// the region and service are routing data, not secrets), and for a
    /// `Basic` format the pair the token stands for.
    pub fn for_token(token: &TokenResponse) -> Scrubber {
        let mut secrets: Vec<Zeroizing<String>> = vec![
            Zeroizing::new(token.access_token().to_string()),
            token.header_value(),
        ];
        let sigv4 = token.uses_sigv4();
        for (k, v) in token.additional_credentials.iter().flatten() {
            if !(sigv4 && matches!(k.as_str(), "region" | "service")) {
                secrets.push(Zeroizing::new(v.clone()));
            }
        }
        if token
            .injection_format
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("basic "))
        {
            secrets.extend(basic_auth_parts(token.access_token()));
        }
        Scrubber::from_secrets(secrets.iter().map(|s| s.as_str()))
    }

    /// `text` with every secret form replaced by [`REDACTED`].
    /// A longer form is replaced before any shorter one it contains (the
    /// header value before the bare token).
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for needle in &self.needles {
            if let Some(replaced) = replace_all(&out, needle) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }

    /// Scrubs every string (keys included) of a JSON value in place.
    pub fn scrub_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.scrub(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.scrub_value(i)),
            Value::Object(map) => {
                let dirty = map.keys().any(|k| matches!(self.scrub(k), Cow::Owned(_)));
                if dirty {
                    let old = std::mem::take(map);
                    for (k, mut val) in old {
                        self.scrub_value(&mut val);
                        map.insert(self.scrub(&k).into_owned(), val);
                    }
                } else {
                    map.values_mut().for_each(|i| self.scrub_value(i));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::parse_token_response;
    use base64::engine::general_purpose::URL_SAFE;
    use serde_json::json;

    fn token(v: Value) -> TokenResponse {
        parse_token_response(v.to_string().as_bytes(), None).unwrap()
    }

    const GID: &str = "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60";

    #[test]
    fn every_form_of_the_token_is_removed() {
        let secret = "tok/en+with spaces&\"q\"";
        let t = token(json!({"access_token": secret, "grant_id": GID}));
        let s = Scrubber::for_token(&t);
        let echoes = [
            secret.to_string(),
            format!("Bearer {secret}"),
            STANDARD.encode(secret),
            STANDARD_NO_PAD.encode(secret),
            URL_SAFE.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            percent_encoded(secret, false, false),
            percent_encoded(secret, true, false),
            percent_encoded(secret, false, true),
            serde_json::to_string(&json!({"authorization": format!("Bearer {secret}")})).unwrap(),
        ];
        for echo in echoes {
            let text = format!("before {echo} after");
            let clean = s.scrub(&text);
            assert!(!clean.contains(secret), "{clean}");
            for enc in [
                STANDARD.encode(secret),
                percent_encoded(secret, true, false),
            ] {
                assert!(!clean.contains(&enc), "{clean}");
            }
            assert!(
                clean.starts_with("before ") && clean.ends_with(" after"),
                "{clean}"
            );
            assert!(clean.contains(REDACTED), "{clean}");
        }
        // Text without a secret is returned as is, without a copy.
        assert!(matches!(
            s.scrub("nothing here"),
            Cow::Borrowed("nothing here")
        ));
    }

    #[test]
    fn additional_credentials_and_basic_pairs() {
        let pair = "svc-user:pa55word";
        let t = token(json!({
            "access_token": STANDARD.encode(pair), "grant_id": GID,
            "injection_format": "Basic {token}",
            "additional_credentials": {"account_id": "ACSECRET42"}
        }));
        let s = Scrubber::for_token(&t);
        for text in [
            "user:pass = svc-user:pa55word",
            "password pa55word leaked",
            "acct ACSECRET42",
            &format!("hdr Basic {}", STANDARD.encode(pair)),
        ] {
            let clean = s.scrub(text);
            for secret in ["pa55word", "ACSECRET42", &STANDARD.encode(pair)] {
                assert!(!clean.contains(secret), "{clean}");
            }
        }
        // A key sent as the user name with an empty password.
        let t = token(json!({
            "access_token": STANDARD.encode("sk_live_KEY:"), "grant_id": GID,
            "injection_format": "Basic {token}"
        }));
        assert!(!Scrubber::for_token(&t)
            .scrub("key sk_live_KEY")
            .contains("sk_live_KEY"));
    }

    #[test]
    fn sigv4_routing_data_is_not_a_secret() {
        let t = token(json!({
            "access_token": "AKIAEXAMPLE", "grant_id": GID, "injection_format": "AWS4-HMAC-SHA256",
            "additional_credentials": {"secret_key": "wJalrSECRET", "session_token": "IQoSESSION",
                                        "region": "us-west-2", "service": "sqs"}
        }));
        let clean = Scrubber::for_token(&t)
            .scrub("AKIAEXAMPLE wJalrSECRET IQoSESSION in us-west-2 for sqs")
            .into_owned();
        assert_eq!(
            clean,
            "<redacted> <redacted> <redacted> in us-west-2 for sqs"
        );
    }

    #[test]
    fn json_values_are_scrubbed_everywhere() {
        let s = Scrubber::from_secrets(["S3CR3T"]);
        let mut v = json!({"a": ["x S3CR3T y", 1, {"S3CR3T": "UzNDUjNU"}], "b": null});
        s.scrub_value(&mut v);
        assert_eq!(
            v,
            json!({"a": ["x <redacted> y", 1, {"<redacted>": "<redacted>"}], "b": null})
        );
        assert!(!format!("{s:?}").contains("S3CR3T"));
        let none = Scrubber::from_secrets([""]);
        assert_eq!(none.scrub("S3CR3T"), "S3CR3T");
    }
}
