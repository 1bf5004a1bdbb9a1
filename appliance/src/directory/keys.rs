//! The index key discovery looks certificates up by ([`KeyIndex`]): WKD by the hash of an
//! address's local part, HKP by the fingerprint or the 64-bit key ID of any key of an
//! edition, primary or subkey.
//!
//! It is built with each [`super::DirectoryView`], from the same store snapshot, so it
//! follows the directory generation: the writer moves that generation on every commit that
//! issues, renews or revokes a certificate (`PutCertificate`), and on every commit that
//! creates, edits or removes an account, which is everything the index reads. A lookup
//! therefore sees the same certificates as the store, without the index having a table, a
//! writer path or an invalidation of its own. It holds names only (hashes, fingerprints,
//! account numbers): the certificates themselves are read from the store at each lookup.
//! Closed accounts stay in it, as their editions stay published until the account is
//! removed.
//!
//! Most commits that move the generation touch no certificate and no address (a directory
//! entry edited, an account's state): a rebuild first takes a SHA-256 digest of what the
//! index is made of (each account's number and address, each edition's primary fingerprint
//! and length) and keeps the index it replaces when the digest is the same. Otherwise,
//! finding an edition's subkeys means parsing its packets (some 40 µs each): the rebuild
//! takes them from the index it replaces for every edition already seen, keyed by its
//! primary fingerprint and its length, so that only new or changed editions are parsed.
//! An edition's keys never change once issued (renewal makes a new edition, revocation only
//! adds a signature, which changes the length and so is parsed again anyway).

use std::collections::HashMap;
use std::sync::Arc;

use caducee_storage::{AccountId, DirectoryRecord};
use sequoia_openpgp::parse::Parse as _;
use sequoia_openpgp::{Packet, PacketPile};

/// An account an address's WKD hash names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WkdName {
    /// The address's local part, lower case.
    pub local: String,
    /// The address's domain, lower case.
    pub domain: String,
    pub account: AccountId,
}

/// Key discovery's index over every account's certificate editions.
#[derive(Debug, Default)]
pub struct KeyIndex {
    /// Every account's WKD hash, ordered by it: a few dozen bytes an account rather than a
    /// map of names.
    wkd: Vec<WkdRow>,
    /// The fingerprint of any key → the primary fingerprints of the editions holding it.
    fingerprints: HashMap<Vec<u8>, Vec<Vec<u8>>>,
    /// The 64-bit key ID of any key → the primary fingerprints of the editions holding it.
    key_ids: HashMap<[u8; 8], Vec<Vec<u8>>>,
    /// (primary fingerprint, length of the edition) → the fingerprints of its keys, for the
    /// next rebuild.
    parsed: HashMap<Edition, Arc<[Vec<u8>]>>,
    /// The digest of what the index was built from ([`inputs_digest`]).
    digest: Vec<u8>,
}

/// One account as WKD finds it.
#[derive(Debug)]
struct WkdRow {
    /// The z-base-32 SHA-1 of the address's local part, lower case (always 32 characters).
    hash: [u8; 32],
    /// The address, lower case.
    address: Box<str>,
    account: AccountId,
}

/// An edition as the rebuild recognises it: its primary fingerprint and its length.
type Edition = (Vec<u8>, usize);

