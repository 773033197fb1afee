//! The RFC 6750 Bearer challenge parser of requests.md §8.2.
//!
//! Only the first challenge is read, parameters are parsed one after the
//! other from where the previous one ended, and parsing stops quietly at the
//! first thing that is not a parameter, keeping what came before. It never
//! fails.

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// Splits off a leading run of `[A-Za-z_][A-Za-z0-9_-]*` (or, for the
/// scheme, `[A-Za-z][A-Za-z0-9_-]*`).
fn take_name(s: &str, allow_underscore_first: bool) -> Option<(&str, &str)> {
    let first = s.chars().next()?;
    if !(first.is_ascii_alphabetic() || (allow_underscore_first && first == '_')) {
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// A quoted string starting at `s[0] == '"'`: the unescaped content and the
/// rest, or `None` when it is not closed.
fn take_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => {
                let (_, next) = chars.next()?;
                out.push(next);
            }
            c => out.push(c),
        }
    }
    None
}

/// One `name = value` parameter at the very start of `s` (after optional
/// white space).
fn take_param(s: &str) -> Option<(String, String, &str)> {
    let (name, rest) = take_name(skip_space(s), true)?;
    let rest = skip_space(rest).strip_prefix('=')?;
    let rest = skip_space(rest);
    if rest.starts_with('"') {
        if let Some((value, after)) = take_quoted(rest) {
            return Some((name.to_ascii_lowercase(), value, after));
        }
    }
    let end = rest
        .find(|c: char| c == ',' || is_space(c))
        .unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    Some((
        name.to_ascii_lowercase(),
        rest[..end].to_string(),
        &rest[end..],
    ))
}

/// Parses a `WWW-Authenticate` value as a Bearer challenge. Returns the
/// parameters as `(lower-case name, value)` pairs in first-seen order, each
/// name once (a later duplicate overwrites the value); empty for any other
/// scheme, a bare `Bearer`, or an empty header.
pub fn parse_bearer_challenge(header: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = Vec::new();
    let Some((scheme, rest)) = take_name(header, false) else {
        return params;
    };
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.starts_with(is_space) {
        return params;
    }
    let mut rest = rest;
    while let Some((name, value, after)) = take_param(rest) {
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => params.push((name, value)),
        }
        match skip_space(after).strip_prefix(',') {
            Some(next) => rest = next,
            None => break,
        }
    }
    params
}

/// One parameter of a parsed challenge.
pub fn challenge_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The `missing` scope list of §8.1 step 3a: the challenge `scope` split on
/// white space, or `None` when `scope` is absent or empty.
pub fn missing_scopes(params: &[(String, String)]) -> Option<Vec<String>> {
    match challenge_param(params, "scope") {
        Some(s) if !s.is_empty() => Some(s.split_whitespace().map(str::to_string).collect()),
        _ => None,
    }
}

/// Whether the challenge's `error` is `insufficient_scope`.
pub fn is_insufficient_scope(params: &[(String, String)]) -> bool {
    challenge_param(params, "error") == Some("insufficient_scope")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &str) -> Vec<(String, String)> {
        let mut v = parse_bearer_challenge(h);
        v.sort();
        v
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn empty_and_other_schemes() {
        assert!(p("").is_empty());
        assert!(p("Bearer").is_empty());
        assert!(p("Bearer ").is_empty());
        assert!(p("Basic realm=\"x\"").is_empty());
        assert!(p("Basic realm=\"x\", Bearer error=\"insufficient_scope\"").is_empty());
        assert!(p("Bearererror=\"x\"").is_empty());
        assert!(p("Bearer=x").is_empty());
        assert!(p(" Bearer error=x").is_empty());
    }

    #[test]
    fn typical_challenge() {
        let h = r#"Bearer realm="example", error="insufficient_scope", error_description="The request requires higher privileges", scope="read write""#;
        let m = parse_bearer_challenge(h);
        assert_eq!(
            m,
            vec![
                ("realm".to_string(), "example".to_string()),
                ("error".to_string(), "insufficient_scope".to_string()),
                (
                    "error_description".to_string(),
                    "The request requires higher privileges".to_string()
                ),
                ("scope".to_string(), "read write".to_string()),
            ]
        );
        assert_eq!(challenge_param(&m, "realm"), Some("example"));
        assert_eq!(challenge_param(&m, "nope"), None);
        assert!(is_insufficient_scope(&m));
        assert_eq!(
            missing_scopes(&m),
            Some(vec!["read".into(), "write".into()])
        );
    }

    #[test]
    fn scheme_case_names_lowercased_tokens_and_escapes() {
        assert_eq!(
            p(r#"bEaReR  ERROR = invalid_token ,Scope="a \"b\" \\c""#),
            kv(&[("error", "invalid_token"), ("scope", r#"a "b" \c"#)])
        );
        assert_eq!(p("Bearer\terror=x,error=y"), kv(&[("error", "y")]));
        assert_eq!(
            parse_bearer_challenge("Bearer a=1, b=2, A=3"),
            vec![
                ("a".to_string(), "3".to_string()),
                ("b".to_string(), "2".to_string())
            ]
        );
        assert_eq!(p("Bearer _x-1=\"\""), kv(&[("_x-1", "")]));
    }

    #[test]
    fn stops_at_the_first_unparseable_part() {
        assert_eq!(p(r#"Bearer error="x", %%%"#), kv(&[("error", "x")]));
        assert_eq!(
            p(r#"Bearer error="invalid_token", Basic realm="x", error="insufficient_scope""#),
            kv(&[("error", "invalid_token")])
        );
        // No comma after a parameter ends the parse.
        assert_eq!(p("Bearer a=1 b=2"), kv(&[("a", "1")]));
        // An empty bare value is not a parameter.
        assert_eq!(p("Bearer a=1, b=, c=3"), kv(&[("a", "1")]));
        // An unterminated quote falls back to a bare token.
        assert_eq!(p("Bearer a=\"xy"), kv(&[("a", "\"xy")]));
        assert_eq!(p("Bearer a=\"x\\"), kv(&[("a", "\"x\\")]));
        // Non-ASCII input never panics.
        assert_eq!(p("Bearer é=1"), kv(&[]));
        assert_eq!(p("Bearer a=é, b=\"ü\""), kv(&[("a", "é"), ("b", "ü")]));
    }

    #[test]
    fn missing_scopes_absent_or_empty() {
        assert_eq!(
            missing_scopes(&parse_bearer_challenge("Bearer error=x")),
            None
        );
        assert_eq!(
            missing_scopes(&parse_bearer_challenge("Bearer scope=\"\"")),
            None
        );
        assert_eq!(
            missing_scopes(&parse_bearer_challenge("Bearer scope=\"  a\tb \"")),
            Some(vec!["a".into(), "b".into()])
        );
    }
}
