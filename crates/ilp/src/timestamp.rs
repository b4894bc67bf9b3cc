//! The fixed-length ILPv4 timestamp (`expiresAt`): `YYYYMMDDHHmmssSSS`, always UTC.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Length of the encoded timestamp in bytes.
pub const TIMESTAMP_LEN: usize = 17;

/// Why bytes are not a valid ILP timestamp.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampError {
    /// A component is out of range for a real calendar date and time (month 13, 30 February,
    /// hour 24, second 60, ...). Holds the name of the component.
    #[error("timestamp component {0} is out of range")]
    InvalidComponent(&'static str),
    /// The timestamp does not have exactly [`TIMESTAMP_LEN`] bytes.
    #[error("timestamp must be {TIMESTAMP_LEN} bytes, got {0}")]
    InvalidLength(usize),
    /// A byte is not an ASCII digit.
    #[error("timestamp contains a non-digit byte")]
    NotDigits,
    /// The year is outside `0000..=9999`, which four digits cannot hold.
    #[error("year {0} cannot be written with four digits")]
    YearOutOfRange(i32),
}

/// A UTC date and time with millisecond precision, as carried in an ILPv4 Prepare packet.
///
/// Encoded as 17 ASCII digits `YYYYMMDDHHmmssSSS` (a GeneralizedTime without separators or
/// zone designator). Every value of this type is a real calendar date and time, so encoding
/// then decoding gives back the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(PrimitiveDateTime);

impl Timestamp {
    /// Parses the 17-byte encoded form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TimestampError> {
        if bytes.len() != TIMESTAMP_LEN {
            return Err(TimestampError::InvalidLength(bytes.len()));
        }
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(TimestampError::NotDigits);
        }
        let year = digits(bytes, 0, 4)?;
        let month = digits(bytes, 4, 2)?;
        let day = digits(bytes, 6, 2)?;
        let hour = digits(bytes, 8, 2)?;
        let minute = digits(bytes, 10, 2)?;
        let second = digits(bytes, 12, 2)?;
        let milli = digits(bytes, 14, 3)?;
        let component = |e: time::error::ComponentRange| TimestampError::InvalidComponent(e.name());
        // Four digits always fit an i32 and two or three digits always fit a u8/u16.
        let year = i32::from(year);
        let month = Month::try_from(u8::try_from(month).unwrap_or(u8::MAX)).map_err(component)?;
        let day = u8::try_from(day).unwrap_or(u8::MAX);
        let date = Date::from_calendar_date(year, month, day).map_err(component)?;
        let time = Time::from_hms_milli(
            u8::try_from(hour).unwrap_or(u8::MAX),
            u8::try_from(minute).unwrap_or(u8::MAX),
            u8::try_from(second).unwrap_or(u8::MAX),
            milli,
        )
        .map_err(component)?;
        Ok(Self(PrimitiveDateTime::new(date, time)))
    }

    /// Converts a date and time in any offset to UTC, truncating to whole milliseconds.
    pub fn from_offset_datetime(value: OffsetDateTime) -> Result<Self, TimestampError> {
        let utc = value.to_offset(UtcOffset::UTC);
        if !(0..=9999).contains(&utc.year()) {
            return Err(TimestampError::YearOutOfRange(utc.year()));
        }
        let time = Time::from_hms_milli(utc.hour(), utc.minute(), utc.second(), utc.millisecond())
            .map_err(|e| TimestampError::InvalidComponent(e.name()))?;
        Ok(Self(PrimitiveDateTime::new(utc.date(), time)))
    }

    /// The timestamp as a UTC [`OffsetDateTime`].
    pub fn to_offset_datetime(self) -> OffsetDateTime {
        self.0.assume_utc()
    }

    /// The 17-byte encoded form.
    pub fn to_bytes(self) -> [u8; TIMESTAMP_LEN] {
        let mut out = [b'0'; TIMESTAMP_LEN];
        // `Display` writes exactly TIMESTAMP_LEN ASCII digits (the year is 0..=9999 by
        // construction), so the zip covers every byte.
        for (slot, b) in out.iter_mut().zip(self.to_string().bytes()) {
            *slot = b;
        }
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day(),
            self.0.hour(),
            self.0.minute(),
            self.0.second(),
            self.0.millisecond()
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(s.as_bytes())
    }
}

