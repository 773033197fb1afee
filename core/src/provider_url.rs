//! Provider URLs in retrieve mode (requests.md §2.3–§2.6): path templates,
//! the URL rules, the 65,536-character limit and how the provider query
//! string is built.
//!
//! URLs are parsed and re-rendered the way the reference HTTP client does:
//! scheme and host lower-cased, the default port dropped, dot segments
//! removed, and every character outside the allowed set of its component
//! percent-encoded (existing valid `%XX` escapes are kept). That rendering
//! is both what is measured against the limit and what goes on the wire.

use crate::error::{Error, Result};
use crate::signing::form_encode;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;

/// The longest URL accepted, in characters, once percent-encoded.
pub const MAX_URL_LENGTH: usize = 65_536;

const MSG_TOO_LONG: &str =
    "url with query_params must be at most 65,536 characters once percent-encoded";
const MSG_TOO_LONG_OR_INVALID: &str =
    "url with query_params must be at most 65,536 characters once percent-encoded, and valid";
/// §2.5 (a′): a `query_params` container a binding cannot read.
pub const MSG_QUERY_NOT_ENCODABLE: &str = "query_params cannot be encoded into the URL";

/// Appends `s` percent-encoded as UTF-8, leaving only the RFC 3986
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) literal, upper-case hex.
pub fn percent_encode_unreserved(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `{ctx}: path_params must be a dict[str, str]` error, for bindings
/// that receive something other than a map.
pub fn path_params_not_a_map(ctx: &str) -> Error {
    Error::value(format!("{ctx}: path_params must be a dict[str, str]"))
}

/// §2.3: substitutes `{key}` placeholders with percent-encoded values, in
/// order, then refuses any brace left. `ctx` is `request` or
/// `proxy_request`.
pub fn expand_path_params(url: &str, params: &[(String, String)], ctx: &str) -> Result<String> {
    if params.iter().any(|(k, _)| !is_identifier(k)) {
        return Err(Error::value(format!(
            "{ctx}: path_params must be a dict of string values keyed by identifiers matching [A-Za-z_][A-Za-z0-9_]*"
        )));
    }
    let out = substitute(url, params).ok_or_else(|| Error::value(MSG_TOO_LONG))?;
    // The first `{identifier}` left, if any. Once a `{` has no `}` after
    // it, no later one has either: stop there (the scan stays linear).
    let mut search = out.as_str();
    while let Some(open) = search.find('{') {
        let after = &search[open + 1..];
        let Some(close) = after.find('}') else { break };
        if is_identifier(&after[..close]) {
            return Err(Error::value(format!(
                "{ctx}: Invalid URL template or missing path_params: '{}'",
                &after[..close]
            )));
        }
        search = after;
    }
    if out.contains(['{', '}']) {
        return Err(Error::value(format!(
            "{ctx}: Invalid URL template or missing path_params"
        )));
    }
    Ok(out)
}

/// One piece of an expanded template: template text, or a parameter value
/// still to be percent-encoded.
enum Piece<'a> {
    Text(&'a str),
    Value(&'a str),
}

/// Walks `template`, handing each piece of the expansion to `emit`: every
/// `{key}` naming a parameter becomes that parameter's value (the first one
/// of that name); everything else is text. One pass over the template, so a
/// value is never read as template text and the work is linear in the
/// template whatever the number of parameters or placeholders. `emit`
/// returns false to stop early.
fn walk_template<'a>(
    template: &'a str,
    values: &HashMap<&str, &'a str>,
    mut emit: impl FnMut(Piece<'a>) -> bool,
) -> bool {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        match values.get(name) {
            Some(value) => {
                if !emit(Piece::Text(&rest[..open])) || !emit(Piece::Value(value)) {
                    return false;
                }
                rest = &after[close + 1..];
            }
            None => {
                if !emit(Piece::Text(&rest[..open + 1])) {
                    return false;
                }
                rest = after;
            }
        }
    }
    emit(Piece::Text(rest))
}

/// Characters `value` takes once percent-encoded by
/// [`percent_encode_unreserved`].
fn encoded_len(value: &str) -> usize {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                1
            } else {
                3
            }
        })
        .sum()
}

/// The template with its placeholders replaced, or `None` when the result
/// would exceed [`MAX_URL_LENGTH`] characters. The length is known before
/// anything is allocated: many repetitions of a placeholder with a long
/// value cannot make the SDK build a huge string only to refuse it.
fn substitute(template: &str, params: &[(String, String)]) -> Option<String> {
    let mut values: HashMap<&str, &str> = HashMap::with_capacity(params.len());
    for (k, v) in params {
        values.entry(k.as_str()).or_insert(v.as_str());
    }
    let mut chars = 0usize;
    let mut bytes = 0usize;
    let fits = walk_template(template, &values, |piece| {
        let (c, b) = match piece {
            Piece::Text(t) => (t.chars().count(), t.len()),
            Piece::Value(v) => (encoded_len(v), encoded_len(v)),
        };
        chars = chars.saturating_add(c);
        bytes = bytes.saturating_add(b);
        chars <= MAX_URL_LENGTH
    });
    if !fits {
        return None;
    }
    let mut out = String::with_capacity(bytes);
    walk_template(template, &values, |piece| {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Value(v) => percent_encode_unreserved(v, &mut out),
        }
        true
    });
    Some(out)
}

/// Why a URL could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// More than [`MAX_URL_LENGTH`] characters.
    TooLong,
    /// Not a URL the reference client would accept.
    Invalid,
}

