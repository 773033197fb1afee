//! Request-rule builders for `with_constraints(rule=…)`: the typed
//! `content_match` rule with its parameter conditions and time windows, and
//! the local validation the reference applies before anything is signed
//! (agents-and-keys.md §9). A rule can only deny or narrow.

use crate::error::{Error, Result};
use serde_json::{Map, Number, Value};

/// `content_match` effects.
pub const CONTENT_MATCH_EFFECTS: [&str; 3] = ["deny", "redact", "step_up"];
/// Operation families a rule may match.
pub const CONTENT_MATCH_FAMILIES: [&str; 6] =
    ["send", "read", "write", "delete", "admin", "payment"];
/// Condition operators.
pub const CONTENT_PARAM_OPS: [&str; 8] = [
    "equals",
    "any_in",
    "not_subset_of",
    "gt",
    "gte",
    "lt",
    "lte",
    "outside_windows",
];
/// Day tokens of a time window.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A rule ready for `with_constraints`: `{"rule_type": …, "rule_body": {…}}`.
pub fn request_rule(rule_type: &str, rule_body: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("rule_type".into(), rule_type.into());
    m.insert("rule_body".into(), Value::Object(rule_body));
    Value::Object(m)
}

/// One weekly window, `start` to `end` local time (an `end` before the
/// `start` runs overnight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// Unique tokens from `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, 00:00–23:59.
    pub start: String,
    /// `HH:MM` or `24:00`.
    pub end: String,
}

/// Weekly windows in one IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindows {
    /// 1 to 20 windows.
    pub windows: Vec<TimeWindow>,
    /// An exact, case-sensitive IANA key (`Europe/Paris`).
    pub timezone: String,
}

fn hhmm(s: &str) -> Option<(u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return None;
    }
    Some((s[0..2].parse().ok()?, s[3..5].parse().ok()?))
}

fn exact_keys(obj: &Map<String, Value>, keys: &[&str], what: &str) -> Result<()> {
    let ok = obj.len() == keys.len() && keys.iter().all(|k| obj.contains_key(*k));
    if ok {
        Ok(())
    } else {
        Err(Error::value(format!(
            "{what} must have exactly the keys {}",
            keys.join(", ")
        )))
    }
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>> {
    v.as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| Error::value(format!("{what} must be a list of strings")))
}

impl TimeWindow {
    pub fn validate(&self) -> Result<()> {
        if self.days.is_empty() {
            return Err(Error::value("a time window needs at least one day"));
        }
        for (i, d) in self.days.iter().enumerate() {
            if !WEEKDAYS.contains(&d.as_str()) {
                return Err(Error::value(format!(
                    "time window day {d:?} must be one of {}",
                    WEEKDAYS.join(", ")
                )));
            }
            if self.days[..i].contains(d) {
                return Err(Error::value(format!("time window day {d:?} is repeated")));
            }
        }
        match hhmm(&self.start) {
            Some((h, m)) if h <= 23 && m <= 59 => {}
            _ => {
                return Err(Error::value(
                    "time window start must be HH:MM between 00:00 and 23:59",
                ))
            }
        }
        match hhmm(&self.end) {
            Some((h, m)) if (h <= 23 && m <= 59) || (h == 24 && m == 0) => {}
            _ => {
                return Err(Error::value(
                    "time window end must be HH:MM between 00:00 and 24:00",
                ))
            }
        }
        if self.start == self.end {
            return Err(Error::value("time window start and end must differ"));
        }
        Ok(())
    }

    fn from_value(v: &Value) -> Result<TimeWindow> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::value("a time window must be an object"))?;
        exact_keys(obj, &["days", "start", "end"], "a time window")?;
        let text = |k: &str| {
            obj[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::value(format!("time window {k} must be a string")))
        };
        let w = TimeWindow {
            days: string_list(&obj["days"], "time window days")?,
            start: text("start")?,
            end: text("end")?,
        };
        w.validate()?;
        Ok(w)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "days".into(),
            Value::Array(self.days.iter().map(|d| d.as_str().into()).collect()),
        );
        m.insert("start".into(), self.start.as_str().into());
        m.insert("end".into(), self.end.as_str().into());
        Value::Object(m)
    }
}

impl TimeWindows {
    pub fn validate(&self) -> Result<()> {
        if !crate::tz_names::is_iana_zone(&self.timezone) {
            return Err(Error::value(format!(
                "timezone {:?} is not an IANA time zone key (case-sensitive, e.g. Europe/Paris)",
                self.timezone
            )));
        }
        if self.windows.is_empty() || self.windows.len() > 20 {
            return Err(Error::value("windows must hold 1 to 20 time windows"));
        }
        self.windows.iter().try_for_each(TimeWindow::validate)
    }

