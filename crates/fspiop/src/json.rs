//! Duplicate object keys in a JSON body.
//!
//! RFC 8259 says member names *should* be unique and leaves duplicates to the parser; serde (and
//! `JSON.parse`) keep the last one. A body `{"amount":{"amount":"1",…,"amount":"1000"}}` then
//! means different things to a signature checker, a log reader, the hub and the payee, so the
//! gate refuses any body with a repeated key (`3101`, naming the key and the object) before
//! anything reads it.
//!
//! [`find_duplicate_key`] is one pass over the bytes with no recursion (nesting depth costs
//! heap, never stack). Keys are kept as slices of the input; only a key written with escapes
//! (`"\u0061"`) is decoded into an owned copy, because `"a"` and `"\u0061"` are the same name.
//! Each object's keys are checked when it closes by sorting them, so an object with `n` keys
//! costs `O(n log n)`, not `O(n²)`.
//!
//! The scan only tokenises: it does not validate numbers, literals or UTF-8. On input that is
//! not JSON it reports what it saw up to the point where the structure broke, and the caller's
//! JSON parser refuses the body anyway. On every body `serde_json` accepts, it reports a
//! duplicate exactly when there is one (the `fspiop_schema` fuzz oracle checks this against a
//! serde visitor).

use std::borrow::Cow;

use crate::error::{ErrorCode, FspiopError};

/// Longest part of a key quoted in the error description, in characters.
pub const MAX_KEY_CHARS_SHOWN: usize = 40;

/// A key that occurs twice in one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The key (decoded; bytes that are not UTF-8 shown as U+FFFD).
    pub key: String,
    /// JSON pointer (RFC 6901) of the object holding it; empty for the top-level object.
    pub pointer: String,
}

impl DuplicateKey {
    /// The `3101` refusal: `Malformed syntax - duplicate key "amount" in /amount`.
    pub fn to_fspiop_error(&self) -> FspiopError {
        let shown: String = self
            .key
            .chars()
            .take(MAX_KEY_CHARS_SHOWN)
            .flat_map(char::escape_debug)
            .collect();
        let place = if self.pointer.is_empty() {
            "the top-level object".to_string()
        } else {
            let pointer: String = self.pointer.chars().flat_map(char::escape_debug).collect();
            format!("the object at {pointer}")
        };
        FspiopError::new(
            ErrorCode::MALFORMED_SYNTAX,
            format!("duplicate key \"{shown}\" in {place}; each key may occur once per object"),
        )
    }
}

/// `Err(3101)` when an object in `body` repeats a key.
pub fn check_unique_keys(body: &[u8]) -> Result<(), FspiopError> {
    match find_duplicate_key(body) {
        Some(duplicate) => Err(duplicate.to_fspiop_error()),
        None => Ok(()),
    }
}

/// An open container.
struct Frame {
    /// Object (`true`) or array.
    object: bool,
    /// Where this object's keys start in the key list.
    keys_start: usize,
    /// Index of the current element (arrays only).
    index: usize,
    /// Whether the next string is a key (objects only).
    expect_key: bool,
}

