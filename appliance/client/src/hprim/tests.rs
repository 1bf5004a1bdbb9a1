use super::lint::check_nir;
use super::*;

fn date(year: u16, month: u8, day: u8) -> Date {
    Date::new(year, month, day).expect("test date is real")
}

/// A NIR made valid by computing its key from the 13-digit number, independently of check_nir.
fn with_key(number: &str) -> String {
    let value: u64 = number.parse().expect("13 digits");
    format!("{number}{:02}", 97 - value % 97)
}

fn sample_header() -> Header {
    Header {
        patient: Patient {
            last_name: "DUPONT".into(),
            first_name: "Marie".into(),
            birth_date: date(1980, 2, 29),
            record_id: "P0042".into(),
            address1: "12 rue des Lilas".into(),
            address2: "Bâtiment B".into(),
            postcode_city: "75011 PARIS".into(),
            nir: with_key("2800275123456"),
        },
        reference: "REQ-117".into(),
        document_date: date(2024, 3, 15),
        sender: format_party("LAB01", "Laboratoire Central").expect("short code"),
        recipient: format_party("DRMARTIN", "Dr Paul Martin").expect("short code"),
    }
}

const BODY: &str = "Glycémie : 0,91 g/l\n\nÀ revoir dans 6 mois.\n";

fn sample_text() -> String {
    build(&sample_header(), BODY).expect("sample header is valid")
}

/// The sample document with 1-based line `n` replaced.
fn with_line(n: usize, value: &str) -> String {
    let text = sample_text();
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    lines[n - 1] = value;
    lines.join("\r\n")
}

fn only_problem(text: &str) -> Problem {
    let problems = lint(text);
    assert_eq!(problems.len(), 1, "expected exactly one problem, got {problems:#?}");
    problems.into_iter().next().expect("one problem")
}

fn assert_problem(text: &str, line: usize, needle: &str) {
    let problem = only_problem(text);
    assert_eq!(problem.line, line, "{problem}");
    assert!(problem.message.contains(needle), "{problem:?} should mention {needle:?}");
}

#[test]
fn build_writes_header_body_and_markers_with_crlf() {
    let text = sample_text();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 12 + 3 + 2 + 1, "{lines:?}");
    assert_eq!(lines[1], "DUPONT");
    assert_eq!(lines[6], "29/02/1980");
    assert_eq!(lines[9], "15/03/2024");
    assert_eq!(lines[10], "LAB01      Laboratoire Central");
    assert_eq!(&lines[12..], ["Glycémie : 0,91 g/l", "", "À revoir dans 6 mois.", END_TAG, END_OF_FILE_TAG, ""]);
    assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "every line ends with CRLF");
    assert_eq!(lint(&text), []);
}

#[test]
fn build_normalises_body_line_endings() {
    let expected = build(&sample_header(), "a\r\nb\r\nc\r\n").expect("valid");
    for body in ["a\nb\nc", "a\rb\rc\r", "a\r\nb\nc\n"] {
        assert_eq!(build(&sample_header(), body).expect("valid"), expected, "{body:?}");
    }
    let empty = build(&sample_header(), "").expect("valid");
    assert!(empty.ends_with("Dr Paul Martin\r\n****FIN****\r\n****FINFICHIER****\r\n"));
}

#[test]
fn build_refuses_unsafe_input() {
    let mut header = sample_header();
    header.patient.last_name = "DUPONT\nMARTIN".into();
    let error = build(&header, "").expect_err("line break");
    assert_eq!(error, HprimError::LineBreakInField { field: "patient last name" });
    assert!(error.to_string().contains("patient last name contains a line break"));

    let mut header = sample_header();
    header.sender = "LAB\u{7}".into();
    let error = build(&header, "").expect_err("control character");
    assert_eq!(error, HprimError::ControlCharacterInField { field: "sender", code_point: 7 });

    let mut header = sample_header();
    header.patient.birth_date = Date::default();
    assert!(matches!(build(&header, ""), Err(HprimError::InvalidDate { field: "birth date", .. })));

    let error = build(&sample_header(), "ok\n  ****FIN****\nlost").expect_err("end tag");
    assert_eq!(error, HprimError::EndTagInBody { body_line: 2, tag: END_TAG });
    let error = build(&sample_header(), "****FINFICHIER****").expect_err("end tag");
    assert!(error.to_string().starts_with("line 1 of the document text is the marker ****FINFICHIER****"));
}

#[test]
fn round_trip_build_then_parse() {
    let document = parse(&sample_text()).expect("valid document");
    assert_eq!(document, Document { header: sample_header(), body: BODY.to_string() });
    assert_eq!(split_party(&document.header.sender), ("LAB01", "Laboratoire Central"));
}

