//! HKP (draft-gallagher-openpgp-hkp): `GET /pks/lookup?op=get|index|vindex&search=…`, by
//! address, fingerprint or key ID — of the primary key or of any subkey, found through the
//! directory's key index rather than a scan —; `options=mr` gives the machine-readable index.

use actix_web::{web, HttpResponse};
use caducee_actors::keyvault;
use caducee_storage::{CertificateRecord, CertificateStatus, Millis};
use sequoia_openpgp::types::PublicKeyAlgorithm;

use super::State;

/// What an HKP `search` names.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    Address(String),
    Fingerprint(Vec<u8>),
    KeyId([u8; 8]),
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
        (16, Some(bytes)) => return bytes.try_into().ok().map(Search::KeyId),
        _ => {}
    }
    let address = search.trim_start_matches('<').trim_end_matches('>');
    address.contains('@').then(|| Search::Address(address.to_ascii_lowercase()))
}

/// One certificate as HKP serves it: a user's edition, or one of the relay's own.
#[derive(Debug)]
pub(super) struct Edition {
    /// The primary key's fingerprint, upper-case hex.
    pub fingerprint: String,
    pub algorithm: PublicKeyAlgorithm,
    pub bits: usize,
    pub created: Millis,
    /// `None`: never.
    pub expires: Option<Millis>,
    pub status: CertificateStatus,
    /// Its user IDs' addresses.
    pub addresses: Vec<String>,
    /// The transferable public key, binary.
    pub public: Vec<u8>,
}

impl Edition {
    fn of_user(record: CertificateRecord, address: String, now: Millis) -> Edition {
        Edition {
            fingerprint: record.fingerprint.to_string(),
            // The relay issues Ed25519 primary keys: EdDSA, 256 bits.
            algorithm: PublicKeyAlgorithm::EdDSA,
            bits: 256,
            created: record.created_at,
            expires: Some(record.expires_at),
            status: record.status(now),
            addresses: vec![address],
            public: record.public,
        }
    }
}

/// The editions `search` names: users' through the store (by address) or the directory's
/// key index (by fingerprint or key ID, of the primary key or a subkey), then the relay's.
async fn find(state: &State, search: &Search) -> anyhow::Result<Vec<Edition>> {
    let (store, now) = (&state.store, state.clock.now());
    let mut editions = Vec::new();
    let primaries: Vec<Vec<u8>> = match search {
        Search::Address(address) => {
            if let Ok(parsed) = caducee_storage::Address::parse(address) {
                if let Some(account) = store.account_by_address(&parsed)? {
                    let user = account.address.to_string();
                    let records = store.certificates(account.id)?;
                    editions.extend(records.into_iter().map(|record| Edition::of_user(record, user.clone(), now)));
                }
            }
            editions.extend(state.relay.by_address(address, now));
            return Ok(editions);
        }
        Search::Fingerprint(fingerprint) => {
            state.directory.view_async().await?.keys.by_fingerprint(fingerprint).to_vec()
        }
        Search::KeyId(id) => state.directory.view_async().await?.keys.by_key_id(id).to_vec(),
    };
    for primary in primaries {
        let Some(record) = store.certificate_by_fingerprint(&primary)? else {
            continue; // removed since the index was built
        };
        let address = store.account(record.account)?.map(|a| a.address.to_string()).unwrap_or_default();
        editions.push(Edition::of_user(record, address, now));
    }
    editions.extend(match search {
        Search::Fingerprint(fingerprint) => state.relay.by_fingerprint(fingerprint, now),
        Search::KeyId(id) => state.relay.by_key_id(id, now),
        Search::Address(_) => Vec::new(),
    });
    Ok(editions)
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
    let editions = match find(&state, &search).await {
        Ok(editions) => editions,
        Err(error) => {
            tracing::error!(%error, "key lookup failed");
            return HttpResponse::InternalServerError().body("lookup failed\n");
        }
    };
    if editions.is_empty() {
        return HttpResponse::NotFound().body("no certificate matches\n");
    }
    match query.op.as_str() {
        "get" => match armored(&editions) {
            Ok(armored) => HttpResponse::Ok().content_type("application/pgp-keys").body(armored),
            Err(error) => {
                tracing::error!(%error, "armouring certificates failed");
                HttpResponse::InternalServerError().body("lookup failed\n")
            }
        },
        "index" | "vindex" => {
            let machine = query.options.as_deref().is_some_and(|o| o.split(',').any(|o| o == "mr"));
            HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(index(&editions, machine))
        }
        other => HttpResponse::NotImplemented().body(format!("op={other} is not supported (get, index, vindex)\n")),
    }
}

/// The editions, one after the other, in one ASCII-armoured block.
fn armored(editions: &[Edition]) -> std::io::Result<String> {
    use std::io::Write as _;
    let mut out = Vec::new();
    let mut writer = sequoia_openpgp::armor::Writer::new(&mut out, sequoia_openpgp::armor::Kind::PublicKey)?;
    for edition in editions {
        writer.write_all(&edition.public)?;
    }
    writer.finalize()?;
    String::from_utf8(out).map_err(std::io::Error::other)
}

/// The `index` answer: machine-readable (`options=mr`) or for people.
fn index(editions: &[Edition], machine: bool) -> String {
    let mut text = String::new();
    if machine {
        text.push_str(&format!("info:1:{}\n", editions.len()));
    }
    for edition in editions {
        let flags = match edition.status {
            CertificateStatus::Revoked => "r",
            CertificateStatus::Expired => "e",
            _ => "",
        };
        let created = edition.created.0 / 1000;
        let expires = edition.expires.map(|e| (e.0 / 1000).to_string()).unwrap_or_default();
        if machine {
            let (algorithm, bits) = (u8::from(edition.algorithm), edition.bits);
            text.push_str(&format!("pub:{}:{algorithm}:{bits}:{created}:{expires}:{flags}\n", edition.fingerprint));
            for address in &edition.addresses {
                text.push_str(&format!("uid:%3C{}%3E:{created}:{expires}:{flags}\n", address.replace('@', "%40")));
            }
        } else {
            let algorithm = match edition.algorithm {
                PublicKeyAlgorithm::EdDSA | PublicKeyAlgorithm::Ed25519 => "ed25519".to_owned(),
                other => other.to_string().to_lowercase(),
            };
            let expires = edition.expires.map(|e| format!(" expires {}", keyvault::iso_date(e))).unwrap_or_default();
            text.push_str(&format!(
                "pub {algorithm} {} created {}{expires} {}\n",
                edition.fingerprint,
                keyvault::iso_date(edition.created),
                if flags == "r" { "[revoked]" } else { "" },
            ));
            for address in &edition.addresses {
                text.push_str(&format!("uid <{address}>\n"));
            }
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches() {
        assert_eq!(parse_search("<a@b.fr>"), Some(Search::Address("a@b.fr".into())));
        assert_eq!(
            parse_search("0x0123456789ABCDEF"),
            Some(Search::KeyId([1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]))
        );
        assert!(matches!(parse_search(&"AB".repeat(20)), Some(Search::Fingerprint(f)) if f.len() == 20));
        assert_eq!(parse_search("nothing"), None);
        // Sixteen characters, but an address.
        assert_eq!(parse_search("alice@relay.test"), Some(Search::Address("alice@relay.test".into())));
        assert_eq!(parse_search("0xZZ23456789ABCDEF"), None);
    }
}
