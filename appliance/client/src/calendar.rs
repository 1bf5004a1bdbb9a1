//! The calendar of key editions, shared by the relay that issues keys and the practice that
//! makes its own: editions run to the end of a civil year (UTC). Times are milliseconds
//! since the Unix epoch, as the store keeps them.

/// Milliseconds in a day.
pub const DAY_MILLIS: u64 = 86_400_000;

/// The first instant of the year after the one `at` falls in (UTC): when keys issued
/// during that year expire.
pub fn end_of_year(at: u64) -> u64 {
    let year = civil_year(at);
    days_from_civil(year + 1, 1, 1) as u64 * DAY_MILLIS
}

/// The first instant of the year `at` falls in (UTC).
pub fn start_of_year(at: u64) -> u64 {
    days_from_civil(civil_year(at), 1, 1) as u64 * DAY_MILLIS
}

/// `YYYY-MM-DD` of a time (UTC).
pub fn iso_date(at: u64) -> String {
    let at = i64::try_from(at).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp_millis(at).unwrap_or_default().format("%Y-%m-%d").to_string()
}

/// The expiry of a first issue at `at`: the end of this year, or of the next when fewer than
/// `next_year_within_days` days of this year remain, so that a practice that subscribes in
/// the autumn does not install a second bundle weeks after its first.
pub fn first_expiry(at: u64, next_year_within_days: u64) -> u64 {
    let end = end_of_year(at);
    if end.saturating_sub(at) < next_year_within_days.saturating_mul(DAY_MILLIS) {
        end_of_year(end)
    } else {
        end
    }
}

/// Milliseconds since the epoch of a system time (0 before the epoch).
pub fn millis(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm): integer
/// arithmetic the relay's store code can share without a date library.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_year(at: u64) -> i64 {
    let days = (at / DAY_MILLIS) as i64;
    // The year is the one whose 1 January is the last not after `days`.
    let mut year = 1970 + days / 366;
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    year
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instant given as a UTC calendar date and time.
    fn utc(year: i64, month: i64, day: i64, hour: u64, minute: u64, second: u64) -> u64 {
        days_from_civil(year, month, day) as u64 * DAY_MILLIS + (hour * 3600 + minute * 60 + second) * 1000
    }

    #[test]
    fn year_boundaries() {
        let at = utc(2026, 11, 26, 0, 0, 0);
        assert_eq!(at, 1_795_651_200_000);
        assert_eq!(civil_year(at), 2026);
        assert_eq!(end_of_year(at), 1_798_761_600_000); // 2027-01-01T00:00:00Z
        assert_eq!(end_of_year(1_798_761_600_000 - 1), 1_798_761_600_000);
        assert_eq!(civil_year(1_798_761_600_000), 2027);
        // 2024 is a leap year: 2024-12-31 is day 366.
        assert_eq!(days_from_civil(2025, 1, 1) - days_from_civil(2024, 1, 1), 366);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(iso_date(at), "2026-11-26");
        assert_eq!(iso_date(1_798_761_600_000 - 1), "2026-12-31");
        assert_eq!(iso_date(1_798_761_600_000), "2027-01-01");
        assert_eq!(iso_date(utc(2024, 2, 29, 12, 0, 0)), "2024-02-29");
        assert_eq!(iso_date(utc(2028, 2, 29, 23, 59, 59)), "2028-02-29");
        assert_eq!(iso_date(utc(2028, 3, 1, 0, 0, 0)), "2028-03-01");
        assert_eq!(end_of_year(utc(2028, 2, 29, 12, 0, 0)), utc(2029, 1, 1, 0, 0, 0));
    }

    proptest::proptest! {
        /// The calendar arithmetic agrees with chrono's on every day from 1970 to 2200.
        #[test]
        fn calendar_agrees_with_chrono(millis in 0u64..7_258_118_400_000) {
            let chrono = chrono::DateTime::from_timestamp_millis(millis as i64).expect("in range");
            proptest::prop_assert_eq!(iso_date(millis), chrono.format("%Y-%m-%d").to_string());
            let next = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&chrono) + 1, 1, 1).expect("date");
            let next = next.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis() as u64;
            proptest::prop_assert_eq!(end_of_year(millis), next);
        }
    }

    #[test]
    fn a_first_issue_late_in_the_year_runs_to_the_end_of_the_next() {
        let end_2026 = utc(2027, 1, 1, 0, 0, 0);
        let end_2027 = utc(2028, 1, 1, 0, 0, 0);
        // 29 November: 33 days left, fewer than 90: valid to the end of next year, not for a month.
        assert_eq!(first_expiry(utc(2026, 11, 29, 10, 0, 0), 90), end_2027);
        assert_eq!(first_expiry(utc(2026, 12, 20, 9, 0, 0), 90), end_2027);
        assert_eq!(first_expiry(utc(2026, 12, 31, 23, 59, 30), 90), end_2027);
        // The boundary: exactly 90 days left runs to this year's end; one second less, to next.
        let ninety_days_before = end_2026 - 90 * DAY_MILLIS;
        assert_eq!(iso_date(ninety_days_before), "2026-10-03");
        assert_eq!(first_expiry(ninety_days_before, 90), end_2026);
        assert_eq!(first_expiry(ninety_days_before + 1000, 90), end_2027);
        // Early in the year: this year's end.
        assert_eq!(first_expiry(utc(2026, 6, 15, 12, 0, 0), 90), end_2026);
        assert_eq!(first_expiry(utc(2027, 1, 1, 0, 0, 30), 90), end_2027);
        assert_eq!(first_expiry(utc(2028, 2, 29, 12, 0, 0), 90), utc(2029, 1, 1, 0, 0, 0));
        // 0 days: always this year's end.
        assert_eq!(first_expiry(utc(2026, 12, 31, 23, 59, 59), 0), end_2026);
    }
}
