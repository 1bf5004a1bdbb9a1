//! Directory fields as an administrator or the user gives them, checked and applied to an
//! entry all together.

use caducee_storage::{DirectoryEntry, MailboxType, Millis, OrganisationId, PractitionerId, Preference};

/// Longest free-text field.
const TEXT_CHARS_MAX: usize = 200;

/// Directory fields as an administrator gives them (`user add`, `directory set`, import):
/// they travel in admin requests, hence their place in the protocol.
pub use caducee_admin_protocol::DirectoryFields;

/// Applies [`DirectoryFields`] to an entry.
pub trait ApplyFields {
    /// `entry` with these fields applied, every problem listed (nothing applied if any).
    fn apply(&self, entry: DirectoryEntry, at: Millis) -> Result<DirectoryEntry, Vec<String>>;
}

impl ApplyFields for DirectoryFields {
    fn apply(&self, entry: DirectoryEntry, at: Millis) -> Result<DirectoryEntry, Vec<String>> {
        apply_fields(self, entry, at)
    }
}

/// `entry` with `fields` applied, every problem listed (nothing applied if any).
pub fn apply_fields(
    fields: &DirectoryFields,
    mut entry: DirectoryEntry,
    at: Millis,
) -> Result<DirectoryEntry, Vec<String>> {
    let mut problems = Vec::new();
    apply_texts(fields, &mut entry, &mut problems);
    apply_practitioner_id(fields, &mut entry, &mut problems);
    apply_organisation_id(fields, &mut entry, &mut problems);
    apply_mailbox(fields, &mut entry, &mut problems);
    if entry.mailbox_type != MailboxType::Personal && entry.organisation_id.is_none() {
        problems.push(format!(
            "a {} mailbox needs the FINESS, SIREN or SIRET of its structure",
            entry.mailbox_type.as_str()
        ));
    }
    apply_preferences(fields, &mut entry, at);
    if problems.is_empty() {
        Ok(entry)
    } else {
        Err(problems)
    }
}

/// A cell's value trimmed, if not empty.
fn nonempty(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The free-text fields, the postcode and the phone (an empty phone clears it).
fn apply_texts(fields: &DirectoryFields, entry: &mut DirectoryEntry, problems: &mut Vec<String>) {
    let mut text = |field: &str, value: &Option<String>, target: &mut String| {
        if let Some(value) = value {
            match caducee_storage::check_text(field, value, TEXT_CHARS_MAX) {
                Ok(value) => *target = value,
                Err(why) => problems.push(why),
            }
        }
    };
    text("civility", &fields.civility, &mut entry.civility);
    text("city", &fields.city, &mut entry.city);
    text("specialty", &fields.specialty, &mut entry.specialty);
    text("category", &fields.category, &mut entry.category);
    text("description", &fields.description, &mut entry.description);
    if let Some(postcode) = fields.postcode.as_deref().filter(|p| !p.trim().is_empty()) {
        match caducee_storage::check_postcode(postcode) {
            Ok(postcode) => entry.postcode = postcode,
            Err(why) => problems.push(why),
        }
    }
    if let Some(phone) = &fields.phone {
        if phone.trim().is_empty() {
            entry.phone.clear();
        } else {
            match caducee_storage::check_phone(phone) {
                Ok(phone) => entry.phone = phone,
                Err(why) => problems.push(why),
            }
        }
    }
}

/// An RPPS or an ADELI number, not both.
fn apply_practitioner_id(fields: &DirectoryFields, entry: &mut DirectoryEntry, problems: &mut Vec<String>) {
    let parsed = match (nonempty(&fields.rpps), nonempty(&fields.adeli)) {
        (Some(_), Some(_)) => Err("give an RPPS or an ADELI number, not both".into()),
        (Some(rpps), None) => PractitionerId::rpps(&rpps),
        (None, Some(adeli)) => PractitionerId::adeli(&adeli),
        (None, None) => return,
    };
    match parsed {
        Ok(id) => entry.practitioner_id = Some(id),
        Err(why) => problems.push(why),
    }
}

/// One of FINESS, SIREN or SIRET.
fn apply_organisation_id(fields: &DirectoryFields, entry: &mut DirectoryEntry, problems: &mut Vec<String>) {
    let organisation = [
        (nonempty(&fields.finess), OrganisationId::finess as fn(&str) -> Result<OrganisationId, String>),
        (nonempty(&fields.siren), OrganisationId::siren),
        (nonempty(&fields.siret), OrganisationId::siret),
    ];
    let given: Vec<_> = organisation.iter().filter(|(v, _)| v.is_some()).collect();
    match given.as_slice() {
        [] => {}
        [(Some(number), parse)] => match parse(number) {
            Ok(id) => entry.organisation_id = Some(id),
            Err(why) => problems.push(why),
        },
        _ => problems.push("give one of FINESS, SIREN or SIRET, not several".into()),
    }
}

/// The mailbox type and the persons responsible for it.
fn apply_mailbox(fields: &DirectoryFields, entry: &mut DirectoryEntry, problems: &mut Vec<String>) {
    if let Some(kind) = &fields.mailbox_type {
        match MailboxType::parse(kind) {
            Ok(kind) => entry.mailbox_type = kind,
            Err(why) => problems.push(why),
        }
    }
    if let Some(persons) = &fields.responsible_persons {
        let mut checked = Vec::new();
        for person in persons.iter().filter(|p| !p.trim().is_empty()) {
            match caducee_storage::check_text("responsible person", person, TEXT_CHARS_MAX) {
                Ok(person) => checked.push(person),
                Err(why) => problems.push(why),
            }
        }
        entry.responsible_persons = checked;
    }
}

/// The user's preferences: a value given is stamped with `at` when it changes (or was never
/// set).
fn apply_preferences(fields: &DirectoryFields, entry: &mut DirectoryEntry, at: Millis) {
    for (value, target) in [
        (fields.red_list, &mut entry.red_list),
        (fields.publish_phone, &mut entry.publish_phone),
        (fields.dematerialisation, &mut entry.dematerialisation),
    ] {
        if let Some(value) = value {
            if target.value != value || target.set_at.is_none() {
                *target = Preference::set(value, at);
            }
        }
    }
}