/// A URL split into normalised components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// Lower-cased; empty for a relative reference.
    pub scheme: String,
    /// Percent-encoded; empty when absent.
    pub userinfo: String,
    /// Lower-cased (IDNA-encoded when not ASCII); IPv6 without brackets;
    /// empty when absent.
    pub host: String,
    /// The explicit port, unless it is the scheme's default. May be outside
    /// 0–65535 (see [`check_provider_url`]).
    pub port: Option<i64>,
    /// Whether the URL spelled a port at all (even the default one).
    pub explicit_port: Option<i64>,
    /// Percent-encoded, dot segments removed.
    pub path: String,
    /// Percent-encoded, without `?`.
    pub query: Option<String>,
    /// Percent-encoded, without `#`.
    pub fragment: Option<String>,
}

const SUB_DELIMS: &str = "!$&'()*+,;=";

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Percent-encodes everything outside unreserved + `safe`, keeping valid
/// `%XX` escapes and encoding a stray `%` as `%25`.
fn quote(s: &str, safe: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() && is_hex(b[i + 1]) && is_hex(b[i + 2]) {
            out.push_str(&s[i..i + 3]);
            i += 3;
            continue;
        }
        if c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~')
            || (c.is_ascii() && safe.as_bytes().contains(&c))
        {
            out.push(c as char);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
        i += 1;
    }
    out
}

/// RFC 3986 §5.2.4 dot-segment removal.
fn remove_dot_segments(path: &str) -> String {
    if !path.split('/').any(|s| s == "." || s == "..") {
        return path.to_string();
    }
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let n = segments.len();
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {}
            ".." => {
                if output.len() > 1 || (output.len() == 1 && !output[0].is_empty()) {
                    output.pop();
                }
            }
            s => output.push(s),
        }
        // A trailing `.` or `..` leaves a trailing slash.
        if (*seg == "." || *seg == "..") && i == n - 1 {
            output.push("");
        }
    }
    let joined = output.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Python `int()` on a port string: optional white space and sign, ASCII
/// digits. `Err` when it is not a number; huge values saturate.
fn parse_port(s: &str) -> std::result::Result<i64, ()> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let v = digits.parse::<i64>().unwrap_or(i64::MAX);
    Ok(if neg { -v } else { v })
}

fn default_port(scheme: &str) -> Option<i64> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

fn normalize_host(host: &str) -> std::result::Result<String, UrlError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(UrlError::Invalid)?;
        inner
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| UrlError::Invalid)?;
        return Ok(inner.to_ascii_lowercase());
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        host.parse::<std::net::Ipv4Addr>()
            .map_err(|_| UrlError::Invalid)?;
        return Ok(host.to_string());
    }
    if host.is_ascii() {
        return Ok(quote(&host.to_ascii_lowercase(), SUB_DELIMS));
    }
    match url::Host::parse(host) {
        Ok(url::Host::Domain(d)) => Ok(d),
        _ => Err(UrlError::Invalid),
    }
}

impl ParsedUrl {
    /// Parses a URL leniently, as the reference HTTP client does.
    pub fn parse(url: &str) -> std::result::Result<ParsedUrl, UrlError> {
        if url.chars().count() > MAX_URL_LENGTH {
            return Err(UrlError::TooLong);
        }
        if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(UrlError::Invalid);
        }
        let mut rest = url;
        let mut scheme = String::new();
        if let Some(colon) = rest.find(':') {
            let cand = &rest[..colon];
            let mut bytes = cand.bytes();
            if matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
                && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
            {
                scheme = cand.to_ascii_lowercase();
                rest = &rest[colon + 1..];
            }
        }
        let mut authority = None;
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            authority = Some(&after[..end]);
            rest = &after[end..];
        }
        let (before_frag, fragment) = match rest.find('#') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (path, query) = match before_frag.find('?') {
            Some(i) => (&before_frag[..i], Some(&before_frag[i + 1..])),
            None => (before_frag, None),
        };

        let (mut userinfo, mut host, mut explicit_port) = (String::new(), String::new(), None);
        if let Some(auth) = authority {
            let (ui, hostport) = match auth.rfind('@') {
                Some(i) => (Some(&auth[..i]), &auth[i + 1..]),
                None => (None, auth),
            };
            if let Some(ui) = ui {
                userinfo = quote(ui, &format!("{SUB_DELIMS}:"));
            }
            let (raw_host, raw_port) = if hostport.starts_with('[') {
                match hostport.rfind(']') {
                    Some(i) => {
                        let p = &hostport[i + 1..];
                        (&hostport[..=i], p.strip_prefix(':').unwrap_or(p))
                    }
                    None => match hostport.find(':') {
                        Some(i) => (&hostport[..i], &hostport[i + 1..]),
                        None => (hostport, ""),
                    },
                }
            } else {
                match hostport.find(':') {
                    Some(i) => (&hostport[..i], &hostport[i + 1..]),
                    None => (hostport, ""),
                }
            };
            if !raw_host.is_empty() {
                host = normalize_host(raw_host)?;
            }
            if !raw_port.is_empty() {
                explicit_port = Some(parse_port(raw_port).map_err(|_| UrlError::Invalid)?);
            }
        }
        if scheme.is_empty() && authority.is_none() {
            let first = path.split('/').next().unwrap_or("");
            if first.contains(':') {
                return Err(UrlError::Invalid);
            }
        }
        let has_authority = !userinfo.is_empty() || !host.is_empty() || explicit_port.is_some();
        let path = if !scheme.is_empty() || has_authority {
            remove_dot_segments(path)
        } else {
            path.to_string()
        };
        let port = explicit_port.filter(|p| Some(*p) != default_port(&scheme));
        Ok(ParsedUrl {
            scheme,
            userinfo,
            host,
            port,
            explicit_port,
            path: quote(&path, &format!("{SUB_DELIMS}:/[]@")),
            query: query.map(|q| quote(q, &format!("{SUB_DELIMS}:/?[]@"))),
            fragment: fragment.map(|f| quote(f, &format!("{SUB_DELIMS}:/?#[]@"))),
        })
    }

    /// `host[:port]` as written in an absolute URL (IPv6 bracketed).
    pub fn authority(&self) -> String {
        let mut out = String::new();
        if !self.userinfo.is_empty() {
            out.push_str(&self.userinfo);
            out.push('@');
        }
        if self.host.contains(':') {
            let _ = write!(out, "[{}]", self.host);
        } else {
            out.push_str(&self.host);
        }
        if let Some(p) = self.port {
            let _ = write!(out, ":{p}");
        }
        out
    }

    /// Renders the URL with `query` in place of its own query.
    fn render_with_query(&self, query: Option<&str>) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.host.is_empty() || !self.userinfo.is_empty() || self.port.is_some() {
            out.push_str("//");
            out.push_str(&self.authority());
        }
        out.push_str(&self.path);
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        if let Some(f) = &self.fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }

    /// The normalised URL.
    pub fn render(&self) -> String {
        self.render_with_query(self.query.as_deref())
    }
}

