//! The encrypted-content policy on arbitrary bytes: as a whole message, and as the OpenPGP
//! data of one part. A message the PGP/MIME layout reader accepts must be accepted, with
//! the same findings, by the general check through mail-parser.
#![no_main]

use caducee_protocol::content::{
    check_encrypted_message, check_openpgp, check_parsed_message, pgp_mime, EncryptedContent,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let checked = check_encrypted_message(raw);
    if let Some(direct) = pgp_mime::accept(raw) {
        assert_eq!(Ok(direct), check_parsed_message(raw), "the layout reader accepted what the general check does not");
        assert!(checked.is_ok());
    }
    let mut found = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
    let _ = check_openpgp(raw, &mut found);
});
