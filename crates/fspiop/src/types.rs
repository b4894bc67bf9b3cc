//! Domain newtypes parsed once at the edge: money, currencies, participant names, ids and the
//! FSPIOP `DateTime`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a value from the wire was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// The amount does not match the FSPIOP `Amount` grammar.
    #[error(
        "amount {0:?} is not a valid FSPIOP Amount (digits, at most 18 before and 4 after the point, no trailing zeros, no sign)"
    )]
    Amount(String),
    /// Not a three-letter upper-case currency code.
    #[error("currency {0:?} is not a three-letter ISO 4217 code")]
    Currency(String),
    /// Participant name empty, too long or with characters we do not route on.
    #[error(
        "participant name {0:?} must be 1 to 32 characters of letters, digits, '-', '_' or '.'"
    )]
    FspId(String),
    /// Not a lower-case RFC 4122 UUID.
    #[error("{0:?} is not a lower-case RFC 4122 UUID")]
    CorrelationId(String),
    /// Not an FSPIOP DateTime.
    #[error("{0:?} is not an FSPIOP DateTime (yyyy-MM-ddTHH:mm:ss.SSS with Z or an offset)")]
    DateTime(String),
}

/// A non-negative money amount, exact, with at most 4 decimals and 18 integer digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Parses the FSPIOP wire form strictly: `^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$`.
    pub fn parse(text: &str) -> Result<Amount, TypeError> {
        let error = || TypeError::Amount(text.to_string());
        let (integer, fraction) = match text.split_once('.') {
            Some((integer, fraction)) => (integer, Some(fraction)),
            None => (text, None),
        };
        let integer_ok = integer == "0"
            || (!integer.is_empty()
                && integer.len() <= 18
                && integer.bytes().all(|b| b.is_ascii_digit())
                && !integer.starts_with('0'));
        if !integer_ok {
            return Err(error());
        }
        if let Some(fraction) = fraction {
            let fraction_ok = !fraction.is_empty()
                && fraction.len() <= 4
                && fraction.bytes().all(|b| b.is_ascii_digit())
                && !fraction.ends_with('0');
            if !fraction_ok {
                return Err(error());
            }
        }
        Decimal::from_str(text).map(Amount).map_err(|_| error())
    }

    /// Parses a decimal given by an operator (the admin API takes numbers or strings):
    /// non-negative, at most 4 decimals and 18 integer digits; trailing zeros are allowed.
    pub fn parse_lenient(text: &str) -> Result<Amount, TypeError> {
        let error = || TypeError::Amount(text.to_string());
        let value = Decimal::from_str(text.trim()).map_err(|_| error())?;
        Amount::from_decimal(value).ok_or_else(error)
    }

    /// Wraps a decimal if it is within the FSPIOP range (≥ 0, ≤ 4 decimals, < 10^18).
    pub fn from_decimal(value: Decimal) -> Option<Amount> {
        let value = value.normalize();
        let max = Decimal::from_i128_with_scale(10_i128.pow(18), 0);
        if value.is_sign_negative() && !value.is_zero() || value.scale() > 4 || value >= max {
            return None;
        }
        Some(Amount(value))
    }

    /// The exact decimal.
    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// Whether the amount is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // normalize() drops trailing zeros, giving the canonical FSPIOP form.
        write!(f, "{}", self.0.normalize())
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Amount::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An ISO 4217 alphabetic currency code (three upper-case ASCII letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses three upper-case letters.
    pub fn parse(text: &str) -> Result<Currency, TypeError> {
        let bytes = text.as_bytes();
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_uppercase) => Ok(Currency([*a, *b, *c])),
            _ => Err(TypeError::Currency(text.to_string())),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Currency::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A participant (DFSP or hub) name as used in `FSPIOP-Source`/`FSPIOP-Destination`.
///
/// FSPIOP allows any 1..32 characters; the hub restricts names to characters that are safe in
/// URLs, file names and logs, and compares them case-insensitively like the reference switch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct FspId(String);

impl FspId {
    /// Parses a name of 1..32 characters from `[A-Za-z0-9._-]`.
    pub fn parse(text: &str) -> Result<FspId, TypeError> {
        let ok = !text.is_empty()
            && text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(FspId(text.to_string()))
        } else {
            Err(TypeError::FspId(text.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive comparison, as the reference switch compares FSP names.
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for FspId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FspId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FspId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Checks a v1.1 `CorrelationId`: lower-case RFC 4122 UUID, versions 1–5.
pub fn check_correlation_id(text: &str) -> Result<(), TypeError> {
    let bytes = text.as_bytes();
    let error = || TypeError::CorrelationId(text.to_string());
    if bytes.len() != 36 {
        return Err(error());
    }
    for (index, byte) in bytes.iter().enumerate() {
        let ok = match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            14 => (b'1'..=b'5').contains(byte),
            19 => matches!(byte, b'8' | b'9' | b'a' | b'b'),
            _ => byte.is_ascii_digit() || (b'a'..=b'f').contains(byte),
        };
        if !ok {
            return Err(error());
        }
    }
    Ok(())
}

/// An FSPIOP `DateTime`: RFC 3339 with exactly three fractional digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FspiopDateTime(OffsetDateTime);

impl FspiopDateTime {
    /// Parses `yyyy-MM-ddTHH:mm:ss.SSS` followed by `Z` or `±HH:MM`.
    pub fn parse(text: &str) -> Result<FspiopDateTime, TypeError> {
        let error = || TypeError::DateTime(text.to_string());
        let bytes = text.as_bytes();
        // Fixed layout up to the milliseconds; the schema insists on exactly three digits.
        let layout_ok = bytes.len() >= 24
            && bytes.get(19) == Some(&b'.')
            && bytes
                .get(20..23)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && matches!(bytes.get(23), Some(b'Z' | b'+' | b'-'))
            && bytes.get(10) == Some(&b'T')
            && bytes.get(17..19) != Some(b"60".as_slice());
        if !layout_ok {
            return Err(error());
        }
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| error())?;
        // The schema allows years 1000..=9999; the instant must also stay inside that range in
        // UTC so it can always be printed (an offset can push 9999-12-31 into year 10000).
        let utc = parsed
            .checked_to_offset(time::UtcOffset::UTC)
            .ok_or_else(error)?;
        let in_range = |year: i32| (1000..=9999).contains(&year);
        if !in_range(parsed.year()) || !in_range(utc.year()) {
            return Err(error());
        }
        Ok(FspiopDateTime(utc))
    }

    /// Wraps an instant (kept to millisecond precision).
    pub fn from_offset(value: OffsetDateTime) -> FspiopDateTime {
        let millis = value.millisecond();
        // At most 999 × 1_000_000 nanoseconds, so the multiplication cannot overflow.
        let truncated = u32::from(millis)
            .checked_mul(1_000_000)
            .and_then(|nanos| value.replace_nanosecond(nanos).ok())
            .unwrap_or(value);
        // An instant that cannot be expressed in UTC (beyond year 9999) is clamped to the epoch
        // rather than panicking; the hub only wraps clock readings here.
        let utc = truncated
            .checked_to_offset(time::UtcOffset::UTC)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        FspiopDateTime(utc)
    }

    /// The instant.
    pub fn instant(self) -> OffsetDateTime {
        self.0
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        let millis = self.0.unix_timestamp_nanos() / 1_000_000;
        // Every instant `time` can represent (±999,999 years even with `large-dates`) is within
        // ±3.2e16 ms, far inside i64; saturate rather than wrap should that ever change.
        i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
    }

    /// From milliseconds since the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> Option<FspiopDateTime> {
        // Any i64 × 1_000_000 fits in i128; `checked_mul` only keeps this panic-free by type.
        i128::from(millis)
            .checked_mul(1_000_000)
            .and_then(|nanos| OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
            .filter(|t| (1000..=9999).contains(&t.year()))
            .map(FspiopDateTime)
    }
}

impl fmt::Display for FspiopDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Held in UTC by construction (parse and from_offset convert).
        let utc = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second(),
            utc.millisecond()
        )
    }
}

