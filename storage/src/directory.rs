//! The directory entry of an account (SPEC R-DIR-1, R-DIR-3) and the checks on what goes
//! into it: RPPS and ADELI numbers, FINESS, SIREN and SIRET, postcodes, phones.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::types::Millis;

/// What an account publishes in the directory, beside its names and address (kept on the
/// account). Absent: a personal mailbox with nothing more said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// "Dr", "Pr", "M.", "Mme"…: as the user wants to be addressed.
    pub civility: String,
    pub city: String,
    pub postcode: String,
    pub specialty: String,
    /// The practitioner's national identifier.
    pub practitioner_id: Option<PractitionerId>,
    pub mailbox_type: MailboxType,
    /// The structure behind a non-personal mailbox.
    pub organisation_id: Option<OrganisationId>,
    pub phone: String,
    /// Category in the national directory (e.g. "Médecin", "Laboratoire", "Établissement").
    pub category: String,
    /// For non-personal mailboxes: what the mailbox is for, and who answers for it.
    pub description: String,
    pub responsible_persons: Vec<String>,
    pub red_list: Preference,
    pub publish_phone: Preference,
    pub dematerialisation: Preference,
}

/// A yes/no choice of the user's, with when it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Preference {
    pub value: bool,
    pub set_at: Option<Millis>,
}

impl Preference {
    pub fn set(value: bool, at: Millis) -> Preference {
        Preference { value, set_at: Some(at) }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailboxType {
    #[default]
    Personal,
    Organisational,
    Applicative,
}

impl MailboxType {
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxType::Personal => "personal",
            MailboxType::Organisational => "organisational",
            MailboxType::Applicative => "applicative",
        }
    }

    pub fn parse(text: &str) -> Result<MailboxType, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "personal" | "personnelle" | "per" => Ok(MailboxType::Personal),
            "organisational" | "organizational" | "organisationnelle" | "org" => Ok(MailboxType::Organisational),
            "applicative" | "app" => Ok(MailboxType::Applicative),
            other => Err(format!("mailbox type {other:?} is not personal, organisational or applicative")),
        }
    }
}

/// RPPS (11 digits, Luhn check digit) or ADELI (9 digits).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "kind", content = "number", rename_all = "kebab-case")]
pub enum PractitionerId {
    Rpps(String),
    Adeli(String),
}

impl PractitionerId {
    pub fn rpps(text: &str) -> Result<PractitionerId, String> {
        let digits = digits_only(text, "RPPS number")?;
        if digits.len() != 11 {
            return Err(format!("RPPS number {text:?} has {} digits, not 11", digits.len()));
        }
        if !luhn_valid(&digits) {
            return Err(format!("RPPS number {text:?} fails its check digit (Luhn)"));
        }
        Ok(PractitionerId::Rpps(digits))
    }

    pub fn adeli(text: &str) -> Result<PractitionerId, String> {
        let digits = digits_only(text, "ADELI number")?;
        if digits.len() != 9 {
            return Err(format!("ADELI number {text:?} has {} digits, not 9", digits.len()));
        }
        Ok(PractitionerId::Adeli(digits))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            PractitionerId::Rpps(_) => "RPPS",
            PractitionerId::Adeli(_) => "ADELI",
        }
    }

    pub fn number(&self) -> &str {
        match self {
            PractitionerId::Rpps(n) | PractitionerId::Adeli(n) => n,
        }
    }
}

/// FINESS (9 characters, Luhn over the digits; Corsica's 2A/2B read as 20), SIREN (9 digits,
/// Luhn) or SIRET (14 digits, Luhn).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "kind", content = "number", rename_all = "kebab-case")]
pub enum OrganisationId {
    Finess(String),
    Siren(String),
    Siret(String),
}

