//! Canonical ASN.1 Octet Encoding Rules (OER) primitives used by ILP packets.
//!
//! Only the handful of OER constructs that ILP needs are covered: single bytes, big-endian
//! `UInt64`, fixed-length octet strings, length prefixes, variable-length octet strings and
//! variable-length unsigned integers.
//!
//! Decoding is **strict**: only the canonical encoding of a value is accepted, so that anything
//! [`Reader`] accepts re-encodes with [`Writer`] to exactly the same bytes.
//!
//! * A length below 128 must use the one-byte short form; the long form (`0x80 | n` followed by
//!   `n` big-endian length bytes) is only allowed for lengths of 128 or more.
//! * The long form must not start with a zero length byte, must not be the indefinite form
//!   (`0x80`) and may use at most eight length bytes.
//! * A declared length must fit in the remaining input; it is checked *before* anything is
//!   sliced, so a hostile length never causes an allocation.
//! * A variable-length unsigned integer uses 1..=8 content bytes without leading zero bytes.
//! * [`Reader::expect_end`] reports trailing bytes, distinguishing the outer envelope from the
//!   inner packet contents ([`Layer`]).

use thiserror::Error;

/// Which level of nesting trailing bytes were found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Inside a length-delimited container, after its last field (e.g. bytes left over in the
    /// contents of an ILP packet envelope).
    Inner,
    /// After the outermost structure (e.g. bytes after the end of an ILP packet envelope).
    Outer,
}

/// What is wrong with some OER-encoded bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OerError {
    /// The long-form length prefix declares more than eight length bytes.
    #[error("length prefix declares {length_of_length} length bytes (at most 8 are allowed)")]
    LengthOfLengthTooLarge {
        /// Number of length bytes the prefix declared.
        length_of_length: u8,
    },
    /// A length prefix declares more bytes than the input has left.
    #[error("declared length {declared} exceeds the {available} bytes remaining")]
    LengthExceedsInput {
        /// The declared length.
        declared: u64,
        /// Bytes remaining in the input after the length prefix.
        available: usize,
    },
    /// The long-form length prefix starts with a zero byte (non-minimal encoding).
    #[error("long-form length prefix has a leading zero byte")]
    LengthLeadingZero,
    /// The indefinite length form (`0x80`) was used; OER does not allow it.
    #[error("indefinite length form (0x80) is not allowed")]
    IndefiniteLength,
    /// A length below 128 was written in the long form (non-minimal encoding).
    #[error("length {length} must use the one-byte short form")]
    ShortFormRequired {
        /// The decoded length.
        length: u64,
    },
    /// Bytes are left over after a structure was fully decoded.
    #[error("{count} trailing byte(s) after the {layer:?} structure")]
    TrailingBytes {
        /// Where the trailing bytes were found.
        layer: Layer,
        /// How many bytes were left over.
        count: usize,
    },
    /// The input ended before a fixed-size item could be read.
    #[error("unexpected end of input: needed {needed} byte(s), {available} available")]
    UnexpectedEnd {
        /// Bytes the item needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A variable-length unsigned integer has no content bytes.
    #[error("variable-length unsigned integer has no content bytes")]
    VarUintEmpty,
    /// A variable-length unsigned integer has a superfluous leading zero byte.
    #[error("variable-length unsigned integer has a leading zero byte")]
    VarUintLeadingZero,
    /// A variable-length unsigned integer does not fit in 64 bits.
    #[error("variable-length unsigned integer of {length} bytes does not fit in a u64")]
    VarUintTooLarge {
        /// Number of content bytes.
        length: usize,
    },
}