    /// Builds and validates windows from their dict form
    /// `{"windows": [{"days", "start", "end"}…], "timezone"}`.
    pub fn from_value(v: &Value) -> Result<TimeWindows> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::value("time windows must be an object"))?;
        exact_keys(obj, &["windows", "timezone"], "time windows")?;
        let windows = obj["windows"]
            .as_array()
            .ok_or_else(|| Error::value("windows must be a list"))?
            .iter()
            .map(TimeWindow::from_value)
            .collect::<Result<Vec<_>>>()?;
        let tw = TimeWindows {
            windows,
            timezone: obj["timezone"]
                .as_str()
                .ok_or_else(|| Error::value("timezone must be a string"))?
                .to_string(),
        };
        tw.validate()?;
        Ok(tw)
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "windows".into(),
            Value::Array(self.windows.iter().map(TimeWindow::to_json).collect()),
        );
        m.insert("timezone".into(), self.timezone.as_str().into());
        Value::Object(m)
    }
}

/// The value a condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `gt`/`gte`/`lt`/`lte` and `equals`.
    Number(Number),
    /// `equals`.
    Text(String),
    /// `any_in` / `not_subset_of`: glob patterns.
    Patterns(Vec<String>),
    /// `outside_windows`.
    Windows(TimeWindows),
}

impl ParamValue {
    fn to_json(&self) -> Value {
        match self {
            ParamValue::Number(n) => Value::Number(n.clone()),
            ParamValue::Text(s) => s.as_str().into(),
            ParamValue::Patterns(p) => Value::Array(p.iter().map(|s| s.as_str().into()).collect()),
            ParamValue::Windows(w) => w.to_json(),
        }
    }
}

/// One parameter condition: `name` `op` `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentParamCondition {
    pub name: String,
    pub op: String,
    pub value: ParamValue,
}

impl ContentParamCondition {
    /// Checks the name, the operator and that the value suits it.
    pub fn validate(&self) -> Result<()> {
        let n = self.name.chars().count();
        if n == 0 || n > 120 {
            return Err(Error::value("condition name must be 1 to 120 characters"));
        }
        if !CONTENT_PARAM_OPS.contains(&self.op.as_str()) {
            return Err(Error::value(format!(
                "condition op {:?} must be one of {}",
                self.op,
                CONTENT_PARAM_OPS.join(", ")
            )));
        }
        let ok = match (self.op.as_str(), &self.value) {
            ("gt" | "gte" | "lt" | "lte", ParamValue::Number(_)) => true,
            ("equals", ParamValue::Number(_) | ParamValue::Text(_)) => true,
            ("any_in" | "not_subset_of", ParamValue::Patterns(p)) => {
                if p.is_empty() || p.len() > 200 {
                    return Err(Error::value(format!("{} needs 1 to 200 patterns", self.op)));
                }
                if p.iter().any(|s| s.is_empty() || s.chars().count() > 512) {
                    return Err(Error::value(
                        "patterns must be non-empty and at most 512 characters",
                    ));
                }
                true
            }
            ("outside_windows", ParamValue::Windows(w)) => {
                w.validate()?;
                true
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::value(format!(
                "condition {:?}: value does not suit op {}",
                self.name, self.op
            )))
        }
    }

    /// Builds a condition from its dict form `{"name", "op", "value"}`
    /// (exactly those keys).
    pub fn from_value(v: &Value) -> Result<ContentParamCondition> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::value("a condition must be an object"))?;
        exact_keys(obj, &["name", "op", "value"], "a condition")?;
        let name = obj["name"]
            .as_str()
            .ok_or_else(|| Error::value("condition name must be a string"))?
            .to_string();
        let op = obj["op"]
            .as_str()
            .ok_or_else(|| Error::value("condition op must be a string"))?
            .to_string();
        let raw = &obj["value"];
        let value = match (op.as_str(), raw) {
            ("any_in" | "not_subset_of", Value::Array(_)) => {
                ParamValue::Patterns(string_list(raw, "patterns")?)
            }
            ("outside_windows", Value::Object(_)) => {
                ParamValue::Windows(TimeWindows::from_value(raw)?)
            }
            (_, Value::Number(n)) => ParamValue::Number(n.clone()),
            (_, Value::String(s)) => ParamValue::Text(s.clone()),
            _ => {
                return Err(Error::value(format!(
                    "condition {name:?}: value does not suit op {op}"
                )))
            }
        };
        let c = ContentParamCondition { name, op, value };
        c.validate()?;
        Ok(c)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.as_str().into());
        m.insert("op".into(), self.op.as_str().into());
        m.insert("value".into(), self.value.to_json());
        Value::Object(m)
    }
}

