use super::*;

/// An instant given as a UTC calendar date and time.
fn utc(year: i64, month: i64, day: i64, hour: u64, minute: u64, second: u64) -> Millis {
    Millis(days_from_civil(year, month, day) as u64 * DAY_MILLIS + (hour * 3600 + minute * 60 + second) * 1000)
}

#[test]
fn year_boundaries() {
    let at = utc(2026, 11, 26, 0, 0, 0);
    assert_eq!(at, Millis(1_795_651_200_000));
    assert_eq!(civil_year(at), 2026);
    assert_eq!(end_of_year(at), Millis(1_798_761_600_000)); // 2027-01-01T00:00:00Z
    assert_eq!(end_of_year(Millis(1_798_761_600_000 - 1)), Millis(1_798_761_600_000));
    assert_eq!(civil_year(Millis(1_798_761_600_000)), 2027);
    // 2024 is a leap year: 2024-12-31 is day 366.
    assert_eq!(days_from_civil(2025, 1, 1) - days_from_civil(2024, 1, 1), 366);
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(iso_date(at), "2026-11-26");
    assert_eq!(iso_date(Millis(1_798_761_600_000 - 1)), "2026-12-31");
    assert_eq!(iso_date(Millis(1_798_761_600_000)), "2027-01-01");
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
        proptest::prop_assert_eq!(iso_date(Millis(millis)), chrono.format("%Y-%m-%d").to_string());
        let next = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&chrono) + 1, 1, 1).expect("date");
        let next = next.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis() as u64;
        proptest::prop_assert_eq!(end_of_year(Millis(millis)), Millis(next));
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
    let ninety_days_before = Millis(end_2026.0 - 90 * DAY_MILLIS);
    assert_eq!(iso_date(ninety_days_before), "2026-10-03");
    assert_eq!(first_expiry(ninety_days_before, 90), end_2026);
    assert_eq!(first_expiry(Millis(ninety_days_before.0 + 1000), 90), end_2027);
    // Early in the year: this year's end.
    assert_eq!(first_expiry(utc(2026, 6, 15, 12, 0, 0), 90), end_2026);
    assert_eq!(first_expiry(utc(2027, 1, 1, 0, 0, 30), 90), end_2027);
    assert_eq!(first_expiry(utc(2028, 2, 29, 12, 0, 0), 90), utc(2029, 1, 1, 0, 0, 0));
    // 0 days: always this year's end.
    assert_eq!(first_expiry(utc(2026, 12, 31, 23, 59, 59), 0), end_2026);
}

fn edition(edition: u32, created_at: Millis, expires_at: Millis) -> CertificateRecord {
    CertificateRecord {
        account: AccountId(1),
        edition,
        fingerprint: Fingerprint::parse(&format!("{edition:040X}")).expect("hex digits"),
        created_at,
        expires_at,
        revoked: None,
        encryption_keys: Vec::new(),
        public: Vec::new(),
        prepared_revocations: Vec::new(),
    }
}

#[test]
fn a_renewal_follows_the_newest_edition_in_use() {
    let end_2026 = utc(2027, 1, 1, 0, 0, 0);
    let end_2027 = utc(2028, 1, 1, 0, 0, 0);
    let end_2028 = utc(2029, 1, 1, 0, 0, 0);
    let june = utc(2026, 6, 1, 8, 0, 0);
    let this_year = edition(1, june, end_2026);
    // This year's keys: next year's.
    assert_eq!(renewal_expiry(std::slice::from_ref(&this_year), utc(2026, 12, 10, 0, 0, 0), 90), end_2027);
    // Keys issued in December already run to the end of next year: the year after.
    let december = edition(1, utc(2026, 12, 15, 12, 0, 0), end_2027);
    assert_eq!(renewal_expiry(std::slice::from_ref(&december), utc(2026, 12, 16, 0, 0, 0), 90), end_2028);
    // Nothing in use (revoked, expired): as a first issue.
    let mut revoked = this_year.clone();
    revoked.revoked = Some(Revocation { at: utc(2026, 7, 1, 0, 0, 0), reason: RevocationReason::Lost });
    assert_eq!(renewal_expiry(&[revoked], utc(2026, 8, 1, 0, 0, 0), 90), end_2026);
    assert_eq!(renewal_expiry(&[this_year], utc(2027, 3, 1, 0, 0, 0), 90), end_2027);
    // A re-issue never covers less than the editions it replaces.
    assert_eq!(reissue_expiry(utc(2026, 7, 1, 0, 0, 0), Some(end_2027), 90), end_2027);
    assert_eq!(reissue_expiry(utc(2026, 12, 1, 0, 0, 0), Some(end_2026), 90), end_2027);
    assert_eq!(reissue_expiry(utc(2026, 7, 1, 0, 0, 0), None, 90), end_2026);
}

#[test]
fn keys_that_expire_within_thirty_days_are_pointed_out_with_what_takes_over() {
    let end_2026 = utc(2027, 1, 1, 0, 0, 0);
    let this_year = edition(1, utc(2026, 3, 1, 0, 0, 0), end_2026);
    // 32 days before: nothing to say. 30 days before: a warning.
    assert!(expiry_warnings(std::slice::from_ref(&this_year), Millis(end_2026.0 - 32 * DAY_MILLIS)).is_empty());
    let warned = expiry_warnings(std::slice::from_ref(&this_year), Millis(end_2026.0 - 30 * DAY_MILLIS));
    assert_eq!(warned.len(), 1);
    assert_eq!((warned[0].edition, warned[0].days_left, warned[0].successor), (1, 30, None));
    // Three hours before: one day left, counted up.
    let late = expiry_warnings(std::slice::from_ref(&this_year), Millis(end_2026.0 - 3 * 3_600_000));
    assert_eq!(late[0].days_left, 1);
    // Once next year's edition is issued, it is named as the one that takes over.
    let renewed = edition(2, utc(2026, 12, 2, 3, 0, 0), utc(2028, 1, 1, 0, 0, 0));
    let both = [this_year.clone(), renewed];
    let warned = expiry_warnings(&both, utc(2026, 12, 20, 0, 0, 0));
    assert_eq!(warned.len(), 1, "only the edition that expires: {warned:?}");
    assert_eq!((warned[0].edition, warned[0].days_left, warned[0].successor), (1, 12, Some(2)));
    // Expired keys are history, not a warning.
    assert!(expiry_warnings(&[this_year], utc(2027, 1, 2, 0, 0, 0)).is_empty());
}

#[test]
fn codes_normalise() {
    let code = installation_code().expect("random");
    assert_eq!(code.len(), 23);
    assert_eq!(normalise_code(&code).as_deref(), Some(code.as_str()));
    assert_eq!(normalise_code(&code.to_lowercase().replace('-', " ")).as_deref(), Some(code.as_str()));
    assert_eq!(normalise_code("0O1IL-22222-33333-44444").as_deref(), Some("00111-22222-33333-44444"));
    assert_eq!(normalise_code("ABCDE-FGHJK"), None);
    assert_eq!(normalise_code("ABCDE-FGHJK-MNPQR-STVW!"), None);
}
