//! A small strict JSON reader, and a writer that reproduces what Node prints after
//! `JSON.parse`: `JSON.stringify` (keys in JavaScript property order) or `safe-stable-stringify`
//! (keys sorted by UTF-16 code units).
//!
//! The SDK validators re-serialise the parsed body before verifying (fspiop.md §3.3, §12), so a
//! verifier that wants to accept what they accept must produce the same bytes. That needs the
//! JavaScript rules, which no serde map gives: integer-like keys come first in numeric order,
//! a duplicate key keeps its first position and its last value, numbers print as
//! `Number.prototype.toString` prints them, and strings escape exactly as `JSON.stringify` does.
//!
//! The reader is also used for the `FSPIOP-Signature` value and the protected header, where it
//! reports duplicate members instead of silently picking one.

use std::borrow::Cow;
use std::collections::HashMap;

/// A parsed JSON value borrowing from the text where no unescaping was needed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// The number's text as received; it was checked against the JSON grammar.
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<Member<'a>>),
}

/// One object member, in received order, with the raw text of its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Member<'a> {
    pub(crate) key: Cow<'a, str>,
    pub(crate) value: Value<'a>,
    pub(crate) raw: &'a str,
}

/// Why a text is not JSON we can handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not JSON at all.
    Syntax,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A `\uD800`-style escape without its partner: JavaScript keeps it, Rust strings cannot,
    /// so the value cannot be re-serialised faithfully.
    LoneSurrogate,
}

/// The order in which object keys are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyOrder {
    /// JavaScript property order of the parsed object (what `JSON.stringify` prints).
    Received,
    /// Sorted by UTF-16 code units (what `safe-stable-stringify` prints).
    Sorted,
}

/// Parses one JSON text (RFC 8259, as `JSON.parse` accepts it).
pub(crate) fn parse(text: &str) -> Result<Value<'_>, ParseError> {
    let mut parser = Parser { text, pos: 0 };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != text.len() {
        return Err(ParseError::Syntax);
    }
    Ok(value)
}

/// Writes `value` compactly, as Node would after `JSON.parse`, with keys in `order`.
pub(crate) fn write(value: &Value<'_>, order: KeyOrder, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(text) => write_number(text, out),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write(item, order, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (index, (key, value)) in js_properties(members, order).into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write(value, order, out);
            }
            out.push('}');
        }
    }
}

/// Writes a string as `JSON.stringify` does: `"` and `\` escaped, the short escapes for
/// backspace, tab, newline, form feed and carriage return, `\u00xx` (lower-case hex) for the
/// other C0 controls, everything else (DEL, U+2028, non-ASCII) as is.
pub(crate) fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The object's own properties as JavaScript enumerates them after `JSON.parse`.
fn js_properties<'v, 'a>(
    members: &'v [Member<'a>],
    order: KeyOrder,
) -> Vec<(&'v str, &'v Value<'a>)> {
    let mut properties: Vec<(&str, &Value<'a>)> = Vec::with_capacity(members.len());
    // A duplicate keeps the position of its first occurrence and takes the last value, as a
    // property assignment does. A map keeps this linear for big objects.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for member in members {
        let key: &str = &member.key;
        match seen.get(key).and_then(|&index| properties.get_mut(index)) {
            Some(property) => property.1 = &member.value,
            None => {
                seen.insert(key, properties.len());
                properties.push((key, &member.value));
            }
        }
    }
    match order {
        KeyOrder::Received => {
            // Integer indices first, ascending; other keys keep insertion order (stable sort).
            properties.sort_by_key(|(key, _)| array_index(key).unwrap_or(u32::MAX));
        }
        KeyOrder::Sorted => {
            properties.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
        }
    }
    properties
}

/// `Some(n)` when `key` is an ECMAScript array index: the canonical decimal form of an integer
/// below 2^32 - 1.
fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    let canonical = match bytes {
        [] => false,
        [b'0'] => true,
        [first, ..] => *first != b'0' && bytes.iter().all(u8::is_ascii_digit),
    };
    if !canonical || bytes.len() > 10 {
        return None;
    }
    let value: u64 = key.parse().ok()?;
    u32::try_from(value).ok().filter(|&index| index != u32::MAX)
}

