//! AWS Signature Version 4 for managed secrets holding AWS credentials
//! (requests.md §6.2–§6.4).
//!
//! Exactly `host`, `x-amz-date`, `x-amz-content-sha256` and, with a session
//! token, `x-amz-security-token` are signed; every other header travels
//! unsigned. The signing service and region come from the endpoint host when
//! it has a recognised shape, else from the credential.

use crate::error::{Error, Result};
use crate::provider_url::{percent_decode, percent_encode_unreserved, ParsedUrl};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::SystemTime;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Host labels (after `-fips` stripping) whose signing name differs (§6.4).
const SIGNING_NAME_OVERRIDES: [(&str, &str); 57] = [
    ("agreement-marketplace", "aws-marketplace"),
    ("api.detective", "detective"),
    ("api.ecr", "ecr"),
    ("api.ecr-public", "ecr-public"),
    ("api.iotdeviceadvisor", "iotdeviceadvisor"),
    ("api.iottwinmaker", "iottwinmaker"),
    ("api.iotwireless", "iotwireless"),
    ("api.mediatailor", "mediatailor"),
    ("api.pricing", "pricing"),
    ("api.sagemaker", "sagemaker"),
    ("api.tunneling.iot", "IoTSecuredTunneling"),
    ("appconfigdata", "appconfig"),
    ("appstream2", "appstream"),
    ("bedrock-runtime", "bedrock"),
    ("catalog.marketplace", "aws-marketplace"),
    ("cloudhsmv2", "cloudhsm"),
    ("cn.transcribe", "transcribe"),
    ("contact-lens", "connect"),
    ("data-ats.iot", "iotdata"),
    ("data.ats.iot", "iotdata"),
    ("data.iot", "iotdata"),
    ("data.iotevents", "ioteventsdata"),
    ("data.iottwinmaker", "iottwinmaker"),
    ("data.jobs.iot", "iot-jobs-data"),
    ("data.mediastore", "mediastore"),
    ("edge.sagemaker", "sagemaker"),
    ("entitlement-marketplace", "aws-marketplace"),
    ("eventsv2", "events"),
    ("greengrass-ats.iot", "greengrass"),
    ("identity-chime", "chime"),
    ("importexport", "IngestionService"),
    ("ingest.timestream", "timestream"),
    ("ivsrealtime", "ivs"),
    ("media-pipelines-chime", "chime"),
    ("meetings-chime", "chime"),
    ("memory-db", "memorydb"),
    ("messaging-chime", "chime"),
    ("metering.marketplace", "aws-marketplace"),
    ("metrics.sagemaker", "sagemaker"),
    ("models-v2-lex", "lex"),
    ("models.lex", "lex"),
    ("oidc", "sso-oauth"),
    ("participant.connect", "execute-api"),
    ("pinpoint", "mobiletargeting"),
    ("portal.sso", "awsssoportal"),
    ("query.timestream", "timestream"),
    ("runtime-v2-lex", "lex"),
    ("runtime.lex", "lex"),
    ("runtime.sagemaker", "sagemaker"),
    ("s3-control", "s3"),
    ("servicecatalog-appregistry", "servicecatalog"),
    ("streams.dynamodb", "dynamodb"),
    ("verification.signer", "signer"),
    ("voice-chime", "chime"),
    ("email", "ses"),
    ("entitlement.marketplace", "aws-marketplace"),
    ("forecastquery", "forecast"),
];

fn override_for(label: &str) -> Option<&'static str> {
    SIGNING_NAME_OVERRIDES
        .iter()
        .find(|(k, _)| *k == label)
        .map(|(_, v)| *v)
}

fn fips(s: &str) -> &str {
    s.strip_suffix("-fips").unwrap_or(s)
}

fn sign_name(s: &str) -> String {
    override_for(s).unwrap_or(s).to_string()
}

