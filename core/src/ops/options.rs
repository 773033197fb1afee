//! The options of a provider call (`request` in retrieve mode,
//! `proxy_request` in proxy mode), read from one options object with the
//! core's argument reader, so that every binding speaking JSON accepts the
//! same keys and value shapes and names a bad one the same way.
//!
//! Canonical keys (a [`Spelling`](super::Spelling) renames them, e.g.
//! `grantId` in JavaScript), all optional:
//!
//! - `grant_id`, `provider`, `account`, `label`, `app_user_id`,
//!   `user_token`, `reason`, `caller`: strings;
//! - `json`: any JSON (the body, sent as given);
//! - `headers` (alias `extra_headers`, not both): `{"name": "value"}` or
//!   `[["name", "value"], ...]` (see [`Args::pairs`]);
//! - `query_params` (alias `query`, the C ABI's name; not both):
//!   `{"name": value}` or `[["name", value], ...]`, each value a string,
//!   number, boolean, `null` or an array of those (arrays may nest);
//! - `path_params`: `{"name": "value"}` or `[["name", "value"], ...]`, a
//!   value a string or a number (a `null` value in the object form drops
//!   the entry);
//! - `context`: string pairs as `headers` (audit metadata; `{}` sends none).
//!
//! The readers take what they know and leave the rest: the caller reads
//! its own keys (a raw body, say) and then calls [`Args::finish`], which
//! refuses anything unknown.

use super::{type_name, Args, OpResult};
use crate::provider_url::{QueryParams, QueryValue};
use crate::proxy::ProxyOptions;
use crate::request::RequestOptions;
use serde_json::Value;

/// Retrieve-mode options (`Client::request`); `body` is the raw body the
/// caller passed outside the options, if any.
pub fn request_options(a: &mut Args, body: Option<Vec<u8>>) -> OpResult<RequestOptions> {
    let c = Common::read(a)?;
    Ok(RequestOptions {
        grant_id: c.grant_id,
        provider: c.provider,
        account: c.account,
        label: c.label,
        app_user_id: c.app_user_id,
        user_token: c.user_token,
        json: c.json,
        body,
        headers: c.headers.unwrap_or_default(),
        query_params: c.query_params,
        path_params: c.path_params,
        reason: c.reason,
        context: c.context,
        caller: c.caller,
    })
}

/// Proxy-mode options (`Client::proxy_request`): the keys of
/// [`request_options`]; a body goes in `json`.
pub fn proxy_options(a: &mut Args) -> OpResult<ProxyOptions> {
    let c = Common::read(a)?;
    Ok(ProxyOptions {
        grant_id: c.grant_id,
        provider: c.provider,
        account: c.account,
        label: c.label,
        app_user_id: c.app_user_id,
        user_token: c.user_token,
        json: c.json,
        headers: c.headers,
        query_params: c.query_params,
        path_params: c.path_params,
        reason: c.reason,
        context: c.context,
        caller: c.caller,
    })
}

/// The fields both modes share.
struct Common {
    grant_id: Option<String>,
    provider: Option<String>,
    account: Option<String>,
    label: Option<String>,
    app_user_id: Option<String>,
    user_token: Option<String>,
    json: Option<Value>,
    headers: Option<Vec<(String, String)>>,
    query_params: Option<QueryParams>,
    path_params: Vec<(String, String)>,
    reason: Option<String>,
    context: Option<Vec<(String, String)>>,
    caller: Option<String>,
}

impl Common {
    fn read(a: &mut Args) -> OpResult<Common> {
        Ok(Common {
            grant_id: a.string("grant_id")?,
            provider: a.string("provider")?,
            account: a.string("account")?,
            label: a.string("label")?,
            app_user_id: a.string("app_user_id")?,
            user_token: a.string("user_token")?,
            json: a.take("json"),
            headers: headers(a)?,
            query_params: query_params(a)?,
            path_params: path_params(a)?.unwrap_or_default(),
            reason: a.string("reason")?,
            context: a.pairs("context")?,
            caller: a.string("caller")?,
        })
    }
}

/// The value of `key` or of its alias `alias`, with the key it came
/// under; giving both is refused.
fn aliased(a: &mut Args, key: &str, alias: &str) -> OpResult<Option<(String, Value)>> {
    match (a.take(key), a.take(alias)) {
        (Some(_), Some(_)) => Err(a.error(format_args!(
            "pass either '{}' or '{}', not both",
            a.name(key),
            a.name(alias)
        ))),
        (Some(v), None) => Ok(Some((key.to_string(), v))),
        (None, Some(v)) => Ok(Some((alias.to_string(), v))),
        (None, None) => Ok(None),
    }
}

