use super::*;
use crate::keyvault::{self, Endpoints, IssueRequest};
use caducee_storage::{AccountId, Address};
use openpgp::parse::stream::{DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationHelper};

/// 2026-11-26T00:00:00Z
const NOW: Millis = Millis(1_795_651_200_000);

fn request(address: &str) -> IssueRequest {
    IssueRequest {
        account: AccountId(1),
        address: Address::parse(address).expect("address"),
        name: None,
        edition: 1,
        at: NOW,
        expires_at: keyvault::end_of_year(NOW),
        endpoints: Endpoints { host: "relay.test".into(), submissions_port: 1, pop3s_port: 2, https_port: 3 },
        ca_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
    }
}

#[test]
fn the_key_is_made_once_private_back_dated_and_gains_a_user_id_per_domain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = RelayKey::load_or_create(dir.path(), &["relay.test".into()], NOW).expect("made");
    let mode = std::fs::metadata(dir.path().join(RELAY_KEY_FILE)).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(dir.path().join(RELAY_REVOCATION_FILE).exists());
    // 1 January 2025, the year before 2026.
    assert_eq!(key.created(), UNIX_EPOCH + Duration::from_secs(1_735_689_600));
    let again = RelayKey::load_or_create(dir.path(), &["relay.test".into()], NOW).expect("loaded");
    assert_eq!(again.fingerprint(), key.fingerprint());
    let wider = RelayKey::load_or_create(dir.path(), &["relay.test".into(), "other.test".into()], NOW).expect("more");
    assert_eq!(wider.fingerprint(), key.fingerprint());
    let uids: Vec<String> =
        wider.public().userids().map(|u| String::from_utf8_lossy(u.userid().value()).into_owned()).collect();
    assert_eq!(
        uids,
        [
            "Caducée <keys@other.test>",
            "Caducée <keys@relay.test>",
            "Caducée <postmaster@other.test>",
            "Caducée <postmaster@relay.test>"
        ]
    );
    std::fs::write(dir.path().join(RELAY_KEY_FILE), b"not a key").expect("spoil");
    let refused = RelayKey::load_or_create(dir.path(), &["relay.test".into()], NOW).expect_err("refused");
    assert!(refused.to_string().contains("is not the relay's key"), "{refused}");
}

#[test]
fn issued_editions_carry_the_relays_certification() {
    let relay = RelayKey::generate(&["relay.test".into()], NOW).expect("relay key");
    let issued = keyvault::issue_certified(&request("alice@relay.test"), Some(&relay)).expect("issue");
    let cert = Cert::from_bytes(&issued.record.public).expect("public");
    let policy = StandardPolicy::new();
    let at = keyvault::system_time(Millis(NOW.0 + 1000));
    let uid = cert.with_policy(&policy, at).expect("valid").userids().next().expect("uid");
    let certification = uid.certifications().next().expect("a third-party certification");
    let relay_public = relay.public();
    certification
        .clone()
        .verify_userid_binding(relay_public.primary_key().key(), cert.primary_key().key(), uid.userid())
        .expect("made by the relay's primary key");
    let opened = crate::bundle::open(&issued.bundle, &issued.code).expect("opens");
    assert_eq!(opened.relay.map(|c| c.fingerprint()), Some(relay_public.fingerprint()));
    // Without a relay key the edition is as before.
    let plain = keyvault::issue(&request("bob@relay.test")).expect("issue");
    let plain = Cert::from_bytes(&plain.record.public).expect("public");
    assert_eq!(plain.userids().next().expect("uid").certifications().count(), 0);
}

struct Relay(Cert, bool);

impl VerificationHelper for &mut Relay {
    fn get_certs(&mut self, _: &[openpgp::KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(vec![self.0.clone()])
    }
    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        for layer in structure {
            if let MessageLayer::SignatureGroup { results } = layer {
                self.1 = results.iter().any(Result::is_ok);
            }
        }
        Ok(())
    }
}

