//! Printing helpers shared by the commands: times, validity, JSON, and text that users
//! wrote, shown so that it cannot drive the administrator's terminal.

use std::fmt;

use serde::Serialize;

/// Text a user wrote (a data-protection request, an alert's text, a name), printed on one
/// line: every control character — C0 (a line break becomes a space), DEL, C1, hence every
/// escape sequence, which starts with ESC or CSI — and every bidirectional override is
/// shown as its Rust escape (`\u{1b}`), so that it can neither move the cursor, retitle
/// the window, recolour the terminal nor reorder what the administrator reads. `--json`
/// output needs none of this: serde escapes control characters itself.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        let mut shown = String::with_capacity(self.0.len());
        for c in self.0.chars() {
            match c {
                '\n' => shown.push(' '),
                c if c.is_control() || is_bidi_control(c) => write!(shown, "\\u{{{:x}}}", u32::from(c))?,
                c => shown.push(c),
            }
        }
        f.pad(&shown)
    }
}

/// The Unicode bidirectional embeddings, overrides and isolates (and the marks), which
/// reorder the text around them on screen.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Prints a reply as `--json` does: pretty JSON, keys in order.
pub fn print_json<T: Serialize>(reply: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&serde_json::to_value(reply)?)?);
    Ok(())
}

/// The name a value has on the wire (`revoked`, `suspended`…), for text output.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// A number as JSON writes it (`1.0`, `0.25`).
pub fn json_number(value: f64) -> String {
    serde_json::Value::from(value).to_string()
}

/// A count that may be missing, as `null` when it is.
pub fn count_or_null(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// How long an edition of keys is valid: `valid to the end of 2027 (expires 2028-01-01
/// 00:00 UTC)` for the usual expiry on 1 January.
pub fn validity(expires_at: u64) -> String {
    let expires_at = caducee_storage::Millis(expires_at);
    match expires_at.year_ending() {
        Some(year) => format!("valid to the end of {year} (expires {})", expires_at.utc()),
        None => format!("valid until {}", expires_at.utc()),
    }
}

/// A time in milliseconds since the epoch, as `2026-11-26 08:30 UTC`.
pub fn utc_time(millis: u64) -> String {
    caducee_storage::Millis(millis).utc().to_string()
}

/// The start (00:00 UTC) of a YYYY-MM-DD day.
pub fn day_start(day: &str, flag: &str) -> anyhow::Result<caducee_storage::Millis> {
    use anyhow::Context as _;
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .with_context(|| format!("{flag} {day:?} is not a YYYY-MM-DD date"))?;
    let start = date.and_hms_opt(0, 0, 0).context("start of day")?.and_utc();
    Ok(caducee_storage::Millis(u64::try_from(start.timestamp_millis()).context("a date before 1970")?))
}

#[cfg(test)]
mod tests {
    use super::Shown;

    #[test]
    fn user_text_cannot_drive_the_terminal() {
        let hostile = "Effacez\u{1b}]0;pwned\u{7}\u{1b}[2J\r\tnow\u{7f}\u{9b}31m\u{202e}txt.exe\nend";
        let shown = Shown(hostile).to_string();
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(shown, "Effacez\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{d}\\u{9}now\\u{7f}\\u{9b}31m\\u{202e}txt.exe end");
        assert_eq!(format!("{:<6}|", Shown("a\u{1b}")), "a\\u{1b}|");
        assert_eq!(Shown("Merci d'effacer mon compte. é ü 中").to_string(), "Merci d'effacer mon compte. é ü 中");
    }
}