/// Writes a JSON number as JavaScript prints the `f64` it parses to (ECMA-262
/// `Number::toString`): shortest round-trip digits, plain notation for exponents in
/// -7 < e < 21, `d.ddde±x` otherwise, `-0` as `0` and overflow (`1e400`) as `null`.
fn write_number(text: &str, out: &mut String) {
    // The grammar was checked, so Rust's parser accepts it; stay total anyway.
    let value: f64 = text.parse().unwrap_or(f64::NAN);
    if !value.is_finite() {
        out.push_str("null");
        return;
    }
    if value == 0.0 {
        out.push('0');
        return;
    }
    if value < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, e.g. `1.2345e-7`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // ECMA-262 names: k digits, the value is 0.digits × 10^n. Doubles keep |n| < 400.
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let n = exponent.parse::<i32>().unwrap_or(0).saturating_add(1);
    let zeros = |count: i32| "0".repeat(usize::try_from(count).unwrap_or(0));
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.push_str(&zeros(n.saturating_sub(k)));
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits
            .split_at_checked(usize::try_from(n).unwrap_or(0))
            .unwrap_or((&digits, ""));
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.push_str(&zeros(n.saturating_neg()));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let power = n.saturating_sub(1);
        out.push('e');
        out.push(if power >= 0 { '+' } else { '-' });
        out.push_str(&power.unsigned_abs().to_string());
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn value(&mut self, depth: usize) -> Result<Value<'a>, ParseError> {
        match self.peek() {
            Some(b'{') => self.object(depth.saturating_add(1)),
            Some(b'[') => self.array(depth.saturating_add(1)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(ParseError::Syntax),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        self.bump(); // {
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.eat(b'}') {
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(ParseError::Syntax);
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return Err(ParseError::Syntax);
            }
            self.skip_whitespace();
            let start = self.pos;
            let value = self.value(depth)?;
            let raw = self.since(start)?;
            members.push(Member { key, value, raw });
            self.skip_whitespace();
            if self.eat(b'}') {
                return Ok(Value::Object(members));
            }
            if !self.eat(b',') {
                return Err(ParseError::Syntax);
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        self.bump(); // [
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat(b']') {
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            if self.eat(b']') {
                return Ok(Value::Array(items));
            }
            if !self.eat(b',') {
                return Err(ParseError::Syntax);
            }
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, ParseError> {
        self.bump(); // opening quote
        let start = self.pos;
        // Fast path: no escapes, borrow the text. Bytes of multi-byte characters are all
        // >= 0x80, so stepping byte by byte never stops inside one.
        loop {
            match self.peek() {
                None => return Err(ParseError::Syntax),
                Some(b'"') => {
                    let text = self.since(start)?;
                    self.bump();
                    return Ok(Cow::Borrowed(text));
                }
                Some(b'\\') => break,
                Some(byte) if byte < 0x20 => return Err(ParseError::Syntax),
                Some(_) => self.bump(),
            }
        }
        let mut owned = String::from(self.since(start)?);
        loop {
            match self.peek() {
                None => return Err(ParseError::Syntax),
                Some(b'"') => {
                    self.bump();
                    return Ok(Cow::Owned(owned));
                }
                Some(b'\\') => {
                    self.bump();
                    owned.push(self.escape()?);
                }
                Some(byte) if byte < 0x20 => return Err(ParseError::Syntax),
                Some(_) => {
                    // Copy one whole character; `pos` is on a character boundary here.
                    let c = self.rest().chars().next().ok_or(ParseError::Syntax)?;
                    owned.push(c);
                    self.pos = self.pos.saturating_add(c.len_utf8());
                }
            }
        }
    }

    fn escape(&mut self) -> Result<char, ParseError> {
        let byte = self.peek().ok_or(ParseError::Syntax)?;
        self.bump();
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let units = if (0xd800..0xdc00).contains(&unit) {
                    if !(self.eat(b'\\') && self.eat(b'u')) {
                        return Err(ParseError::LoneSurrogate);
                    }
                    vec![unit, self.hex4()?]
                } else {
                    vec![unit]
                };
                let mut decoded = char::decode_utf16(units);
                match (decoded.next(), decoded.next()) {
                    (Some(Ok(c)), None) => c,
                    _ => return Err(ParseError::LoneSurrogate),
                }
            }
            _ => return Err(ParseError::Syntax),
        })
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let digits = self.rest().get(..4).ok_or(ParseError::Syntax)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseError::Syntax);
        }
        self.pos = self.pos.saturating_add(4);
        u16::from_str_radix(digits, 16).map_err(|_| ParseError::Syntax)
    }

    fn number(&mut self) -> Result<Value<'a>, ParseError> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.bump(),
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(ParseError::Syntax),
        }
        if self.eat(b'.') {
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(ParseError::Syntax);
            }
            self.digits();
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(ParseError::Syntax);
            }
            self.digits();
        }
        Ok(Value::Number(self.since(start)?))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.bump();
        }
    }

    fn literal(&mut self, word: &'static str, value: Value<'a>) -> Result<Value<'a>, ParseError> {
        if self.rest().starts_with(word) {
            self.pos = self.pos.saturating_add(word.len());
            Ok(value)
        } else {
            Err(ParseError::Syntax)
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Steps over one byte. `pos` never exceeds the text length: callers bump only after a
    /// successful `peek`.
    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    /// The unread text (empty if `pos` is somehow not on a character boundary).
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    /// The text from `start` to the current position.
    fn since(&self, start: usize) -> Result<&'a str, ParseError> {
        self.text.get(start..self.pos).ok_or(ParseError::Syntax)
    }
}

