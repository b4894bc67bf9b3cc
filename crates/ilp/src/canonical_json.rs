//! Canonical JSON as the Mojaloop SDK produces it (`safe-stable-stringify`): object keys sorted,
//! no whitespace, strings and numbers written exactly as JavaScript's `JSON.stringify` does.
//!
//! Keys are sorted here explicitly, by UTF-16 code units as JavaScript's default sort does,
//! whatever order `serde_json::Map` iterates in (which depends on whether some crate in the
//! build enables serde_json's `preserve_order` feature).

use serde_json::{Map, Number, Value};

/// Serialises `value` as canonical JSON (sorted keys, compact, `JSON.stringify` escaping).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write_value(value, out);
    }
    out.push('}');
}

/// Writes a string the way `JSON.stringify` does: escape `"` and `\`, use the short escapes
/// for backspace, tab, newline, form feed and carriage return, `\u00xx` (lower-case hex) for
/// the other control characters, and everything else (including non-ASCII) literally.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a number the way JavaScript's `Number.prototype.toString` does.
///
/// Integers held as `u64`/`i64` are written exactly (JavaScript would round those beyond
/// 2^53; such values do not occur in FSPIOP, which carries amounts as strings).
fn write_number(n: &Number, out: &mut String) {
    if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(f) = n.as_f64() {
        write_f64(f, out);
    } else {
        out.push_str(&n.to_string());
    }
}

/// ECMAScript `Number::toString(x)` for finite `x`, radix 10.
fn write_f64(f: f64, out: &mut String) {
    if !f.is_finite() {
        // JSON.stringify writes non-finite numbers as null (serde_json cannot hold them).
        out.push_str("null");
        return;
    }
    if f == 0.0 {
        // Covers -0, which JavaScript prints as "0".
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, as JavaScript does.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    // k digits, value = 0.d1d2..dk * 10^n.
    let k = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let n = exponent.saturating_add(1);
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.push_str(&"0".repeat(usize::try_from(n.saturating_sub(k)).unwrap_or(0)));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits
            .split_at_checked(usize::try_from(n).unwrap_or(0))
            .unwrap_or((&digits, ""));
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat(usize::try_from(n.saturating_neg()).unwrap_or(0)));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n.saturating_sub(1);
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&e.unsigned_abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sorts_keys_recursively_and_is_compact() {
        let v = json!({"b": 1, "a": {"z": [ {"y": true, "x": null} ], "c": "s"}});
        assert_eq!(
            to_string(&v),
            r#"{"a":{"c":"s","z":[{"x":null,"y":true}]},"b":1}"#
        );
    }

    #[test]
    fn sorts_even_when_map_keeps_insertion_order() {
        // Build the map in reverse order; whether serde_json keeps insertion order
        // (`preserve_order`) or sorts (BTreeMap) must not change the output.
        let mut map = Map::new();
        map.insert("zeta".into(), json!(1));
        map.insert("alpha".into(), json!(2));
        map.insert("Mid".into(), json!(3));
        assert_eq!(
            to_string(&Value::Object(map)),
            r#"{"Mid":3,"alpha":2,"zeta":1}"#
        );
    }

    #[test]
    fn sorts_by_utf16_code_units_like_javascript() {
        // U+1F600 is a surrogate pair (D83D DE00) in UTF-16, which sorts before U+FF61,
        // although its UTF-8 bytes (F0..) sort after U+FF61's (EF..).
        let v = json!({"\u{ff61}": 1, "\u{1f600}": 2});
        assert_eq!(to_string(&v), "{\"\u{1f600}\":2,\"\u{ff61}\":1}");
    }

    #[test]
    fn escapes_like_json_stringify() {
        let v = json!("q\"b\\s/\u{08}\u{0c}\n\r\t\u{0}\u{1f}\u{7f}é\u{2028}😀");
        assert_eq!(
            to_string(&v),
            "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}é\u{2028}😀\""
        );
    }

    #[test]
    fn numbers_like_javascript() {
        let cases: &[(Value, &str)] = &[
            (json!(0), "0"),
            (json!(-0.0), "0"),
            (json!(1.0), "1"),
            (json!(100.5), "100.5"),
            (json!(-2.5), "-2.5"),
            (json!(0.1), "0.1"),
            (json!(0.000001), "0.000001"),
            (json!(0.0000001), "1e-7"),
            (json!(1.5e-7), "1.5e-7"),
            (json!(1e20), "100000000000000000000"),
            (json!(1e21), "1e+21"),
            (json!(1.25e22), "1.25e+22"),
            (json!(123456789012.5), "123456789012.5"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(i64::MIN), "-9223372036854775808"),
            (json!(5e-324), "5e-324"),
            (json!(1.7976931348623157e308), "1.7976931348623157e+308"),
        ];
        for (v, expected) in cases {
            assert_eq!(to_string(v), *expected, "{v:?}");
        }
    }

    #[test]
    fn scalars_and_empty_containers() {
        assert_eq!(to_string(&json!(null)), "null");
        assert_eq!(to_string(&json!(true)), "true");
        assert_eq!(to_string(&json!([])), "[]");
        assert_eq!(to_string(&json!({})), "{}");
        assert_eq!(to_string(&json!([1, "a", [false]])), r#"[1,"a",[false]]"#);
    }
}
