//! The store's promises, checked on a real LMDB environment in a temporary folder.

use caducee_storage::*;

fn new_account(address: &str, quota_bytes: u64) -> NewAccount {
    NewAccount {
        address: Address::parse(address).expect("valid address"),
        first_name: "Claire".into(),
        last_name: "Martin".into(),
        contact_email: "claire@example.org".into(),
        password_hash: "not-a-real-hash".into(),
        quota_bytes,
        created_at: Millis(1),
        directory: None,
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions { map_bytes: 64 << 20, ..StoreOptions::default() }).expect("store opens")
}

#[tokio::test]
async fn a_message_to_two_mailboxes_is_stored_once_and_erased_after_both_expunge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let a = store.create_account(new_account("a@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create a");
    let b = store.create_account(new_account("b@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create b");
    let sealed = store.seal(b"secret bytes").expect("seal");
    let sender = Address::parse("a@relay.test").expect("address");
    let (message, uids) = store.accept(sender, vec![a, b], sealed, Millis(5)).await.expect("accept");
    assert_eq!(uids, vec![Uid(1), Uid(1)]);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.messages, stats.message_bytes), (1, 12));
    assert_eq!(store.read_message(message).expect("read"), b"secret bytes");
    assert_eq!(store.account(a).expect("read").expect("exists").used_bytes, 12);

    assert_eq!(store.expunge(a, vec![Uid(1)], Millis(5)).await.expect("expunge a").erased, 0, "b still holds it");
    assert_eq!(store.read_message(message).expect("still readable"), b"secret bytes");
    assert_eq!(
        store.expunge(b, vec![Uid(1)], Millis(6)).await.expect("expunge b").erased,
        1,
        "erased with the last copy"
    );
    assert!(matches!(store.read_message(message), Err(StoreError::NoSuchMessage)));
    assert_eq!(store.stats().expect("stats").messages, 0);
    assert_eq!(store.account(b).expect("read").expect("exists").used_bytes, 0);
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new());

    // The raw store file never holds the message in clear.
    let raw = std::fs::read(dir.path().join("store/data.mdb")).expect("store file");
    assert!(!raw.windows(12).any(|w| w == b"secret bytes"));
}

/// The session judges each recipient's quota from what the accept returns, without reading
/// the mailboxes again: it must be what a read after the commit finds.
#[tokio::test]
async fn an_accept_returns_each_mailbox_as_its_commit_left_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let warned = store.create_account(new_account("warned@relay.test", 100)).await.expect("create");
    let fresh = store.create_account(new_account("fresh@relay.test", 1000)).await.expect("create");
    store.update_state(warned, StateChange::QuotaWarned { percent: 80 }, None).await.expect("warned");
    let sender = Address::parse("fresh@relay.test").expect("address");
    store
        .accept(sender.clone(), vec![warned], store.seal(vec![b'x'; 30]).expect("seal"), Millis(1))
        .await
        .expect("first");
    let sealed = store.seal(vec![b'y'; 40]).expect("seal");
    let accepted =
        store.accept_relaying(sender, vec![fresh, warned], Vec::new(), None, sealed, Millis(2)).await.expect("accept");
    assert_eq!(accepted.uids, [Uid(1), Uid(2)], "in the recipients' order");
    let read_after: Vec<_> =
        [fresh, warned].iter().map(|&id| store.mailbox_figures(id).expect("read").expect("exists")).collect();
    assert_eq!(accepted.mailboxes, read_after);
    let (figures, state) = &accepted.mailboxes[1];
    assert_eq!((figures.id, figures.used_bytes, state.quota_warned_percent), (warned, 70, 80), "after both messages");
}

#[tokio::test]
async fn quota_refuses_the_whole_message_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let roomy = store.create_account(new_account("roomy@relay.test", 1000)).await.expect("create");
    let tight = store.create_account(new_account("tight@relay.test", 20)).await.expect("create");
    let sender = Address::parse("roomy@relay.test").expect("address");
    let first = store.seal(vec![b'x'; 15]).expect("seal");
    store.accept(sender.clone(), vec![tight], first, Millis(1)).await.expect("15 of 20 bytes");
    let sealed = store.seal(vec![b'x'; 11]).expect("seal");
    let refused = store.accept(sender.clone(), vec![roomy, tight], sealed, Millis(1)).await;
    assert!(matches!(refused, Err(StoreError::QuotaExceeded(ref a)) if a.as_str() == "tight@relay.test"));
    assert_eq!(store.stats().expect("stats").messages, 1);
    assert_eq!(store.account(roomy).expect("read").expect("exists").used_bytes, 0);
    let (figures, state) = store.mailbox_figures(tight).expect("read").expect("exists");
    assert_eq!((figures.used_bytes, state.quota_warned_percent), (15, 0), "the figures and the state, read together");
    assert!(store.mailbox_figures(AccountId(999)).expect("read").is_none(), "no such account");
    // Larger than the whole quota: said as such, not as a full mailbox.
    let sealed = store.seal(vec![b'x'; 21]).expect("seal");
    let refused = store.accept(sender, vec![tight], sealed, Millis(1)).await;
    assert!(matches!(refused, Err(StoreError::LargerThanQuota(ref a, 20)) if a.as_str() == "tight@relay.test"));
    assert!(store.fsck().expect("fsck").is_empty());
}

