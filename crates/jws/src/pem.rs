//! PEM (RFC 7468): base64 between `-----BEGIN label-----` and `-----END label-----` lines.
//!
//! Text outside blocks is ignored, as OpenSSL ignores the explanatory text `openssl x509
//! -text` prints. Blocks with RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`) are encrypted legacy
//! keys and are refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::KeyError;

/// One decoded block.
#[derive(Debug)]
pub(crate) struct Block<'a> {
    pub(crate) label: &'a str,
    pub(crate) der: Vec<u8>,
}

/// Decodes every block in `text`, in order.
pub(crate) fn blocks(text: &str) -> Result<Vec<Block<'_>>, KeyError> {
    if text.len() > MAX_PEM_BYTES {
        return Err(KeyError::Pem("larger than 1 MiB"));
    }
    let mut found = Vec::new();
    let mut rest = text;
    while let Some((_, after_begin)) = rest.split_once(BEGIN) {
        if found.len() == MAX_BLOCKS {
            return Err(KeyError::Pem("more than 16 blocks"));
        }
        let (label, body_and_rest) = after_begin
            .split_once(DASHES)
            .ok_or(KeyError::Pem("unterminated BEGIN line"))?;
        if label.contains(['\n', '\r']) {
            return Err(KeyError::Pem("unterminated BEGIN line"));
        }
        let end_marker = format!("{END}{label}{DASHES}");
        let (body, after_end) = body_and_rest
            .split_once(&end_marker)
            .ok_or(KeyError::Pem("no matching END line"))?;
        if body.contains(':') {
            return Err(KeyError::Encrypted);
        }
        let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| KeyError::Pem("invalid base64"))?;
        found.push(Block { label, der });
        rest = after_end;
    }
    if found.is_empty() {
        return Err(KeyError::NoPem);
    }
    Ok(found)
}

/// Encodes `der` as a PEM block with 64-character lines and a trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let mut out = String::new();
    out.push_str(BEGIN);
    out.push_str(label);
    out.push_str(DASHES);
    out.push('\n');
    for line in base64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(END);
    out.push_str(label);
    out.push_str(DASHES);
    out.push('\n');
    out
}

/// Truncates an untrusted label for an error message.
pub(crate) fn label_for_error(label: &str) -> String {
    label.chars().take(64).collect()
}

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";
/// A certificate chain is a few KiB; nothing legitimate comes near this.
const MAX_PEM_BYTES: usize = 1 << 20;
const MAX_BLOCKS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_surrounding_text() {
        let der: Vec<u8> = (0..=255).collect();
        let text = format!("Subject: x\n{}trailer\n", encode("PUBLIC KEY", &der));
        let found = blocks(&text).expect("valid PEM");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "PUBLIC KEY");
        assert_eq!(found[0].der, der);
        assert!(encode("X", &der).lines().all(|line| line.len() <= 64));
    }

    #[test]
    fn accepts_crlf_and_several_blocks() {
        let text = encode("EC PARAMETERS", &[6, 1, 1]) + &encode("EC PRIVATE KEY", &[4, 0]);
        let text = text.replace('\n', "\r\n");
        let found = blocks(&text).expect("valid PEM");
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].label, "EC PRIVATE KEY");
    }

    #[test]
    fn refuses_broken_blocks() {
        assert_eq!(blocks("nothing here").unwrap_err(), KeyError::NoPem);
        assert!(matches!(
            blocks("-----BEGIN X-----\nAAAA\n").unwrap_err(),
            KeyError::Pem(_)
        ));
        assert!(matches!(
            blocks("-----BEGIN X-----\nA*AA\n-----END X-----").unwrap_err(),
            KeyError::Pem(_)
        ));
        assert!(matches!(
            blocks("-----BEGIN X-----\nAAAA\n-----END Y-----").unwrap_err(),
            KeyError::Pem(_)
        ));
        assert_eq!(
            blocks("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----")
                .unwrap_err(),
            KeyError::Encrypted
        );
    }
}
