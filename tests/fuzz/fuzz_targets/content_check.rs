//! The encrypted-content policy on arbitrary bytes: as a whole message, and as the OpenPGP
//! data of one part.
#![no_main]

use caducee_protocol::content::{check_encrypted_message, check_openpgp, EncryptedContent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let _ = check_encrypted_message(raw);
    let mut found = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
    let _ = check_openpgp(raw, &mut found);
});