/// The refusal of a URL with `user:password@` (see [`check_authority`]).
pub const MSG_USERINFO: &str = "url must not contain user information (user:password@host): the vault injects the credential; send other credentials as headers";
/// The refusal of a host that URL parsers read differently.
pub const MSG_AMBIGUOUS_HOST: &str = "url host is ambiguous: URL parsers read it differently (numeric forms such as decimal, octal, hex or shortened IPv4 are refused); write a DNS name, a dotted-decimal IPv4 address or a bracketed IPv6 address";

/// Whether our host and the WHATWG host (the `url` crate's, which the HTTP
/// client connects to) are the same host.
fn same_host(ours: &str, theirs: Option<url::Host<&str>>) -> bool {
    match theirs {
        Some(url::Host::Ipv6(a)) => ours.parse::<std::net::Ipv6Addr>() == Ok(a),
        Some(url::Host::Ipv4(a)) => ours.parse::<std::net::Ipv4Addr>() == Ok(a),
        Some(url::Host::Domain(d)) => {
            d == ours && ours.parse::<std::net::Ipv4Addr>().is_err() && !ours.contains(':')
        }
        None => false,
    }
}

/// Whether the WHATWG parser reads `text` with the scheme, host and port
/// of `parsed`.
fn whatwg_agrees(text: &str, parsed: &ParsedUrl) -> bool {
    url::Url::parse(text).is_ok_and(|u| {
        u.scheme() == parsed.scheme
            && same_host(&parsed.host, u.host())
            && u.port().map(i64::from) == parsed.port
    })
}

/// Checks that credentials can only go where the vault approves: no
/// `user:password@` (it would reach the provider as a second credential and
/// be written into the audit row), and a host that every parser reads the
/// same way. The vault is told one host; the HTTP client connects to the
/// host the `url` crate (WHATWG rules) reads, so both the URL as written
/// and its normalised rendering must give that host, scheme and port.
/// `http://2130706433/`, `0x7f.0.0.1`, `0177.0.0.1` and `127.1` are all
/// 127.0.0.1 to a browser-style parser and something else (or nothing) to
/// others, so they are refused. Divergence from the reference, which
/// accepts all of them.
///
/// Applies to an absolute URL with a host; whether there must be one is
/// the caller's rule.
pub fn check_authority(url: &str, parsed: &ParsedUrl) -> Result<()> {
    if !parsed.userinfo.is_empty()
        || url::Url::parse(url).is_ok_and(|u| {
            u.has_authority() && (!u.username().is_empty() || u.password().is_some())
        })
    {
        return Err(Error::value(MSG_USERINFO));
    }
    if parsed.host.is_empty() || !matches!(parsed.scheme.as_str(), "http" | "https") {
        return Ok(());
    }
    if !whatwg_agrees(url, parsed) || !whatwg_agrees(&parsed.render(), parsed) {
        return Err(Error::value(MSG_AMBIGUOUS_HOST));
    }
    Ok(())
}

/// [`check_authority`] for a URL whose other rules are the backend's (proxy
/// mode, requests.md §2.4): a URL this parser cannot read is left to the
/// backend, unless the WHATWG parser reads an IPv4 address in it
/// (`0177.0.0.1`), which is ambiguous.
pub fn check_target(url: &str) -> Result<()> {
    match ParsedUrl::parse(url) {
        Ok(parsed) => check_authority(url, &parsed),
        Err(_) if is_ambiguous_numeric(url) => Err(Error::value(MSG_AMBIGUOUS_HOST)),
        Err(_) => Ok(()),
    }
}

/// A URL we cannot parse that the WHATWG parser reads as an IPv4 address
/// (`0177.0.0.1`): ambiguous rather than merely invalid.
fn is_ambiguous_numeric(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.host(), Some(url::Host::Ipv4(_))))
}

