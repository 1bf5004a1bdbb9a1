//! Linting a document: every problem of its header, its end markers and its NIR, located by
//! line, errors and warnings alike.

use super::date::{date_message, parse_hprim_fault};
use super::{
    end_tag, find_line, is_forbidden_control, split_lines, Date, Problem, BIRTH_DATE, DOCUMENT_DATE,
    EARLIEST_BIRTH_YEAR, END_OF_FILE_TAG, END_TAG, FIELD_NAMES, FIRST_NAME, HEADER_LINES, LAST_NAME,
    MAX_HEADER_LINE_CHARS, NIR, NIR_CHARS, NIR_NUMBER_CHARS, RECIPIENT, SENDER,
};

/// Lists every problem in a document, sorted by line; empty means valid. Warnings (see
/// [`Problem::is_warning`]) are included.
pub fn lint(text: &str) -> Vec<Problem> {
    let lines = split_lines(text);
    // A marker inside the first 12 lines ends the header early for the reader.
    let header_len =
        lines.iter().take(HEADER_LINES).position(|l| end_tag(l).is_some()).unwrap_or(lines.len().min(HEADER_LINES));
    let mut problems = Vec::new();
    if header_len < HEADER_LINES {
        problems.push(short_header(header_len, lines.len()));
    }
    let header = lines.get(..header_len).unwrap_or_default();
    for (index, line) in header.iter().enumerate() {
        lint_line_text(index, line, &mut problems);
    }
    lint_fields(header, &mut problems);
    lint_end_tags(&lines, header_len, &mut problems);
    problems.sort_by_key(|p| p.line);
    problems
}

fn short_header(header_len: usize, total: usize) -> Problem {
    let found = if header_len < total {
        format!("only {header_len} line(s) come before the end marker on line {}", header_len + 1)
    } else {
        format!("the document has only {header_len} line(s)")
    };
    Problem::at(
        0,
        format!(
            "the HPRIM header is incomplete: {found}, but it needs {HEADER_LINES} (record number, \
             last name, first name, 2 address lines, postcode and city, birth date, NIR, \
             reference, document date, sender, recipient)"
        ),
    )
}

fn lint_line_text(index: usize, line: &str, problems: &mut Vec<Problem>) {
    let field = FIELD_NAMES[index];
    if let Some(c) = line.chars().find(|&c| is_forbidden_control(c)) {
        let message = format!(
            "{field} contains the control character U+{:04X}; header lines may only hold \
             printable text and tabs",
            u32::from(c)
        );
        problems.push(Problem::at(index + 1, message));
    }
    // Trailing spaces (fixed-width padding) are harmless, so they are not counted.
    let length = line.trim_end().chars().count();
    if length > MAX_HEADER_LINE_CHARS {
        let message = format!(
            "{field} line is {length} characters long; some practice software only reads the \
             first {MAX_HEADER_LINE_CHARS} characters of a header line"
        );
        problems.push(Problem::warning(index + 1, message));
    }
}

/// Checks the content of the header fields present; missing lines were reported already.
fn lint_fields(header: &[&str], problems: &mut Vec<Problem>) {
    let filing = "the receiving software needs it to file the document in the right record";
    lint_required(header, LAST_NAME, filing, problems);
    lint_required(header, FIRST_NAME, filing, problems);
    lint_required(header, SENDER, "it should hold the sender's code and name", problems);
    lint_required(header, RECIPIENT, "it should hold the recipient's code and name", problems);
    let birth = lint_date(header, BIRTH_DATE, problems);
    let document = lint_date(header, DOCUMENT_DATE, problems);
    if let Some(birth) = birth {
        lint_birth_date(birth, document, problems);
    }
    let nir = header.get(NIR).map(|l| l.trim()).filter(|n| !n.is_empty());
    if let Some(Err(message)) = nir.map(check_nir) {
        problems.push(Problem::at(NIR + 1, message));
    }
}

fn lint_required(header: &[&str], index: usize, why: &str, problems: &mut Vec<Problem>) {
    if header.get(index).is_some_and(|l| l.trim().is_empty()) {
        problems.push(Problem::at(index + 1, format!("{} is empty; {why}", FIELD_NAMES[index])));
    }
}

fn lint_date(header: &[&str], index: usize, problems: &mut Vec<Problem>) -> Option<Date> {
    let raw = header.get(index)?.trim();
    let field = FIELD_NAMES[index];
    let result = match raw {
        "" => Err(format!("{field} is missing (expected DD/MM/YYYY)")),
        _ => parse_hprim_fault(raw).map_err(|fault| format!("{field} {}", date_message(raw, fault, "DD/MM/YYYY"))),
    };
    result.map_err(|message| problems.push(Problem::at(index + 1, message))).ok()
}