#[test]
fn concurrent_writes_share_commits_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writers = 32;
    let per_writer = 20;
    {
        let store = open(dir.path());
        let inbox = store.create_account_blocking(new_account("inbox@relay.test", u64::MAX)).expect("create");
        let sender = Address::parse("inbox@relay.test").expect("address");
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..writers {
                let store = store.clone();
                let sender = sender.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..per_writer {
                        let sealed = store.seal(vec![b'm'; 5 * 1024]).expect("seal");
                        store.accept(sender.clone(), vec![inbox], sealed, Millis(2)).await.expect("accept");
                    }
                }));
            }
            for task in tasks {
                task.await.expect("writer task");
            }
        });
        let stats = store.commit_stats();
        assert_eq!(stats.writes, 1 + writers * per_writer);
        assert!(
            stats.commits < stats.writes / 2,
            "group commit batches concurrent writes: {} commits for {} writes",
            stats.commits,
            stats.writes
        );
        store.close();
    }
    let store = open(dir.path());
    let inbox =
        store.account_by_address(&Address::parse("inbox@relay.test").expect("address")).expect("read").expect("exists");
    let entries = store.mailbox(inbox.id).expect("mailbox");
    assert_eq!(entries.len() as u64, writers * per_writer);
    assert!(entries.windows(2).all(|w| w[0].uid < w[1].uid), "uids in order");
    assert!(store.fsck().expect("fsck").is_empty());
}

#[tokio::test]
async fn a_full_store_refuses_the_write_and_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(dir.path(), &StoreOptions { map_bytes: 2 << 20, ..StoreOptions::default() }).expect("store opens");
    let inbox = store.create_account(new_account("inbox@relay.test", u64::MAX)).await.expect("create");
    let sender = Address::parse("inbox@relay.test").expect("address");
    let too_big = store.seal(vec![b'x'; 4 << 20]).expect("seal");
    let refused = store.accept(sender.clone(), vec![inbox], too_big, Millis(1)).await;
    assert!(matches!(refused, Err(StoreError::Full)), "got {refused:?}");
    let small = store.seal(vec![b'y'; 1024]).expect("seal");
    store.accept(sender, vec![inbox], small, Millis(2)).await.expect("a small message still fits");
    assert!(store.fsck().expect("fsck").is_empty());
}

#[tokio::test]
async fn a_full_store_refuses_messages_but_always_has_room_to_delete_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2 MiB: full after a few hundred small messages.
    let store =
        Store::open(dir.path(), &StoreOptions { map_bytes: 2 << 20, ..StoreOptions::default() }).expect("store opens");
    let a = store.create_account(new_account("a@relay.test", u64::MAX / 2)).await.expect("create a");
    let sender = Address::parse("b@relay.test").expect("address");
    let mut uids = Vec::new();
    let refusal = loop {
        let sealed = store.seal(vec![b'x'; 3000]).expect("seal");
        match store.accept(sender.clone(), vec![a], sealed, Millis(uids.len() as u64)).await {
            Ok((_, accepted)) => uids.extend(accepted),
            Err(error) => break error,
        }
        assert!(uids.len() < 10_000, "the store never filled");
    };
    assert!(matches!(refusal, StoreError::Full), "{refusal}");
    assert!(!store.is_poisoned(), "a full store is not a failed one");
    assert!(store.fsck().expect("fsck").is_empty());

    // Deleting everything works even now, one by one, with trails and logs written too.
    for uid in &uids {
        store.expunge(a, vec![*uid], Millis(1)).await.expect("a delete always has room");
    }
    assert_eq!(store.stats().expect("stats").messages, 0);
    let sealed = store.seal(vec![b'x'; 3000]).expect("seal");
    store.accept(sender, vec![a], sealed, Millis(2)).await.expect("room again");
    assert!(store.fsck().expect("fsck").is_empty());
}

