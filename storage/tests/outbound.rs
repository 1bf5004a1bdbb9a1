//! The federation's outbound queue in the store: a message for recipients in two peer
//! domains and one mailbox here is stored once and referenced by each; it is erased only
//! when the last of them is served, and the trail tells where each recipient's copy went.

use caducee_storage::*;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions { map_bytes: 64 << 20, ..StoreOptions::default() }).expect("store opens")
}

fn address(text: &str) -> Address {
    Address::parse(text).expect("address")
}

fn account(address: &str) -> NewAccount {
    NewAccount {
        address: Address::parse(address).expect("valid address"),
        first_name: "Claire".into(),
        last_name: "Martin".into(),
        contact_email: "claire@example.org".into(),
        password_hash: "not-a-real-hash".into(),
        quota_bytes: DEFAULT_QUOTA_BYTES,
        created_at: Millis(1),
        directory: None,
    }
}

fn outcome(at: u64, delivered: bool, reply: &str) -> Option<RelayOutcome> {
    Some(RelayOutcome { at: Millis(at), delivered, reply: reply.into(), operator: Some("CN=mx.b.test".into()) })
}

#[tokio::test]
async fn a_message_for_peers_is_erased_once_every_recipient_here_and_there_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let alice = store.create_account(account("alice@relay.test")).await.expect("alice");
    let sealed = store.seal(b"for three").expect("seal");
    let remote = vec![address("bob@b.test"), address("carol@c.test"), address("dan@B.test")];
    let message = store
        .accept_relaying(address("alice@relay.test"), vec![alice], remote, None, sealed, Millis(10))
        .await
        .expect("accept")
        .message;

    // One record per domain, due at once, in filing order.
    let queue = store.outbound().expect("queue");
    let domains: Vec<(&str, usize)> = queue.iter().map(|(_, r)| (r.domain.as_str(), r.recipients.len())).collect();
    assert_eq!(domains, [("b.test", 2), ("c.test", 1)]);
    assert!(queue.iter().all(|(_, r)| r.next_attempt_at == Millis(10) && r.attempts == 0));
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new(), "references: 1 mailbox + 2 records");

    // The mailbox copy goes: the peers still hold the message.
    store.expunge(alice, vec![Uid(1)], Millis(11)).await.expect("expunge");
    assert_eq!(store.read_message(message).expect("still there"), b"for three");

    // b.test: bob delivered, dan deferred: the record stays, bob's outcome is in the trail.
    let (b_seq, mut b_record) = queue[0].clone();
    b_record.recipients[0].outcome = outcome(20, true, "250 accepted");
    b_record.attempts = 1;
    store.update_outbound(b_seq, b_record.clone(), None).await.expect("update");
    assert_eq!(store.outbound_entry(b_seq).expect("read").expect("still queued").pending().count(), 1);
    let trail = store.federation_trail(message).expect("read").expect("a federation trail");
    assert_eq!(trail.relayed.len(), 1);
    assert_eq!(trail.relayed[0].address, address("bob@b.test"));
    let main_trail = store.trail(message).expect("read").expect("trail");
    let bob = main_trail.recipients.iter().find(|r| r.address == address("bob@b.test")).expect("bob");
    assert_eq!(bob.collected_at, Some(Millis(20)), "handed to its operator");

    // dan refused for good: b.test's record leaves the queue.
    b_record.recipients[1].outcome = outcome(30, false, "550 5.1.1 no such mailbox");
    store.update_outbound(b_seq, b_record, None).await.expect("update");
    assert!(store.outbound_entry(b_seq).expect("read").is_none());
    assert_eq!(store.read_message(message).expect("c.test still waits"), b"for three");

    // The administrator deletes c.test's: carol given up with the reason, the message erased.
    let audit = AuditDraft {
        at: Millis(40),
        actor: "uid 0 (admin socket)".into(),
        source: "admin socket".into(),
        action: AuditAction::Delete.as_str().into(),
        object: "outbound message to c.test".into(),
        detail: "deleted from the outbound queue".into(),
    };
    let (c_seq, _) = queue[1].clone();
    let deleted = store.delete_outbound(c_seq, "deleted by the administrator".into(), Millis(40), audit).await;
    assert_eq!(deleted.expect("delete").domain, "c.test");
    assert!(matches!(store.read_message(message), Err(StoreError::NoSuchMessage)), "erased with its key");
    assert!(store.trail(message).expect("read").expect("trail").erased_at.is_some());
    let trail = store.federation_trail(message).expect("read").expect("trail");
    let carol = trail.relayed.iter().find(|r| r.address == address("carol@c.test")).expect("carol");
    assert!(!carol.outcome.delivered && carol.outcome.reply.contains("administrator"));
    assert!(store.outbound().expect("queue").is_empty());
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new());
}

#[tokio::test]
async fn a_message_handed_over_by_a_peer_keeps_its_operator_in_the_trail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let alice = store.create_account(account("alice@relay.test")).await.expect("alice");
    let sealed = store.seal(b"from a peer").expect("seal");
    let operator = Some("C=FR, O=OPERATEUR B, CN=mx.b.test".to_owned());
    let message = store
        .accept_relaying(address("bob@b.test"), vec![alice], Vec::new(), operator.clone(), sealed, Millis(10))
        .await
        .expect("accept")
        .message;
    assert_eq!(store.federation_trail(message).expect("read").expect("trail").received_from, operator);
    assert!(store.outbound().expect("queue").is_empty());
}