#[test]
fn a_detached_signature_verifies_before_the_keys_creation_and_fails_on_other_bytes() {
    let relay = RelayKey::generate(&["relay.test".into()], NOW).expect("relay key");
    // Asked for a time before the key existed: signed at its creation instead.
    let signature = relay.sign_detached(b"report\r\n", UNIX_EPOCH).expect("signed");
    let policy = StandardPolicy::new();
    for (data, good) in [(&b"report\r\n"[..], true), (&b"report\n"[..], false)] {
        let mut helper = Relay(relay.public(), false);
        let mut verifier = DetachedVerifierBuilder::from_bytes(signature.as_bytes())
            .expect("signature")
            .with_policy(&policy, None, &mut helper)
            .expect("verifier");
        let _ = verifier.verify_bytes(data);
        drop(verifier);
        assert_eq!(helper.1, good);
    }
}

#[actix_rt::test]
async fn editions_published_before_the_relay_key_are_certified_once_at_start() {
    use caducee_storage::{NewAccount, StoreOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(dir.path(), &StoreOptions { map_bytes: 64 << 20, ..StoreOptions::default() }).expect("store opens");
    let account = store
        .create_account(NewAccount {
            address: Address::parse("alice@relay.test").expect("address"),
            first_name: "Anne".into(),
            last_name: "Martin".into(),
            contact_email: "anne@example.org".into(),
            password_hash: "not-a-real-hash".into(),
            quota_bytes: 1000,
            created_at: NOW,
            directory: None,
        })
        .await
        .expect("account");
    // An edition issued before the relay had its key, and one already expired.
    let mut current = request("alice@relay.test");
    current.account = account;
    let issued = keyvault::issue(&current).expect("issue");
    let draft = || AuditDraft::new(NOW, "test", "test", AuditAction::Issue, "keys", "");
    store.put_certificate(issued.record.clone(), draft()).await.expect("published");
    let mut old = current.clone();
    (old.edition, old.at, old.expires_at) =
        (0, Millis(NOW.0 - 400 * caducee_storage::DAY_MILLIS), Millis(NOW.0 - 1000));
    store.put_certificate(keyvault::issue(&old).expect("issue").record, draft()).await.expect("published");

    let relay = RelayKey::generate(&["relay.test".into()], NOW).expect("relay key");
    assert_eq!(relay.certify_published(&store, NOW).await.expect("certified"), 1);
    let stored = store.certificates(account).expect("certificates");
    let current = stored.iter().find(|r| r.edition == 1).expect("edition 1");
    assert!(relay.has_certified(current).expect("reads"));
    assert_eq!(current.fingerprint, issued.record.fingerprint, "the same key, one signature more");
    assert!(!relay.has_certified(stored.iter().find(|r| r.edition == 0).expect("edition 0")).expect("reads"));
    // Once is enough.
    assert_eq!(relay.certify_published(&store, NOW).await.expect("certified"), 0);
    store.close();
}

#[test]
fn bundles_without_a_relay_key_keep_format_one_and_both_formats_open() {
    let plain = keyvault::issue(&request("bob@relay.test")).expect("issue");
    assert!(plain.bundle.contains("\nFormat: caducee-bundle-1\n"), "{}", plain.bundle);
    assert!(crate::bundle::open(&plain.bundle, &plain.code).expect("opens").relay.is_none());
    let relay = RelayKey::generate(&["relay.test".into()], NOW).expect("relay key");
    let issued = keyvault::issue_certified(&request("alice@relay.test"), Some(&relay)).expect("issue");
    assert!(issued.bundle.contains("\nFormat: caducee-bundle-2\n"), "{}", issued.bundle);
    // Another key swapped in, its fingerprint line too: the MAC refuses it.
    let other = RelayKey::generate(&["relay.test".into()], NOW).expect("another key");
    let swapped = issued
        .bundle
        .replace(&relay.armored_public().expect("armour"), &other.armored_public().expect("armour"))
        .replace(relay.fingerprint().as_str(), other.fingerprint().as_str());
    let refused = crate::bundle::open(&swapped, &issued.code).expect_err("altered");
    assert!(refused.to_string().contains("altered"), "{refused}");
}