/// A cursor over a byte slice that decodes canonical OER.
///
/// Every read either returns a value and advances, or returns an error and leaves the cursor
/// where it was. No method panics, whatever the input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Creates a reader over `buf`, positioned at its first byte.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Number of bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not yet read (without consuming them).
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Fails with [`OerError::TrailingBytes`] if any bytes are left.
    ///
    /// `layer` says which structure just ended, so that callers can tell bytes after an
    /// envelope ([`Layer::Outer`]) from bytes inside it after its last field ([`Layer::Inner`]).
    pub fn expect_end(&self, layer: Layer) -> Result<(), OerError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        Err(OerError::TrailingBytes {
            layer,
            count: self.buf.len(),
        })
    }

    /// Reads exactly `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], OerError> {
        let Some((head, tail)) = self.buf.split_at_checked(n) else {
            return Err(OerError::UnexpectedEnd {
                needed: n,
                available: self.buf.len(),
            });
        };
        self.buf = tail;
        Ok(head)
    }

    /// Reads a fixed-length octet string of `N` bytes.
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], OerError> {
        let Some((head, tail)) = self.buf.split_first_chunk::<N>() else {
            return Err(OerError::UnexpectedEnd {
                needed: N,
                available: self.buf.len(),
            });
        };
        self.buf = tail;
        Ok(*head)
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8, OerError> {
        let [b] = self.read_array::<1>()?;
        Ok(b)
    }

    /// Reads a big-endian `UInt64` (8 bytes).
    pub fn read_u64(&mut self) -> Result<u64, OerError> {
        Ok(u64::from_be_bytes(self.read_array::<8>()?))
    }

    /// Reads a canonical length prefix and checks it against the remaining input.
    ///
    /// On success the returned length is at most [`Reader::remaining`], so the caller can take
    /// that many bytes without further checks (and without allocating for a hostile length).
    pub fn read_length_prefix(&mut self) -> Result<usize, OerError> {
        let mut probe = self.clone();
        let first = probe.read_u8()?;
        let declared = if first < 0x80 {
            u64::from(first)
        } else {
            let length_of_length = first & 0x7f;
            if length_of_length == 0 {
                return Err(OerError::IndefiniteLength);
            }
            if length_of_length > 8 {
                return Err(OerError::LengthOfLengthTooLarge { length_of_length });
            }
            let bytes = probe.read_bytes(usize::from(length_of_length))?;
            if bytes.first() == Some(&0) {
                return Err(OerError::LengthLeadingZero);
            }
            // At most 8 bytes are folded, so the shifts never overflow a u64.
            let length = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            if length < 0x80 {
                return Err(OerError::ShortFormRequired { length });
            }
            length
        };
        let available = probe.remaining();
        match usize::try_from(declared) {
            Ok(len) if len <= available => {
                *self = probe;
                Ok(len)
            }
            _ => Err(OerError::LengthExceedsInput {
                declared,
                available,
            }),
        }
    }

    /// Reads a variable-length octet string (length prefix followed by that many bytes).
    pub fn read_var_octet_string(&mut self) -> Result<&'a [u8], OerError> {
        let mut probe = self.clone();
        let len = probe.read_length_prefix()?;
        let bytes = probe.read_bytes(len)?;
        *self = probe;
        Ok(bytes)
    }

    /// Reads a canonical variable-length unsigned integer: a variable-length octet string of
    /// 1..=8 big-endian bytes with no leading zero byte (except for the value 0 itself, `01 00`).
    pub fn read_var_uint(&mut self) -> Result<u64, OerError> {
        let mut probe = self.clone();
        let bytes = probe.read_var_octet_string()?;
        let value = match bytes {
            [] => return Err(OerError::VarUintEmpty),
            [0, _, ..] => return Err(OerError::VarUintLeadingZero),
            b if b.len() > 8 => return Err(OerError::VarUintTooLarge { length: b.len() }),
            // At most 8 bytes are folded, so the shifts never overflow a u64.
            b => b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
        };
        *self = probe;
        Ok(value)
    }
}