#[tokio::test]
async fn a_new_password_ends_every_other_session_of_the_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let claire = store.create_account(new_account("claire@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create");
    let other = store.create_account(new_account("other@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create");
    let session = |account| WebSession {
        account,
        created_at: Millis(1),
        last_seen: Millis(1),
        csrf: "csrf".into(),
        second_factor_pending: false,
        source: "127.0.0.1".into(),
    };
    let (here, elsewhere, theirs) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    store.put_session(here, Some(session(claire))).await.expect("session");
    store.put_session(elsewhere, Some(session(claire))).await.expect("session");
    store.put_session(theirs, Some(session(other))).await.expect("session");
    let audit = AuditDraft::new(Millis(2), "claire@relay.test", "personal space", AuditAction::Update, "password", "");

    // Changed from one browser: that one stays signed in, the other is out.
    store.set_password(claire, "new-hash".into(), Some(here), audit.clone()).await.expect("set password");
    assert!(store.session(&here).expect("read").is_some());
    assert!(store.session(&elsewhere).expect("read").is_none(), "the old password's other session ended");
    assert!(store.session(&theirs).expect("read").is_some(), "another account's session is left alone");

    // Reset by the administrator: every session of the account ends.
    store.set_password(claire, "newer-hash".into(), None, audit).await.expect("reset");
    assert!(store.session(&here).expect("read").is_none());
    assert!(store.session(&theirs).expect("read").is_some());
}

#[tokio::test]
async fn typed_alert_kinds_and_audit_actions_are_stored_as_their_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let alert = Alert::new(AlertKind::DrillFailed, "drill", "the restore drill failed", Millis(7));
    store.raise_alert(alert).await.expect("raise");
    let alerts = store.alerts().expect("alerts");
    let shown = serde_json::to_value(&alerts[0]).expect("json");
    assert_eq!(shown["kind"], "drill-failed");
    assert_eq!(shown["subject"], "drill");

    let draft = AuditDraft::new(Millis(8), "uid 0", "admin socket", AuditAction::Revoke, "keys of a@relay.test", "");
    assert_eq!(serde_json::to_value(&draft).expect("json")["action"], "revoke");
    store.audit(draft.clone()).await.expect("audit");
    assert_eq!(store.audit_entries(Millis(0), Millis(9)).expect("entries")[0].entry, draft);
    assert_eq!(store.audit_verify().expect("verify"), (1, Vec::new()));
}

/// Each message's checks read an account's figures and its certificates' leading fields in
/// place of the whole records: what they read must be what the whole records hold.
#[tokio::test]
async fn the_submission_checks_read_the_same_figures_and_keys_as_the_whole_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let address = Address::parse("figures@relay.test").expect("address");
    // Every figure a value no other field of the record holds, so that fields read out of
    // place show.
    let new = NewAccount { created_at: Millis(123), ..new_account(address.as_str(), 1_000) };
    let account = store.create_account(new).await.expect("create");
    for _ in 0..2 {
        let sealed = store.seal([7; 350]).expect("seal");
        store.accept(address.clone(), vec![account], sealed, Millis(5)).await.expect("accept");
    }
    store.record_collection(account, Millis(9)).await.expect("collection");
    store.update_state(account, StateChange::QuotaWarned { percent: 60 }, None).await.expect("state");

    let whole = store.account(account).expect("read").expect("exists");
    let figures = MailboxFigures {
        id: whole.id,
        created_at: whole.created_at,
        quota_bytes: whole.quota_bytes,
        used_bytes: whole.used_bytes,
        last_collection: whole.last_collection,
    };
    assert_eq!(whole.figures(), figures, "what the accept returns takes the same fields");
    assert_eq!(
        (whole.id, whole.created_at, whole.used_bytes, whole.message_count, whole.next_uid, whole.last_collection),
        (AccountId(1), Millis(123), 700, 2, 3, Some(Millis(9))),
        "the figures all differ"
    );
    let state = store.account_state(account).expect("state");
    assert_eq!(state.quota_warned_percent, 60);
    assert_eq!(store.recipient_figures(&address).expect("read"), Some((figures, state.clone())));
    assert_eq!(store.mailbox_figures(account).expect("read"), Some((figures, state)));
    let stranger = Address::parse("nobody@relay.test").expect("address");
    assert_eq!(store.recipient_figures(&stranger).expect("read"), None);
    assert_eq!(store.mailbox_figures(AccountId(99)).expect("read"), None);

    let mut editions = Vec::new();
    for edition in 1..=2u8 {
        let record = CertificateRecord {
            account,
            edition: u32::from(edition),
            fingerprint: Fingerprint::from_bytes(&[edition; 20]),
            created_at: Millis(10),
            expires_at: Millis(1_000),
            revoked: (edition == 1).then_some(Revocation { at: Millis(20), reason: RevocationReason::Lost }),
            encryption_keys: vec![vec![edition; 20], vec![edition + 10; 32]],
            public: vec![edition; 1_500],
            prepared_revocations: vec![
                PreparedRevocation { reason: RevocationReason::Compromised, signature: vec![1; 120] },
                PreparedRevocation { reason: RevocationReason::Lost, signature: vec![2; 120] },
            ],
        };
        let audit = AuditDraft::new(Millis(11), "uid 0", "admin socket", AuditAction::Issue, "keys", "");
        store.put_certificate(record.clone(), audit).await.expect("publish");
        editions.push(record);
    }
    let keys: Vec<CertificateKeys> = editions.iter().map(CertificateRecord::keys).collect();
    assert_eq!(store.certificate_keys(account).expect("read"), keys);
    assert_eq!(keys[0].status(Millis(30)), editions[0].status(Millis(30)));
    assert_eq!(keys[1].status(Millis(30)), CertificateStatus::Valid);
}