impl KeyIndex {
    /// The index of `records`: `previous` itself when they name the same accounts and
    /// editions, otherwise a new index reusing what `previous` parsed.
    pub fn build(records: &[DirectoryRecord], previous: Option<&Arc<KeyIndex>>) -> Arc<KeyIndex> {
        let digest = inputs_digest(records);
        if let Some(previous) = previous.filter(|p| p.digest == digest) {
            return Arc::clone(previous);
        }
        let mut index = KeyIndex { digest, ..KeyIndex::default() };
        let previous = previous.map(Arc::as_ref);
        for record in records {
            let address = record.account.address.as_str().to_ascii_lowercase();
            if let Some((local, _)) = address.split_once('@') {
                if let Ok(hash) = <[u8; 32]>::try_from(crate::web::wkd_hash(local).as_bytes()) {
                    index.wkd.push(WkdRow {
                        hash,
                        address: address.clone().into_boxed_str(),
                        account: record.account.id,
                    });
                }
            }
            for certificate in &record.certificates {
                let primary = certificate.fingerprint.to_bytes();
                let seen = (primary.clone(), certificate.public.len());
                let keys = match previous.and_then(|p| p.parsed.get(&seen)) {
                    Some(keys) => keys.clone(),
                    None => Arc::from(key_fingerprints(&certificate.public, &primary)),
                };
                for fingerprint in keys.iter() {
                    if let Some(id) = key_id(fingerprint) {
                        push_unique(index.key_ids.entry(id).or_default(), &primary);
                    }
                    push_unique(index.fingerprints.entry(fingerprint.clone()).or_default(), &primary);
                }
                index.parsed.insert(seen, keys);
            }
        }
        index.wkd.sort_unstable_by_key(|row| (row.hash, row.account));
        index.wkd.shrink_to_fit();
        Arc::new(index)
    }

    /// The accounts whose local part hashes to `hash` (z-base-32, any case).
    pub fn by_wkd_hash(&self, hash: &str) -> Vec<WkdName> {
        let Ok(hash) = <[u8; 32]>::try_from(hash.to_ascii_lowercase().as_bytes()) else {
            return Vec::new();
        };
        let first = self.wkd.partition_point(|row| row.hash < hash);
        self.wkd[first..]
            .iter()
            .take_while(|row| row.hash == hash)
            .filter_map(|row| {
                let (local, domain) = row.address.split_once('@')?;
                Some(WkdName { local: local.to_owned(), domain: domain.to_owned(), account: row.account })
            })
            .collect()
    }

    /// The primary fingerprints of the editions holding a key with this fingerprint.
    pub fn by_fingerprint(&self, fingerprint: &[u8]) -> &[Vec<u8>] {
        self.fingerprints.get(fingerprint).map_or(&[], Vec::as_slice)
    }

    /// The primary fingerprints of the editions holding a key with this key ID.
    pub fn by_key_id(&self, key_id: &[u8; 8]) -> &[Vec<u8>] {
        self.key_ids.get(key_id).map_or(&[], Vec::as_slice)
    }
}

/// The key ID a fingerprint implies: a v4 fingerprint's last 8 bytes, a v6 one's first 8.
pub fn key_id(fingerprint: &[u8]) -> Option<[u8; 8]> {
    let bytes = match fingerprint.len() {
        20 => &fingerprint[12..],
        32 => &fingerprint[..8],
        _ => return None,
    };
    bytes.try_into().ok()
}

