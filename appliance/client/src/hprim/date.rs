//! Dates as the header writes them (`DD/MM/YYYY`) and as people type them (`YYYY-MM-DD`).

/// A calendar date. The field order makes the derived ordering chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Date {
    /// Year, e.g. 2024.
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, starting at 1.
    pub day: u8,
}

/// Why a date string was refused; lint words the two cases differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DateFault {
    Format,
    NotReal,
}

impl Date {
    /// Builds a date, refusing days that do not exist (31 April, 29 February 2023...).
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, String> {
        let date = Date { year, month, day };
        if date.is_real() {
            Ok(date)
        } else {
            Err(format!("{} is not a real date", date.to_iso()))
        }
    }

    /// Parses `YYYY-MM-DD`, checking that the day exists (leap years included).
    pub fn parse_iso(s: &str) -> Result<Date, String> {
        parse_iso_fault(s).map_err(|fault| date_message(s, fault, "YYYY-MM-DD"))
    }

    /// Parses the HPRIM form `DD/MM/YYYY`, checking that the day exists.
    #[cfg(test)]
    pub fn parse_hprim(s: &str) -> Result<Date, String> {
        parse_hprim_fault(s).map_err(|fault| date_message(s, fault, "DD/MM/YYYY"))
    }

    /// Formats as `DD/MM/YYYY`.
    pub fn to_hprim(self) -> String {
        format!("{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }

    /// Formats as `YYYY-MM-DD`.
    pub fn to_iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    pub(super) fn is_real(&self) -> bool {
        self.year >= 1 && self.day >= 1 && self.day <= days_in_month(self.year, self.month)
    }
}

fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month`, or 0 for a month that does not exist.
fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn parse_iso_fault(s: &str) -> Result<Date, DateFault> {
    let [year, month, day] = digit_parts(s, '-', [4, 2, 2]).ok_or(DateFault::Format)?;
    checked_date(year, month, day)
}

pub(super) fn parse_hprim_fault(s: &str) -> Result<Date, DateFault> {
    let [day, month, year] = digit_parts(s, '/', [2, 2, 4]).ok_or(DateFault::Format)?;
    checked_date(year, month, day)
}

/// Splits `s` on `sep` into exactly three all-digit parts of the given widths.
fn digit_parts(s: &str, sep: char, widths: [usize; 3]) -> Option<[u32; 3]> {
    let mut values = [0; 3];
    let mut parts = s.split(sep);
    for (value, width) in values.iter_mut().zip(widths) {
        let part = parts.next()?;
        if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *value = part.parse().ok()?;
    }
    parts.next().is_none().then_some(values)
}

fn checked_date(year: u32, month: u32, day: u32) -> Result<Date, DateFault> {
    let narrow = |v: u32| u8::try_from(v).map_err(|_| DateFault::NotReal);
    let year = u16::try_from(year).map_err(|_| DateFault::NotReal)?;
    Date::new(year, narrow(month)?, narrow(day)?).map_err(|_| DateFault::NotReal)
}

pub(super) fn date_message(value: &str, fault: DateFault, expected: &str) -> String {
    match fault {
        DateFault::Format => format!("\"{value}\" is not in the expected {expected} format"),
        DateFault::NotReal => format!("\"{value}\" is not a real date (expected {expected})"),
    }
}
