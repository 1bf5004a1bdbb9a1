//! What the fuzz targets share: the relay's words as the protocol machines see them, and
//! the cutting of one input into the chunks a network would deliver.
//!
//! Every chunked target reads its input as a [`Chunking`] (one count byte, then one byte per
//! chunk size) followed by the bytes to feed, so that a seed file is a short prefix and a
//! real dialogue.

use arbitrary::{Arbitrary, Unstructured};
use caducee_protocol::Vocabulary;

/// The relay's words: addresses are lower-cased `local@domain`, accounts and messages
/// numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words;

impl Vocabulary for Words {
    type Address = String;
    type Account = u64;
    type Recipient = u64;
    type Message = u64;
    type Uid = u32;

    fn parse_address(text: &str) -> Option<String> {
        let (local, domain) = text.trim().split_once('@')?;
        (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then(|| text.trim().to_ascii_lowercase())
    }

    fn unique_id(uid: u32) -> String {
        uid.to_string()
    }
}

/// How an input is cut on its way in: chunk sizes used round and round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunking {
    sizes: Vec<usize>,
}

impl<'a> Arbitrary<'a> for Chunking {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let count = u.int_in_range(1..=16u8)?;
        let mut sizes = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            sizes.push(usize::from(u.int_in_range(1..=255u8)?));
        }
        Ok(Chunking { sizes })
    }
}

impl Chunking {
    /// `input` cut into pieces of the chunking's sizes.
    pub fn cut<'a>(&'a self, input: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = input;
        self.sizes.iter().cycle().map_while(move |&size| {
            if rest.is_empty() {
                return None;
            }
            let (piece, tail) = rest.split_at(size.min(rest.len()));
            rest = tail;
            Some(piece)
        })
    }
}

/// Splits a fuzz input into its chunking and the bytes to feed.
pub fn chunked(data: &[u8]) -> (Chunking, &[u8]) {
    let mut u = Unstructured::new(data);
    let chunking = Chunking::arbitrary(&mut u).unwrap_or(Chunking { sizes: vec![64] });
    (chunking, u.take_rest())
}