impl OrganisationId {
    pub fn finess(text: &str) -> Result<OrganisationId, String> {
        let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if cleaned.len() != 9 {
            return Err(format!("FINESS number {text:?} has {} characters, not 9", cleaned.len()));
        }
        // The department comes first; Corsica's are 2A and 2B, counted as 20 for the key.
        let for_check = match &cleaned[..2] {
            "2A" | "2B" => format!("20{}", &cleaned[2..]),
            _ => cleaned.clone(),
        };
        if !for_check.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("FINESS number {text:?} holds something else than digits"));
        }
        if !luhn_valid(&for_check) {
            return Err(format!("FINESS number {text:?} fails its check digit (Luhn)"));
        }
        Ok(OrganisationId::Finess(cleaned))
    }

    pub fn siren(text: &str) -> Result<OrganisationId, String> {
        let digits = digits_only(text, "SIREN number")?;
        if digits.len() != 9 || !luhn_valid(&digits) {
            return Err(format!("SIREN number {text:?} is not 9 digits with a valid check digit"));
        }
        Ok(OrganisationId::Siren(digits))
    }

    pub fn siret(text: &str) -> Result<OrganisationId, String> {
        let digits = digits_only(text, "SIRET number")?;
        if digits.len() != 14 || !luhn_valid(&digits) {
            return Err(format!("SIRET number {text:?} is not 14 digits with a valid check digit"));
        }
        Ok(OrganisationId::Siret(digits))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            OrganisationId::Finess(_) => "FINESS",
            OrganisationId::Siren(_) => "SIREN",
            OrganisationId::Siret(_) => "SIRET",
        }
    }

    pub fn number(&self) -> &str {
        match self {
            OrganisationId::Finess(n) | OrganisationId::Siren(n) | OrganisationId::Siret(n) => n,
        }
    }
}

/// A French postcode: five digits.
pub fn check_postcode(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.len() != 5 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("postcode {text:?} is not five digits"));
    }
    Ok(trimmed.to_owned())
}

/// A phone number: digits, spaces, dots, dashes, an optional leading "+"; 6 to 20 digits.
pub fn check_phone(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let ok_chars = trimmed.char_indices().all(|(i, c)| c.is_ascii_digit() || " .-".contains(c) || (c == '+' && i == 0));
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    if !ok_chars || !(6..=20).contains(&digits) {
        return Err(format!("phone {text:?} is not a phone number"));
    }
    Ok(trimmed.to_owned())
}

/// A free-text field of the directory: one line, bounded.
pub fn check_text(field: &str, text: &str, max_chars: usize) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(format!("{field} holds a line break or a control character"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(format!("{field} is longer than {max_chars} characters"));
    }
    Ok(trimmed.to_owned())
}

fn digits_only(text: &str, what: &str) -> Result<String, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} holds something else than digits"));
    }
    Ok(digits)
}

/// The Luhn check over a string of ASCII digits, the last one being the check digit.
fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends the Luhn digit that makes `stem` valid.
    fn with_check_digit(stem: &str) -> String {
        (0..10).map(|d| format!("{stem}{d}")).find(|s| luhn_valid(s)).expect("one digit fits")
    }

    #[test]
    fn identifiers() {
        let rpps = with_check_digit("1000000000");
        assert_eq!(PractitionerId::rpps(&rpps), Ok(PractitionerId::Rpps(rpps.clone())));
        let mut wrong = rpps.clone().into_bytes();
        wrong[10] = b'0' + (wrong[10] - b'0' + 1) % 10;
        let wrong = String::from_utf8(wrong).expect("ascii");
        assert!(PractitionerId::rpps(&wrong).expect_err("bad key").contains("check digit"));
        assert!(PractitionerId::rpps("123").expect_err("short").contains("3 digits, not 11"));
        assert!(PractitionerId::rpps("1000000000x").is_err());
        assert_eq!(PractitionerId::adeli("75 1 23456 7"), Ok(PractitionerId::Adeli("751234567".into())));
        assert!(PractitionerId::adeli("7512345").is_err());

        let siren = with_check_digit("73282932");
        assert!(OrganisationId::siren(&siren).is_ok());
        let siret = with_check_digit(&format!("{siren}0001"));
        assert!(OrganisationId::siret(&siret).is_ok());
        assert!(OrganisationId::siret(&format!("{siren}00011")).is_err());
        let finess = with_check_digit("59000001");
        assert!(OrganisationId::finess(&finess).is_ok());
        // Corsica: the key is computed with 20 in place of 2A.
        let corsica = with_check_digit("20000001");
        assert!(OrganisationId::finess(&format!("2A{}", &corsica[2..])).is_ok());

        assert_eq!(check_postcode("59000"), Ok("59000".into()));
        assert!(check_postcode("5900").is_err());
        assert!(check_phone("+33 3 20 00 00 00").is_ok());
        assert!(check_phone("call me").is_err());
        assert!(check_text("city", "Lille\nRoubaix", 80).is_err());
        assert_eq!(MailboxType::parse("Organisationnelle"), Ok(MailboxType::Organisational));
    }
}