/// SVC: one label of `[a-z0-9-]+`.
fn is_svc(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// REGION: two lower-case letters, then `-[a-z0-9]+` groups, the last all
/// digits (`us-east-1`, `us-gov-west-1`).
fn is_region(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 4 || !b[0].is_ascii_lowercase() || !b[1].is_ascii_lowercase() || b[2] != b'-' {
        return false;
    }
    let groups: Vec<&str> = s[3..].split('-').collect();
    groups.iter().all(|g| {
        !g.is_empty()
            && g.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }) && groups
        .last()
        .is_some_and(|g| g.bytes().all(|c| c.is_ascii_digit()))
}

const REGIONLESS_GLOBAL: [&str; 9] = [
    "budgets",
    "cloudfront",
    "health",
    "iam",
    "importexport",
    "route53",
    "savingsplans",
    "sts",
    "waf",
];
const REGIONLESS_GOV: [&str; 3] = ["health", "iam", "route53"];
const REGIONLESS_CN: [&str; 3] = ["budgets", "health", "route53"];

/// Detects `(signing service, region)` from a host name (§6.3). `None` when
/// the host has none of the recognised shapes.
pub fn detect_service_region(host: &str) -> Option<(String, String)> {
    let host = host.to_ascii_lowercase();
    let found = |svc: String, region: &str| Some((svc, region.to_string()));

    // Shape 2: SVC.REGION.api.aws
    if let Some(rest) = host.strip_suffix(".api.aws") {
        if let [svc, region] = rest.split('.').collect::<Vec<_>>()[..] {
            if is_svc(svc) && is_region(region) {
                return found(sign_name(fips(svc)), region);
            }
        }
    }

    let (rest, cn) = if let Some(r) = host.strip_suffix(".amazonaws.com.cn") {
        (r, true)
    } else if let Some(r) = host.strip_suffix(".amazonaws.com") {
        (r, false)
    } else {
        return None;
    };
    let labels: Vec<&str> = rest.split('.').collect();

    // Shape 1: SVC.[dualstack.]REGION
    match labels[..] {
        [svc, region] | [svc, "dualstack", region] if is_svc(svc) && is_region(region) => {
            return found(sign_name(fips(svc)), region);
        }
        _ => {}
    }
    // Shape 3: LBL.s3[-fips].[dualstack.]REGION (virtual-hosted S3)
    match labels[..] {
        [lbl, s3, region] | [lbl, s3, "dualstack", region]
            if !lbl.is_empty() && (s3 == "s3" || s3 == "s3-fips") && is_region(region) =>
        {
            return found("s3".into(), region);
        }
        _ => {}
    }
    if !cn {
        // Shape 4: [LBL.]s3-REGION (legacy dash form)
        let last = labels[labels.len() - 1];
        let lead_ok = labels.len() == 1 || (labels.len() == 2 && !labels[0].is_empty());
        if lead_ok {
            if let Some(region) = last.strip_prefix("s3-").filter(|r| is_region(r)) {
                return found("s3".into(), region);
            }
            // Shape 5: [LBL.]s3[-external-1] (global S3)
            if last == "s3" || last == "s3-external-1" {
                return found("s3".into(), "us-east-1");
            }
        }
        // Shape 6: vpce-….SVC.REGION.vpce
        if let [vpce, svc, region, "vpce"] = labels[..] {
            let id_ok = vpce.strip_prefix("vpce-").is_some_and(is_svc);
            if id_ok && is_svc(svc) && is_region(region) {
                return found(sign_name(fips(svc)), region);
            }
        }
    }
    // Shape 7: [global.]SVC[.us-gov] (region-less global endpoints)
    let global = match labels[..] {
        [svc] | ["global", svc] => Some((svc, false)),
        [svc, "us-gov"] | ["global", svc, "us-gov"] => Some((svc, true)),
        _ => None,
    };
    if let Some((svc, gov)) = global.filter(|(svc, _)| is_svc(svc)) {
        let name = fips(svc);
        let region = if gov {
            REGIONLESS_GOV.contains(&name).then_some("us-gov-west-1")
        } else if cn {
            REGIONLESS_CN.contains(&name).then_some("cn-northwest-1")
        } else {
            REGIONLESS_GLOBAL.contains(&name).then_some("us-east-1")
        };
        if let Some(region) = region {
            return found(sign_name(name), region);
        }
    }
    // Shape 8: SVC(.SVC)+.REGION[.dualstack] with an override-table prefix
    let body = match labels[..] {
        [ref head @ .., "dualstack"] => head,
        ref all => all,
    };
    if let [ref prefix @ .., region] = body[..] {
        if prefix.len() >= 2 && prefix.iter().all(|l| is_svc(l)) && is_region(region) {
            let joined = prefix.join(".");
            if let Some(name) = override_for(fips(&joined)) {
                return found(name.to_string(), region);
            }
        }
    }
    None
}

/// The service and region to sign with: the host's, else the credential's
/// (an empty credential value counts as absent). `url_for_error` is named
/// in the error when one cannot be found.
pub fn resolve_service_region(
    host: &str,
    credential_service: Option<&str>,
    credential_region: Option<&str>,
    url_for_error: &str,
) -> Result<(String, String)> {
    let (service, region) = match detect_service_region(host) {
        Some((s, r)) => (Some(s), Some(r)),
        None => (None, None),
    };
    let pick = |detected: Option<String>, fallback: Option<&str>| {
        detected.or_else(|| fallback.filter(|s| !s.is_empty()).map(str::to_string))
    };
    let Some(region) = pick(region, credential_region) else {
        return Err(Error::value(format!(
            "Cannot determine AWS region from URL '{url_for_error}'. Pass region explicitly via additional_credentials."
        )));
    };
    let Some(service) = pick(service, credential_service) else {
        return Err(Error::value(format!(
            "Cannot determine AWS service from URL '{url_for_error}'. Pass service explicitly via additional_credentials."
        )));
    };
    Ok((service, region))
}

/// `(amz_date, date)`: `YYYYMMDDTHHMMSSZ` and `YYYYMMDD` in UTC.
pub fn amz_dates(now: SystemTime) -> (String, String) {
    let t = time::OffsetDateTime::from(now);
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let amz = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (amz, date)
}

/// The canonical URI (§6.2 step 8) of an already percent-encoded path.
pub fn canonical_uri(path: &str, service: &str) -> String {
    let mut path = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if service == "s3" {
        return path;
    }
    let mut out = String::with_capacity(path.len() + 16);
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        percent_encode_unreserved(seg, &mut out);
    }
    out
}

