//! The words of the machines' unit tests: addresses are lower-cased text with an `@`;
//! accounts, messages and unique ids plain numbers.

use crate::Vocabulary;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Words;

impl Vocabulary for Words {
    type Address = String;
    type Account = u32;
    type Recipient = u32;
    type Message = u64;
    type Uid = u32;

    fn parse_address(text: &str) -> Option<String> {
        text.contains('@').then(|| text.to_ascii_lowercase())
    }

    fn unique_id(uid: u32) -> String {
        uid.to_string()
    }
}
