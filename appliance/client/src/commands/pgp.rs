//! The practice client's OpenPGP: sign and encrypt a document for its recipients and for
//! the sender, decrypt a received one and say what its signature is worth.

use std::io::{Read as _, Write as _};
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use openpgp::cert::prelude::*;
use openpgp::crypto::SessionKey;
use openpgp::packet::{PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError,
    VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Signer};
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, KeyHandle};
use sequoia_openpgp as openpgp;

/// Most bytes a decrypted document may have.
const PLAINTEXT_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Signs `document` with the sender's current signing key and encrypts it to every
/// recipient's current encryption keys and to the sender's own (so the sent copy stays
/// readable). Returns the ASCII-armoured OpenPGP message.
pub fn sign_and_encrypt(
    own: &[Cert],
    recipients: &[(String, Vec<Cert>)],
    document: &[u8],
    at: SystemTime,
) -> anyhow::Result<String> {
    let policy = StandardPolicy::new();
    let signing = own
        .iter()
        .flat_map(|cert| cert.keys().with_policy(&policy, at).supported().alive().revoked(false).for_signing().secret())
        .filter_map(|key| key.key().clone().into_keypair().ok())
        .last()
        .context(
            "no valid signing key in this profile: your keys have expired or been revoked; install your new bundle",
        )?;
    let mut encryption_keys = Vec::new();
    for (address, certs) in recipients {
        let before = encryption_keys.len();
        for cert in certs {
            encryption_keys.extend(
                cert.keys()
                    .with_policy(&policy, at)
                    .supported()
                    .alive()
                    .revoked(false)
                    .for_transport_encryption()
                    .for_storage_encryption(),
            );
        }
        if encryption_keys.len() == before {
            bail!("{address} has no valid encryption key (its certificates are expired or revoked)");
        }
    }
    let own_before = encryption_keys.len();
    for cert in own {
        encryption_keys
            .extend(cert.keys().with_policy(&policy, at).supported().alive().revoked(false).for_transport_encryption());
    }
    if encryption_keys.len() == own_before {
        bail!("no valid encryption key of your own in this profile: install your new bundle");
    }
    let mut armoured = Vec::new();
    let message = Message::new(&mut armoured);
    let message = Armorer::new(message).build()?;
    let message = Encryptor::for_recipients(message, encryption_keys).build()?;
    let message = Signer::new(message, signing)?.creation_time(at).build()?;
    let mut message = LiteralWriter::new(message).build()?;
    message.write_all(document)?;
    message.finalize()?;
    Ok(String::from_utf8(armoured)?)
}

/// What a received signature is worth.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "signature", rename_all = "kebab-case")]
pub enum SignatureCheck {
    /// Made by a key of the sender's certificate, valid when it signed.
    Valid { signer_fingerprint: String },
    /// A signature that does not verify, or a key the sender may not sign with.
    Invalid { problem: String },
    /// Signed by a key the sender's certificates do not hold.
    UnknownKey { issuer: String },
    /// No signature at all.
    Unsigned,
}

/// A decrypted document.
#[derive(Debug)]
pub struct Opened {
    pub plaintext: Vec<u8>,
    pub signature: SignatureCheck,
}

struct Helper<'a> {
    own: &'a [Cert],
    senders: Vec<Cert>,
    signature: SignatureCheck,
    at: Option<SystemTime>,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.senders.clone())
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        // Never refuse here: a document whose signature fails is still saved, flagged.
        for layer in structure {
            let MessageLayer::SignatureGroup { results } = layer else {
                continue;
            };
            for result in results {
                let check = match result {
                    Ok(good) => SignatureCheck::Valid { signer_fingerprint: good.ka.cert().fingerprint().to_hex() },
                    Err(VerificationError::MissingKey { sig }) => SignatureCheck::UnknownKey {
                        issuer: sig.get_issuers().first().map(ToString::to_string).unwrap_or_default(),
                    },
                    Err(error) => SignatureCheck::Invalid { problem: error.to_string() },
                };
                // The best signature counts; the first wins among equals.
                let rank = |c: &SignatureCheck| match c {
                    SignatureCheck::Valid { .. } => 3,
                    SignatureCheck::Invalid { .. } => 2,
                    SignatureCheck::UnknownKey { .. } => 1,
                    SignatureCheck::Unsigned => 0,
                };
                if rank(&check) > rank(&self.signature) {
                    self.signature = check;
                }
            }
        }
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let policy = StandardPolicy::new();
        for cert in self.own {
            // Any of our encryption keys, expired or not: a message sent before our keys
            // expired must still open after.
            for key in
                cert.keys().with_policy(&policy, self.at).for_transport_encryption().for_storage_encryption().secret()
            {
                let Ok(mut pair) = key.key().clone().into_keypair() else {
                    continue;
                };
                for pkesk in pkesks {
                    let names_us =
                        pkesk.recipient().is_none_or(|r| r.aliases(KeyHandle::from(key.key().fingerprint())));
                    if !names_us {
                        continue;
                    }
                    if let Some((algo, session_key)) = pkesk.decrypt(&mut pair, sym_algo) {
                        if decrypt(algo, &session_key) {
                            return Ok(Some(cert.clone()));
                        }
                    }
                }
            }
        }
        Err(anyhow::anyhow!("the document is not encrypted to any key of this profile"))
    }
}

