//! Time as the store keeps it: [`Millis`] since the Unix epoch, passed in by callers (the
//! store never reads a clock), and the one way the workspace shows it in UTC.

use std::fmt;

use bincode::{Decode, Encode};

/// Milliseconds since the Unix epoch. The store never reads a clock: callers pass time in.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

/// One day in milliseconds (UTC days: no leap seconds).
pub const DAY_MILLIS: u64 = 24 * 60 * 60 * 1000;

impl Millis {
    /// This moment in UTC, to the minute: `2026-11-29 23:05 UTC`.
    pub fn utc(self) -> UtcTime {
        UtcTime { at: self, shape: Shape::Minute { zone: true } }
    }

    /// The day of this moment in UTC: `2026-11-29`.
    pub fn utc_date(self) -> UtcTime {
        UtcTime { at: self, shape: Shape::Date }
    }

    /// This moment in UTC to the second, in ISO 8601's basic format, sortable as text (for
    /// file names): `20261129T230502Z`.
    pub fn utc_stamp(self) -> UtcTime {
        UtcTime { at: self, shape: Shape::Stamp }
    }

    /// The year that ends at this moment, when it is the first second of a year in UTC
    /// (`Some(2026)` for 2027-01-01 00:00:00): a validity "to the end of 2026".
    pub fn year_ending(self) -> Option<i32> {
        use chrono::{Datelike as _, Timelike as _};
        let at = self.to_chrono()?;
        ((at.month(), at.day(), at.num_seconds_from_midnight()) == (1, 1, 0)).then(|| at.year() - 1)
    }

    fn to_chrono(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(i64::try_from(self.0).ok()?)
    }
}

/// A [`Millis`] shown in UTC, built by [`Millis::utc`], [`Millis::utc_date`] or
/// [`Millis::utc_stamp`]. A moment past what the calendar can show (year 262143) shows `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    at: Millis,
    shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Minute { zone: bool },
    Date,
    Stamp,
}

impl UtcTime {
    /// Without the ` UTC` suffix, for a column whose heading says UTC: `2026-11-29 23:05`.
    pub fn without_zone(self) -> UtcTime {
        match self.shape {
            Shape::Minute { .. } => UtcTime { shape: Shape::Minute { zone: false }, ..self },
            _ => self,
        }
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(at) = self.at.to_chrono() else {
            return f.write_str("?");
        };
        let format = match self.shape {
            Shape::Minute { zone: true } => "%Y-%m-%d %H:%M UTC",
            Shape::Minute { zone: false } => "%Y-%m-%d %H:%M",
            Shape::Date => "%Y-%m-%d",
            Shape::Stamp => "%Y%m%dT%H%M%SZ",
        };
        write!(f, "{}", at.format(format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-29 23:05:02.250 UTC
    const LATE_NOVEMBER: Millis = Millis(1_795_993_502_250);

    #[test]
    fn moments_show_in_utc_in_each_shape() {
        assert_eq!(LATE_NOVEMBER.utc().to_string(), "2026-11-29 23:05 UTC");
        assert_eq!(LATE_NOVEMBER.utc().without_zone().to_string(), "2026-11-29 23:05");
        assert_eq!(LATE_NOVEMBER.utc_date().to_string(), "2026-11-29");
        assert_eq!(LATE_NOVEMBER.utc_stamp().to_string(), "20261129T230502Z");
        assert_eq!(Millis(0).utc().to_string(), "1970-01-01 00:00 UTC");
        assert_eq!(Millis(u64::MAX).utc().to_string(), "?");
    }

    #[test]
    fn a_year_ends_only_at_the_first_second_of_the_next() {
        let new_year_2027 = Millis(1_798_761_600_000);
        assert_eq!(new_year_2027.utc().to_string(), "2027-01-01 00:00 UTC");
        assert_eq!(new_year_2027.year_ending(), Some(2026));
        assert_eq!(Millis(new_year_2027.0 + 999).year_ending(), Some(2026));
        assert_eq!(Millis(new_year_2027.0 + 1000).year_ending(), None);
        assert_eq!(LATE_NOVEMBER.year_ending(), None);
        assert_eq!(Millis(new_year_2027.0 - DAY_MILLIS).utc_date().to_string(), "2026-12-31");
    }
}
