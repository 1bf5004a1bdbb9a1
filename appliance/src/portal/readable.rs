//! "Mes données" as a person reads it: the same document the JSON download gives, in
//! sections with labels in the page's language, times in the relay's time zone, sizes in
//! megabytes, yes and no in words; a list of records (keys, connections, messages) as a
//! table. The download stays the machine-readable copy.

use serde_json::{Map, Value};

use super::text::Texts;

/// One section of the page: key-value rows, or a table.
pub(super) struct Section {
    pub title: String,
    pub rows: Vec<(String, String)>,
    pub table: Option<Table>,
}

impl Section {
    /// Nothing recorded: no row, and no record in the table.
    pub fn empty(&self) -> bool {
        self.rows.is_empty() && self.table.as_ref().is_none_or(|table| table.rows.is_empty())
    }
}

pub(super) struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// How the page writes a time (the portal's local time in the page's language).
pub(super) type TimeText<'a> = &'a dyn Fn(u64) -> String;

/// The sections of the personal-data document, in its order.
pub(super) fn sections(t: &Texts, data: &Value, when: TimeText<'_>) -> Vec<Section> {
    let Value::Object(map) = data else { return Vec::new() };
    map.iter().map(|(key, value)| section(t, key, value, when)).collect()
}

fn section(t: &Texts, key: &str, value: &Value, when: TimeText<'_>) -> Section {
    let title = section_title(t, key);
    match value {
        Value::Object(fields) => Section { title, rows: fields_of(t, fields, when), table: None },
        Value::Array(items) if items.iter().all(Value::is_object) => {
            Section { title, rows: Vec::new(), table: Some(table(t, items, when)) }
        }
        other => Section { title, rows: vec![(String::new(), shown(t, key, other, when))], table: None },
    }
}

/// An object's fields as rows; absent values left out.
fn fields_of(t: &Texts, fields: &Map<String, Value>, when: TimeText<'_>) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(key, value)| (label(t, key), shown(t, key, value, when)))
        .collect()
}

/// Records as a table: a column per field, in the order they first appear.
fn table(t: &Texts, items: &[Value], when: TimeText<'_>) -> Table {
    let mut keys: Vec<&str> = Vec::new();
    for item in items {
        for key in item.as_object().into_iter().flat_map(Map::keys) {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
    }
    let rows = items
        .iter()
        .map(|item| {
            keys.iter().map(|key| item.get(*key).map_or_else(String::new, |v| shown(t, key, v, when))).collect()
        })
        .collect();
    Table { headers: keys.iter().map(|key| label(t, key)).collect(), rows }
}

/// A value as text: times, sizes, yes/no, fingerprints in groups of four; a nested record
/// as `label: value` pairs.
fn shown(t: &Texts, key: &str, value: &Value, when: TimeText<'_>) -> String {
    let french = t.lang == "fr";
    match value {
        Value::Null => "—".to_owned(),
        Value::Bool(yes) => match (yes, french) {
            (true, true) => "oui",
            (false, true) => "non",
            (true, false) => "yes",
            (false, false) => "no",
        }
        .to_owned(),
        Value::Number(n) if is_time(key) => n.as_u64().map_or_else(|| n.to_string(), when),
        Value::Number(n) if key.ends_with("bytes") || key == "size" => {
            n.as_u64().map_or_else(|| n.to_string(), |b| t.megabytes(b as f64 / 1_000_000.0, 2))
        }
        Value::Number(n) => n.to_string(),
        Value::String(text) if key == "fingerprint" => grouped(text),
        Value::String(text) if key == "outcome" => t.connection_outcome(text),
        Value::String(text) if key == "protocol" => match text.as_str() {
            "smtp" => t.protocol_name(caducee_storage::Protocol::Smtp).to_owned(),
            "pop3" => t.protocol_name(caducee_storage::Protocol::Pop3).to_owned(),
            "web" => t.protocol_name(caducee_storage::Protocol::Web).to_owned(),
            "imap" => t.protocol_name(caducee_storage::Protocol::Imap).to_owned(),
            other => other.to_owned(),
        },
        Value::String(text) if key == "status" => match text.as_str() {
            "valid" => t.key_status(caducee_storage::CertificateStatus::Valid).to_owned(),
            "expired" => t.key_status(caducee_storage::CertificateStatus::Expired).to_owned(),
            "revoked" => t.key_status(caducee_storage::CertificateStatus::Revoked).to_owned(),
            "not yet valid" | "not-yet-valid" | "not_yet_valid" | "notyetvalid" => {
                t.key_status(caducee_storage::CertificateStatus::NotYetValid).to_owned()
            }
            other => other.to_owned(),
        },
        // (version, when) pairs.
        Value::Array(pair) if key == "terms_accepted" && pair.len() == 2 && pair.iter().all(Value::is_u64) => {
            let version = pair[0].as_u64().unwrap_or_default();
            let at = pair[1].as_u64().map_or_else(String::new, when);
            if french {
                format!("version {version} le {at}")
            } else {
                format!("version {version} on {at}")
            }
        }
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            items.iter().map(|item| shown(t, key, item, when)).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ")
        }
        Value::Object(fields) => fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{}: {}", label(t, k), shown(t, k, v, when)))
            .collect::<Vec<_>>()
            .join(" · "),
    }
}