/// The URL the vault is told about in `/sdk/token` `request.url`, and the
/// audit row's `url`: the normalised rendering the provider is called
/// with (scheme and host lower-cased, default port dropped, dot segments
/// removed, percent-encoding as on the wire), with the URL's own query and
/// without the fragment, which is never sent. So the scheme, host, port and
/// path the vault approves are exactly the ones connected to and requested.
///
/// As in the reference (requests.md §3.2), `query_params` and injected
/// query credentials are not part of it; the URL's own query is, even when
/// `query_params` later replace it on the wire (§2.6). For a URL already
/// in normal form (the usual case) this is the URL as given, byte for byte.
pub fn declared_url(expanded: &str) -> Result<String> {
    let mut parsed = ParsedUrl::parse(expanded).map_err(|_| parse_err())?;
    parsed.fragment = None;
    let rendered = parsed.render();
    // The serialisation the HTTP client puts on the wire.
    Ok(url::Url::parse(&rendered).map_or(rendered, String::from))
}

/// §2.4: the provider URL rules (retrieve mode only), applied to the
/// expanded URL, plus [`check_authority`].
pub fn check_provider_url(url: &str) -> Result<()> {
    if url.is_empty() {
        return Err(Error::value("url must be a non-empty absolute URL"));
    }
    let parsed = match ParsedUrl::parse(url) {
        Ok(p) => p,
        Err(UrlError::TooLong) => return Err(Error::value(MSG_TOO_LONG)),
        Err(UrlError::Invalid) if is_ambiguous_numeric(url) => {
            return Err(Error::value(MSG_AMBIGUOUS_HOST))
        }
        Err(UrlError::Invalid) => {
            return Err(Error::value("url must be a valid absolute HTTP URL"))
        }
    };
    if !parsed.userinfo.is_empty() {
        return Err(Error::value(MSG_USERINFO));
    }
    if parsed.host.is_empty() {
        return Err(Error::value("url must include a hostname"));
    }
    if matches!(parsed.explicit_port, Some(p) if !(0..=65535).contains(&p)) {
        return Err(Error::value("url must use a valid port (0-65535)"));
    }
    check_authority(url, &parsed)?;
    let ok = match parsed.scheme.as_str() {
        "https" => true,
        "http" => matches!(parsed.host.as_str(), "localhost" | "127.0.0.1" | "::1"),
        _ => false,
    };
    if !ok {
        return Err(Error::value(
            "url must use https; http is permitted only for localhost loopback development",
        ));
    }
    Ok(())
}

/// One `query_params` value (§2.6).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum QueryValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Becomes a repeated key.
    List(Vec<QueryValue>),
}

impl From<&str> for QueryValue {
    fn from(s: &str) -> Self {
        QueryValue::Str(s.to_string())
    }
}

impl From<String> for QueryValue {
    fn from(s: String) -> Self {
        QueryValue::Str(s)
    }
}

impl From<i64> for QueryValue {
    fn from(i: i64) -> Self {
        QueryValue::Int(i)
    }
}

impl From<bool> for QueryValue {
    fn from(b: bool) -> Self {
        QueryValue::Bool(b)
    }
}

impl From<f64> for QueryValue {
    fn from(f: f64) -> Self {
        QueryValue::Float(f)
    }
}

/// `query_params` in map order.
pub type QueryParams = Vec<(String, QueryValue)>;