#[tokio::test]
async fn a_certificate_is_found_by_its_fingerprint_and_goes_with_its_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let account = store.create_account(new_account("keys@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create");
    let raw = [0xab; 20];
    let record = CertificateRecord {
        account,
        edition: 1,
        fingerprint: Fingerprint::from_bytes(&raw),
        created_at: Millis(1),
        expires_at: Millis(1_000),
        revoked: None,
        encryption_keys: Vec::new(),
        public: b"public key".to_vec(),
        prepared_revocations: Vec::new(),
    };
    let audit = AuditDraft::new(Millis(2), "uid 0", "admin socket", AuditAction::Issue, "keys of keys@relay.test", "");
    store.put_certificate(record.clone(), audit.clone()).await.expect("publish");
    assert_eq!(store.certificate_by_fingerprint(&raw).expect("read"), Some(record.clone()));
    assert_eq!(store.certificate_fingerprints().expect("read"), vec![raw.to_vec()]);
    assert_eq!(store.certificates(account).expect("read"), vec![record]);
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new());

    store.update_state(account, StateChange::Close { at: Millis(3) }, None).await.expect("close");
    store.delete_account(account, Millis(4), audit).await.expect("delete");
    assert_eq!(store.certificate_by_fingerprint(&raw).expect("read"), None);
    assert!(store.certificate_fingerprints().expect("read").is_empty());
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new());
}

#[tokio::test]
async fn a_recipients_flags_are_kept_per_mailbox_and_go_with_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let a = store.create_account(new_account("a@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create a");
    let b = store.create_account(new_account("b@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create b");
    let sender = Address::parse("a@relay.test").expect("address");
    let (message, _) =
        store.accept(sender, vec![a, b], store.seal(b"x").expect("seal"), Millis(7_000)).await.expect("accept");
    let seen = MessageFlags { seen: true, ..MessageFlags::default() };
    let deleted = MessageFlags { seen: true, deleted: true, ..MessageFlags::default() };
    store.set_flags(a, vec![(Uid(1), deleted), (Uid(9), seen)]).await.expect("flags of a");
    store.set_flags(b, vec![(Uid(1), seen)]).await.expect("flags of b");
    let shown = store.imap_mailbox(a).expect("mailbox a");
    assert_eq!(
        shown,
        vec![ImapEntry { uid: Uid(1), message, size: 1, accepted_at: Millis(7_000), flags: deleted }],
        "uid 9 is not in the mailbox: nothing kept for it"
    );
    assert_eq!(store.imap_mailbox(b).expect("mailbox b")[0].flags, seen, "each recipient its own");
    // Clearing every flag keeps nothing; expunging takes the flags with the entry.
    store.set_flags(b, vec![(Uid(1), MessageFlags::default())]).await.expect("clear");
    assert!(store.imap_mailbox(b).expect("mailbox b")[0].flags.is_empty());
    store.expunge(a, vec![Uid(1)], Millis(8_000)).await.expect("expunge");
    assert!(store.imap_mailbox(a).expect("mailbox a").is_empty());
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new());
    for byte in 0..=u8::MAX {
        let flags = MessageFlags::from_byte(byte);
        assert_eq!(MessageFlags::from_byte(flags.to_byte()), flags);
    }
}

