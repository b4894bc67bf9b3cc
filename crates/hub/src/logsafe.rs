//! Peer-controlled text in logs.
//!
//! A request path, a header, an `FSPIOP-Source`, a certificate name, a TLS library's error
//! text or an operator's user name may carry CR/LF (forged log lines), ESC and other C0/C1
//! controls (terminal escape sequences that recolour, hide or rewrite what an operator sees),
//! or Unicode format characters (bidirectional overrides that reorder a line). Every tracing
//! call that logs such a value wraps it in [`Escaped`], which writes it on one line with only
//! printable characters: controls and format characters as `\n`, `\r`, `\t`, `\x1b`,
//! `\u{202e}`…, and the backslash itself as `\\` (so an escape in the log is never ambiguous
//! with the same characters sent literally). `ferroloop` additionally formats every field
//! through [`escape_into`], whatever the call site did.

use std::fmt;

/// Displays a peer-controlled string with control and format characters escaped.
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_into(f, self.0)
    }
}

/// Whether a character must not reach a log raw: C0 and C1 controls, DEL, the line and
/// paragraph separators and the bidirectional and other invisible format characters.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// Writes `text` to `out` with every character [`needs_escape`] names escaped, and `\` as
/// `\\`.
pub fn escape_into(out: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if needs_escape(c) && u32::from(c) < 0x100 => write!(out, "\\x{:02x}", u32::from(c))?,
            c if needs_escape(c) => write!(out, "\\u{{{:04x}}}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// Like [`escape_into`], but leaves `\\` as it is: for text that may already be escaped once
/// (a `Debug`-formatted value), where only raw control characters must go.
pub fn escape_controls_into(out: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\\' => out.write_char('\\')?,
            c if needs_escape(c) => escape_into(out, c.encode_utf8(&mut [0; 4]))?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// [`escape_into`] as a new string.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_format_characters_are_escaped() {
        assert_eq!(
            Escaped("/parties/MSISDN/1\r\nINFO forged\u{1b}[2J\u{9b}\u{202e}x\\n").to_string(),
            "/parties/MSISDN/1\\r\\nINFO forged\\x1b[2J\\x9b\\u{202e}x\\\\n"
        );
        assert_eq!(escape("plain ascii / ünïcödé €"), "plain ascii / ünïcödé €");
        for c in (0..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let escaped = escape(&c.to_string());
            assert!(escaped.chars().all(|e| !needs_escape(e)), "{c:?}");
            assert!(escaped.starts_with('\\'), "{c:?}");
        }
    }
}