/// Arguments of [`content_match_rule`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContentMatchRule {
    /// Operation ids (at most 255 characters each).
    pub operations: Option<Vec<String>>,
    /// From [`CONTENT_MATCH_FAMILIES`].
    pub families: Option<Vec<String>>,
    /// At most 20 conditions, all of which must hold.
    pub params: Vec<ContentParamCondition>,
    /// `deny` (default), `redact` or `step_up`.
    pub effect: String,
    /// Only with `redact`, and required there: 1–50 field names.
    pub redact_fields: Option<Vec<String>>,
    /// Only with `step_up`, and required there: 1–86400.
    pub max_session_age_seconds: Option<i64>,
}

impl Default for ContentMatchRule {
    fn default() -> Self {
        ContentMatchRule {
            operations: None,
            families: None,
            params: Vec::new(),
            effect: "deny".into(),
            redact_fields: None,
            max_session_age_seconds: None,
        }
    }
}

/// Builds a `content_match` rule: matches operations the backend has
/// identified (by id or family), checks the conditions, and applies the
/// effect. Validated here; returns the rule object for `with_constraints`.
pub fn content_match_rule(r: &ContentMatchRule) -> Result<Value> {
    if !CONTENT_MATCH_EFFECTS.contains(&r.effect.as_str()) {
        return Err(Error::value("effect must be one of deny, redact, step_up"));
    }
    let ops = r.operations.as_deref().unwrap_or(&[]);
    let fams = r.families.as_deref().unwrap_or(&[]);
    if ops.is_empty() && fams.is_empty() {
        return Err(Error::value(
            "a content_match rule needs operations or families",
        ));
    }
    if ops.len() + fams.len() > 100 {
        return Err(Error::value(
            "operations and families may hold at most 100 entries together",
        ));
    }
    if ops.iter().any(|o| o.is_empty() || o.chars().count() > 255) {
        return Err(Error::value(
            "operations must be non-empty ids of at most 255 characters",
        ));
    }
    if let Some(f) = fams
        .iter()
        .find(|f| !CONTENT_MATCH_FAMILIES.contains(&f.as_str()))
    {
        return Err(Error::value(format!(
            "family {f:?} must be one of {}",
            CONTENT_MATCH_FAMILIES.join(", ")
        )));
    }
    if r.params.len() > 20 {
        return Err(Error::value("a rule may have at most 20 conditions"));
    }
    r.params
        .iter()
        .try_for_each(ContentParamCondition::validate)?;
    match (r.effect.as_str(), &r.redact_fields) {
        ("redact", Some(f)) => {
            if f.is_empty() || f.len() > 50 {
                return Err(Error::value("redact_fields must name 1 to 50 fields"));
            }
            if f.iter().any(|x| x.is_empty() || x.chars().count() > 120) {
                return Err(Error::value(
                    "redact_fields entries must be 1 to 120 characters",
                ));
            }
        }
        ("redact", None) => return Err(Error::value("effect='redact' requires redact_fields")),
        (_, Some(_)) => {
            return Err(Error::value(
                "redact_fields is only allowed with effect='redact'",
            ))
        }
        _ => {}
    }
    match (r.effect.as_str(), r.max_session_age_seconds) {
        ("step_up", Some(s)) if (1..=86_400).contains(&s) => {}
        ("step_up", Some(_)) => {
            return Err(Error::value(
                "max_session_age_seconds must be an integer from 1 to 86400",
            ))
        }
        ("step_up", None) => {
            return Err(Error::value(
                "effect='step_up' requires max_session_age_seconds",
            ))
        }
        (_, Some(_)) => {
            return Err(Error::value(
                "max_session_age_seconds is only allowed with effect='step_up'",
            ))
        }
        _ => {}
    }

    let strings = |l: &[String]| Value::Array(l.iter().map(|s| s.as_str().into()).collect());
    let mut matcher = Map::new();
    if !ops.is_empty() {
        matcher.insert("operations".into(), strings(ops));
    }
    if !fams.is_empty() {
        matcher.insert("families".into(), strings(fams));
    }
    let mut body = Map::new();
    body.insert("match".into(), Value::Object(matcher));
    if !r.params.is_empty() {
        body.insert(
            "params".into(),
            Value::Array(
                r.params
                    .iter()
                    .map(ContentParamCondition::to_json)
                    .collect(),
            ),
        );
    }
    body.insert("effect".into(), r.effect.as_str().into());
    if let Some(f) = &r.redact_fields {
        let mut red = Map::new();
        red.insert("fields".into(), strings(f));
        body.insert("redact".into(), Value::Object(red));
    }
    if let Some(s) = r.max_session_age_seconds {
        let mut step = Map::new();
        step.insert("max_session_age_seconds".into(), s.into());
        body.insert("step_up".into(), Value::Object(step));
    }
    Ok(request_rule("content_match", body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(v: Value) -> Result<ContentParamCondition> {
        ContentParamCondition::from_value(&v)
    }

    #[test]
    fn spec_example_bytes() {
        let rule = content_match_rule(&ContentMatchRule {
            operations: Some(vec!["gmail.users.messages.send".into()]),
            params: vec![cond(
                json!({"name": "recipients", "op": "not_subset_of", "value": ["*@acme.com"]}),
            )
            .unwrap()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            crate::json::compact_utf8(&rule),
            r#"{"rule_type":"content_match","rule_body":{"match":{"operations":["gmail.users.messages.send"]},"params":[{"name":"recipients","op":"not_subset_of","value":["*@acme.com"]}],"effect":"deny"}}"#
        );
    }

    #[test]
    fn effects_and_obligations() {
        let base = || ContentMatchRule {
            families: Some(vec!["send".into()]),
            ..Default::default()
        };
        let redact = content_match_rule(&ContentMatchRule {
            effect: "redact".into(),
            redact_fields: Some(vec!["cc".into()]),
            ..base()
        })
        .unwrap();
        assert_eq!(
            crate::json::compact_utf8(&redact["rule_body"]),
            r#"{"match":{"families":["send"]},"effect":"redact","redact":{"fields":["cc"]}}"#
        );
        let step = content_match_rule(&ContentMatchRule {
            effect: "step_up".into(),
            max_session_age_seconds: Some(300),
            ..base()
        })
        .unwrap();
        assert_eq!(
            crate::json::compact_utf8(&step["rule_body"]),
            r#"{"match":{"families":["send"]},"effect":"step_up","step_up":{"max_session_age_seconds":300}}"#
        );
        let bad =
            |r: ContentMatchRule| content_match_rule(&r).unwrap_err().kind() == "AlterValueError";
        assert!(bad(ContentMatchRule {
            effect: "allow".into(),
            ..base()
        }));
        assert!(bad(ContentMatchRule {
            effect: "redact".into(),
            ..base()
        }));
        assert!(bad(ContentMatchRule {
            redact_fields: Some(vec!["x".into()]),
            ..base()
        }));
        assert!(bad(ContentMatchRule {
            effect: "redact".into(),
            redact_fields: Some(vec![]),
            ..base()
        }));
        assert!(bad(ContentMatchRule {
            effect: "redact".into(),
            redact_fields: Some(vec!["x".repeat(121)]),
            ..base()
        }));
        assert!(bad(ContentMatchRule {
            effect: "step_up".into(),
            ..base()
        }));
        assert!(bad(ContentMatchRule {
            effect: "step_up".into(),
            max_session_age_seconds: Some(86_401),
            ..base()
        }));
        assert!(bad(ContentMatchRule {
            max_session_age_seconds: Some(60),
            ..base()
        }));
        assert!(bad(ContentMatchRule::default()));
        assert!(bad(ContentMatchRule {
            families: Some(vec!["spam".into()]),
            ..Default::default()
        }));
        assert!(bad(ContentMatchRule {
            operations: Some(vec![String::new()]),
            ..Default::default()
        }));
        assert!(bad(ContentMatchRule {
            operations: Some(vec!["o".repeat(256)]),
            ..Default::default()
        }));
        assert!(bad(ContentMatchRule {
            operations: Some((0..60).map(|i| format!("op{i}")).collect()),
            families: Some(vec!["send".into(); 41]),
            ..Default::default()
        }));
        let c = cond(json!({"name": "amount", "op": "gt", "value": 100})).unwrap();
        assert!(bad(ContentMatchRule {
            params: vec![c; 21],
            ..base()
        }));
    }

    #[test]
    fn conditions() {
        assert!(cond(json!({"name": "amount", "op": "gte", "value": 10.5})).is_ok());
        assert!(cond(json!({"name": "to", "op": "equals", "value": "a@x.com"})).is_ok());
        assert!(cond(json!({"name": "n", "op": "equals", "value": 3})).is_ok());
        for bad in [
            json!({"name": "amount", "op": "gt", "value": true}),
            json!({"name": "amount", "op": "gt", "value": "100"}),
            json!({"name": "to", "op": "equals", "value": false}),
            json!({"name": "to", "op": "equals", "value": ["a"]}),
            json!({"name": "to", "op": "any_in", "value": []}),
            json!({"name": "to", "op": "any_in", "value": [""]}),
            json!({"name": "to", "op": "any_in", "value": "a"}),
            json!({"name": "to", "op": "any_in", "value": ["x".repeat(513)]}),
            json!({"name": "to", "op": "not_subset_of", "value": vec!["a"; 201]}),
            json!({"name": "", "op": "gt", "value": 1}),
            json!({"name": "n".repeat(121), "op": "gt", "value": 1}),
            json!({"name": "x", "op": "matches", "value": 1}),
            json!({"name": "x", "op": "gt", "value": 1, "extra": 1}),
            json!({"name": "x", "op": "gt"}),
            json!("x"),
        ] {
            assert_eq!(
                cond(bad.clone()).unwrap_err().kind(),
                "AlterValueError",
                "{bad}"
            );
        }
    }

    #[test]
    fn time_windows() {
        let w = |v: Value| cond(json!({"name": "when", "op": "outside_windows", "value": v}));
        let ok = w(
            json!({"windows": [{"days": ["mon", "tue"], "start": "09:00", "end": "17:30"},
            {"days": ["sat"], "start": "22:00", "end": "06:00"},
            {"days": ["sun"], "start": "00:00", "end": "24:00"}],
            "timezone": "Europe/Paris"}),
        )
        .unwrap();
        assert_eq!(
            crate::json::compact_utf8(&ok.to_json()["value"]),
            r#"{"windows":[{"days":["mon","tue"],"start":"09:00","end":"17:30"},{"days":["sat"],"start":"22:00","end":"06:00"},{"days":["sun"],"start":"00:00","end":"24:00"}],"timezone":"Europe/Paris"}"#
        );
        let win = |days: Value, start: &str, end: &str| json!({"windows": [{"days": days, "start": start, "end": end}], "timezone": "UTC"});
        for bad in [
            win(json!([]), "09:00", "17:00"),
            win(json!(["monday"]), "09:00", "17:00"),
            win(json!(["mon", "mon"]), "09:00", "17:00"),
            win(json!(["mon"]), "9:00", "17:00"),
            win(json!(["mon"]), "24:00", "17:00"),
            win(json!(["mon"]), "09:60", "17:00"),
            win(json!(["mon"]), "09:00", "24:01"),
            win(json!(["mon"]), "09:00", "09:00"),
            json!({"windows": [{"days": ["mon"], "start": "09:00", "end": "10:00"}], "timezone": "europe/paris"}),
            json!({"windows": [{"days": ["mon"], "start": "09:00", "end": "10:00"}], "timezone": "Mars/Olympus"}),
            json!({"windows": [], "timezone": "UTC"}),
            json!({"windows": vec![json!({"days": ["mon"], "start": "09:00", "end": "10:00"}); 21], "timezone": "UTC"}),
            json!({"windows": [{"days": ["mon"], "start": "09:00", "end": "10:00", "x": 1}], "timezone": "UTC"}),
            json!({"windows": [{"days": ["mon"], "start": "09:00", "end": "10:00"}]}),
        ] {
            assert_eq!(
                w(bad.clone()).unwrap_err().kind(),
                "AlterValueError",
                "{bad}"
            );
        }
        assert!(crate::tz_names::is_iana_zone("America/New_York"));
        assert!(crate::tz_names::is_iana_zone("UTC"));
        assert!(!crate::tz_names::is_iana_zone("utc"));
    }

    #[test]
    fn rules_fit_with_constraints() {
        let rule = content_match_rule(&ContentMatchRule {
            families: Some(vec!["payment".into()]),
            ..Default::default()
        })
        .unwrap();
        let c = crate::client::Client::new(
            crate::client::Principal::App,
            crate::client::ClientOptions {
                api_key: format!("alter_key_{}", "k".repeat(40)),
                base_url: Some("http://127.0.0.1:9".into()),
                warnings: Some(std::sync::Arc::new(|_: &str| {})),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(c.with_constraints(None, Some(&rule)).is_ok());
        let json_rule = request_rule(
            "json_match",
            json!({"when": {"method": "POST"}, "effect": "deny"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(c.with_constraints(None, Some(&json_rule)).is_ok());
    }
}