/// Decrypts `armoured` with our keys and checks its signature against `senders`, as of
/// `at` (`None`: now). A signature counts if its key was valid when it signed.
pub fn decrypt_and_verify(
    own: &[Cert],
    senders: Vec<Cert>,
    armoured: &[u8],
    at: Option<SystemTime>,
) -> anyhow::Result<Opened> {
    let policy = StandardPolicy::new();
    let helper = Helper { own, senders, signature: SignatureCheck::Unsigned, at };
    let mut decryptor = DecryptorBuilder::from_bytes(armoured)?.with_policy(&policy, at, helper)?;
    let mut plaintext = Vec::new();
    (&mut decryptor).take(PLAINTEXT_BYTES_MAX).read_to_end(&mut plaintext)?;
    let signature = decryptor.into_helper().signature;
    Ok(Opened { plaintext, signature })
}

/// What a detached signature over `data` is worth, checked against `signers` as of now (a
/// PGP/MIME signed message's signature over its first part).
pub fn verify_detached(signers: Vec<Cert>, data: &[u8], signature: &[u8]) -> SignatureCheck {
    let policy = StandardPolicy::new();
    let helper = Helper { own: &[], senders: signers, signature: SignatureCheck::Unsigned, at: None };
    let checked = DetachedVerifierBuilder::from_bytes(signature)
        .and_then(|builder| builder.with_policy(&policy, None, helper))
        .and_then(|mut verifier| {
            verifier.verify_bytes(data)?;
            Ok(verifier.into_helper().signature)
        });
    checked.unwrap_or_else(|error| SignatureCheck::Invalid { problem: error.to_string() })
}

/// Certificates in a keyring (armoured or binary).
pub fn certs_from(bytes: &[u8]) -> anyhow::Result<Vec<Cert>> {
    CertParser::from_bytes(bytes)?.collect::<Result<Vec<_>, _>>().context("reading OpenPGP certificates")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{end_of_year, DAY_MILLIS as DAY};

    /// 2026-11-26T00:00:00Z
    const ISSUED: u64 = 1_795_651_200_000;

    /// A practice's keys as the client holds them, and its public certificate as the key
    /// server serves it: made in the shape the relay issues.
    fn practice(address: &str) -> (Cert, Cert) {
        let keys = crate::keys::build(
            crate::keys::userid(address, None),
            time(ISSUED),
            std::time::Duration::from_millis(end_of_year(ISSUED) - ISSUED),
        )
        .expect("keys");
        let public = keys.clone().strip_secret_key_material();
        (keys, public)
    }

    fn time(at: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(at)
    }

    #[test]
    fn signed_and_encrypted_documents_open_for_the_recipient_and_the_sender_and_verify() {
        let (alice, alice_public) = practice("alice@relay.test");
        let (bob, bob_public) = practice("bob@relay.test");
        let at = time(ISSUED + DAY);
        let message = sign_and_encrypt(
            std::slice::from_ref(&alice),
            &[("bob@relay.test".into(), vec![bob_public])],
            b"compte rendu",
            at,
        )
        .expect("encrypt");
        for reader in [&bob, &alice] {
            let opened = decrypt_and_verify(
                std::slice::from_ref(reader),
                vec![alice_public.clone()],
                message.as_bytes(),
                Some(at),
            )
            .expect("opens");
            assert_eq!(opened.plaintext, b"compte rendu");
            assert_eq!(opened.signature, SignatureCheck::Valid { signer_fingerprint: alice.fingerprint().to_hex() });
        }
        // Checked against someone else's certificate, the signature's key is unknown.
        let (_, carol_public) = practice("carol@relay.test");
        let opened = decrypt_and_verify(std::slice::from_ref(&bob), vec![carol_public], message.as_bytes(), Some(at))
            .expect("opens");
        assert!(matches!(opened.signature, SignatureCheck::UnknownKey { .. }), "{:?}", opened.signature);
        // A third party cannot open it at all.
        let (carol, _) = practice("carol@relay.test");
        assert!(decrypt_and_verify(&[carol], vec![], message.as_bytes(), Some(at)).is_err());
    }

    #[test]
    fn expired_keys_give_clear_errors() {
        let (alice, _) = practice("alice@relay.test");
        let (_, bob_public) = practice("bob@relay.test");
        let after_expiry = time(end_of_year(ISSUED) + DAY);
        let error = sign_and_encrypt(
            std::slice::from_ref(&alice),
            &[("bob@relay.test".into(), vec![bob_public])],
            b"x",
            after_expiry,
        )
        .expect_err("expired");
        assert!(error.to_string().contains("no valid signing key in this profile"), "{error}");
    }
}