#[test]
fn parse_accepts_lf_and_crlf_alike() {
    let crlf = sample_text();
    let lf = crlf.replace("\r\n", "\n");
    assert_eq!(parse(&lf).expect("LF"), parse(&crlf).expect("CRLF"));
    let unterminated = lf.trim_end_matches('\n');
    assert_eq!(parse(unterminated).expect("no final newline").body, BODY);
}

#[test]
fn parse_trims_padded_fields_and_keeps_party_columns() {
    let text = with_line(9, "    506232   ").replace("DUPONT", "DUPONT        ");
    let document = parse(&text).expect("padding is fine");
    assert_eq!(document.header.reference, "506232");
    assert_eq!(document.header.patient.last_name, "DUPONT");
    let text = with_line(11, "          Laboratoire Central   ");
    let document = parse(&text).expect("empty code is fine");
    assert_eq!(split_party(&document.header.sender), ("", "Laboratoire Central"));
}

#[test]
fn parse_reports_errors_but_tolerates_warnings() {
    let problems = parse(&with_line(2, "")).expect_err("empty last name");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 2);
    let long_city = format!("75011 {}", "PARIS ".repeat(15));
    let text = with_line(6, &long_city);
    let problem = only_problem(&text);
    assert!(problem.is_warning() && problem.line == 6, "{problem}");
    assert!(problem.message.starts_with("warning: postcode and city line is 95 characters long"));
    assert_eq!(parse(&text).expect("warning only").header.patient.postcode_city, long_city.trim());
}

#[test]
fn problem_display_names_line_and_field() {
    let problem = only_problem(&with_line(7, "31/02/1980"));
    assert_eq!(problem.to_string(), "line 7: birth date \"31/02/1980\" is not a real date (expected DD/MM/YYYY)");
    let problem = Problem { line: 0, message: "x".into() };
    assert_eq!(problem.to_string(), "document: x");
}

#[test]
fn lint_short_header() {
    let problems = lint("DOE\nJohn\n");
    assert_eq!(problems.len(), 3, "short header, no ****FIN****, no ****FINFICHIER****: {problems:#?}");
    assert!(problems[0].message.contains("the document has only 2 line(s)"));
    let text = "1\nDOE\nJohn\n\n\n\n01/01/1980\n****FIN****\n****FINFICHIER****\n";
    assert_problem(text, 0, "only 7 line(s) come before the end marker on line 8");
}

#[test]
fn lint_empty_names_and_parties() {
    assert_problem(&with_line(2, "  "), 2, "patient last name is empty");
    assert_problem(&with_line(3, ""), 3, "patient first name is empty");
    assert_problem(&with_line(11, ""), 11, "sender is empty");
    assert_problem(&with_line(12, " "), 12, "recipient is empty");
}

#[test]
fn lint_dates() {
    assert_problem(&with_line(7, "1980-02-29"), 7, "\"1980-02-29\" is not in the expected DD/MM/YYYY format");
    assert_problem(&with_line(7, ""), 7, "birth date is missing");
    assert_problem(&with_line(10, "29/02/2023"), 10, "document date \"29/02/2023\" is not a real date");
    assert_problem(&with_line(10, "15/3/2024"), 10, "document date \"15/3/2024\" is not in the expected");
    assert_problem(&with_line(7, "16/03/2024"), 7, "birth date 16/03/2024 is after the document date 15/03/2024");
    assert_problem(&with_line(7, "01/01/1850"), 7, "birth date 01/01/1850 is before 1900");
}

#[test]
fn lint_nir() {
    assert_problem(&with_line(8, "2800275123"), 8, "has 10 characters (spaces not counted); expected 15");
    assert_problem(&with_line(8, "28002X5123456 12"), 8, "invalid character 'X' at position 6");
    assert_problem(&with_line(8, "2800275123456 1A"), 8, "has the key \"1A\"");
    let valid = with_key("2800275123456");
    let wrong_key = format!("2800275123456{:02}", valid[13..].parse::<u64>().expect("key") % 97 + 1);
    assert_problem(&with_line(8, &wrong_key), 8, "but the number 2800275123456 requires the key");
    // Spaces between digit groups and before the key are common and accepted.
    let spaced = format!("2 80 02 75 123 456 {}", &valid[13..]);
    assert_eq!(lint(&with_line(8, &spaced)), []);
    assert_eq!(lint(&with_line(8, "")), [], "the NIR is optional");
}