/// The fingerprints of every key of a binary certificate, the primary's first. The packets
/// are only read, not checked: the relay issued these certificates itself. A certificate
/// that does not parse still answers to its primary fingerprint.
fn key_fingerprints(public: &[u8], primary: &[u8]) -> Vec<Vec<u8>> {
    let mut fingerprints = vec![primary.to_vec()];
    match PacketPile::from_bytes(public) {
        Ok(pile) => {
            for packet in pile.descendants() {
                let fingerprint = match packet {
                    Packet::PublicKey(key) => key.fingerprint(),
                    Packet::PublicSubkey(key) => key.fingerprint(),
                    _ => continue,
                };
                let bytes = fingerprint.as_bytes().to_vec();
                if !fingerprints.contains(&bytes) {
                    fingerprints.push(bytes);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "a stored certificate does not parse; indexed by its primary key only"),
    }
    fingerprints
}

/// SHA-256 over each account's number and address and each of its editions' primary
/// fingerprint and length, in order: all the index depends on.
fn inputs_digest(records: &[DirectoryRecord]) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for record in records {
        context.update(&record.account.id.0.to_be_bytes());
        let address = record.account.address.as_str().as_bytes();
        context.update(&(address.len() as u64).to_be_bytes());
        context.update(address);
        context.update(&(record.certificates.len() as u64).to_be_bytes());
        for certificate in &record.certificates {
            let fingerprint = certificate.fingerprint.as_str().as_bytes();
            context.update(&(fingerprint.len() as u64).to_be_bytes());
            context.update(fingerprint);
            context.update(&(certificate.public.len() as u64).to_be_bytes());
        }
    }
    context.finish().as_ref().to_vec()
}

fn push_unique(list: &mut Vec<Vec<u8>>, primary: &[u8]) {
    if !list.iter().any(|p| p == primary) {
        list.push(primary.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use caducee_storage::{Account, AccountState, Address, CertificateRecord, DirectoryEntry, Fingerprint, Millis};
    use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
    use sequoia_openpgp::serialize::SerializeInto as _;

    use super::*;

    fn record(address: &str, id: u64, cert: &sequoia_openpgp::Cert) -> DirectoryRecord {
        let certificate = CertificateRecord {
            account: AccountId(id),
            edition: 1,
            fingerprint: Fingerprint::from_bytes(cert.fingerprint().as_bytes()),
            created_at: Millis(0),
            expires_at: Millis(u64::MAX),
            revoked: None,
            encryption_keys: Vec::new(),
            public: cert.to_vec().expect("serialised"),
            prepared_revocations: Vec::new(),
        };
        let account = Account {
            id: AccountId(id),
            address: Address::parse(address).expect("an address"),
            first_name: String::new(),
            last_name: String::new(),
            contact_email: String::new(),
            password_hash: String::new(),
            created_at: Millis(0),
            quota_bytes: 0,
            used_bytes: 0,
            message_count: 0,
            next_uid: 1,
            last_collection: None,
            delete_on_retrieve: false,
        };
        DirectoryRecord {
            account,
            entry: DirectoryEntry::default(),
            state: AccountState::default(),
            certificates: vec![certificate],
        }
    }

    #[test]
    fn editions_are_found_by_wkd_hash_and_by_any_key() {
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid("<anne@relay.test>")
            .add_signing_subkey()
            .add_transport_encryption_subkey()
            .generate()
            .expect("a certificate");
        let records = [record("anne@relay.test", 1, &cert), record("bob@other.test", 2, &cert)];
        let first = KeyIndex::build(&records, None);
        // Nothing the index depends on changed: the rebuild keeps it.
        assert!(Arc::ptr_eq(&first, &KeyIndex::build(&records, Some(&first))));
        // A new edition: a new index, which takes the keys already parsed from the old one.
        let (renewed, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid("<anne@relay.test>")
            .add_signing_subkey()
            .generate()
            .expect("a certificate");
        let mut more = records.to_vec();
        more.push(record("carl@relay.test", 3, &renewed));
        let index = KeyIndex::build(&more, Some(&first));
        assert!(!Arc::ptr_eq(&first, &index));
        let subkey = renewed.keys().subkeys().next().expect("a subkey").key().fingerprint();
        assert_eq!(index.by_fingerprint(subkey.as_bytes()), [renewed.fingerprint().as_bytes().to_vec()]);
        let primary = cert.fingerprint().as_bytes().to_vec();

        let named = index.by_wkd_hash(&crate::web::wkd_hash("Anne").to_uppercase());
        assert_eq!(named, [WkdName { local: "anne".into(), domain: "relay.test".into(), account: AccountId(1) }]);
        assert!(index.by_wkd_hash("nothing").is_empty());

        for key in cert.keys() {
            let fingerprint = key.key().fingerprint();
            assert_eq!(index.by_fingerprint(fingerprint.as_bytes()), std::slice::from_ref(&primary), "{fingerprint}");
            let id = key_id(fingerprint.as_bytes()).expect("a key ID");
            assert_eq!(index.by_key_id(&id), std::slice::from_ref(&primary), "{fingerprint}");
        }
        assert!(index.by_key_id(&[0; 8]).is_empty());
        assert_eq!(key_id(&[7; 32]), Some([7; 8]), "a v6 key ID is the fingerprint's first 8 bytes");
    }
}
