//! Conversions between model values and SQLite columns, and error mapping.

use ledger::{AccountType, StoreError, TransferState};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;

/// Maps a sqlx error: unique violations become [`StoreError::Duplicate`], decoding failures
/// [`StoreError::Corrupt`], everything else [`StoreError::Backend`]. `context` names the
/// operation (and key) for the message.
pub(crate) fn map_err(error: sqlx::Error, context: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
            StoreError::Duplicate(format!("{} ({})", context(), db.message()))
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(format!("sqlite: {}: {error}", context()))
        }
        _ => StoreError::Backend(format!("sqlite: {}: {error}", context())),
    }
}

/// A list of strings as stored: a JSON array of strings. (Serializing strings does not fail;
/// were it to, the write fails rather than store something else.)
pub(crate) fn string_list_text(list: &[String], what: &str) -> Result<String, StoreError> {
    serde_json::to_string(list)
        .map_err(|e| StoreError::Backend(format!("sqlite: encode {what} as JSON: {e}")))
}

/// The canonical text of an amount: normalized (no trailing zeros, no negative zero), never in
/// exponent form.
pub(crate) fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Parses stored amount text strictly: `-?[0-9]+(\.[0-9]+)?` and representable exactly.
/// (`Decimal::from_str` alone would also accept `1_000`, `+1` or `.5`.)
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    Decimal::from_str_exact(text).ok()
}

/// Typed column access by index with corruption reported as [`StoreError::Corrupt`].
pub(crate) struct Cols<'r> {
    row: &'r SqliteRow,
    table: &'static str,
}

impl<'r> Cols<'r> {
    pub(crate) fn new(row: &'r SqliteRow, table: &'static str) -> Self {
        Cols { row, table }
    }

    fn corrupt(&self, index: usize, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("sqlite: {} column {index}: {detail}", self.table))
    }

    pub(crate) fn text(&self, index: usize) -> Result<String, StoreError> {
        self.row.try_get(index).map_err(|e| self.corrupt(index, e))
    }

    pub(crate) fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        self.row.try_get(index).map_err(|e| self.corrupt(index, e))
    }

    pub(crate) fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.row.try_get(index).map_err(|e| self.corrupt(index, e))
    }

    pub(crate) fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.row.try_get(index).map_err(|e| self.corrupt(index, e))
    }

    pub(crate) fn blob(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        self.row.try_get(index).map_err(|e| self.corrupt(index, e))
    }

    pub(crate) fn flag(&self, index: usize) -> Result<bool, StoreError> {
        match self.int(index)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.corrupt(index, format_args!("{other} is not a boolean"))),
        }
    }

    pub(crate) fn decimal(&self, index: usize) -> Result<Decimal, StoreError> {
        let text: &str = self
            .row
            .try_get(index)
            .map_err(|e| self.corrupt(index, e))?;
        parse_decimal(text)
            .ok_or_else(|| self.corrupt(index, format_args!("{text:?} is not a decimal")))
    }

    pub(crate) fn opt_decimal(&self, index: usize) -> Result<Option<Decimal>, StoreError> {
        let text: Option<&str> = self
            .row
            .try_get(index)
            .map_err(|e| self.corrupt(index, e))?;
        text.map(|text| {
            parse_decimal(text)
                .ok_or_else(|| self.corrupt(index, format_args!("{text:?} is not a decimal")))
        })
        .transpose()
    }

    pub(crate) fn account_type(&self, index: usize) -> Result<AccountType, StoreError> {
        let text: &str = self
            .row
            .try_get(index)
            .map_err(|e| self.corrupt(index, e))?;
        AccountType::parse(text)
            .ok_or_else(|| self.corrupt(index, format_args!("unknown account type {text:?}")))
    }

    pub(crate) fn transfer_state(&self, index: usize) -> Result<TransferState, StoreError> {
        let text: &str = self
            .row
            .try_get(index)
            .map_err(|e| self.corrupt(index, e))?;
        TransferState::parse(text)
            .ok_or_else(|| self.corrupt(index, format_args!("unknown transfer state {text:?}")))
    }

    /// A JSON array of strings stored as text (lists of hashes, permissions, scopes).
    pub(crate) fn string_list(&self, index: usize) -> Result<Vec<String>, StoreError> {
        let text: &str = self
            .row
            .try_get(index)
            .map_err(|e| self.corrupt(index, e))?;
        serde_json::from_str(text).map_err(|e| {
            self.corrupt(
                index,
                format_args!("{text:?} is not a JSON array of strings: {e}"),
            )
        })
    }

    /// An integer that must fit `T` (e.g. `u32`, `u16`, `u64`).
    pub(crate) fn int_as<T: TryFrom<i64>>(&self, index: usize) -> Result<T, StoreError> {
        let value = self.int(index)?;
        T::try_from(value).map_err(|_| self.corrupt(index, format_args!("{value} is out of range")))
    }

    pub(crate) fn opt_int_as<T: TryFrom<i64>>(
        &self,
        index: usize,
    ) -> Result<Option<T>, StoreError> {
        self.opt_int(index)?
            .map(|value| {
                T::try_from(value)
                    .map_err(|_| self.corrupt(index, format_args!("{value} is out of range")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_is_canonical() {
        assert_eq!(decimal_text(Decimal::new(1500, 3)), "1.5");
        assert_eq!(decimal_text(Decimal::new(-0, 2)), "0");
        assert_eq!(decimal_text(Decimal::new(100, 0)), "100");
        assert_eq!(
            decimal_text(Decimal::new(-1, 28)),
            "-0.0000000000000000000000000001"
        );
        assert_eq!(decimal_text(Decimal::MAX), "79228162514264337593543950335");
    }

    #[test]
    fn parse_decimal_is_strict() {
        for good in [
            "0",
            "1.5",
            "-12.0001",
            "79228162514264337593543950335",
            "007",
        ] {
            assert!(parse_decimal(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "-",
            ".5",
            "5.",
            "+1",
            "1_000",
            "1e3",
            " 1",
            "1 ",
            "abc",
            "1.2.3",
            "--1",
            "79228162514264337593543950336",
            "0.00000000000000000000000000001",
        ] {
            assert!(parse_decimal(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn canonical_text_round_trips() {
        for value in [
            Decimal::ZERO,
            Decimal::new(1, 4),
            Decimal::new(-123_456_789, 3),
            Decimal::MAX,
            Decimal::MIN,
        ] {
            assert_eq!(parse_decimal(&decimal_text(value)), Some(value));
        }
    }
}
