//! The protocol machines in the store's words: the sessions' [`StoreVocabulary`] parses
//! and compares addresses as the store does, and lists the store's uids. (The machines'
//! own dialogues are tested byte by byte in `caducee-protocol`.)

use caducee_actors::pop3::{self, Maildrop, MaildropEntry, Pop3Server};
use caducee_actors::smtp::{Authenticated, SmtpConfig, SmtpServer};
use caducee_storage::{AccountId, Address, MessageId, Uid};

#[test]
fn the_sender_check_compares_addresses_as_the_store_spells_them() {
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 1000 };
    let mut machine = SmtpServer::new(config, true);
    machine.receive(b"EHLO x\r\nAUTH PLAIN AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\n");
    let address = Address::parse("a@relay.test").expect("an address");
    machine.authenticated(Some(Authenticated { account: AccountId(1), address }));
    machine.take_output();
    machine.receive(b"MAIL FROM:<A@Relay.Test>\r\nRSET\r\nMAIL FROM:<b@relay.test>\r\n");
    let output = String::from_utf8(machine.take_output()).expect("utf-8");
    assert_eq!(
        output,
        "250 2.1.0 Sender OK\r\n250 2.0.0 Reset\r\n\
         553 5.7.1 Sender must be your own account's address <a@relay.test>\r\n",
        "upper case spells the same address; another address is refused"
    );
}

#[test]
fn uidl_lists_the_store_uids() {
    let mut machine = Pop3Server::new("relay.test", true);
    machine.receive(b"USER a@relay.test\r\nPASS secret\r\n");
    assert_eq!(machine.authenticated(true), Some(pop3::Effect::OpenMaildrop));
    let entry = MaildropEntry { uid: Uid(42), message: MessageId(7), size: 10 };
    machine.maildrop_opened(Ok(Maildrop { entries: vec![entry], delete_on_retrieve: false }));
    machine.receive(b"UIDL\r\n");
    let output = String::from_utf8(machine.take_output()).expect("utf-8");
    assert!(output.ends_with("+OK listing follows\r\n1 42\r\n.\r\n"), "{output}");
}
