//! A mailbox's IMAP side: several sessions with INBOX selected see each other's flag
//! changes and expunges and every new message; the flags are kept in the store per
//! recipient; a POP3 session holding the maildrop keeps IMAP out, and what it deletes is
//! told to the IMAP sessions.

use caducee_actors::imap::{Change, Flags, OpenError};
use caducee_actors::mailbox::{self, ExpungeInbox, LeaveInbox, Lookup, PeekInbox, SelectInbox, StoreFlags};
use caducee_storage::{AccountId, Address, Millis, NewAccount, Store, StoreOptions, Uid};

/// A store in `dir` with one account, Dr Martin's.
async fn store_with_account(dir: &std::path::Path) -> (Store, Address, AccountId) {
    let store =
        Store::open(dir, &StoreOptions { map_bytes: 64 << 20, ..StoreOptions::default() }).expect("store opens");
    let address = Address::parse("dr.martin@relay.test").expect("address");
    let account = store
        .create_account(NewAccount {
            address: address.clone(),
            first_name: "Anne".into(),
            last_name: "Martin".into(),
            contact_email: "anne@example.org".into(),
            password_hash: "not-a-real-hash".into(),
            quota_bytes: 1 << 20,
            created_at: Millis(1_795_651_200_000),
            directory: None,
        })
        .await
        .expect("account");
    (store, address, account)
}

#[actix_rt::test]
async fn sessions_on_one_inbox_see_each_others_changes_and_pop3_keeps_them_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, address, account) = store_with_account(dir.path()).await;
    let sender = Address::parse("labo@relay.test").expect("address");
    for body in [&b"one"[..], b"two"] {
        store
            .accept(sender.clone(), vec![account], store.seal(body).expect("seal"), Millis(2_000))
            .await
            .expect("accept");
    }
    let (mailboxes, _) = mailbox::start(store.clone()).expect("mailboxes");
    let held = mailboxes.send(Lookup(address)).await.expect("registry").expect("the mailbox");
    let inbox = held.addr.clone();

    let (first_changes, mut first) = mailbox::changes();
    let (second_changes, mut second) = mailbox::changes();
    let at = Millis(3_000);
    let view = inbox.send(SelectInbox { session: 1, at, changes: first_changes }).await.expect("actor").expect("view");
    assert_eq!(
        view.entries.iter().map(|e| (e.uid, e.size, e.accepted_at)).collect::<Vec<_>>(),
        vec![(1, 3, 2), (2, 3, 2)]
    );
    assert_eq!((view.uid_validity, view.uid_next), (1_795_651_200, 3));
    assert_eq!(store.account(account).expect("read").expect("exists").last_collection, Some(at), "a collection");
    inbox.send(SelectInbox { session: 2, at, changes: second_changes }).await.expect("actor").expect("second view");

    // Flags: kept in the store, told to the other session only.
    let seen = Flags { seen: true, ..Flags::default() };
    inbox.send(StoreFlags { session: 1, changes: vec![(1, seen)] }).await.expect("actor").expect("kept");
    assert_eq!(second.recv().await, Some(Change::Flags { uid: 1, flags: seen }));
    assert!(first.try_recv().is_err(), "the session that made the change is not told");
    assert!(store.imap_mailbox(account).expect("mailbox")[0].flags.seen);

    // An expunge: erased for this recipient, the other session told.
    let expunged = inbox.send(ExpungeInbox { session: 2, uids: vec![1], at }).await.expect("actor").expect("erased");
    assert_eq!(expunged.erased, 1);
    assert_eq!(first.recv().await, Some(Change::Expunged { uid: 1 }));

    // New mail reaches every session with INBOX selected.
    let (_, uids) =
        store.accept(sender, vec![account], store.seal(b"three").expect("seal"), Millis(4_000)).await.expect("accept");
    let stored = store.imap_mailbox(account).expect("mailbox").into_iter().find(|e| e.uid == uids[0]).expect("entry");
    inbox.send(mailbox::Arrived(stored)).await.expect("actor");
    for changes in [&mut first, &mut second] {
        assert!(matches!(changes.recv().await, Some(Change::Arrived(entry)) if entry.uid == 3 && entry.size == 5));
    }

    // A POP3 session holds the maildrop: IMAP is kept out; its deletions reach IMAP.
    inbox.send(LeaveInbox { session: 2 }).await.expect("actor");
    inbox.send(mailbox::OpenMaildrop { session: 9, at }).await.expect("actor").expect("maildrop");
    let (third_changes, _third) = mailbox::changes();
    let refused = inbox.send(SelectInbox { session: 3, at, changes: third_changes }).await.expect("actor");
    assert_eq!(refused.err(), Some(OpenError::InUse));
    inbox.send(mailbox::CloseMaildrop { session: 9, deleted: vec![Uid(2)], at }).await.expect("actor").expect("closed");
    assert_eq!(first.recv().await, Some(Change::Expunged { uid: 2 }));
    assert!(second.try_recv().is_err(), "a session that left is told nothing");
}

/// A mailbox runs only while a session holds it: dropping the last handle stops its actor
/// (the POP3 lock a lost session left with it), and the next lookup opens a new one that
/// sees the same store.
#[actix_rt::test]
async fn a_mailbox_runs_while_a_session_holds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, address, account) = store_with_account(dir.path()).await;
    let (mailboxes, open) = mailbox::start(store.clone()).expect("mailboxes");
    let unknown = Address::parse("nobody@relay.test").expect("address");
    assert!(mailboxes.send(Lookup(unknown.clone())).await.expect("registry").is_none(), "no account, no mailbox");
    assert!(open.among(&[account]).is_empty(), "no mailbox open before a session asks");

    // Two sessions share one actor; a lock taken and never released stays while one holds it.
    let first = mailboxes.send(Lookup(address.clone())).await.expect("registry").expect("the mailbox");
    let second = mailboxes.send(Lookup(address.clone())).await.expect("registry").expect("the mailbox");
    assert_eq!(open.among(&[account]), vec![account], "shown open to the sessions that store messages");
    let at = Millis(3_000);
    first.addr.send(mailbox::OpenMaildrop { session: 1, at }).await.expect("actor").expect("maildrop");
    let inbox = first.addr.clone();
    drop(first);
    let refused = second.addr.send(mailbox::OpenMaildrop { session: 2, at }).await.expect("still running");
    assert!(refused.is_err(), "the lock is still held");

    // The last handle dropped: the mailbox closes behind what was sent to it.
    drop(second);
    assert!(inbox.send(PeekInbox).await.is_err(), "the mailbox no session holds has stopped");
    // The registry hears of the close before anything sent to it after.
    assert!(mailboxes.send(Lookup(unknown)).await.expect("registry").is_none());
    assert!(open.among(&[account]).is_empty(), "no longer shown open");
    let again = mailboxes.send(Lookup(address.clone())).await.expect("registry").expect("the mailbox");
    again.addr.send(mailbox::OpenMaildrop { session: 3, at }).await.expect("a new actor").expect("the lock is free");
    again.addr.send(mailbox::CloseMaildrop { session: 3, deleted: vec![], at }).await.expect("actor").expect("closed");

    // A lookup racing the last handle's drop gets a mailbox that answers, whichever of the
    // two the thread ran first.
    drop(again);
    let raced = mailboxes.send(Lookup(address)).await.expect("registry").expect("the mailbox");
    raced
        .addr
        .send(mailbox::OpenMaildrop { session: 4, at })
        .await
        .expect("a running actor")
        .expect("the lock is free");
}
