//! HKP (draft-gallagher-openpgp-hkp): `GET /pks/lookup?op=get|index|vindex&search=…`, by
//! address, fingerprint or key ID; `options=mr` gives the machine-readable index.

use actix_web::{web, HttpResponse};
use caducee_actors::keyvault;
use caducee_storage::{CertificateRecord, CertificateStatus};

use super::State;

/// What an HKP `search` names.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    Address(String),
    Fingerprint(Vec<u8>),
    KeyId(Vec<u8>),
}

fn parse_search(search: &str) -> Option<Search> {
    let search = search.trim();
    let hex = search.strip_prefix("0x").or_else(|| search.strip_prefix("0X")).unwrap_or(search);
    let hex_bytes = |text: &str| -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
    };
    match (hex.len(), hex_bytes(hex)) {
        (40 | 64, Some(bytes)) => return Some(Search::Fingerprint(bytes)),
        (16, Some(bytes)) => return Some(Search::KeyId(bytes)),
        _ => {}
    }
    let address = search.trim_start_matches('<').trim_end_matches('>');
    address.contains('@').then(|| Search::Address(address.to_ascii_lowercase()))
}

fn find(state: &State, search: &Search) -> anyhow::Result<Vec<CertificateRecord>> {
    let store = &state.store;
    let records = match search {
        Search::Address(address) => {
            let Ok(address) = caducee_storage::Address::parse(address) else {
                return Ok(Vec::new());
            };
            match store.account_by_address(&address)? {
                Some(account) => store.certificates(account.id)?,
                None => Vec::new(),
            }
        }
        Search::Fingerprint(fingerprint) => store.certificate_by_fingerprint(fingerprint)?.into_iter().collect(),
        Search::KeyId(id) => {
            let mut records = Vec::new();
            for fingerprint in store.certificate_fingerprints()? {
                let primary = keyvault::names_key(&key_id_handle(id), &fingerprint);
                if primary {
                    records.extend(store.certificate_by_fingerprint(&fingerprint)?);
                }
            }
            records
        }
    };
    Ok(records)
}

fn key_id_handle(id: &[u8]) -> sequoia_openpgp::KeyHandle {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&id[..8]);
    sequoia_openpgp::KeyHandle::KeyID(sequoia_openpgp::KeyID::from_bytes(&bytes))
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct Lookup {
    op: String,
    search: String,
    options: Option<String>,
}

pub(super) async fn hkp_lookup(state: web::Data<State>, query: web::Query<Lookup>) -> HttpResponse {
    let Some(search) = parse_search(&query.search) else {
        return HttpResponse::BadRequest()
            .body("search must be an e-mail address, a fingerprint (40 or 64 hex digits) or a key ID (16)\n");
    };
    let records = match find(&state, &search) {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(%error, "key lookup failed");
            return HttpResponse::InternalServerError().body("lookup failed\n");
        }
    };
    if records.is_empty() {
        return HttpResponse::NotFound().body("no certificate matches\n");
    }
    match query.op.as_str() {
        "get" => match keyvault::armored_many(&records) {
            Ok(armored) => HttpResponse::Ok().content_type("application/pgp-keys").body(armored),
            Err(error) => {
                tracing::error!(%error, "armouring certificates failed");
                HttpResponse::InternalServerError().body("lookup failed\n")
            }
        },
        "index" | "vindex" => {
            let machine = query.options.as_deref().is_some_and(|o| o.split(',').any(|o| o == "mr"));
            let now = state.clock.now();
            let mut text = String::new();
            if machine {
                text.push_str(&format!("info:1:{}\n", records.len()));
            }
            for record in &records {
                let flags = match record.status(now) {
                    CertificateStatus::Revoked => "r",
                    CertificateStatus::Expired => "e",
                    _ => "",
                };
                let address = state
                    .store
                    .account(record.account)
                    .ok()
                    .flatten()
                    .map(|a| a.address.to_string())
                    .unwrap_or_default();
                let (created, expires) = (record.created_at.0 / 1000, record.expires_at.0 / 1000);
                if machine {
                    // Ed25519 primary keys: algorithm 22 (EdDSA), 256 bits.
                    text.push_str(&format!("pub:{}:22:256:{created}:{expires}:{flags}\n", record.fingerprint));
                    text.push_str(&format!("uid:%3C{}%3E:{created}:{expires}:{flags}\n", address.replace('@', "%40")));
                } else {
                    text.push_str(&format!(
                        "pub ed25519 {} created {} expires {} {}\nuid <{address}>\n\n",
                        record.fingerprint,
                        keyvault::iso_date(record.created_at),
                        keyvault::iso_date(record.expires_at),
                        if flags == "r" { "[revoked]" } else { "" },
                    ));
                }
            }
            HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text)
        }
        other => HttpResponse::NotImplemented().body(format!("op={other} is not supported (get, index, vindex)\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches() {
        assert_eq!(parse_search("<a@b.fr>"), Some(Search::Address("a@b.fr".into())));
        assert_eq!(
            parse_search("0x0123456789ABCDEF"),
            Some(Search::KeyId(vec![1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]))
        );
        assert!(matches!(parse_search(&"AB".repeat(20)), Some(Search::Fingerprint(f)) if f.len() == 20));
        assert_eq!(parse_search("nothing"), None);
        // Sixteen characters, but an address.
        assert_eq!(parse_search("alice@relay.test"), Some(Search::Address("alice@relay.test".into())));
        assert_eq!(parse_search("0xZZ23456789ABCDEF"), None);
    }
}