fn lint_birth_date(birth: Date, document: Option<Date>, problems: &mut Vec<Problem>) {
    let line = BIRTH_DATE + 1;
    if birth.year < EARLIEST_BIRTH_YEAR {
        let message = format!(
            "birth date {} is before {EARLIEST_BIRTH_YEAR}, which is not plausible; check the year",
            birth.to_hprim()
        );
        problems.push(Problem::at(line, message));
    }
    if let Some(document) = document.filter(|&d| birth > d) {
        let message = format!(
            "birth date {} is after the document date {} (line {}); one of them is wrong",
            birth.to_hprim(),
            document.to_hprim(),
            DOCUMENT_DATE + 1
        );
        problems.push(Problem::at(line, message));
    }
}

fn lint_end_tags(lines: &[&str], from: usize, problems: &mut Vec<Problem>) {
    let fin = find_line(lines, from, END_TAG);
    if fin.is_none() {
        problems.push(Problem::at(0, format!("the end-of-text marker {END_TAG} is missing after the text")));
    }
    let Some(end_index) = find_line(lines, from, END_OF_FILE_TAG) else {
        let message = format!(
            "the end-of-file marker {END_OF_FILE_TAG} is missing; it must be the last line, right after {END_TAG}"
        );
        problems.push(Problem::at(0, message));
        return;
    };
    if let Some(index) = fin.filter(|&i| i + 1 != end_index) {
        let found = match lines.get(index + 1).map(|l| l.trim()) {
            None => "the end of the document".to_string(),
            Some("") => "a blank line".to_string(),
            Some(other) => format!("\"{other}\""),
        };
        let message = format!("{END_TAG} must be followed directly by {END_OF_FILE_TAG}, found {found}");
        problems.push(Problem::at(index + 1, message));
    }
    lint_after_end(lines, end_index, problems);
}

/// Readers stop at the end-of-file marker, so any text after it would be silently lost.
fn lint_after_end(lines: &[&str], end_index: usize, problems: &mut Vec<Problem>) {
    let extra: Vec<usize> = (end_index + 1..lines.len()).filter(|&i| !lines[i].trim().is_empty()).collect();
    if let Some(&first) = extra.first() {
        let message = format!(
            "{} non-blank line(s) of text after {END_OF_FILE_TAG}, starting here; the receiving \
             software ignores them, only blank lines may follow the end-of-file marker",
            extra.len()
        );
        problems.push(Problem::at(first + 1, message));
    }
}

/// Checks a French social security number (NIR): 13 characters (digits, or 2A/2B for Corsica
/// at positions 6-7) followed by a 2-digit key equal to 97 minus the number modulo 97. Spaces
/// are ignored. The error says precisely what is wrong.
pub fn check_nir(nir: &str) -> Result<(), String> {
    let label = format!("social security number (NIR) \"{nir}\"");
    let chars: Vec<char> = nir.chars().filter(|&c| c != ' ').collect();
    if chars.len() != NIR_CHARS {
        return Err(format!(
            "{label} has {} characters (spaces not counted); expected {NIR_CHARS}: a \
             {NIR_NUMBER_CHARS}-character number followed by a 2-digit key",
            chars.len()
        ));
    }
    let (number, key) = chars.split_at(NIR_NUMBER_CHARS);
    let value = nir_number_value(number).map_err(|(position, c)| {
        format!(
            "{label} has an invalid character '{c}' at position {position} (spaces not counted); \
             only digits are allowed, except 2A or 2B (Corsica) at positions 6-7"
        )
    })?;
    let key_text: String = key.iter().collect();
    let Some(given) = key.iter().try_fold(0u64, |v, c| Some(v * 10 + u64::from(c.to_digit(10)?))) else {
        return Err(format!("{label} has the key \"{key_text}\"; the key must be 2 digits"));
    };
    let expected = 97 - value % 97;
    if given != expected {
        let number: String = number.iter().collect();
        return Err(format!(
            "{label} has the key {key_text}, but the number {number} requires the key \
             {expected:02}; the number or the key was mistyped"
        ));
    }
    Ok(())
}

/// Numeric value of the 13-character NIR number, or the 1-based position and character of the
/// first invalid one.
fn nir_number_value(number: &[char]) -> Result<u64, (usize, char)> {
    // Corsican départements 2A and 2B count as 19 and 18 when computing the key.
    let corsica = match (number.get(5), number.get(6)) {
        (Some('2'), Some('A')) => Some(['1', '9']),
        (Some('2'), Some('B')) => Some(['1', '8']),
        _ => None,
    };
    number.iter().enumerate().try_fold(0u64, |value, (i, &original)| {
        let c = match corsica {
            Some(substitute) if i == 5 || i == 6 => substitute[i - 5],
            _ => original,
        };
        let digit = c.to_digit(10).ok_or((i + 1, original))?;
        Ok(value * 10 + u64::from(digit))
    })
}
