//! The key vault without a relay: issue, bundles and their codes, revocation, and the
//! submission check over the year boundary with an injected time.

use caducee_actors::bundle::{self, BundleError};
use caducee_actors::content::check_encrypted_message;
use caducee_actors::keyvault::{self, Endpoints, IssueRequest, Issued};
use caducee_actors::probe;
use caducee_storage::{AccountId, Address, CertificateStatus, Millis, RevocationReason, DAY_MILLIS};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::types::RevocationStatus;
use sequoia_openpgp::Cert;

/// 2026-11-26T00:00:00Z
const NOVEMBER_2026: Millis = Millis(1_795_651_200_000);
const FAKE_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn issue(edition: u32, at: Millis, expires_at: Millis) -> Issued {
    keyvault::issue(&IssueRequest {
        account: AccountId(7),
        address: Address::parse("dr.martin@relay.test").expect("address"),
        name: None,
        edition,
        at,
        expires_at,
        endpoints: Endpoints { host: "relay.test".into(), submissions_port: 465, pop3s_port: 995, https_port: 443 },
        ca_pem: FAKE_CA.into(),
    })
    .expect("issue")
}

fn system_time(at: Millis) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.0)
}

/// The PKESK recipients of a message encrypted to `certificate` (its keys valid in the
/// middle of November 2026), as the relay sees them.
fn recipients_of_message_to(certificate: &str) -> Vec<Option<sequoia_openpgp::KeyHandle>> {
    let armoured =
        probe::encrypted_document_at(512, certificate, Some(system_time(Millis(NOVEMBER_2026.0 + 2 * DAY_MILLIS))))
            .expect("encrypt");
    let message = probe::pgp_mime(
        "a@relay.test",
        "dr.martin@relay.test",
        "Compte rendu",
        &armoured,
        NOVEMBER_2026.0 + 2 * DAY_MILLIS,
    );
    let body = &message[..message.len() - 3]; // without the DATA end mark
    check_encrypted_message(body).expect("an encrypted message").recipients
}

#[test]
fn an_issued_edition_keeps_only_public_material_and_its_bundle_opens_with_its_code() {
    let issued = issue(1, NOVEMBER_2026, keyvault::end_of_year(NOVEMBER_2026));
    let record = &issued.record;
    assert_eq!(record.edition, 1);
    assert_eq!(record.status(NOVEMBER_2026), CertificateStatus::Valid);
    assert_eq!(record.encryption_keys.len(), 1);
    assert_eq!(record.prepared_revocations.len(), 2);
    let public = Cert::from_bytes(&record.public).expect("public certificate");
    assert!(!public.is_tsk(), "the relay must keep no secret key");
    assert_eq!(public.fingerprint().to_hex(), record.fingerprint);
    assert_eq!(public.userids().next().expect("user ID").userid().value(), b"<dr.martin@relay.test>");

    // The code as printed, and as a person might type it.
    let typed = issued.code.to_lowercase().replace('-', " ").replace('0', "o");
    for code in [issued.code.as_str(), typed.as_str()] {
        let opened = bundle::open(&issued.bundle, code).expect("the bundle opens");
        assert_eq!(opened.fields.address, "dr.martin@relay.test");
        assert_eq!(opened.fields.fingerprint, record.fingerprint);
        assert_eq!(opened.fields.endpoints.submissions_port, 465);
        assert_eq!(opened.fields.ca_pem, FAKE_CA);
        assert!(opened.keys.is_tsk());
        assert!(opened.keys.keys().secret().all(|k| k.key().has_unencrypted_secret()), "every key decrypted");
    }
}

#[test]
fn a_wrong_code_and_an_altered_bundle_are_told_apart() {
    let issued = issue(1, NOVEMBER_2026, keyvault::end_of_year(NOVEMBER_2026));
    let mut wrong = issued.code.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).expect("ascii");
    assert!(matches!(bundle::open(&issued.bundle, &wrong), Err(BundleError::WrongCode)));
    assert!(matches!(bundle::open(&issued.bundle, "12345"), Err(BundleError::MalformedCode)));

    // Endpoints pointed elsewhere, or another CA: the keys still decrypt, the MAC fails.
    let redirected = issued.bundle.replace("Host: relay.test", "Host: attacker.example");
    assert!(matches!(bundle::open(&redirected, &issued.code), Err(BundleError::Tampered(_))));
    let other_ca = issued.bundle.replace("MIIB", "MIIC");
    assert!(matches!(bundle::open(&other_ca, &issued.code), Err(BundleError::Tampered(_))));
    // Something that is not a bundle at all.
    assert!(matches!(bundle::open("hello\n\nworld", &issued.code), Err(BundleError::NotABundle(_))));
    // A damaged key block never opens.
    let line = issued.bundle.lines().find(|l| l.len() > 60 && !l.contains(':')).expect("a base64 line");
    let mut damaged_line = line.to_owned().into_bytes();
    damaged_line[20] = if damaged_line[20] == b'A' { b'B' } else { b'A' };
    let damaged = issued.bundle.replace(line, std::str::from_utf8(&damaged_line).expect("ascii"));
    assert!(bundle::open(&damaged, &issued.code).is_err());
}

/// An end line of the key block placed before its start line (found by the `bundle_read`
/// fuzz target, tests/fuzz) is no end: the bundle is refused, not sliced backwards.
#[test]
fn a_key_block_whose_end_line_comes_first_is_refused() {
    let issued = issue(1, NOVEMBER_2026, keyvault::end_of_year(NOVEMBER_2026));
    let end = "-----END PGP PRIVATE KEY BLOCK-----";
    let (head, body) = issued.bundle.split_once("\n\n").expect("a header");
    let moved = format!("{head}\n\n{end}\n{}", body.replacen(end, "", 1));
    assert!(matches!(bundle::read(&moved), Err(BundleError::NotABundle(_))));
    assert!(matches!(bundle::open(&moved, &issued.code), Err(BundleError::NotABundle(_))));
}