/// Nesting limit for arrays and objects. FSPIOP bodies nest fewer than ten levels; the limit
/// keeps recursion on hostile input shallow.
const MAX_DEPTH: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    fn reserialise(text: &str, order: KeyOrder) -> String {
        let value = parse(text).expect("valid JSON");
        let mut out = String::new();
        write(&value, order, &mut out);
        out
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        // Expectations taken from Node 20: JSON.stringify(JSON.parse(n)).
        let cases = [
            ("1.0", "1"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("123456789012345678901", "123456789012345680000"),
            ("0.0000001", "1e-7"),
            ("0.000001", "0.000001"),
            ("1E+2", "100"),
            ("-0", "0"),
            ("1e400", "null"),
            ("-1e-400", "0"),
            ("0.1", "0.1"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("12.50", "12.5"),
            ("2.5e-7", "2.5e-7"),
            ("123e-20", "1.23e-18"),
            ("4294967295", "4294967295"),
            ("-12.345", "-12.345"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                reserialise(input, KeyOrder::Sorted),
                expected,
                "input {input}"
            );
        }
    }

    #[test]
    fn keys_follow_javascript_property_order() {
        // Node 20 prints {"2":2,"10":1,"4294967294":0,"b":5,"4294967295":0,"01":3,"a":4}.
        let text = r#"{"b":1,"4294967295":0,"4294967294":0,"10":1,"2":2,"01":3,"a":4,"b":5}"#;
        assert_eq!(
            reserialise(text, KeyOrder::Received),
            r#"{"2":2,"10":1,"4294967294":0,"b":5,"4294967295":0,"01":3,"a":4}"#
        );
        assert_eq!(
            reserialise(text, KeyOrder::Sorted),
            r#"{"01":3,"10":1,"2":2,"4294967294":0,"4294967295":0,"a":4,"b":5}"#
        );
    }

    #[test]
    fn sorting_uses_utf16_code_units() {
        // U+FF61 sorts after U+1F600 in UTF-16 (0xFF61 > 0xD83D) but before it in UTF-8.
        let text = "{\"\u{1F600}\":1,\"\u{FF61}\":2}";
        assert_eq!(
            reserialise(text, KeyOrder::Sorted),
            "{\"\u{1F600}\":1,\"\u{FF61}\":2}"
        );
    }

    #[test]
    fn strings_escape_as_json_stringify() {
        let text = r#"["\u0001\b\t\n\f\r\"\\\/\u007f\u2028é\ud83d\ude00"]"#;
        assert_eq!(
            reserialise(text, KeyOrder::Sorted),
            "[\"\\u0001\\b\\t\\n\\f\\r\\\"\\\\/\u{7f}\u{2028}é\u{1F600}\"]"
        );
    }

    #[test]
    fn whitespace_disappears_and_nesting_is_kept() {
        let text = " { \"z\" : [ 1 , { \"y\" : null , \"x\" : true } ] , \"a\" : false } ";
        assert_eq!(
            reserialise(text, KeyOrder::Received),
            r#"{"z":[1,{"y":null,"x":true}],"a":false}"#
        );
        assert_eq!(
            reserialise(text, KeyOrder::Sorted),
            r#"{"a":false,"z":[1,{"x":true,"y":null}]}"#
        );
    }

    #[test]
    fn rejects_what_json_parse_rejects() {
        for text in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "\"\t\"",
            "'a'",
            "{a:1}",
            "nul",
            "[1] x",
            "\"\\x\"",
            "\"\\u12\"",
            "\u{feff}{}",
            "NaN",
        ] {
            assert_eq!(parse(text), Err(ParseError::Syntax), "input {text:?}");
        }
    }

    #[test]
    fn lone_surrogates_cannot_be_reproduced() {
        assert_eq!(parse(r#""\ud800""#), Err(ParseError::LoneSurrogate));
        assert_eq!(parse(r#""\udc00x""#), Err(ParseError::LoneSurrogate));
        assert_eq!(parse(r#""\ud800\u0041""#), Err(ParseError::LoneSurrogate));
    }

    #[test]
    fn depth_is_limited() {
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&deep_ok).is_ok());
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(&too_deep), Err(ParseError::TooDeep));
        let hostile = "[".repeat(100_000);
        assert_eq!(parse(&hostile), Err(ParseError::TooDeep));
    }

    #[test]
    fn members_keep_their_raw_text() {
        let value = parse(r#"{"a" : { "b" : [1, 2] } , "c":"d"}"#).expect("valid");
        let Value::Object(members) = value else {
            panic!("object expected")
        };
        assert_eq!(members[0].raw, r#"{ "b" : [1, 2] }"#);
        assert_eq!(members[1].raw, r#""d""#);
    }
}
