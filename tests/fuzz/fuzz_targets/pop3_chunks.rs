//! The POP3 machine fed arbitrary input in arbitrary chunks, every effect answered against
//! a maildrop of three messages (one of them dot-stuffed).
#![no_main]

use caducee_fuzz::{chunked, Words};
use caducee_protocol::pop3;
use libfuzzer_sys::fuzz_target;

const STORED: &[u8] = b"Received: x\r\nSubject: a\r\n\r\nline one\r\n.starts with a dot\r\n.\r\nlast";

fuzz_target!(|data: &[u8]| {
    let (delete_on_retrieve, data) = match data.split_first() {
        Some((flag, rest)) => (flag & 1 == 1, rest),
        None => (false, data),
    };
    let (chunking, input) = chunked(data);
    let mut machine = pop3::Pop3Server::<Words>::new("relay.test", true);
    let mut pending = Vec::new();
    for piece in chunking.cut(input) {
        pending.extend_from_slice(piece);
        while !machine.is_closed() {
            let (used, mut effect) = machine.receive(&pending);
            assert!(used <= pending.len(), "the machine consumed more than it was given");
            pending.drain(..used);
            let answered = effect.is_some();
            while let Some(current) = effect.take() {
                effect = answer(&mut machine, current, &mut pending, delete_on_retrieve);
            }
            if (!answered && used == 0) || pending.is_empty() {
                break;
            }
        }
        let _ = machine.take_output();
    }
});

/// Answers one effect as the relay would; the next effect, if the answer raises one.
fn answer(
    machine: &mut pop3::Pop3Server<Words>,
    effect: pop3::Effect<Words>,
    pending: &mut Vec<u8>,
    delete_on_retrieve: bool,
) -> Option<pop3::Effect<Words>> {
    match effect {
        pop3::Effect::Authenticate { password, .. } => machine.authenticated(password == "secret"),
        pop3::Effect::OpenMaildrop => {
            let entry =
                |n: u32| pop3::MaildropEntry::<Words> { uid: n, message: u64::from(n), size: STORED.len() as u64 };
            let entries = vec![entry(4), entry(9), entry(12)];
            machine.maildrop_opened(Ok(pop3::Maildrop { entries, delete_on_retrieve }));
            None
        }
        pop3::Effect::Retrieve { top_lines, .. } => {
            machine.retrieved(Some(STORED.to_vec()), top_lines);
            None
        }
        pop3::Effect::Update { .. } => Some(machine.updated(true)),
        pop3::Effect::StartTls => {
            pending.clear();
            machine.tls_started();
            None
        }
        pop3::Effect::Close => None,
    }
}