/// Python `repr()` of a float: shortest round trip, exponent form below
/// 1e-4 and from 1e16 on, with a signed two-digit exponent.
pub fn python_float_str(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:?}` switches to exponent form at the same thresholds as
    // Python; only the exponent spelling differs (`1e-7` vs `1e-07`).
    let s = format!("{f:?}");
    match s.split_once('e') {
        None => s,
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

fn python_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

fn python_repr(v: &QueryValue, out: &mut String) {
    match v {
        QueryValue::Null => out.push_str("None"),
        QueryValue::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        QueryValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        QueryValue::Float(f) => out.push_str(&python_float_str(*f)),
        QueryValue::Str(s) => python_str_repr(s, out),
        QueryValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_repr(item, out);
            }
            out.push(']');
        }
    }
}

/// The text a scalar query value is sent as. A list nested in a list is
/// sent as its Python `str()` rendering, as the reference does.
fn scalar_text(v: &QueryValue) -> String {
    match v {
        QueryValue::Null => String::new(),
        QueryValue::Bool(b) => (if *b { "true" } else { "false" }).into(),
        QueryValue::Int(i) => i.to_string(),
        QueryValue::Float(f) => python_float_str(*f),
        QueryValue::Str(s) => s.clone(),
        QueryValue::List(_) => {
            let mut out = String::new();
            python_repr(v, &mut out);
            out
        }
    }
}

/// The texts one entry is sent as: one per list item, or one.
fn value_texts(v: &QueryValue) -> Vec<String> {
    match v {
        QueryValue::List(items) => items.iter().map(scalar_text).collect(),
        other => vec![scalar_text(other)],
    }
}

fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode(k, &mut out);
        out.push('=');
        form_encode(v, &mut out);
    }
    out
}

/// Form-style encoding of `query_params` (§2.6): pairs in map order, a list
/// as a repeated key, space as `+`, unreserved characters literal.
pub fn form_encode_query(params: &QueryParams) -> String {
    let texts: Vec<(&str, Vec<String>)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), value_texts(v)))
        .collect();
    encode_pairs(
        texts
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (*k, v.as_str()))),
    )
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Percent-decodes (malformed escapes stay literal), optionally reading `+`
/// as a space first; invalid UTF-8 becomes U+FFFD.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && is_hex(b[i + 1]) && is_hex(b[i + 2]) {
            out.push(hex_val(b[i + 1]) * 16 + hex_val(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(if plus_as_space && b[i] == b'+' {
            b' '
        } else {
            b[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_err() -> Error {
    Error::value(MSG_TOO_LONG_OR_INVALID)
}

/// The URL as sent by the non-SigV4 transport: when `query` is given (even
/// empty) it replaces the URL's own query; otherwise the URL's query is
/// kept.
pub fn url_with_replaced_query(url: &str, query: Option<&QueryParams>) -> Result<String> {
    let parsed = ParsedUrl::parse(url).map_err(|_| parse_err())?;
    Ok(match query {
        None => parsed.render(),
        Some(params) => {
            let q = form_encode_query(params);
            parsed.render_with_query((!q.is_empty()).then_some(q.as_str()))
        }
    })
}

/// The URL as signed and sent by the SigV4 transport: the existing query is
/// decoded and grouped by key (all values of a key together, at the key's
/// first position), a key present in `query` has its values replaced in
/// place, new keys are appended in map order, and everything is
/// re-serialised in form style.
pub fn url_with_merged_query(url: &str, query: Option<&QueryParams>) -> Result<String> {
    let parsed = ParsedUrl::parse(url).map_err(|_| parse_err())?;
    // Groups in first-seen order, found by key through an index: linear in
    // the number of pairs (a 64 KiB URL holds tens of thousands).
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    fn slot<'a>(
        groups: &'a mut Vec<(String, Vec<String>)>,
        index: &mut HashMap<String, usize>,
        key: &str,
    ) -> &'a mut Vec<String> {
        let i = match index.get(key) {
            Some(&i) => i,
            None => {
                groups.push((key.to_string(), Vec::new()));
                index.insert(key.to_string(), groups.len() - 1);
                groups.len() - 1
            }
        };
        &mut groups[i].1
    }
    for part in parsed.query.as_deref().unwrap_or("").split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (percent_decode(k, true), percent_decode(v, true));
        slot(&mut groups, &mut index, &k).push(v);
    }
    if let Some(params) = query {
        let mut replaced: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (k, v) in params {
            let values = slot(&mut groups, &mut index, k);
            if replaced.insert(k.as_str()) {
                values.clear();
            }
            values.extend(value_texts(v));
        }
    }
    let q = encode_pairs(
        groups
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str()))),
    );
    Ok(parsed.render_with_query((!q.is_empty()).then_some(q.as_str())))
}

/// Whether a rendered URL is within the limit.
pub fn within_length_limit(url: &str) -> bool {
    url.chars().count() <= MAX_URL_LENGTH
}

/// §2.5 (b) and (c): the final URL must be within the limit.
pub fn check_final_length(url: &str) -> Result<()> {
    if within_length_limit(url) {
        Ok(())
    } else {
        Err(parse_err())
    }
}

/// §2.5 (a): before the token fetch, fails only when both the replaced and
/// the merged forms are too long, or neither can be built.
pub fn check_pre_token_length(url: &str, query: Option<&QueryParams>) -> Result<()> {
    let replaced = url_with_replaced_query(url, query).ok();
    let merged = url_with_merged_query(url, query).ok();
    let fits = |u: &Option<String>| u.as_deref().is_some_and(within_length_limit);
    if fits(&replaced) || fits(&merged) {
        Ok(())
    } else {
        Err(parse_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pp(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn value_err<T: std::fmt::Debug>(r: Result<T>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        e.message().to_string()
    }

    #[test]
    fn path_template_example() {
        assert_eq!(
            expand_path_params(
                "https://api.x.com/v1/{id}/items",
                &pp(&[("id", "a/b c")]),
                "request"
            )
            .unwrap(),
            "https://api.x.com/v1/a%2Fb%20c/items"
        );
        assert_eq!(
            expand_path_params(
                "https://h/{a}/{b}/{a}",
                &pp(&[("a", "{%}é"), ("b", "x-._~"), ("unused", "z")]),
                "request"
            )
            .unwrap(),
            "https://h/%7B%25%7D%C3%A9/x-._~/%7B%25%7D%C3%A9"
        );
        assert_eq!(
            expand_path_params("https://h/p", &[], "request").unwrap(),
            "https://h/p"
        );
    }

    #[test]
    fn path_expansion_is_bounded_before_it_is_built() {
        // 20,000 placeholders of a 20,000-character value would be 4·10^8
        // characters: refused with the URL length error, not built.
        let template = format!("https://h/{}", "{a}".repeat(20_000));
        let value = "v".repeat(20_000);
        let e = expand_path_params(&template, &pp(&[("a", &value)]), "request").unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        assert_eq!(e.message(), MSG_TOO_LONG);
        // Exactly at the limit is fine; one more character is not.
        let head = "https://h/";
        let fill = "x".repeat(MAX_URL_LENGTH - head.len() - 3);
        let ok = expand_path_params(
            &format!("{head}{{a}}"),
            &pp(&[("a", &format!("{fill}%"))]),
            "r",
        );
        assert_eq!(ok.unwrap().chars().count(), MAX_URL_LENGTH);
        let over = expand_path_params(
            &format!("{head}{{a}}"),
            &pp(&[("a", &format!("{fill}%x"))]),
            "r",
        );
        assert_eq!(over.unwrap_err().message(), MSG_TOO_LONG);
        // Non-ASCII template text counts in characters, as the URL rule does.
        let wide = format!("https://h/{}", "é".repeat(MAX_URL_LENGTH));
        assert_eq!(value_err(expand_path_params(&wide, &[], "r")), MSG_TOO_LONG);
        // Many parameters, each used many times: one pass over the template.
        let params: Vec<(String, String)> = (0..2_000)
            .map(|i| (format!("p{i}"), i.to_string()))
            .collect();
        let template: String = (0..2_000).map(|i| format!("/{{p{i}}}")).collect();
        let out = expand_path_params(&format!("https://h{template}"), &params, "r").unwrap();
        assert!(out.ends_with("/1998/1999"));
        // The first value given for a repeated name wins (as before).
        assert_eq!(
            expand_path_params("https://h/{a}", &pp(&[("a", "1"), ("a", "2")]), "r").unwrap(),
            "https://h/1"
        );
        // A run of unclosed braces is refused without a quadratic scan.
        let braces = format!("https://h/{}", "{".repeat(60_000));
        assert_eq!(
            value_err(expand_path_params(&braces, &[], "r")),
            "r: Invalid URL template or missing path_params"
        );
    }

    #[test]
    fn merged_query_handles_many_pairs() {
        // Tens of thousands of pairs fit in a 64 KiB URL: grouping them is
        // linear (it used to look every key up by a scan of the groups).
        let pairs: Vec<String> = (0..5_000).map(|i| format!("k{i}={i}")).collect();
        let url = format!("https://h/p?{}&k0=again", pairs.join("&"));
        let query: QueryParams = vec![("k4999".into(), "new".into()), ("z".into(), "1".into())];
        let merged = url_with_merged_query(&url, Some(&query)).unwrap();
        assert!(
            merged.starts_with("https://h/p?k0=0&k0=again&k1=1&"),
            "{}",
            &merged[..60]
        );
        assert!(merged.ends_with("&k4998=4998&k4999=new&z=1"));
    }

    #[test]
    fn path_template_errors() {
        let bad_key = "request: path_params must be a dict of string values keyed by identifiers matching [A-Za-z_][A-Za-z0-9_]*";
        for k in ["", "1a", "a-b", "a.b", "é"] {
            assert_eq!(
                value_err(expand_path_params(
                    "https://h/{x}",
                    &pp(&[(k, "v")]),
                    "request"
                )),
                bad_key
            );
        }
        assert_eq!(
            value_err(expand_path_params(
                "https://h/{id}/{other}",
                &pp(&[("id", "1")]),
                "proxy_request"
            )),
            "proxy_request: Invalid URL template or missing path_params: 'other'"
        );
        for url in [
            "https://h/{0}",
            "https://h/{a.b}",
            "https://h/{x:spec}",
            "https://h/}",
            "https://h/{",
        ] {
            assert_eq!(
                value_err(expand_path_params(url, &[], "request")),
                "request: Invalid URL template or missing path_params",
                "{url}"
            );
        }
        assert_eq!(
            value_err(expand_path_params("https://h/{ {_x1}", &[], "request")),
            "request: Invalid URL template or missing path_params: '_x1'"
        );
        assert_eq!(
            path_params_not_a_map("request").message(),
            "request: path_params must be a dict[str, str]"
        );
    }

    #[test]
    fn url_rule_table() {
        let ok = [
            "https://api.example.com/v1",
            "https://10.0.0.1:8443/x",
            "https://[2001:db8::1]/x",
            "http://localhost:3000/x",
            "HTTP://LOCALHOST/x",
            "http://127.0.0.1/x",
            "http://[::1]:8080/x",
            "https://h/a b?c d",
            "https://h:0/",
            "https://h:65535/",
            "https://bücher.example/",
            "https://h.example./x",
            "https://[::ffff:127.0.0.1]/x",
        ];
        for u in ok {
            check_provider_url(u).unwrap_or_else(|e| panic!("{u}: {}", e.message()));
        }
        let cases = [
            ("", "url must be a non-empty absolute URL"),
            ("https://h:abc/", "url must be a valid absolute HTTP URL"),
            (
                "https://999.1.1.1/",
                "url must be a valid absolute HTTP URL",
            ),
            ("https://[zz]/", "url must be a valid absolute HTTP URL"),
            ("https://h/\nx", "url must be a valid absolute HTTP URL"),
            ("/x", "url must include a hostname"),
            ("https://", "url must include a hostname"),
            ("mailto:a@b.c", "url must include a hostname"),
            ("https://h:65536/", "url must use a valid port (0-65535)"),
            ("https://h:-1/", "url must use a valid port (0-65535)"),
            (
                "http://example.com/",
                "url must use https; http is permitted only for localhost loopback development",
            ),
            (
                "http://127.0.0.2/",
                "url must use https; http is permitted only for localhost loopback development",
            ),
            (
                "ftp://h/",
                "url must use https; http is permitted only for localhost loopback development",
            ),
            (
                "wss://h/",
                "url must use https; http is permitted only for localhost loopback development",
            ),
        ];
        for (u, msg) in cases {
            assert_eq!(value_err(check_provider_url(u)), msg, "{u}");
        }
        let long = format!("https://h/{}", "a".repeat(MAX_URL_LENGTH));
        assert_eq!(value_err(check_provider_url(&long)), MSG_TOO_LONG);
    }

    #[test]
    fn userinfo_is_refused_before_anything_else_about_the_host() {
        for u in [
            "https://user:pw@h/",
            "https://user@h/",
            "https://:pw@h/",
            "http://u:p@127.0.0.1/x",
            "https://a@b@h/",
            "HTTPS://User:PW@API.example.com:443/v1",
            // `\` ends the authority for a WHATWG parser, not for others.
            "https://evil.example\\@good.example/",
        ] {
            assert_eq!(value_err(check_provider_url(u)), MSG_USERINFO, "{u}");
        }
        // The message never quotes the password.
        assert!(!MSG_USERINFO.contains("pw"));
    }

    #[test]
    fn ambiguous_hosts_are_refused() {
        for u in [
            "http://2130706433/",
            "https://2130706433/",
            "http://0177.0.0.1/",
            "https://0177.0.0.01/",
            "https://0x7f.0.0.1/",
            "http://0x7F000001/",
            "http://127.1/",
            "https://127.0.1/",
            "https://10.1/",
            "http://127.0.0.1./",
            "https://h%61st.example/",
            "https://evil.example\\.good.example/",
            "https://1.2.3.4.5/",
            "https://exa mple.com/",
        ] {
            assert_eq!(value_err(check_provider_url(u)), MSG_AMBIGUOUS_HOST, "{u}");
        }
    }

    /// The `url` crate (the WHATWG parser the HTTP client connects with) is
    /// the oracle: for every URL the rules accept, it reads the same
    /// scheme, host and port from the URL as written and from the rendering
    /// sent on the wire; every host it reads differently is refused.
    #[test]
    fn accepted_hosts_agree_with_the_whatwg_parser() {
        let pieces = [
            "",
            "0",
            "00",
            "1",
            "127",
            "255",
            "256",
            "0x",
            "0x7f",
            "0X1",
            "08",
            "4294967295",
            "a",
            "A",
            "xn--bcher-kva",
            "bücher",
            "%41",
            "%",
            "_",
            "-",
            "\\",
            "[",
            "]",
            "::1",
            "é",
        ];
        let mut hosts = Vec::new();
        for a in pieces {
            hosts.push(a.to_string());
            for b in pieces {
                hosts.push(format!("{a}.{b}"));
                hosts.push(format!("{a}.{b}."));
                for c in ["0", "1", "example", "0x1"] {
                    hosts.push(format!("{a}.{b}.{c}"));
                    hosts.push(format!("{a}.{b}.0.{c}"));
                }
            }
        }
        hosts.extend(
            [
                "[::1]",
                "[::ffff:7f00:1]",
                "[2001:DB8::1]",
                "[fe80::1%25eth0]",
            ]
            .map(String::from),
        );
        let (mut accepted, mut refused) = (0, 0);
        for host in &hosts {
            for scheme in ["https", "http"] {
                let url = format!("{scheme}://{host}:8443/p");
                let Ok(()) = check_provider_url(&url) else {
                    refused += 1;
                    continue;
                };
                accepted += 1;
                let ours = ParsedUrl::parse(&url).unwrap();
                for text in [url.clone(), ours.render(), declared_url(&url).unwrap()] {
                    let theirs = url::Url::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                    let theirs_host = match theirs.host().unwrap() {
                        url::Host::Domain(d) => d.to_string(),
                        url::Host::Ipv4(a) => a.to_string(),
                        url::Host::Ipv6(a) => a.to_string(),
                    };
                    let ours_host = match ours.host.parse::<std::net::Ipv6Addr>() {
                        Ok(a) => a.to_string(),
                        Err(_) => ours.host.clone(),
                    };
                    assert_eq!(theirs_host, ours_host, "{url} read as {text}");
                    assert_eq!(theirs.port(), Some(8443), "{url}");
                    assert_eq!(theirs.scheme(), scheme, "{url}");
                }
            }
        }
        // Both sides of the property are exercised.
        assert!(
            accepted > 100 && refused > 100,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn the_declared_url_is_the_wire_rendering_without_fragment() {
        let d = |u: &str| declared_url(u).unwrap();
        assert_eq!(
            d("HTTPS://API.Example.COM:443/a/./b/../c d?x=1 2&y='#frag"),
            "https://api.example.com/a/c%20d?x=1%202&y=%27"
        );
        assert_eq!(d("http://127.0.0.1:80/p"), "http://127.0.0.1/p");
        assert_eq!(
            d("https://bücher.example/é"),
            "https://xn--bcher-kva.example/%C3%A9"
        );
        // A URL already in normal form is declared byte for byte.
        for u in [
            "https://api.example.com/v1/refunds",
            "https://www.googleapis.com/calendar/v3/calendars/primary/events?maxResults=5",
            "http://127.0.0.1:8080/x/a%2Fb%20c",
        ] {
            assert_eq!(d(u), u);
        }
        // What the HTTP client would request from the rendering of the URL.
        let wire = url::Url::parse(&url_with_replaced_query("https://h/a b/'?q='", None).unwrap())
            .unwrap();
        assert_eq!(d("https://h/a b/'?q='"), wire.as_str());
    }

    #[test]
    fn normalised_rendering() {
        let r = |u: &str| ParsedUrl::parse(u).unwrap().render();
        assert_eq!(
            r("HTTPS://API.Example.COM:443/a b/%2F/é?x=1 2&y=%zz#f g"),
            "https://api.example.com/a%20b/%2F/%C3%A9?x=1%202&y=%25zz#f%20g"
        );
        assert_eq!(r("https://h:8443/a/./b/../c"), "https://h:8443/a/c");
        assert_eq!(r("http://[::1]:80/"), "http://[::1]/");
        assert_eq!(
            r("https://bücher.example/"),
            "https://xn--bcher-kva.example/"
        );
    }

    fn q(pairs: Vec<(&str, QueryValue)>) -> QueryParams {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn form_encoding_of_values() {
        let params = q(vec![
            ("s", "a b+c/é".into()),
            ("i", QueryValue::Int(-3)),
            ("f", 1.5.into()),
            ("big", 1e20.into()),
            ("one", 1.0.into()),
            ("tiny", 1e-5.into()),
            ("t", true.into()),
            ("n", QueryValue::Null),
            (
                "l",
                QueryValue::List(vec!["x".into(), QueryValue::Int(2), QueryValue::Null]),
            ),
            ("empty", QueryValue::List(vec![])),
            (
                "nested",
                QueryValue::List(vec![QueryValue::List(vec![
                    "it's".into(),
                    QueryValue::Null,
                    false.into(),
                ])]),
            ),
        ]);
        assert_eq!(
            form_encode_query(&params),
            "s=a+b%2Bc%2F%C3%A9&i=-3&f=1.5&big=1e%2B20&one=1.0&tiny=1e-05&t=true&n=&l=x&l=2&l=&nested=%5B%22it%27s%22%2C+None%2C+False%5D"
        );
        assert_eq!(python_float_str(1e16), "1e+16");
        assert_eq!(python_float_str(1e15), "1000000000000000.0");
        assert_eq!(python_float_str(0.0001), "0.0001");
        assert_eq!(python_float_str(-0.0), "-0.0");
        assert_eq!(python_float_str(f64::NAN), "nan");
        assert_eq!(python_float_str(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn query_values_serialise_untagged() {
        let v = serde_json::to_value(q(vec![(
            "a",
            QueryValue::List(vec![
                QueryValue::Int(1),
                "x".into(),
                QueryValue::Null,
                2.5.into(),
                true.into(),
            ]),
        )]))
        .unwrap();
        assert_eq!(v, serde_json::json!([["a", [1, "x", null, 2.5, true]]]));
    }

    #[test]
    fn replaced_query_discards_the_urls_own() {
        let url = "https://h/p?keep=1";
        assert_eq!(
            url_with_replaced_query(url, Some(&q(vec![("q", "1".into())]))).unwrap(),
            "https://h/p?q=1"
        );
        assert_eq!(
            url_with_replaced_query(url, Some(&vec![])).unwrap(),
            "https://h/p"
        );
        assert_eq!(url_with_replaced_query(url, None).unwrap(), url);
        assert_eq!(
            url_with_replaced_query("https://h/p?a=%20b c", None).unwrap(),
            "https://h/p?a=%20b%20c"
        );
    }

    #[test]
    fn merged_query_keeps_and_replaces_in_place() {
        let url = "https://h/p?a=1&b=2&a=3&k&s=x%20y+z";
        assert_eq!(
            url_with_merged_query(url, None).unwrap(),
            "https://h/p?a=1&a=3&b=2&k=&s=x+y+z"
        );
        assert_eq!(
            url_with_merged_query(
                url,
                Some(&q(vec![
                    ("new", "n".into()),
                    ("a", QueryValue::List(vec!["9".into(), "8".into()]))
                ]))
            )
            .unwrap(),
            "https://h/p?a=9&a=8&b=2&k=&s=x+y+z&new=n"
        );
        assert_eq!(
            url_with_merged_query(url, Some(&q(vec![("a", QueryValue::List(vec![]))]))).unwrap(),
            "https://h/p?b=2&k=&s=x+y+z"
        );
        assert_eq!(
            url_with_merged_query("https://h/p?", None).unwrap(),
            "https://h/p"
        );
        assert_eq!(
            url_with_merged_query("https://h/p?x=%2B", None).unwrap(),
            "https://h/p?x=%2B"
        );
    }

    #[test]
    fn pre_token_length_fails_only_when_both_forms_are_too_long() {
        let long_query = format!("x={}", "a".repeat(MAX_URL_LENGTH));
        let url = format!("https://h/p?{}", &long_query[..MAX_URL_LENGTH - 20]);
        // The replaced form drops the long query: it fits.
        check_pre_token_length(&url, Some(&q(vec![("big", "b".repeat(100).into())]))).unwrap();
        // Without query_params both forms keep the long query, which still fits.
        check_pre_token_length(&url, None).unwrap();
        // Both forms too long.
        let huge = q(vec![("big", "b".repeat(MAX_URL_LENGTH).into())]);
        assert_eq!(
            value_err(check_pre_token_length("https://h/p", Some(&huge))),
            MSG_TOO_LONG_OR_INVALID
        );
        // Spaces count three times once encoded in the path.
        let spaced = format!("https://h/{}", " ".repeat(30_000));
        assert!(check_provider_url(&spaced).is_ok());
        assert!(check_pre_token_length(&spaced, None).is_err());
        assert!(check_final_length(&"a".repeat(MAX_URL_LENGTH)).is_ok());
        assert!(check_final_length(&"a".repeat(MAX_URL_LENGTH + 1)).is_err());
    }
}