/// Fields that hold a moment (milliseconds since 1970).
fn is_time(key: &str) -> bool {
    key.ends_with("_at") || matches!(key, "last_collection" | "at" | "since" | "expires" | "created" | "last_seen")
}

/// `0A1B 2C3D …`: a fingerprint read and compared by groups of four (the personal space
/// and the directory page).
pub(crate) fn grouped(fingerprint: &str) -> String {
    let characters: Vec<char> = fingerprint.chars().collect();
    characters.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// A section's title in the page's language.
fn section_title(t: &Texts, key: &str) -> String {
    let titles = match key {
        "account" => Some(("Mon compte", "My account")),
        "state" => Some(("État de la boîte", "Mailbox state")),
        "directory_entry" => Some(("Annuaire", "Directory")),
        "certificates" => Some(("Mes clés", "My keys")),
        "personal_space" => Some(("Espace personnel", "Personal space")),
        "data_protection_requests" => Some(("Mes demandes", "My requests")),
        "connections" => Some(("Mes connexions", "My connections")),
        "message_trails" => Some(("Mes messages (sans leur contenu)", "My messages (without their content)")),
        _ => None,
    };
    match titles {
        Some((fr, en)) => if t.lang == "fr" { fr } else { en }.to_owned(),
        None => label(t, key),
    }
}

/// A field's name in the page's language; one not listed here in words from its name
/// (`accepts_dematerialisation` → `Accepts dematerialisation`).
fn label(t: &Texts, key: &str) -> String {
    let french = t.lang == "fr";
    let known = match key {
        "account" => Some(("Compte", "Account")),
        "address" => Some(("Adresse", "Address")),
        "first_name" => Some(("Prénom", "First name")),
        "last_name" => Some(("Nom", "Last name")),
        "contact_email" => Some(("Adresse de contact", "Contact address")),
        "created_at" => Some(("Créé le", "Created")),
        "quota_bytes" => Some(("Quota", "Quota")),
        "used_bytes" => Some(("Utilisé", "Used")),
        "messages_waiting" => Some(("Messages en attente", "Messages waiting")),
        "last_collection" => Some(("Dernière relève", "Last collection")),
        "delete_on_retrieve" => Some(("Effacés dès la relève", "Deleted on collection")),
        "disabled" => Some(("Réception suspendue", "Reception disabled")),
        "blocked" => Some(("Envois bloqués", "Sending blocked")),
        "closed_at" => Some(("Fermé le", "Closed")),
        "edition" => Some(("Édition", "Edition")),
        "fingerprint" => Some(("Empreinte", "Fingerprint")),
        "status" => Some(("État", "State")),
        "expires_at" => Some(("Expire le", "Expires")),
        "terms_accepted" => Some(("Conditions acceptées (version, date)", "Terms accepted (version, date)")),
        "started_at" => Some(("Début", "Started")),
        "ended_at" => Some(("Fin", "Ended")),
        "protocol" => Some(("Service", "Service")),
        "peer" => Some(("Depuis", "From")),
        "outcome" => Some(("Résultat", "Outcome")),
        "messages" => Some(("Messages", "Messages")),
        "message" => Some(("Message", "Message")),
        "sender" => Some(("Expéditeur", "Sender")),
        "accepted_at" => Some(("Reçu par le relais", "Accepted by the relay")),
        "size" => Some(("Taille", "Size")),
        "recipients" => Some(("Destinataires", "Recipients")),
        "erased_at" => Some(("Effacé le", "Erased")),
        "kind" => Some(("Demande", "Request")),
        "text" => Some(("Texte", "Text")),
        "filed_at" => Some(("Déposée le", "Filed")),
        "category" => Some(("Catégorie", "Category")),
        "city" => Some(("Ville", "City")),
        "civility" => Some(("Civilité", "Title")),
        "dematerialisation" => Some(("Dématérialisation acceptée", "Accepts dematerialisation")),
        "description" => Some(("Description", "Description")),
        "mailbox_type" => Some(("Type de boîte", "Mailbox type")),
        "phone" => Some(("Téléphone", "Phone")),
        "postcode" => Some(("Code postal", "Postcode")),
        "publish_phone" => Some(("Téléphone publié", "Phone published")),
        "red_list" => Some(("Liste rouge", "Red list")),
        "responsible_persons" => Some(("Responsables", "Responsible persons")),
        "specialty" => Some(("Spécialité", "Specialty")),
        "set_at" => Some(("Choisi le", "Set")),
        "value" => Some(("Valeur", "Value")),
        "revoked" => Some(("Révoquée", "Revoked")),
        "revocation_published" => Some(("Révocation publiée", "Revocation published")),
        "subkeys" => Some(("Sous-clés", "Subkeys")),
        "legal_hold" => Some(("Conservation légale", "Legal hold")),
        "quota_warned_percent" => Some(("Dernier avertissement de quota (%)", "Last quota warning (%)")),
        "inactivity_noticed_at" => Some(("Avis d'inactivité envoyé le", "Inactivity notice sent")),
        "totp_enrolled_at" => Some(("Second facteur activé le", "Second factor enrolled")),
        "password_changed_at" => Some(("Mot de passe changé le", "Password changed")),
        "practitioner_id" => Some(("Identifiant", "Identifier")),
        _ => None,
    };
    match known {
        Some((fr, en)) => if french { fr } else { en }.to_owned(),
        None => {
            let words = key.replace('_', " ");
            let mut characters = words.chars();
            characters.next().map(|first| first.to_uppercase().chain(characters).collect()).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::text::{ENGLISH, FRENCH};

    fn when(millis: u64) -> String {
        format!("<time {millis}>")
    }

    #[test]
    fn the_document_reads_as_labelled_sections_and_tables() {
        let data = serde_json::json!({
            "account": {"address": "a@relay.test", "created_at": 1_795_984_795_320_u64, "quota_bytes": 50_000_000,
                        "delete_on_retrieve": false, "last_collection": null},
            "certificates": [{"edition": 1, "fingerprint": "0A1B2C3D4E5F", "subkeys": [["x", 1], ["y", 2]]}],
            "connections": [],
        });
        let page = sections(&FRENCH, &data, &when);
        assert_eq!(page[0].title, "Mon compte");
        assert_eq!(
            page[0].rows,
            [
                ("Adresse".to_owned(), "a@relay.test".to_owned()),
                ("Créé le".to_owned(), "<time 1795984795320>".to_owned()),
                ("Effacés dès la relève".to_owned(), "non".to_owned()),
                ("Quota".to_owned(), "50,00 Mo".to_owned()),
            ]
        );
        let keys = page[1].table.as_ref().expect("a table");
        assert_eq!(keys.headers, ["Édition", "Empreinte", "Sous-clés"]);
        assert_eq!(keys.rows, [["1", "0A1B 2C3D 4E5F", "x, 1, y, 2"]]);
        assert!(page[2].empty() && page[2].title == "Mes connexions");
        let terms = serde_json::json!({"personal_space": {"terms_accepted": [[1, 5], [2, 7]]}});
        let rows = &sections(&FRENCH, &terms, &when)[0].rows;
        assert_eq!(rows[0].1, "version 1 le <time 5>, version 2 le <time 7>");
        assert_eq!(sections(&ENGLISH, &data, &when)[0].rows[3], ("Quota".to_owned(), "50.00 MB".to_owned()));
    }
}
