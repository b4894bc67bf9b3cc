//! Interledger addresses (ILP RFC 15).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Longest allowed address, in bytes (RFC 15).
pub const MAX_ADDRESS_LEN: usize = 1023;

/// Allocation schemes RFC 15 defines for the first segment of an address.
pub const ALLOCATION_SCHEMES: [&str; 10] = [
    "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local",
];

/// Why a string is not a valid ILP address.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// The address is empty.
    #[error("address is empty")]
    Empty,
    /// A segment is empty (two adjacent dots, or a leading or trailing dot).
    #[error("segment {index} is empty")]
    EmptySegment {
        /// Zero-based index of the empty segment.
        index: usize,
    },
    /// A byte outside `[A-Za-z0-9_~-]` appears in a segment.
    #[error("byte {byte:#04x} at offset {offset} is not allowed in an address")]
    InvalidCharacter {
        /// Offending byte.
        byte: u8,
        /// Zero-based byte offset in the address.
        offset: usize,
    },
    /// The address has only an allocation scheme and no further segment.
    #[error("address has no segment after the allocation scheme")]
    MissingSegment,
    /// The address is longer than [`MAX_ADDRESS_LEN`] bytes.
    #[error("address is {len} bytes long (at most {MAX_ADDRESS_LEN} allowed)")]
    TooLong {
        /// Length of the rejected address in bytes.
        len: usize,
    },
    /// The first segment is not one of the [`ALLOCATION_SCHEMES`].
    #[error("unknown allocation scheme")]
    UnknownScheme,
}

/// A validated ILP address such as `g.payeefsp.msisdn.27713803912`.
///
/// Valid means (RFC 15): 1..=1023 bytes; dot-separated segments; the first segment is one of
/// the [`ALLOCATION_SCHEMES`]; at least one more segment follows; every segment is non-empty
/// and made only of `A-Z a-z 0-9 _ ~ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

impl Address {
    /// Validates `s` as an ILP address.
    pub fn new(s: &str) -> Result<Self, AddressError> {
        Self::from_bytes(s.as_bytes())
    }

    /// Validates raw bytes (as found in a packet) as an ILP address.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AddressError> {
        validate(bytes)?;
        // `validate` admits ASCII only, so this conversion cannot fail; map the impossible
        // error anyway instead of panicking.
        let s = std::str::from_utf8(bytes).map_err(|e| AddressError::InvalidCharacter {
            byte: bytes.get(e.valid_up_to()).copied().unwrap_or_default(),
            offset: e.valid_up_to(),
        })?;
        Ok(Self(s.to_owned()))
    }

    /// The address as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The allocation scheme (first segment), e.g. `g`.
    pub fn scheme(&self) -> &str {
        self.segments().next().unwrap_or_default()
    }

    /// The dot-separated segments, scheme first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// Consumes the address and returns its string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate(s.as_bytes())?;
        Ok(Self(s))
    }
}

impl AsRef<str> for Address {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn validate(bytes: &[u8]) -> Result<(), AddressError> {
    if bytes.is_empty() {
        return Err(AddressError::Empty);
    }
    if bytes.len() > MAX_ADDRESS_LEN {
        return Err(AddressError::TooLong { len: bytes.len() });
    }
    let mut offset = 0usize;
    let mut segment_count = 0usize;
    for (index, segment) in bytes.split(|&b| b == b'.').enumerate() {
        if index == 0 {
            if !ALLOCATION_SCHEMES.iter().any(|s| s.as_bytes() == segment) {
                return Err(AddressError::UnknownScheme);
            }
        } else if segment.is_empty() {
            return Err(AddressError::EmptySegment { index });
        } else if let Some(pos) = segment.iter().position(|&b| !is_segment_byte(b)) {
            return Err(AddressError::InvalidCharacter {
                byte: segment.get(pos).copied().unwrap_or_default(),
                offset: offset.saturating_add(pos),
            });
        }
        // Lengths are bounded by MAX_ADDRESS_LEN, so this never saturates.
        offset = offset.saturating_add(segment.len()).saturating_add(1);
        segment_count = segment_count.saturating_add(1);
    }
    if segment_count < 2 {
        return Err(AddressError::MissingSegment);
    }
    Ok(())
}

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_addresses() {
        for s in [
            "g.payeefsp.msisdn.27713803912",
            "g.mojaloop",
            "g.tz.fsp1.msisdn.1234567890",
            "private.a",
            "example.x_y~z-1",
            "peer.config",
            "self.me",
            "test.a",
            "test1.a",
            "test2.a",
            "test3.a",
            "local.host",
            "g.payeefsp.personal_id.abc",
        ] {
            let a = Address::new(s).unwrap();
            assert_eq!(a.as_str(), s);
            assert_eq!(a.to_string(), s);
        }
        let a = Address::new("g.payeefsp.msisdn.1").unwrap();
        assert_eq!(a.scheme(), "g");
        assert_eq!(
            a.segments().collect::<Vec<_>>(),
            ["g", "payeefsp", "msisdn", "1"]
        );
        let long = format!("g.{}", "a".repeat(MAX_ADDRESS_LEN - 2));
        assert!(Address::new(&long).is_ok());
    }

    #[test]
    fn rejects_invalid_addresses() {
        let too_long = format!("g.{}", "a".repeat(MAX_ADDRESS_LEN - 1));
        let cases: &[(&str, AddressError)] = &[
            ("", AddressError::Empty),
            ("g", AddressError::MissingSegment),
            ("test4.a", AddressError::UnknownScheme),
            ("G.a", AddressError::UnknownScheme),
            (".g.a", AddressError::UnknownScheme),
            ("g..a", AddressError::EmptySegment { index: 1 }),
            ("g.a.", AddressError::EmptySegment { index: 2 }),
            (
                "g.fsp.email.a@b",
                AddressError::InvalidCharacter {
                    byte: b'@',
                    offset: 13,
                },
            ),
            (
                "g.a b",
                AddressError::InvalidCharacter {
                    byte: b' ',
                    offset: 3,
                },
            ),
            (
                "g.\u{e9}",
                AddressError::InvalidCharacter {
                    byte: 0xc3,
                    offset: 2,
                },
            ),
            (
                &too_long,
                AddressError::TooLong {
                    len: MAX_ADDRESS_LEN + 1,
                },
            ),
        ];
        for (s, expected) in cases {
            assert_eq!(Address::new(s), Err(expected.clone()), "{s:?}");
        }
        assert_eq!(
            Address::from_bytes(&[b'g', b'.', 0xff]),
            Err(AddressError::InvalidCharacter {
                byte: 0xff,
                offset: 2
            })
        );
    }
}
