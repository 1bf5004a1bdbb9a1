//! The store's reads: each runs in its own short read transaction on the caller's thread,
//! through the table family that holds the records.

use super::Store;
use crate::tables::{accounts, alerts, audit, certificates, connections, directory, messages, monitor, notices};
use crate::tables::{outbound, portal, trails, trust};
use crate::types::*;
use crate::{ConnectionTally, DirectoryEntry, StoreError};

/// How many accounts [`Store::account_pages`] reads at once.
const ACCOUNTS_PER_PAGE: usize = 256;

impl Store {
    pub fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.reading(|t, txn| accounts::get(t, txn, id))
    }

    pub fn account_by_address(&self, address: &Address) -> Result<Option<Account>, StoreError> {
        self.reading(|t, txn| accounts::by_address(t, txn, address))
    }

    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.reading(accounts::all)
    }

    /// Up to `limit` accounts in id order after `after` (from the first when `None`), each
    /// page in its own read transaction: a walk over every account that holds one page at a
    /// time (100,000 accounts read at once are 40 MB).
    pub fn accounts_page(&self, after: Option<AccountId>, limit: usize) -> Result<Vec<Account>, StoreError> {
        self.reading(|t, txn| accounts::page(t, txn, after, limit))
    }

    /// Every account, a page of 256 at a time ([`Store::accounts_page`]); a failed
    /// read ends the walk after its error.
    pub fn account_pages(&self) -> impl Iterator<Item = Result<Vec<Account>, StoreError>> + '_ {
        let mut after = None;
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            match self.accounts_page(after, ACCOUNTS_PER_PAGE) {
                Ok(page) => {
                    after = Some(page.last()?.id);
                    Some(Ok(page))
                }
                Err(error) => {
                    failed = true;
                    Some(Err(error))
                }
            }
        })
    }

    /// The mailbox's messages in uid order.
    pub fn mailbox(&self, account: AccountId) -> Result<Vec<MailboxEntry>, StoreError> {
        self.reading(|t, txn| messages::mailbox(t, txn, account))
    }

    /// The mailbox as IMAP shows it: each entry with when its message was accepted and the
    /// recipient's flags.
    pub fn imap_mailbox(&self, account: AccountId) -> Result<Vec<ImapEntry>, StoreError> {
        self.reading(|t, txn| messages::imap_mailbox(t, txn, account))
    }

    /// Opens a stored message: reads its sealed bytes and wrapped key, unseals.
    pub fn read_message(&self, id: MessageId) -> Result<Vec<u8>, StoreError> {
        self.reading(|t, txn| {
            let (record, sealed) = messages::sealed(t, txn, id)?;
            self.shared.master.open_message(&record.wrapped_key, sealed)
        })
    }

    /// The connection log, oldest first, at most `limit` lines from the end.
    pub fn connection_log(&self, limit: usize) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.reading(|t, txn| connections::tail(t, txn, limit))
    }

    /// The connection log's tallies of sessions that never logged in (one per minute,
    /// protocol and source address), oldest first, at most `limit` from the end.
    pub fn connection_tallies(&self, limit: usize) -> Result<Vec<ConnectionTally>, StoreError> {
        self.reading(|t, txn| connections::tallies(t, txn, limit))
    }

    /// A connection log line's records for one account, newest first, at most `limit`.
    /// The sessions an address logged in since `since` (an account's creation: an address
    /// given again to someone else does not show its previous holder's), at most `limit`,
    /// newest first.
    pub fn connections_of(
        &self,
        address: &str,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.reading(|t, txn| connections::of(t, txn, address, since, limit))
    }

    pub fn account_state(&self, account: AccountId) -> Result<AccountState, StoreError> {
        self.reading(|t, txn| monitor::state(t, txn, account))
    }

    /// The mailbox figures and monitor state of the account at this address, read together
    /// in one transaction: what a recipient check needs.
    pub fn recipient_figures(&self, address: &Address) -> Result<Option<(MailboxFigures, AccountState)>, StoreError> {
        self.reading(|t, txn| match accounts::id_by_address(t, txn, address)? {
            Some(id) => accounts::figures_with_state(t, txn, id),
            None => Ok(None),
        })
    }

    /// An account's mailbox figures and monitor state, read together in one transaction.
    pub fn mailbox_figures(&self, id: AccountId) -> Result<Option<(MailboxFigures, AccountState)>, StoreError> {
        self.reading(|t, txn| accounts::figures_with_state(t, txn, id))
    }

    /// Every notice waiting, with its sequence number, oldest first.
    pub fn notices(&self) -> Result<Vec<(u64, Notice)>, StoreError> {
        self.reading(notices::all)
    }

    /// The outbound queue, oldest first, each record with its sequence number.
    pub fn outbound(&self) -> Result<Vec<(u64, OutboundRecord)>, StoreError> {
        self.reading(outbound::all)
    }

    /// One record of the outbound queue, if it still waits.
    pub fn outbound_entry(&self, seq: u64) -> Result<Option<OutboundRecord>, StoreError> {
        self.reading(|t, txn| outbound::get(t, txn, seq))
    }

    /// What federation added to a message's trail, if anything.
    pub fn federation_trail(&self, message: MessageId) -> Result<Option<FederationTrail>, StoreError> {
        self.reading(|t, txn| outbound::trail(t, txn, message))
    }

    /// A message's trail, while retention keeps it.
    pub fn trail(&self, message: MessageId) -> Result<Option<MessageTrail>, StoreError> {
        self.reading(|t, txn| trails::get(t, txn, message))
    }

    /// The trails of the messages an address sent or received (metadata only) since
    /// `since` (an account's creation, as for [`Store::connections_of`]), at most `limit`,
    /// newest first.
    pub fn trails_involving(
        &self,
        address: &str,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<MessageTrail>, StoreError> {
        self.reading(|t, txn| trails::involving(t, txn, address, since, limit))
    }

    /// Audit entries made in `[from, to)`, oldest first.
    pub fn audit_entries(&self, from: Millis, to: Millis) -> Result<Vec<AuditEntry>, StoreError> {
        self.reading(|t, txn| audit::entries(t, txn, from, to))
    }

    /// Walks the audit chain from its checkpoint; returns what is wrong (empty when intact)
    /// and how many entries were checked.
    pub fn audit_verify(&self) -> Result<(u64, Vec<String>), StoreError> {
        self.reading(audit::verify)
    }

    /// Every certificate edition of an account, oldest first.
    pub fn certificates(&self, account: AccountId) -> Result<Vec<CertificateRecord>, StoreError> {
        self.reading(|t, txn| certificates::of(t, txn, account))
    }

    /// What the submission's key check needs of every edition of an account, oldest first.
    pub fn certificate_keys(&self, account: AccountId) -> Result<Vec<CertificateKeys>, StoreError> {
        self.reading(|t, txn| certificates::keys_of(t, txn, account))
    }

    /// The certificate edition whose primary key has this fingerprint (raw bytes).
    pub fn certificate_by_fingerprint(&self, fingerprint: &[u8]) -> Result<Option<CertificateRecord>, StoreError> {
        self.reading(|t, txn| certificates::by_fingerprint(t, txn, fingerprint))
    }

    /// The primary fingerprints of every published certificate, for searches by key ID.
    pub fn certificate_fingerprints(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.reading(certificates::fingerprints)
    }

    /// An account's directory entry (the default one when none was written).
    pub fn directory_entry(&self, account: AccountId) -> Result<DirectoryEntry, StoreError> {
        self.reading(|t, txn| directory::entry(t, txn, account))
    }

    /// Every account with its directory entry, its monitor state and its certificates, read
    /// in one transaction (one consistent moment).
    pub fn directory_snapshot(&self) -> Result<Vec<DirectoryRecord>, StoreError> {
        self.reading(directory::snapshot)
    }

    pub fn portal(&self, account: AccountId) -> Result<PortalRecord, StoreError> {
        self.reading(|t, txn| portal::record(t, txn, account))
    }

    pub fn session(&self, token_hash: &[u8; 32]) -> Result<Option<WebSession>, StoreError> {
        self.reading(|t, txn| portal::session(t, txn, token_hash))
    }

    /// Every data-protection request, oldest first.
    pub fn requests(&self) -> Result<Vec<RightsRequest>, StoreError> {
        self.reading(portal::requests)
    }

    /// The trust list in force, if one was imported.
    pub fn trust_list(&self) -> Result<Option<TrustListRecord>, StoreError> {
        self.reading(trust::get)
    }

    pub fn terms(&self) -> Result<Option<TermsOfUse>, StoreError> {
        self.reading(portal::terms)
    }

    /// Every alert, oldest first.
    pub fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.reading(alerts::all)
    }
}