#[test]
fn nir_key_and_corsica() {
    let valid = with_key("1840375123456");
    assert_eq!(check_nir(&valid), Ok(()));
    let mut wrong = valid.clone();
    wrong.replace_range(13.., if &valid[13..] == "01" { "02" } else { "01" });
    assert!(check_nir(&wrong).expect_err("wrong key").contains("requires the key"));
    // Corsica: the key of 2A is computed as if it were 19, and 2B as 18.
    let key_2a = &with_key("1840319004123")[13..];
    let key_2b = &with_key("1840318004123")[13..];
    assert_eq!(check_nir(&format!("18403 2A 004 123 {key_2a}")), Ok(()));
    assert_eq!(check_nir(&format!("184032B004123{key_2b}")), Ok(()));
    assert!(check_nir(&format!("184032B004123{key_2a}")).is_err(), "2A key does not fit 2B");
    assert!(check_nir("184032C00412301").expect_err("2C").contains("invalid character 'C' at position 7"));
    assert!(check_nir("18403A2004123 01").expect_err("A2").contains("invalid character 'A' at position 6"));
}

#[test]
fn lint_end_markers() {
    let text = sample_text();
    assert_problem(&text.replace("****FIN****\r\n", ""), 0, "end-of-text marker ****FIN**** is missing");
    assert_problem(&text.replace("****FINFICHIER****\r\n", ""), 0, "****FINFICHIER**** is missing");
    let gap = text.replace("****FIN****\r\n", "****FIN****\r\n\r\n");
    assert_problem(&gap, 16, "must be followed directly by ****FINFICHIER****, found a blank line");
    let swapped = text.replace("****FIN****\r\n****FINFICHIER****\r\n", "****FINFICHIER****\r\n****FIN****\r\n");
    let problems: Vec<(usize, bool)> =
        lint(&swapped).iter().map(|p| (p.line, p.message.contains("found the end of the document"))).collect();
    assert_eq!(problems, [(17, true), (17, false)], "****FIN**** is last, and is text after the end");
    assert_problem(&format!("{text}\r\n  \r\nP.S. merci\r\nfin\r\n"), 20, "2 non-blank line(s) of text after");
    assert_eq!(lint(&format!("{text}\r\n \r\n")), [], "blank lines after the end are fine");
}

#[test]
fn lint_control_characters_and_reports_everything() {
    assert_problem(&with_line(2, "DUP\u{1b}ONT"), 2, "patient last name contains the control character U+001B");
    assert_eq!(lint(&with_line(4, "12\true des Lilas")), [], "tabs are allowed");
    let text = with_line(3, "").replace("15/03/2024", "32/03/2024").replace("****FINFICHIER****", "");
    let lines: Vec<usize> = lint(&text).iter().map(|p| p.line).collect();
    assert_eq!(lines, [0, 3, 10]);
}

#[test]
fn dates_parse_and_format() {
    assert_eq!(Date::parse_iso("2024-02-29"), Ok(date(2024, 2, 29)));
    assert_eq!(Date::parse_hprim("29/02/2024"), Ok(date(2024, 2, 29)));
    assert_eq!(Date::parse_hprim("29/02/2000"), Ok(date(2000, 2, 29)));
    assert_eq!(Date::parse_hprim("29/02/2023"), Err("\"29/02/2023\" is not a real date (expected DD/MM/YYYY)".into()));
    for bad in ["2023-02-29", "1900-02-29", "2024-04-31", "2024-13-01", "2024-00-10", "0000-01-01"] {
        assert!(Date::parse_iso(bad).expect_err(bad).contains("not a real date"), "{bad}");
    }
    for bad in ["2024-2-29", "24-02-29", "2024/02/29", "2024-02-29-01", "２024-02-29", ""] {
        assert!(Date::parse_iso(bad).expect_err(bad).contains("expected YYYY-MM-DD format"), "{bad}");
    }
    let d = date(987, 1, 5);
    assert_eq!((d.to_iso(), d.to_hprim()), ("0987-01-05".to_string(), "05/01/0987".to_string()));
    assert!(date(1999, 12, 31) < date(2000, 1, 1));
    assert!(Date::new(2023, 2, 29).is_err());
}

#[test]
fn party_lines() {
    assert_eq!(format_party("ABC", "Dr X").as_deref(), Some("ABC        Dr X"));
    assert_eq!(format_party("ABCDEFGHIJK", "Dr X"), None);
    assert_eq!(split_party("ABCDEFGHIJDr X"), ("ABCDEFGHIJ", "Dr X"));
    assert_eq!(split_party("short"), ("short", ""));
}