#[tokio::test]
async fn accounts_are_read_a_page_at_a_time_in_id_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(store.create_account(new_account(&format!("dr.{i}@relay.test"), 1 << 20)).await.expect("create"));
    }
    let mut after = None;
    let mut pages = Vec::new();
    loop {
        let page = store.accounts_page(after, 2).expect("page");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        pages.push(page.iter().map(|account| account.id).collect::<Vec<_>>());
    }
    assert_eq!(pages, vec![created[0..2].to_vec(), created[2..4].to_vec(), created[4..].to_vec()]);
    assert_eq!(store.accounts_page(None, 10).expect("page").len(), 5, "a page larger than the table holds all");
}

/// A new message's mailbox entries are arrivals until they are folded into the mailboxes'
/// index: a mailbox must read the same wherever its entries lie, in uid order; a write to
/// a mailbox folds that mailbox's arrivals first; the writer folds them all once there
/// are `ARRIVALS_FOLD_AT`, counting from the store's open. A recipient named twice is
/// refused.
#[tokio::test]
async fn a_mailbox_reads_the_same_before_and_after_its_arrivals_are_folded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let a = store.create_account(new_account("a@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create a");
    let b = store.create_account(new_account("b@relay.test", DEFAULT_QUOTA_BYTES)).await.expect("create b");
    let sender = Address::parse("a@relay.test").expect("address");
    let accept = |to: Vec<AccountId>, at: u64| {
        let store = store.clone();
        let sender = sender.clone();
        async move { store.accept(sender, to, store.seal(vec![b'm'; 100]).expect("seal"), Millis(at)).await }
    };
    let uids = |account| -> Vec<u32> { store.mailbox(account).expect("mailbox").iter().map(|e| e.uid.0).collect() };
    let arrivals = || store.stats().expect("stats").arrivals;

    let twice = accept(vec![a, b, a], 1).await;
    assert!(matches!(&twice, Err(StoreError::Refused(why)) if why.contains("twice")), "{twice:?}");
    let (first, _) = accept(vec![a, b], 1).await.expect("to a and b");
    accept(vec![a], 2).await.expect("to a");
    assert_eq!(arrivals(), 3);
    assert_eq!((uids(a), uids(b)), (vec![1, 2], vec![1]));

    // Flags fold b's arrival; its next message arrives after the folded entry.
    let seen = MessageFlags { seen: true, ..MessageFlags::default() };
    store.set_flags(b, vec![(Uid(1), seen)]).await.expect("flags");
    assert_eq!(arrivals(), 2, "b's arrival folded");
    accept(vec![b], 3).await.expect("to b");
    assert_eq!(uids(b), vec![1, 2], "folded, then arrived");
    let shown = store.imap_mailbox(b).expect("imap");
    assert_eq!((shown[0].message, shown[0].flags, shown[1].flags), (first, seen, MessageFlags::default()));

    // An expunge folds a's arrivals and finds the entry among them.
    assert_eq!(store.expunge(a, vec![Uid(1)], Millis(4)).await.expect("expunge").erased, 0, "b holds it");
    assert_eq!((uids(a), arrivals()), (vec![2], 1));
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new());

    // Reopened with one arrival: it counts, so the fold comes exactly at the mark.
    store.close();
    drop(store);
    let store = open(dir.path());
    let arrivals = || store.stats().expect("stats").arrivals;
    assert_eq!(arrivals(), 1);
    for at in 0..ARRIVALS_FOLD_AT - 2 {
        store
            .accept(sender.clone(), vec![a], store.seal(vec![b'n'; 100]).expect("seal"), Millis(10 + at))
            .await
            .expect("to a");
    }
    assert_eq!(arrivals(), ARRIVALS_FOLD_AT - 1);
    store.accept(sender.clone(), vec![a], store.seal(b"last").expect("seal"), Millis(9_999)).await.expect("to a");
    // The writer folds right after answering, before it takes the next write.
    store.set_flags(b, Vec::new()).await.expect("a write after the fold");
    assert_eq!(arrivals(), 0, "all folded once the mark was reached");
    let entries = store.mailbox(a).expect("mailbox");
    assert_eq!(entries.len() as u64, ARRIVALS_FOLD_AT);
    assert!(entries.windows(2).all(|w| w[0].uid < w[1].uid), "uids in order");
    assert_eq!(entries.last().map(|e| (e.uid, e.size)), Some((Uid(ARRIVALS_FOLD_AT as u32 + 1), 4)));
    assert_eq!(store.mailbox(b).expect("b").iter().map(|e| e.uid.0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(store.account(a).expect("read").expect("a").message_count, ARRIVALS_FOLD_AT);
    assert_eq!(store.fsck().expect("fsck"), Vec::<String>::new());
}
