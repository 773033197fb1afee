//! JSON encodings the protocol depends on byte for byte.
//!
//! Bodies the SDK sends to the backend are hashed for the signature, so they
//! are serialised exactly once, compactly and ASCII-escaped, with keys in
//! insertion order (`serde_json` is built with `preserve_order`). Provider
//! bodies use compact UTF-8; SigV4-signed bodies use the spaced, escaped
//! style. Floats render in the shortest round-trip form with Python's
//! exponent style (`1e-07`, `1e+16`) so our bytes match the official
//! package's.

use serde_json::Value;
use std::fmt::Write;

/// Output style.
#[derive(Clone, Copy)]
struct Style {
    ascii: bool,
    spaced: bool,
}

/// Compact (`,` `:`), every non-ASCII character as `\uXXXX`.
pub fn compact_ascii(v: &Value) -> String {
    encode(
        v,
        Style {
            ascii: true,
            spaced: false,
        },
    )
}

/// Compact, non-ASCII written as raw UTF-8.
pub fn compact_utf8(v: &Value) -> String {
    encode(
        v,
        Style {
            ascii: false,
            spaced: false,
        },
    )
}

/// Spaced (`, ` `: `), every non-ASCII character as `\uXXXX`.
pub fn spaced_ascii(v: &Value) -> String {
    encode(
        v,
        Style {
            ascii: true,
            spaced: true,
        },
    )
}

fn encode(v: &Value, style: Style) -> String {
    let mut out = String::with_capacity(128);
    write_value(v, style, &mut out);
    out
}

fn write_value(v: &Value, style: Style, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                write_float(f, out);
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => write_str(s, style.ascii, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(if style.spaced { ", " } else { "," });
                }
                write_value(item, style, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(if style.spaced { ", " } else { "," });
                }
                write_str(k, style.ascii, out);
                out.push_str(if style.spaced { ": " } else { ":" });
                write_value(item, style, out);
            }
            out.push('}');
        }
    }
}

/// Shortest round-trip float with Python's `repr` layout. Rust's `{:?}`
/// already switches to exponent form at the same thresholds (exponent < -4 or
/// >= 16); only the exponent spelling differs (`1e-7` vs `1e-07`).
pub fn write_float(f: f64, out: &mut String) {
    let s = format!("{f:?}");
    match s.split_once('e') {
        None => out.push_str(&s),
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
        }
    }
}

/// Writes a JSON string literal.
pub fn write_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ascii_escaping_matches_the_wire_form() {
        assert_eq!(
            compact_ascii(&json!({"k": "vé", "run": "1"})),
            r#"{"k":"v\u00e9","run":"1"}"#
        );
        assert_eq!(compact_ascii(&json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(compact_ascii(&json!("a\u{7f}b")), r#""a\u007fb""#);
        assert_eq!(compact_ascii(&json!("q\"\\\n\u{1}")), r#""q\"\\\n\u0001""#);
        assert_eq!(compact_utf8(&json!({"k": "vé"})), r#"{"k":"vé"}"#);
        assert_eq!(
            spaced_ascii(&json!({"a": 1, "b": "é", "c": [1, 2]})),
            r#"{"a": 1, "b": "\u00e9", "c": [1, 2]}"#
        );
    }

    #[test]
    fn keys_keep_insertion_order() {
        let v: Value = serde_json::from_str(r#"{"z":1,"a":2,"m":3}"#).unwrap();
        assert_eq!(compact_ascii(&v), r#"{"z":1,"a":2,"m":3}"#);
    }

    #[test]
    fn floats_use_python_repr_layout() {
        let cases = [
            (1.0, "1.0"),
            (1e-7, "1e-07"),
            (1.5, "1.5"),
            (1e16, "1e+16"),
            (1.5e20, "1.5e+20"),
            (0.0001, "0.0001"),
            (123456789012345.0, "123456789012345.0"),
            (-2.5e-10, "-2.5e-10"),
        ];
        for (f, want) in cases {
            let mut s = String::new();
            write_float(f, &mut s);
            assert_eq!(s, want);
        }
        assert_eq!(
            compact_ascii(&json!({"x": 1.0, "n": 3})),
            r#"{"x":1.0,"n":3}"#
        );
    }
}