/// The first object (in closing order) that repeats a key, or `None`.
pub fn find_duplicate_key(body: &[u8]) -> Option<DuplicateKey> {
    let mut keys: Vec<Cow<'_, [u8]>> = Vec::with_capacity(16);
    let mut frames: Vec<Frame> = Vec::with_capacity(8);
    let mut rest = body;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'"' => {
                let (raw, escaped, after) = string_body(rest)?;
                rest = after;
                if let Some(frame) = frames.last_mut()
                    && frame.object
                    && frame.expect_key
                {
                    frame.expect_key = false;
                    let key = if escaped {
                        Cow::Owned(unescape(raw)?)
                    } else {
                        Cow::Borrowed(raw)
                    };
                    keys.push(key);
                }
            }
            b'{' | b'[' => frames.push(Frame {
                object: byte == b'{',
                keys_start: keys.len(),
                index: 0,
                expect_key: byte == b'{',
            }),
            b'}' => {
                let frame = frames.last()?;
                if !frame.object {
                    return None;
                }
                let start = frame.keys_start;
                if let Some(own) = keys.get_mut(start..) {
                    own.sort_unstable();
                    if let Some(pair) = own.windows(2).find(|pair| pair.first() == pair.get(1)) {
                        let key = pair
                            .first()
                            .map(|k| String::from_utf8_lossy(k).into_owned());
                        return Some(DuplicateKey {
                            key: key.unwrap_or_default(),
                            pointer: pointer(&frames, &keys),
                        });
                    }
                }
                keys.truncate(start);
                frames.pop();
            }
            b']' => {
                if frames.last()?.object {
                    return None;
                }
                frames.pop();
            }
            b',' => {
                if let Some(frame) = frames.last_mut() {
                    if frame.object {
                        frame.expect_key = true;
                    } else {
                        frame.index = frame.index.saturating_add(1);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// The bytes of a string after its opening quote: (content, whether it holds escapes, the
/// input after the closing quote); `None` when it never closes.
fn string_body(text: &[u8]) -> Option<(&[u8], bool, &[u8])> {
    let mut escaped = false;
    let mut at = 0usize;
    loop {
        let offset = text
            .get(at..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        at = at.checked_add(offset)?;
        match text.get(at)? {
            b'"' => {
                let content = text.get(..at)?;
                let after = text.get(at.checked_add(1)?..)?;
                return Some((content, escaped, after));
            }
            _ => {
                escaped = true;
                // Skip the backslash and the character it escapes.
                at = at.checked_add(2)?;
            }
        }
    }
}

/// The decoded bytes of a string's content with escapes; `None` for an escape JSON does not
/// have (or a lone surrogate, which `serde_json` refuses too).
fn unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let (&kind, tail) = rest.split_first()?;
        rest = tail;
        let simple = match kind {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        let (unit, tail) = hex4(rest)?;
        rest = tail;
        let scalar = match unit {
            0xD800..=0xDBFF => {
                let tail = rest.strip_prefix(b"\\u")?;
                let (low, tail) = hex4(tail)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return None;
                }
                rest = tail;
                let high = u32::from(unit).checked_sub(0xD800)?;
                let low = u32::from(low).checked_sub(0xDC00)?;
                char::from_u32(
                    high.checked_shl(10)?
                        .checked_add(low)?
                        .checked_add(0x1_0000)?,
                )?
            }
            0xDC00..=0xDFFF => return None,
            other => char::from_u32(u32::from(other))?,
        };
        let mut buffer = [0u8; 4];
        out.extend_from_slice(scalar.encode_utf8(&mut buffer).as_bytes());
    }
    Some(out)
}

/// Four hex digits as a UTF-16 code unit, and the rest.
fn hex4(text: &[u8]) -> Option<(u16, &[u8])> {
    let digits = text.get(..4)?;
    let digits = std::str::from_utf8(digits).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let unit = u16::from_str_radix(digits, 16).ok()?;
    Some((unit, text.get(4..)?))
}

/// JSON pointer of the innermost open object.
fn pointer(frames: &[Frame], keys: &[Cow<'_, [u8]>]) -> String {
    let mut out = String::new();
    for pair in frames.windows(2) {
        let (Some(parent), Some(child)) = (pair.first(), pair.get(1)) else {
            continue;
        };
        out.push('/');
        if parent.object {
            let key = child
                .keys_start
                .checked_sub(1)
                .and_then(|at| keys.get(at))
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            out.push_str(&key.replace('~', "~0").replace('/', "~1"));
        } else {
            out.push_str(&parent.index.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn duplicate(text: &str) -> Option<(String, String)> {
        find_duplicate_key(text.as_bytes()).map(|d| (d.key, d.pointer))
    }

    fn dup(key: &str, pointer: &str) -> Option<(String, String)> {
        Some((key.to_string(), pointer.to_string()))
    }

    #[test]
    fn unique_keys_pass() {
        for text in [
            "{}",
            "[]",
            r#"{"a":1,"b":{"a":2,"b":[{"a":3},{"a":4}]},"c":"a"}"#,
            r#"{"a":"{\"a\":1,\"a\":2}"}"#,
            r#"[{"a":1},{"a":1}]"#,
            r#"{"a\"b":1,"a":2,"b":3}"#,
            r#"{"ä":1,"a":2}"#,
            " { \"x\" : [ 1 , 2 ] , \"y\" : null } ",
        ] {
            assert_eq!(duplicate(text), None, "{text}");
        }
    }

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert_eq!(duplicate(r#"{"a":1,"a":2}"#), dup("a", ""));
        assert_eq!(
            duplicate(r#"{"amount":{"amount":"1","currency":"USD","amount":"1000"}}"#),
            dup("amount", "/amount")
        );
        assert_eq!(
            duplicate(r#"{"x":[{"ok":1},{"k":1,"k":{}}]}"#),
            dup("k", "/x/1")
        );
        assert_eq!(
            duplicate(r#"{"a/b~":{"c":[],"c":[]}}"#),
            dup("c", "/a~1b~0")
        );
        assert_eq!(duplicate(r#"[[{"z":0,"z":0}]]"#), dup("z", "/0/0"));
    }

    #[test]
    fn escaped_keys_are_compared_decoded() {
        assert_eq!(duplicate(r#"{"a":1,"\u0061":2}"#), dup("a", ""));
        assert_eq!(duplicate(r#"{"\/":1,"/":2}"#), dup("/", ""));
        assert_eq!(duplicate(r#"{"é":1,"\u00e9":2}"#), dup("é", ""));
        assert_eq!(duplicate(r#"{"😀":1,"\ud83d\ude00":2}"#), dup("😀", ""));
        assert_eq!(duplicate(r#"{"\"":1,"\u0022":2}"#), dup("\"", ""));
        assert_eq!(duplicate(r#"{"a":1,"\u0041":2}"#), None, "case matters");
    }

    #[test]
    fn broken_input_is_left_to_the_parser() {
        for text in [
            "",
            "{",
            r#"{"a":1,"a""#,
            r#"{"a":1]"#,
            r#"[1}"#,
            "}",
            r#"{"\ud800":1,"\ud800":2}"#,
            r#"{"\x":1,"\x":2}"#,
        ] {
            assert_eq!(duplicate(text), None, "{text}");
        }
    }

    #[test]
    fn the_error_names_the_key_and_the_object() {
        let error =
            check_unique_keys(br#"{"amount":{"currency":"USD","currency":"EUR"}}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::MALFORMED_SYNTAX);
        assert_eq!(
            error.description,
            "Malformed syntax - duplicate key \"currency\" in the object at /amount; each key may occur once per object"
        );
        let long = format!(r#"{{"{0}":1,"{0}":2}}"#, "k\n".repeat(100));
        let error = check_unique_keys(long.as_bytes()).unwrap_err();
        assert!(error.description.chars().count() <= 128);
        assert!(
            !error.description.contains('\n'),
            "control characters are escaped"
        );
    }

    #[test]
    fn deep_nesting_uses_no_stack() {
        let depth = 100_000;
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(duplicate(&text), None);
        let text = format!(
            "{}{{\"a\":1,\"a\":1}}{}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert_eq!(duplicate(&text).map(|d| d.0), Some("a".to_string()));
    }

    #[test]
    fn many_keys_in_one_object() {
        let mut text = String::from("{");
        for i in 0..50_000 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k123\":0}");
        assert_eq!(duplicate(&text), dup("k123", ""));
    }

    /// Whether serde keeps a duplicate: the reference the scan must agree with.
    fn reference(text: &str) -> Option<bool> {
        use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Unique;
        struct V;
        impl<'de> serde::Deserialize<'de> for Unique {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
                d.deserialize_any(V)
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = Unique;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key) {
                        return Err(serde::de::Error::custom("duplicate"));
                    }
                    map.next_value::<Unique>()?;
                }
                Ok(Unique)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
                while seq.next_element::<Unique>()?.is_some() {}
                Ok(Unique)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_unit<E>(self) -> Result<Unique, E> {
                Ok(Unique)
            }
        }
        serde_json::from_str::<IgnoredAny>(text).ok()?;
        Some(serde_json::from_str::<Unique>(text).is_err())
    }

    fn json_value() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("a".to_string()),
            Just("\\u0061".to_string()),
            Just("b".to_string()),
            Just("\\\"".to_string()),
            Just("\\u0022".to_string()),
            "[a-c]{0,2}",
        ];
        let leaf = prop_oneof![
            Just("1".to_string()),
            Just("null".to_string()),
            Just("\"a\"".to_string()),
            Just("\"{\\\"a\\\":1,\\\"a\\\":2}\"".to_string()),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\" : {v}"))
                        .collect();
                    format!("{{{}}}", members.join(", "))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_a_serde_visitor(text in json_value()) {
            let expected = reference(&text).expect("generated JSON parses");
            prop_assert_eq!(find_duplicate_key(text.as_bytes()).is_some(), expected, "{}", text);
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = find_duplicate_key(&bytes);
        }
    }
}