#[test]
fn revocation_is_published_and_messages_to_the_revoked_key_are_refused() {
    let at = NOVEMBER_2026;
    let first = issue(1, at, keyvault::end_of_year(at)).record;
    let to_first = recipients_of_message_to(&keyvault::armored(&first).expect("armour"));
    assert_eq!(keyvault::check_recipient_keys(&[first.keys()], &to_first, at), Ok(()));

    let later = Millis(at.0 + DAY_MILLIS);
    let revoked = keyvault::revoke(&first, RevocationReason::Compromised, later, None).expect("revoke");
    assert_eq!(revoked.status(later), CertificateStatus::Revoked);
    let published = Cert::from_bytes(&revoked.public).expect("parse");
    assert!(matches!(published.revocation_status(&StandardPolicy::new(), None), RevocationStatus::Revoked(_)));
    assert!(keyvault::revoke(&revoked, RevocationReason::Lost, later, None).is_err(), "revoked once only");

    let second = issue(2, later, keyvault::end_of_year(later)).record;
    let editions = vec![revoked.keys(), second.keys()];
    let why = keyvault::check_recipient_keys(&editions, &to_first, later).expect_err("refused");
    assert!(
        why.contains("revoked key")
            && why.contains(first.fingerprint.as_str())
            && why.contains(second.fingerprint.as_str()),
        "{why}"
    );
    let to_second = recipients_of_message_to(&keyvault::armored(&second).expect("armour"));
    assert_eq!(keyvault::check_recipient_keys(&editions, &to_second, later), Ok(()));

    // Someone else's certificate for the same address, made at the same time as ours (not
    // on the day the test runs: its keys must be alive when the message is encrypted).
    let stranger = probe::throwaway_certificate_at("dr.martin@relay.test", Some(system_time(at))).expect("certificate");
    let why =
        keyvault::check_recipient_keys(&editions, &recipients_of_message_to(&stranger), later).expect_err("refused");
    assert!(why.contains("unknown key"), "{why}");
    // Before any certificate exists there is nothing to hold a message to.
    assert_eq!(keyvault::check_recipient_keys(&[], &to_first, later), Ok(()));
}

#[test]
fn at_the_year_change_the_renewed_keys_take_over() {
    let at = NOVEMBER_2026;
    let this_year = issue(1, at, keyvault::end_of_year(at)).record;
    let next_year_end = keyvault::end_of_year(keyvault::end_of_year(at));
    let renewed = issue(2, Millis(at.0 + DAY_MILLIS), next_year_end).record;
    let editions = vec![this_year.keys(), renewed.keys()];
    let to_old = recipients_of_message_to(&keyvault::armored(&this_year).expect("armour"));
    let to_new = recipients_of_message_to(&keyvault::armored(&renewed).expect("armour"));

    // December 31st, 23:59:59: both editions are valid, either is accepted.
    let last_second = Millis(keyvault::end_of_year(at).0 - 1000);
    assert_eq!(keyvault::check_recipient_keys(&editions, &to_old, last_second), Ok(()));
    assert_eq!(keyvault::check_recipient_keys(&editions, &to_new, last_second), Ok(()));

    // January 1st: the old keys have expired.
    let new_year = keyvault::end_of_year(at);
    assert_eq!(this_year.status(new_year), CertificateStatus::Expired);
    let why = keyvault::check_recipient_keys(&editions, &to_old, new_year).expect_err("refused");
    assert!(why.contains("expired key"), "{why}");
    assert_eq!(keyvault::check_recipient_keys(&editions, &to_new, new_year), Ok(()));

    // The OpenPGP certificates say the same as the records.
    let policy = StandardPolicy::new();
    let old = Cert::from_bytes(&this_year.public).expect("parse");
    assert!(old.with_policy(&policy, system_time(last_second)).expect("valid").alive().is_ok());
    assert!(old.with_policy(&policy, system_time(new_year)).expect("valid").alive().is_err());
}

#[test]
fn user_ids_carry_the_name_with_the_address_and_nothing_that_breaks_them() {
    let address = Address::parse("dr.durand@relay.test").expect("address");
    assert_eq!(keyvault::userid(&address, Some("Anne  Durand")), "Anne Durand <dr.durand@relay.test>");
    assert_eq!(keyvault::userid(&address, Some("Eve <eve@evil.test>\n")), "Eve eve@evil.test <dr.durand@relay.test>");
    assert_eq!(keyvault::userid(&address, Some("  ")), "<dr.durand@relay.test>");
    assert_eq!(keyvault::userid(&address, None), "<dr.durand@relay.test>");
    let issued = keyvault::issue(&IssueRequest {
        account: AccountId(7),
        address: address.clone(),
        name: Some("Anne Durand".into()),
        edition: 1,
        at: NOVEMBER_2026,
        expires_at: keyvault::end_of_year(NOVEMBER_2026),
        endpoints: Endpoints { host: "relay.test".into(), submissions_port: 1, pop3s_port: 2, https_port: 3 },
        ca_pem: FAKE_CA.into(),
    })
    .expect("issue");
    let cert = Cert::from_bytes(&issued.record.public).expect("certificate");
    let uids: Vec<String> = cert.userids().map(|u| String::from_utf8_lossy(u.userid().value()).into_owned()).collect();
    assert_eq!(uids, ["Anne Durand <dr.durand@relay.test>"]);
}