/// `headers`, or its alias `extra_headers`.
fn headers(a: &mut Args) -> OpResult<Option<Vec<(String, String)>>> {
    let given = a.pairs("headers")?;
    let alias = a.pairs("extra_headers")?;
    match (given, alias) {
        (Some(_), Some(_)) => Err(a.error(format_args!(
            "pass either '{}' or '{}', not both",
            a.name("headers"),
            a.name("extra_headers")
        ))),
        (h, e) => Ok(h.or(e)),
    }
}

/// ", got <type>" for a value of the wrong type; nothing for an object or
/// an array, whose entries were at fault.
fn got(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => String::new(),
        other => format!(", got {}", type_name(other)),
    }
}

/// Entries given as an object or as an array of `[name, value]` pairs.
fn entries(v: Value) -> Option<Vec<(String, Value)>> {
    match v {
        Value::Object(m) => Some(m.into_iter().collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|pair| match pair {
                Value::Array(p) => match <[Value; 2]>::try_from(p) {
                    Ok([Value::String(k), v]) => Some((k, v)),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// `query_params`, or its alias `query`.
fn query_params(a: &mut Args) -> OpResult<Option<QueryParams>> {
    const WANT: &str = "an object (or an array of [name, value] pairs) of strings, numbers, \
                        booleans, null or arrays of those";
    let Some((key, v)) = aliased(a, "query_params", "query")? else {
        return Ok(None);
    };
    let shown = a.name(&key);
    let got = got(&v);
    let Some(entries) = entries(v) else {
        return Err(a.error(format_args!("'{shown}' must be {WANT}{got}")));
    };
    entries
        .into_iter()
        .map(|(k, v)| match query_value(v) {
            Ok(qv) => Ok((k, qv)),
            Err(bad) => Err(a.error(format_args!(
                "'{shown}' must be {WANT}: the value of '{k}' is {}",
                type_name(&bad)
            ))),
        })
        .collect::<OpResult<QueryParams>>()
        .map(Some)
}

/// A query value; the offending value when it is not one.
fn query_value(v: Value) -> Result<QueryValue, Value> {
    Ok(match v {
        Value::Null => QueryValue::Null,
        Value::Bool(b) => QueryValue::Bool(b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => QueryValue::Int(i),
            (None, Some(f)) => QueryValue::Float(f),
            (None, None) => return Err(Value::Number(n)),
        },
        Value::String(s) => QueryValue::Str(s),
        Value::Array(items) => QueryValue::List(
            items
                .into_iter()
                .map(query_value)
                .collect::<Result<_, _>>()?,
        ),
        other @ Value::Object(_) => return Err(other),
    })
}

/// `path_params`: string or number values (a number is sent as its text).
fn path_params(a: &mut Args) -> OpResult<Option<Vec<(String, String)>>> {
    const WANT: &str = "an object (or an array of [name, value] pairs) of strings or numbers";
    let Some(v) = a.take("path_params") else {
        return Ok(None);
    };
    let shown = a.name("path_params");
    let from_object = v.is_object();
    let got = got(&v);
    let Some(entries) = entries(v) else {
        return Err(a.error(format_args!("'{shown}' must be {WANT}{got}")));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        match v {
            Value::String(s) => out.push((k, s)),
            Value::Number(n) => out.push((k, n.to_string())),
            // As in the other string maps, `null` drops an object's entry.
            Value::Null if from_object => {}
            other => {
                return Err(a.error(format_args!(
                    "'{shown}' must be {WANT}: the value of '{k}' is {}",
                    type_name(&other)
                )))
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::super::Spelling;
    use super::*;
    use serde_json::{json, Map};

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn snake(v: Value) -> Args<'static> {
        Args::new("request options", obj(v))
    }

    fn camel(v: Value) -> Args<'static> {
        Args::spelled("request", obj(v), Spelling::CAMEL)
    }

    fn message(r: OpResult<impl std::fmt::Debug>) -> String {
        match r {
            Err(super::super::OpError::Arguments(e)) => {
                assert_eq!(e.kind(), "AlterValueError");
                e.message().to_string()
            }
            other => panic!("expected an argument error, got {other:?}"),
        }
    }

    #[test]
    fn request_options_read_every_key() {
        let mut a = snake(json!({
            "grant_id": "g", "provider": "p", "account": "acc", "label": "l",
            "app_user_id": "au", "user_token": "u", "json": {"k": [1]},
            "headers": [["A", "1"], ["A", "2"]],
            "query_params": {"q": "x", "n": 5, "f": 1.5, "b": true, "z": null, "t": ["a", 2, [null]]},
            "path_params": {"id": "42", "n": 7, "gone": null},
            "reason": "r", "context": {"run_id": "r1"}, "caller": "c"
        }));
        let o = request_options(&mut a, Some(b"raw".to_vec())).unwrap();
        a.finish().unwrap();
        assert_eq!(o.grant_id.as_deref(), Some("g"));
        assert_eq!(o.provider.as_deref(), Some("p"));
        assert_eq!(o.account.as_deref(), Some("acc"));
        assert_eq!(o.label.as_deref(), Some("l"));
        assert_eq!(o.app_user_id.as_deref(), Some("au"));
        assert_eq!(o.user_token.as_deref(), Some("u"));
        assert_eq!(o.json, Some(json!({"k": [1]})));
        assert_eq!(o.body.as_deref(), Some(&b"raw"[..]));
        assert_eq!(
            o.headers,
            vec![("A".into(), "1".into()), ("A".into(), "2".into())]
        );
        assert_eq!(
            o.query_params.unwrap(),
            vec![
                ("q".into(), QueryValue::Str("x".into())),
                ("n".into(), QueryValue::Int(5)),
                ("f".into(), QueryValue::Float(1.5)),
                ("b".into(), QueryValue::Bool(true)),
                ("z".into(), QueryValue::Null),
                (
                    "t".into(),
                    QueryValue::List(vec![
                        QueryValue::Str("a".into()),
                        QueryValue::Int(2),
                        QueryValue::List(vec![QueryValue::Null]),
                    ])
                ),
            ]
        );
        assert_eq!(
            o.path_params,
            vec![("id".into(), "42".into()), ("n".into(), "7".into())]
        );
        assert_eq!(o.reason.as_deref(), Some("r"));
        assert_eq!(o.context, Some(vec![("run_id".into(), "r1".into())]));
        assert_eq!(o.caller.as_deref(), Some("c"));

        let mut empty = snake(json!({}));
        let o = request_options(&mut empty, None).unwrap();
        assert!(o.headers.is_empty() && o.path_params.is_empty());
        assert!(o.query_params.is_none() && o.context.is_none() && o.body.is_none());
    }

    #[test]
    fn query_params_come_as_an_object_or_as_pairs() {
        let object = json!({"a": "1", "b": [1, 2]});
        let pairs = json!([["a", "1"], ["b", [1, 2]], ["a", true]]);
        let mut a = snake(json!({"query_params": object}));
        let from_object = proxy_options(&mut a).unwrap().query_params.unwrap();
        assert_eq!(
            from_object,
            vec![
                ("a".into(), QueryValue::Str("1".into())),
                (
                    "b".into(),
                    QueryValue::List(vec![QueryValue::Int(1), QueryValue::Int(2)])
                ),
            ]
        );
        // Pairs keep their order and may repeat a name; `query` (the C
        // ABI's name) is an alias.
        let mut a = snake(json!({"query": pairs}));
        let from_pairs = proxy_options(&mut a).unwrap().query_params.unwrap();
        assert_eq!(from_pairs[..2], from_object[..]);
        assert_eq!(from_pairs[2], ("a".into(), QueryValue::Bool(true)));
        a.finish().unwrap();

        let mut a = camel(json!({"queryParams": [["x", null]]}));
        let q = request_options(&mut a, None).unwrap().query_params;
        assert_eq!(q, Some(vec![("x".into(), QueryValue::Null)]));
        a.finish().unwrap();
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let cases = [
            (
                snake(json!({"grant_id": 5})),
                "request options: 'grant_id' must be a string, got a number",
            ),
            (
                camel(json!({"grantId": 5})),
                "request: 'grantId' must be a string, got a number",
            ),
            (
                camel(json!({"queryParams": {"a": {"b": 1}}})),
                "request: 'queryParams' must be an object (or an array of [name, value] pairs) of strings, numbers, booleans, null or arrays of those: the value of 'a' is an object",
            ),
            (
                snake(json!({"query": {"a": [[{"b": 1}]]}})),
                "'query' must be an object (or an array of [name, value] pairs) of strings, numbers, booleans, null or arrays of those: the value of 'a' is an object",
            ),
            (snake(json!({"query": "a=1"})), "'query' must be an object"),
            (snake(json!({"query": [["a"]]})), "'query' must be"),
            (snake(json!({"query": [[1, "a"]]})), "'query' must be"),
            (
                snake(json!({"query": {}, "query_params": {}})),
                "pass either 'query_params' or 'query', not both",
            ),
            (
                camel(json!({"headers": {}, "extraHeaders": {}})),
                "request: pass either 'headers' or 'extraHeaders', not both",
            ),
            (
                camel(json!({"extraHeaders": {"a": 1}})),
                "request: 'extraHeaders' must be an object of strings",
            ),
            (snake(json!({"headers": [["a"]]})), "'headers' must be"),
            (
                camel(json!({"pathParams": {"id": true}})),
                "request: 'pathParams' must be an object (or an array of [name, value] pairs) of strings or numbers: the value of 'id' is a boolean",
            ),
            (
                snake(json!({"path_params": [["id", null]]})),
                "the value of 'id' is null",
            ),
            (
                snake(json!({"path_params": "id=1"})),
                "'path_params' must be an object (or an array of [name, value] pairs) of strings or numbers, got a string",
            ),
            (
                snake(json!({"context": ["x"]})),
                "'context' must be an object of strings",
            ),
            (
                camel(json!({"appUserId": []})),
                "'appUserId' must be a string, got an array",
            ),
        ];
        for (mut a, want) in cases {
            let msg = message(request_options(&mut a, None));
            assert!(msg.contains(want), "{msg:?} lacks {want:?}");
        }
    }

    #[test]
    fn unknown_keys_are_left_for_finish() {
        // `body` belongs to the caller (the C ABI reads it itself); left
        // unread, `finish` refuses it.
        let mut a = snake(json!({"grant_id": "g", "body": "x"}));
        proxy_options(&mut a).unwrap();
        assert_eq!(
            message(a.finish()),
            "request options: unknown option 'body'"
        );
        // A camelCase caller's snake_case key is not a second spelling.
        let mut a = camel(json!({"grant_id": "g"}));
        let o = request_options(&mut a, None).unwrap();
        assert!(o.grant_id.is_none());
        assert_eq!(message(a.finish()), "request: unknown option 'grant_id'");
    }

    #[test]
    fn headers_and_their_alias() {
        let mut a = camel(json!({"extraHeaders": {"X-A": "1", "X-B": null}}));
        let o = proxy_options(&mut a).unwrap();
        assert_eq!(o.headers, Some(vec![("X-A".into(), "1".into())]));
        let mut a = snake(json!({"headers": {}}));
        assert_eq!(proxy_options(&mut a).unwrap().headers, Some(vec![]));
        let mut a = snake(json!({"extra_headers": [["a", "1"], ["a", "2"]]}));
        assert_eq!(request_options(&mut a, None).unwrap().headers.len(), 2);
        // Absent: proxy mode sends no headers field at all.
        let mut a = snake(json!({}));
        assert_eq!(proxy_options(&mut a).unwrap().headers, None);
    }

    #[test]
    fn path_params_take_strings_and_numbers_in_both_shapes() {
        let mut a = camel(json!({"pathParams": {"id": 42, "name": "x", "f": 1.5}}));
        assert_eq!(
            proxy_options(&mut a).unwrap().path_params,
            vec![
                ("id".into(), "42".into()),
                ("name".into(), "x".into()),
                ("f".into(), "1.5".into())
            ]
        );
        let mut a = snake(json!({"path_params": [["id", "1"], ["n", 2]]}));
        assert_eq!(
            request_options(&mut a, None).unwrap().path_params,
            vec![("id".into(), "1".into()), ("n".into(), "2".into())]
        );
    }

    #[test]
    fn context_is_string_pairs_and_empty_is_kept() {
        let mut a = camel(json!({"context": {"runId": "r", "skip": null}}));
        assert_eq!(
            proxy_options(&mut a).unwrap().context,
            Some(vec![("runId".into(), "r".into())]),
            "context keys are user data, never renamed"
        );
        let mut a = snake(json!({"context": {}}));
        assert_eq!(request_options(&mut a, None).unwrap().context, Some(vec![]));
        let mut a = snake(json!({"context": [["a", "1"], ["a", "2"]]}));
        assert_eq!(
            request_options(&mut a, None)
                .unwrap()
                .context
                .map(|c| c.len()),
            Some(2)
        );
    }
}