impl TryFrom<OffsetDateTime> for Timestamp {
    type Error = TimestampError;

    fn try_from(value: OffsetDateTime) -> Result<Self, Self::Error> {
        Self::from_offset_datetime(value)
    }
}

impl From<Timestamp> for OffsetDateTime {
    fn from(value: Timestamp) -> Self {
        value.to_offset_datetime()
    }
}

/// Decimal value of `len` ASCII digits of `bytes` starting at `start`.
fn digits(bytes: &[u8], start: usize, len: usize) -> Result<u16, TimestampError> {
    let end = start.checked_add(len).ok_or(TimestampError::NotDigits)?;
    let slice = bytes.get(start..end).ok_or(TimestampError::NotDigits)?;
    slice.iter().try_fold(0u16, |acc, &b| {
        let digit = b
            .checked_sub(b'0')
            .filter(|d| *d <= 9)
            .ok_or(TimestampError::NotDigits)?;
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u16::from(digit)))
            .ok_or(TimestampError::NotDigits)
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn parses_and_formats() {
        let t: Timestamp = "20300101000000000".parse().unwrap();
        assert_eq!(t.to_offset_datetime(), datetime!(2030-01-01 00:00:00 UTC));
        assert_eq!(t.to_string(), "20300101000000000");
        let t: Timestamp = "20240229235959999".parse().unwrap();
        assert_eq!(
            t.to_offset_datetime(),
            datetime!(2024-02-29 23:59:59.999 UTC)
        );
        assert_eq!(&t.to_bytes(), b"20240229235959999");
        let t: Timestamp = "00000101000000000".parse().unwrap();
        assert_eq!(t.to_string(), "00000101000000000");
        let t: Timestamp = "99991231235959999".parse().unwrap();
        assert_eq!(t.to_string(), "99991231235959999");
    }

    #[test]
    fn rejects_invalid() {
        let cases: &[(&str, TimestampError)] = &[
            ("2030010100000000", TimestampError::InvalidLength(16)),
            ("203001010000000000", TimestampError::InvalidLength(18)),
            ("2030010100000000Z", TimestampError::NotDigits),
            ("2030-01-01T00:00:", TimestampError::NotDigits),
            (
                "20301301000000000",
                TimestampError::InvalidComponent("month"),
            ),
            (
                "20300001000000000",
                TimestampError::InvalidComponent("month"),
            ),
            ("20300132000000000", TimestampError::InvalidComponent("day")),
            ("20230229000000000", TimestampError::InvalidComponent("day")),
            ("20300100000000000", TimestampError::InvalidComponent("day")),
            (
                "20300101240000000",
                TimestampError::InvalidComponent("hour"),
            ),
            (
                "20300101006000000",
                TimestampError::InvalidComponent("minute"),
            ),
            (
                "20300101000060000",
                TimestampError::InvalidComponent("second"),
            ),
        ];
        for (s, expected) in cases {
            assert_eq!(s.parse::<Timestamp>(), Err(expected.clone()), "{s}");
        }
    }

    #[test]
    fn from_offset_datetime_converts_and_truncates() {
        let t =
            Timestamp::from_offset_datetime(datetime!(2030-01-01 02:00:00.123456 +02:00)).unwrap();
        assert_eq!(t.to_string(), "20300101000000123");
        assert_eq!(
            Timestamp::from_offset_datetime(datetime!(-0001-01-01 00:00 UTC)),
            Err(TimestampError::YearOutOfRange(-1))
        );
    }
}