/// The canonical query (§6.2 step 9) of a raw query string.
pub fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let mut ek = String::new();
            let mut ev = String::new();
            percent_encode_unreserved(&percent_decode(k, false), &mut ek);
            percent_encode_unreserved(&percent_decode(v, false), &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `kSigning` of §6.2 step 12. The key and every intermediate key (each
/// derived from the secret key) are wiped when dropped.
pub fn signing_key(
    secret_key: &str,
    date: &str,
    region: &str,
    service: &str,
) -> Zeroizing<[u8; 32]> {
    let seed = Zeroizing::new(format!("AWS4{secret_key}"));
    let k_date = Zeroizing::new(hmac(seed.as_bytes(), date.as_bytes()));
    let k_region = Zeroizing::new(hmac(&*k_date, region.as_bytes()));
    let k_service = Zeroizing::new(hmac(&*k_region, service.as_bytes()));
    Zeroizing::new(hmac(&*k_service, b"aws4_request"))
}

/// The string to sign (§6.2 step 11).
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Everything one signature covers.
pub struct SigV4Request<'a> {
    pub method: &'a str,
    /// The URL that is both signed and sent (the merged URL).
    pub url: &'a str,
    /// A caller-supplied `Host` header value (any name case), which then is
    /// what gets signed.
    pub host_header: Option<&'a str>,
    pub payload: &'a [u8],
    pub access_key_id: &'a str,
    pub secret_key: &'a str,
    /// Signed and sent when non-empty.
    pub session_token: Option<&'a str>,
    pub service: &'a str,
    pub region: &'a str,
    pub now: SystemTime,
}

impl fmt::Debug for SigV4Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Request")
            .field("method", &self.method)
            .field("host_header", &self.host_header)
            .field("payload_len", &self.payload.len())
            .field("access_key_id", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .field("service", &self.service)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The result of signing: the headers to add, in order (`Authorization`,
/// `x-amz-date`, `x-amz-content-sha256`, then `x-amz-security-token` when a
/// session token is used), plus the intermediate strings for tests.
#[derive(Clone)]
pub struct SigV4Signature {
    pub headers: Vec<(String, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

impl fmt::Debug for SigV4Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Signature")
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Signs one request (§6.2 steps 5–13).
pub fn sign(req: &SigV4Request<'_>) -> Result<SigV4Signature> {
    let parsed = ParsedUrl::parse(req.url)
        .map_err(|_| Error::value("url must be a valid absolute HTTP URL"))?;
    let (amz_date, date) = amz_dates(req.now);
    let payload_hash = crate::signing::content_sha256(req.payload);
    let session_token = req.session_token.filter(|t| !t.is_empty());

    let host = match req.host_header {
        Some(h) => h.to_string(),
        None => {
            let mut h = if parsed.host.contains(':') {
                format!("[{}]", parsed.host)
            } else {
                parsed.host.clone()
            };
            if let Some(p) = parsed.explicit_port.filter(|p| *p != 80 && *p != 443) {
                h.push_str(&format!(":{p}"));
            }
            h
        }
    };
    let mut signed: Vec<(&str, String)> = vec![
        ("host", collapse_spaces(&host)),
        ("x-amz-content-sha256", payload_hash.clone()),
        ("x-amz-date", amz_date.clone()),
    ];
    if let Some(t) = session_token {
        signed.push(("x-amz-security-token", collapse_spaces(t)));
    }
    signed.sort();
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = signed.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(";");

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(&parsed.path, req.service),
        canonical_query(parsed.query.as_deref().unwrap_or("")),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope = format!("{date}/{}/{}/aws4_request", req.region, req.service);
    let sts = string_to_sign(&amz_date, &scope, &canonical_request);
    let key = signing_key(req.secret_key, &date, req.region, req.service);
    let signature = hex::encode(hmac(&*key, sts.as_bytes()));

    let mut headers = vec![
        (
            "Authorization".to_string(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                req.access_key_id
            ),
        ),
        ("x-amz-date".to_string(), amz_date),
        ("x-amz-content-sha256".to_string(), payload_hash),
    ];
    if let Some(t) = session_token {
        headers.push(("x-amz-security-token".to_string(), t.to_string()));
    }
    Ok(SigV4Signature {
        headers,
        canonical_request,
        string_to_sign: sts,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    // 2013-05-24T00:00:00Z and 2015-08-30T12:36:00Z.
    const S3_DOC_TIME: u64 = 1_369_353_600;
    const SUITE_TIME: u64 = 1_440_938_160;
    const S3_AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn s3_doc(url: &str) -> SigV4Signature {
        let host = ParsedUrl::parse(url).unwrap().host;
        let (service, region) = resolve_service_region(&host, None, None, url).unwrap();
        sign(&SigV4Request {
            method: "get",
            url,
            host_header: None,
            payload: b"",
            access_key_id: S3_AKID,
            secret_key: S3_SECRET,
            session_token: None,
            service: &service,
            region: &region,
            now: at(S3_DOC_TIME),
        })
        .unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(
            amz_dates(at(SUITE_TIME)),
            ("20150830T123600Z".to_string(), "20150830".to_string())
        );
    }

    /// AWS SigV4 test suite `get-vanilla`: its canonical request, string to
    /// sign and signature (signed headers `host;x-amz-date`).
    #[test]
    fn aws_test_suite_get_vanilla_primitives() {
        let canonical = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let sts = string_to_sign(
            "20150830T123600Z",
            "20150830/us-east-1/service/aws4_request",
            canonical,
        );
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "service",
        );
        assert_eq!(
            hex::encode(hmac(&*key, sts.as_bytes())),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The Amazon S3 documentation's published header-signing examples
    /// "GET Bucket Lifecycle" and "Get Bucket (List Objects)", which sign
    /// exactly host, x-amz-content-sha256 and x-amz-date, end to end from
    /// the URL (service and region detected from the host).
    #[test]
    fn s3_documentation_examples() {
        let lc = s3_doc("https://examplebucket.s3.amazonaws.com/?lifecycle=");
        assert_eq!(
            lc.signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
        assert_eq!(
            lc.headers[0],
            (
                "Authorization".to_string(),
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543".to_string()
            )
        );
        assert_eq!(
            lc.headers[1],
            ("x-amz-date".to_string(), "20130524T000000Z".to_string())
        );
        assert_eq!(
            lc.headers[2],
            (
                "x-amz-content-sha256".to_string(),
                crate::signing::EMPTY_SHA256.to_string()
            )
        );
        assert_eq!(lc.headers.len(), 3);
        // A bare key canonicalises as `lifecycle=`.
        assert_eq!(
            s3_doc("https://examplebucket.s3.amazonaws.com/?lifecycle").signature,
            lc.signature
        );
        for url in [
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
            "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2",
        ] {
            assert_eq!(
                s3_doc(url).signature,
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            );
        }
    }

    #[test]
    fn canonical_pieces() {
        assert_eq!(canonical_uri("", "execute-api"), "/");
        assert_eq!(canonical_uri("a/b", "s3"), "/a/b");
        assert_eq!(canonical_uri("/a%20b/c~d", "s3"), "/a%20b/c~d");
        assert_eq!(canonical_uri("/a%20b/c:d", "execute-api"), "/a%2520b/c%3Ad");
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("b=2&a=x+y&a=%20&c&d=%C3%A9"),
            "a=%20&a=x%2By&b=2&c=&d=%C3%A9"
        );
    }

    #[test]
    fn session_token_custom_host_and_port() {
        let req = SigV4Request {
            method: "POST",
            url: "https://abc.execute-api.us-west-2.amazonaws.com:8443/prod/a b?x=1",
            host_header: None,
            payload: br#"{"a": 1}"#,
            access_key_id: "AKIDEXAMPLE",
            secret_key: "SECRETKEYVALUE",
            session_token: Some("SESSIONTOKENVALUE"),
            service: "execute-api",
            region: "us-west-2",
            now: at(SUITE_TIME),
        };
        let s = sign(&req).unwrap();
        let payload_hash = crate::signing::content_sha256(br#"{"a": 1}"#);
        assert_eq!(
            s.canonical_request,
            format!(
                "POST\n/prod/a%2520b\nx=1\nhost:abc.execute-api.us-west-2.amazonaws.com:8443\nx-amz-content-sha256:{payload_hash}\nx-amz-date:20150830T123600Z\nx-amz-security-token:SESSIONTOKENVALUE\n\nhost;x-amz-content-sha256;x-amz-date;x-amz-security-token\n{payload_hash}"
            )
        );
        assert_eq!(
            s.headers[3],
            ("x-amz-security-token".into(), "SESSIONTOKENVALUE".into())
        );
        // The signature is HMAC over the documented string to sign.
        let key = signing_key("SECRETKEYVALUE", "20150830", "us-west-2", "execute-api");
        assert_eq!(
            s.signature,
            hex::encode(hmac(&*key, s.string_to_sign.as_bytes()))
        );
        assert!(s.headers[0]
            .1
            .ends_with(&format!("Signature={}", s.signature)));

        // A caller Host header is what gets signed; port 443 is never added.
        let with_host = sign(&SigV4Request {
            host_header: Some("  custom.example   host "),
            session_token: Some(""),
            ..req
        })
        .unwrap();
        assert!(with_host
            .canonical_request
            .contains("\nhost:custom.example host\n"));
        assert!(!with_host.canonical_request.contains("security-token"));
        assert_eq!(with_host.headers.len(), 3);
        let s443 = sign(&SigV4Request {
            url: "https://h.example:443/",
            ..req
        })
        .unwrap();
        assert!(s443.canonical_request.contains("\nhost:h.example\n"));

        let dbg = format!("{req:?} {s:?}");
        for secret in ["SECRETKEYVALUE", "SESSIONTOKENVALUE", &s.signature] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
    }

    #[test]
    fn host_detection_table() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            // 1
            ("sqs.us-east-1.amazonaws.com", Some(("sqs", "us-east-1"))),
            (
                "ec2.dualstack.eu-west-1.amazonaws.com",
                Some(("ec2", "eu-west-1")),
            ),
            (
                "kms-fips.us-gov-west-1.amazonaws.com",
                Some(("kms", "us-gov-west-1")),
            ),
            (
                "bedrock-runtime.us-east-1.amazonaws.com",
                Some(("bedrock", "us-east-1")),
            ),
            ("s3.cn-north-1.amazonaws.com.cn", Some(("s3", "cn-north-1"))),
            ("EMAIL.US-EAST-1.AMAZONAWS.COM", Some(("ses", "us-east-1"))),
            // 2
            (
                "lambda.eu-central-1.api.aws",
                Some(("lambda", "eu-central-1")),
            ),
            (
                "pinpoint-fips.us-east-1.api.aws",
                Some(("mobiletargeting", "us-east-1")),
            ),
            // 3
            (
                "my-bucket.s3.us-west-2.amazonaws.com",
                Some(("s3", "us-west-2")),
            ),
            (
                "b.s3-fips.dualstack.us-east-2.amazonaws.com",
                Some(("s3", "us-east-2")),
            ),
            (
                "b.s3.cn-northwest-1.amazonaws.com.cn",
                Some(("s3", "cn-northwest-1")),
            ),
            // 4
            ("s3-us-west-1.amazonaws.com", Some(("s3", "us-west-1"))),
            (
                "bucket.s3-eu-west-1.amazonaws.com",
                Some(("s3", "eu-west-1")),
            ),
            // 5
            ("s3.amazonaws.com", Some(("s3", "us-east-1"))),
            ("bucket.s3.amazonaws.com", Some(("s3", "us-east-1"))),
            (
                "bucket.s3-external-1.amazonaws.com",
                Some(("s3", "us-east-1")),
            ),
            // 6
            (
                "vpce-0a1b2c-xyz.ec2.us-east-1.vpce.amazonaws.com",
                Some(("ec2", "us-east-1")),
            ),
            // 7
            ("iam.amazonaws.com", Some(("iam", "us-east-1"))),
            ("sts.amazonaws.com", Some(("sts", "us-east-1"))),
            (
                "global.cloudfront.amazonaws.com",
                Some(("cloudfront", "us-east-1")),
            ),
            (
                "importexport.amazonaws.com",
                Some(("IngestionService", "us-east-1")),
            ),
            ("iam-fips.amazonaws.com", Some(("iam", "us-east-1"))),
            ("iam.us-gov.amazonaws.com", Some(("iam", "us-gov-west-1"))),
            (
                "route53.amazonaws.com.cn",
                Some(("route53", "cn-northwest-1")),
            ),
            ("sts.us-gov.amazonaws.com", None),
            ("iam.amazonaws.com.cn", None),
            ("dynamodb.amazonaws.com", None),
            // 8
            (
                "runtime.sagemaker.us-east-1.amazonaws.com",
                Some(("sagemaker", "us-east-1")),
            ),
            (
                "data-ats.iot.eu-west-1.amazonaws.com",
                Some(("iotdata", "eu-west-1")),
            ),
            (
                "api.tunneling.iot.us-east-1.amazonaws.com",
                Some(("IoTSecuredTunneling", "us-east-1")),
            ),
            (
                "api.ecr.us-west-2.dualstack.amazonaws.com",
                Some(("ecr", "us-west-2")),
            ),
            (
                "runtime.lex-fips.us-east-1.amazonaws.com",
                Some(("lex", "us-east-1")),
            ),
            ("foo.bar.us-east-1.amazonaws.com", None),
            // none
            ("example.com", None),
            ("abc.execute-api.us-west-2.amazonaws.com.evil.com", None),
            ("sqs.us-east-1a.amazonaws.com", None),
            ("sqs.useast-1.amazonaws.com", None),
        ];
        for (host, want) in cases {
            let got = detect_service_region(host);
            let want = want.map(|(s, r)| (s.to_string(), r.to_string()));
            assert_eq!(got, want, "{host}");
        }
        assert_eq!(SIGNING_NAME_OVERRIDES.len(), 57);
    }

    #[test]
    fn credential_fallbacks_and_errors() {
        assert_eq!(
            resolve_service_region(
                "api.example.com",
                Some("execute-api"),
                Some("eu-west-1"),
                "u"
            )
            .unwrap(),
            ("execute-api".to_string(), "eu-west-1".to_string())
        );
        // Detection wins over the credential.
        assert_eq!(
            resolve_service_region("sqs.us-east-1.amazonaws.com", Some("x"), Some("y"), "u")
                .unwrap(),
            ("sqs".to_string(), "us-east-1".to_string())
        );
        let e = resolve_service_region(
            "api.example.com",
            Some("svc"),
            Some(""),
            "https://api.example.com/x",
        )
        .unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        assert_eq!(
            e.message(),
            "Cannot determine AWS region from URL 'https://api.example.com/x'. Pass region explicitly via additional_credentials."
        );
        let e = resolve_service_region(
            "api.example.com",
            None,
            Some("us-east-1"),
            "https://api.example.com/x",
        )
        .unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        assert_eq!(
            e.message(),
            "Cannot determine AWS service from URL 'https://api.example.com/x'. Pass service explicitly via additional_credentials."
        );
    }
}
