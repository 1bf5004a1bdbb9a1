//! Printing helpers shared by the commands: times, validity, JSON.

use serde::Serialize;

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
