use super::*;

/// An instant given as a UTC calendar date and time.
fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Millis {
    let at = chrono::NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|date| date.and_hms_opt(hour, minute, second))
        .expect("a date");
    Millis(u64::try_from(at.and_utc().timestamp_millis()).expect("after 1970"))
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