impl Serialize for FspiopDateTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FspiopDateTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FspiopDateTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amount_grammar() {
        for ok in ["0", "100", "123.45", "0.0001", "999999999999999999.9999"] {
            assert!(Amount::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0.0",
            "1.50",
            "1.",
            "01",
            "1.12345",
            "-1",
            "+1",
            "",
            ".5",
            "1e3",
            " 1",
            "1000000000000000000",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Amount::parse("100.5").unwrap().to_string(), "100.5");
    }

    #[test]
    fn lenient_amount_for_operators() {
        assert_eq!(Amount::parse_lenient("1.50").unwrap().to_string(), "1.5");
        assert_eq!(Amount::parse_lenient("1000").unwrap().to_string(), "1000");
        assert!(Amount::parse_lenient("-1").is_err());
        assert!(Amount::parse_lenient("0.00001").is_err());
    }

    #[test]
    fn correlation_ids() {
        assert!(check_correlation_id("b51ec534-ee48-4575-b6a9-ead2955b8069").is_ok());
        assert!(check_correlation_id("B51EC534-EE48-4575-B6A9-EAD2955B8069").is_err());
        assert!(check_correlation_id("b51ec534-ee48-6575-b6a9-ead2955b8069").is_err());
        assert!(check_correlation_id("b51ec534-ee48-4575-c6a9-ead2955b8069").is_err());
    }

    #[test]
    fn datetime_needs_three_fraction_digits() {
        let parsed = FspiopDateTime::parse("2016-05-24T08:38:08.699Z").unwrap();
        assert_eq!(parsed.to_string(), "2016-05-24T08:38:08.699Z");
        let offset = FspiopDateTime::parse("2016-05-24T10:38:08.699+02:00").unwrap();
        assert_eq!(offset, parsed);
        for bad in [
            "9999-12-31T23:59:59.999-01:00",
            "0000-01-01T00:30:00.000+01:00",
            "2016-05-24 08:38:08.699Z",
            "2016-05-24T23:59:60.999Z",
            "2016-05-24T08:38:08Z",
            "2016-05-24T08:38:08.69Z",
            "2016-05-24T08:38:08.6999Z",
            "2016-02-30T08:38:08.699Z",
        ] {
            assert!(FspiopDateTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fsp_ids() {
        assert!(FspId::parse("payerfsp").is_ok());
        assert!(FspId::parse("").is_err());
        assert!(FspId::parse(&"a".repeat(33)).is_err());
        assert!(FspId::parse("a b").is_err());
        assert!(FspId::parse("payerfsp").unwrap().matches("PayerFSP"));
    }

    proptest! {
        #[test]
        fn amount_display_round_trips(integer in 0u64..1_000_000_000_000, fraction in 0u32..10_000) {
            let value = Decimal::new(i64::try_from(integer).unwrap() * 10_000 + i64::from(fraction), 4);
            let amount = Amount::from_decimal(value).unwrap();
            let text = amount.to_string();
            prop_assert_eq!(Amount::parse(&text).unwrap(), amount);
        }
    }
}