/// Builds canonical OER into a growable buffer. Writing never fails.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Creates an empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Returns the bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes one byte.
    pub fn write_u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    /// Writes a big-endian `UInt64`.
    pub fn write_u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Writes raw bytes (a fixed-length octet string) without a length prefix.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes the minimal length prefix for `len`.
    pub fn write_length_prefix(&mut self, len: usize) {
        match u8::try_from(len) {
            Ok(short) if short < 0x80 => self.buf.push(short),
            _ => {
                let be = (len as u64).to_be_bytes();
                let significant = minimal_be(&be);
                // `significant` has 1..=8 bytes, so the conversion cannot fail.
                let length_of_length = u8::try_from(significant.len()).unwrap_or(8);
                self.buf.push(0x80 | length_of_length);
                self.buf.extend_from_slice(significant);
            }
        }
    }

    /// Writes a variable-length octet string (minimal length prefix, then the bytes).
    pub fn write_var_octet_string(&mut self, bytes: &[u8]) {
        self.write_length_prefix(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// Writes a canonical variable-length unsigned integer.
    pub fn write_var_uint(&mut self, value: u64) {
        let be = value.to_be_bytes();
        self.write_var_octet_string(minimal_be(&be));
    }
}

/// Number of bytes [`Writer::write_length_prefix`] uses for `len`.
pub const fn length_prefix_len(len: usize) -> usize {
    if len < 0x80 {
        return 1;
    }
    let significant_bytes = usize::BITS.saturating_sub(len.leading_zeros()).div_ceil(8);
    (significant_bytes as usize).saturating_add(1)
}

/// Number of bytes [`Writer::write_var_octet_string`] uses for `len` content bytes
/// (saturating at `usize::MAX`).
pub const fn var_octet_string_len(len: usize) -> usize {
    length_prefix_len(len).saturating_add(len)
}

/// The big-endian bytes of `be` without leading zeros, keeping at least one byte.
fn minimal_be(be: &[u8; 8]) -> &[u8] {
    let zeros = be.iter().take(7).take_while(|&&b| b == 0).count();
    be.get(zeros..).unwrap_or(be)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(len: usize) -> Vec<u8> {
        let mut w = Writer::new();
        w.write_length_prefix(len);
        w.into_bytes()
    }

    #[test]
    fn length_prefix_encodings() {
        assert_eq!(prefix(0), [0x00]);
        assert_eq!(prefix(127), [0x7f]);
        assert_eq!(prefix(128), [0x81, 0x80]);
        assert_eq!(prefix(255), [0x81, 0xff]);
        assert_eq!(prefix(256), [0x82, 0x01, 0x00]);
        assert_eq!(prefix(639), [0x82, 0x02, 0x7f]);
        assert_eq!(prefix(0x1_0000), [0x83, 0x01, 0x00, 0x00]);
        for len in [0, 1, 127, 128, 255, 256, 65535, 65536, usize::MAX] {
            assert_eq!(length_prefix_len(len), prefix(len).len(), "len {len}");
        }
    }

    #[test]
    fn length_prefix_round_trips_within_input() {
        for len in [0usize, 1, 5, 127, 128, 200, 255, 256, 639, 70_000] {
            let mut w = Writer::new();
            w.write_var_octet_string(&vec![0xab; len]);
            let bytes = w.into_bytes();
            assert_eq!(bytes.len(), var_octet_string_len(len));
            let mut r = Reader::new(&bytes);
            assert_eq!(r.read_var_octet_string().map(<[u8]>::len), Ok(len));
            assert_eq!(r.expect_end(Layer::Outer), Ok(()));
        }
    }

    #[test]
    fn rejects_non_canonical_length_prefixes() {
        let cases: &[(&[u8], OerError)] = &[
            (
                &[],
                OerError::UnexpectedEnd {
                    needed: 1,
                    available: 0,
                },
            ),
            (&[0x80, 0x00], OerError::IndefiniteLength),
            (
                &[0x81, 0x05, 0, 0, 0, 0, 0],
                OerError::ShortFormRequired { length: 5 },
            ),
            (&[0x81, 0x7f], OerError::ShortFormRequired { length: 127 }),
            (&[0x82, 0x00, 0x80], OerError::LengthLeadingZero),
            (
                &[0x82, 0x01],
                OerError::UnexpectedEnd {
                    needed: 2,
                    available: 1,
                },
            ),
            (
                &[0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                OerError::LengthOfLengthTooLarge {
                    length_of_length: 9,
                },
            ),
            (
                &[0xff],
                OerError::LengthOfLengthTooLarge {
                    length_of_length: 0x7f,
                },
            ),
            (
                &[0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                OerError::LengthExceedsInput {
                    declared: u64::MAX,
                    available: 0,
                },
            ),
            (
                &[0x84, 0x7f, 0xff, 0xff, 0xff, 1, 2],
                OerError::LengthExceedsInput {
                    declared: 0x7fff_ffff,
                    available: 2,
                },
            ),
            (
                &[0x03, 1, 2],
                OerError::LengthExceedsInput {
                    declared: 3,
                    available: 2,
                },
            ),
        ];
        for (bytes, expected) in cases {
            let mut r = Reader::new(bytes);
            assert_eq!(
                r.read_var_octet_string(),
                Err(expected.clone()),
                "{bytes:02x?}"
            );
            // A failed read leaves the cursor untouched.
            assert_eq!(r.remaining(), bytes.len());
        }
    }

    #[test]
    fn fixed_reads() {
        let bytes = [1u8, 0, 0, 0, 0, 0, 0, 0x27, 0x42, 9];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_u8(), Ok(1));
        assert_eq!(r.clone().read_u64(), Ok(10050));
        assert_eq!(r.read_bytes(6), Ok(&[0u8, 0, 0, 0, 0, 0][..]));
        assert_eq!(r.read_array::<2>(), Ok([0x27, 0x42]));
        assert_eq!(
            r.read_array::<2>(),
            Err(OerError::UnexpectedEnd {
                needed: 2,
                available: 1
            })
        );
        assert_eq!(
            r.expect_end(Layer::Inner),
            Err(OerError::TrailingBytes {
                layer: Layer::Inner,
                count: 1
            })
        );
        assert_eq!(r.read_u8(), Ok(9));
        assert_eq!(r.expect_end(Layer::Inner), Ok(()));
        assert_eq!(
            Reader::new(&[0, 0, 0, 0, 0, 0, 0x27, 0x42]).read_u64(),
            Ok(10050)
        );
    }

    #[test]
    fn var_uint_round_trip_and_strictness() {
        for value in [0u64, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff_ffff, u64::MAX] {
            let mut w = Writer::new();
            w.write_var_uint(value);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            assert_eq!(r.read_var_uint(), Ok(value));
            assert!(r.is_empty());
        }
        let mut w = Writer::new();
        w.write_var_uint(0);
        assert_eq!(w.into_bytes(), [1, 0]);

        let cases: &[(&[u8], OerError)] = &[
            (&[0], OerError::VarUintEmpty),
            (&[2, 0, 1], OerError::VarUintLeadingZero),
            (
                &[9, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                OerError::VarUintTooLarge { length: 9 },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Reader::new(bytes).read_var_uint(), Err(expected.clone()));
        }
    }
}
