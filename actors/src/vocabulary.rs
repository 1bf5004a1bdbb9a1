//! The store's types as the words of the protocol machines: the machines of
//! `caducee-protocol` are generic over a [`Vocabulary`], and every session here speaks
//! [`StoreVocabulary`].

use caducee_protocol::Vocabulary;
use caducee_storage::{AccountId, Address, MessageId, Uid};

/// Where an accepted recipient's copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A mailbox of this relay.
    Mailbox(AccountId),
    /// A peer operator of the trust space, through the outbound queue.
    Operator,
}

/// Addresses, accounts and messages as the store has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreVocabulary;

impl Vocabulary for StoreVocabulary {
    type Address = Address;
    type Account = AccountId;
    type Recipient = Destination;
    type Message = MessageId;
    type Uid = Uid;

    fn parse_address(text: &str) -> Option<Address> {
        Address::parse(text).ok()
    }

    fn unique_id(uid: Uid) -> String {
        uid.0.to_string()
    }
}
