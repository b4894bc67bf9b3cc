//! Base64url helpers for the forms FSPIOP uses (`ilpPacket`, `condition`, `fulfilment`).
//!
//! Encoding never pads. Decoding tolerates the padding the FSPIOP `IlpPacket` pattern
//! `^[A-Za-z0-9-_]+[=]{0,2}$` allows, as long as it is the canonical padding (the number of `=`
//! a padding encoder would write), and rejects non-zero unused bits in the last symbol, so each
//! byte string has exactly one unpadded and at most one padded accepted form.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use thiserror::Error;

use crate::IlpError;
use crate::packet::Packet;

/// Longest `ilpPacket` string FSPIOP allows (`IlpPacket` `maxLength`).
pub const MAX_ILP_PACKET_CHARS: usize = 32768;

/// Why a string is not valid base64url.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Base64Error {
    /// A byte outside the base64url alphabet (or a `=` before the end).
    #[error("byte {byte:#04x} at offset {offset} is not base64url")]
    InvalidCharacter {
        /// Offending byte.
        byte: u8,
        /// Zero-based offset in the input.
        offset: usize,
    },
    /// The number of symbols cannot be produced by any encoder (one more than a multiple of 4).
    #[error("{len} base64url symbols is not a valid length")]
    InvalidLength {
        /// Number of symbols (padding excluded).
        len: usize,
    },
    /// Padding is present but is not the canonical amount, or is not allowed here.
    #[error("invalid base64url padding")]
    InvalidPadding,
    /// The last symbol has non-zero unused bits (not the canonical encoding).
    #[error("last base64url symbol has non-zero unused bits")]
    NonCanonical,
}

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Encodes bytes as *standard* base64 (`+`, `/`) with `=` padding.
///
/// The SDK uses this form in two places: the HMAC key (base64 of the secret) and the ILPv4
/// HMAC message (base64 of the canonical Transaction JSON).
pub fn encode_standard(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64url, tolerating canonical `=` padding.
pub fn decode(input: impl AsRef<[u8]>) -> Result<Vec<u8>, Base64Error> {
    let input = input.as_ref();
    let pad = input.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return Err(Base64Error::InvalidPadding);
    }
    let body_len = input.len().saturating_sub(pad);
    let body = input.get(..body_len).unwrap_or_default();
    if let Some(offset) = body.iter().position(|&b| !is_alphabet(b)) {
        return Err(Base64Error::InvalidCharacter {
            byte: body.get(offset).copied().unwrap_or_default(),
            offset,
        });
    }
    let canonical_pad = match body_len % 4 {
        0 => 0,
        2 => 2,
        3 => 1,
        _ => return Err(Base64Error::InvalidLength { len: body_len }),
    };
    if pad > 0 && pad != canonical_pad {
        return Err(Base64Error::InvalidPadding);
    }
    URL_SAFE_NO_PAD.decode(body).map_err(|e| match e {
        base64::DecodeError::InvalidLastSymbol { .. } => Base64Error::NonCanonical,
        base64::DecodeError::InvalidByte(offset, byte) => {
            Base64Error::InvalidCharacter { byte, offset }
        }
        base64::DecodeError::InvalidLength(len) => Base64Error::InvalidLength { len },
        base64::DecodeError::InvalidPadding => Base64Error::InvalidPadding,
    })
}

/// Decodes base64url that must not carry any padding (e.g. FSPIOP `BinaryString32`).
pub fn decode_unpadded(input: impl AsRef<[u8]>) -> Result<Vec<u8>, Base64Error> {
    let input = input.as_ref();
    if input.last() == Some(&b'=') {
        return Err(Base64Error::InvalidPadding);
    }
    decode(input)
}

/// Decodes an FSPIOP `ilpPacket` string into packet bytes (without parsing the packet).
///
/// Enforces the `IlpPacket` schema length (1..=[`MAX_ILP_PACKET_CHARS`]) before decoding.
pub fn decode_ilp_packet(ilp_packet: &str) -> Result<Vec<u8>, IlpError> {
    if ilp_packet.len() > MAX_ILP_PACKET_CHARS {
        return Err(IlpError::TooLong {
            field: "ilpPacket",
            len: ilp_packet.len(),
            max: MAX_ILP_PACKET_CHARS,
        });
    }
    if ilp_packet.is_empty() {
        return Err(IlpError::Empty { field: "ilpPacket" });
    }
    decode(ilp_packet).map_err(|source| IlpError::Base64 {
        field: "ilpPacket",
        source,
    })
}

/// Decodes and parses an FSPIOP `ilpPacket` string.
pub fn parse_ilp_packet(ilp_packet: &str) -> Result<Packet, IlpError> {
    Packet::decode(&decode_ilp_packet(ilp_packet)?)
}

fn is_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_has_no_padding() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg");
        assert_eq!(encode(b"fo"), "Zm8");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode([0xfb, 0xff]), "-_8");
        assert_eq!(encode_standard([0xfb, 0xff]), "+/8=");
        assert_eq!(encode_standard(b"secret"), "c2VjcmV0");
    }

    #[test]
    fn decode_tolerates_canonical_padding() {
        assert_eq!(decode("Zg").unwrap(), b"f");
        assert_eq!(decode("Zg==").unwrap(), b"f");
        assert_eq!(decode("Zm8").unwrap(), b"fo");
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
        assert_eq!(decode("Zm9v").unwrap(), b"foo");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode("").unwrap(), b"");
    }

    #[test]
    fn decode_rejects_bad_input() {
        let cases: &[(&str, Base64Error)] = &[
            ("Zg=", Base64Error::InvalidPadding),
            ("Zm8==", Base64Error::InvalidPadding),
            ("Zm9v=", Base64Error::InvalidPadding),
            ("Zm9v==", Base64Error::InvalidPadding),
            ("Zg===", Base64Error::InvalidPadding),
            ("=", Base64Error::InvalidPadding),
            ("Z", Base64Error::InvalidLength { len: 1 }),
            ("Zm9vY", Base64Error::InvalidLength { len: 5 }),
            ("Zh", Base64Error::NonCanonical),
            ("Zm9", Base64Error::NonCanonical),
            (
                "+/8",
                Base64Error::InvalidCharacter {
                    byte: b'+',
                    offset: 0,
                },
            ),
            (
                "Zm=v",
                Base64Error::InvalidCharacter {
                    byte: b'=',
                    offset: 2,
                },
            ),
            (
                "Zm9v\n",
                Base64Error::InvalidCharacter {
                    byte: b'\n',
                    offset: 4,
                },
            ),
        ];
        for (s, expected) in cases {
            assert_eq!(decode(s), Err(expected.clone()), "{s:?}");
        }
        assert_eq!(decode_unpadded("Zg=="), Err(Base64Error::InvalidPadding));
        assert_eq!(decode_unpadded("Zg").unwrap(), b"f");
    }

    #[test]
    fn ilp_packet_length_limits() {
        assert_eq!(
            decode_ilp_packet(""),
            Err(IlpError::Empty { field: "ilpPacket" })
        );
        let long = "A".repeat(MAX_ILP_PACKET_CHARS + 1);
        assert_eq!(
            decode_ilp_packet(&long),
            Err(IlpError::TooLong {
                field: "ilpPacket",
                len: MAX_ILP_PACKET_CHARS + 1,
                max: MAX_ILP_PACKET_CHARS
            })
        );
        assert_eq!(
            decode_ilp_packet(&"A".repeat(MAX_ILP_PACKET_CHARS)).map(|v| v.len()),
            Ok(MAX_ILP_PACKET_CHARS / 4 * 3)
        );
    }
}
