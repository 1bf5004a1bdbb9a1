//! The SMTP submission machine fed arbitrary input in arbitrary chunks, every effect
//! answered as a relay that accepts everything would (so that DATA, BDAT and the content
//! check are reached).
#![no_main]

use caducee_fuzz::{chunked, Words};
use caducee_protocol::smtp::{self, SmtpConfig};
use caducee_protocol::Vocabulary as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (chunking, input) = chunked(data);
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 64 * 1024 };
    let mut machine = smtp::SmtpServer::<Words>::new(config, true);
    let mut pending = Vec::new();
    for piece in chunking.cut(input) {
        pending.extend_from_slice(piece);
        while !machine.is_closed() {
            let (used, effect) = machine.receive(&pending);
            assert!(used <= pending.len(), "the machine consumed more than it was given");
            pending.drain(..used);
            let Some(effect) = effect else { break };
            match effect {
                smtp::Effect::Authenticate { username, password } => {
                    let ok = password == "secret" && Words::parse_address(&username).is_some();
                    machine.authenticated(ok.then_some(smtp::Authenticated { account: 1, address: username }));
                }
                smtp::Effect::CheckRecipient { .. } => machine.recipient_checked(smtp::RecipientVerdict::Accept(2)),
                smtp::Effect::Deliver(_) => machine.delivered(smtp::DeliveryVerdict::Stored("1.x".into())),
                smtp::Effect::StartTls => {
                    pending.clear();
                    machine.tls_started();
                }
                smtp::Effect::Close => break,
                _ => {}
            }
        }
        let _ = machine.take_output();
    }
});
