//! OpenPGP packet framing (RFC 9580 §4.2), read by hand for one question only: does a
//! message end with one encrypted data packet (SEIPD, version 1 or 2), preceded by session
//! key, marker and padding packets alone? Where it does, sequoia reads the packets before
//! it and the encrypted data is never walked; where it does not, or where anything is in
//! doubt, the answer is "no", and sequoia reads the whole message (`super::encryption_packets`).
//!
//! Hand-written because sequoia's parser offers no way to step over a packet without
//! reading its body: it streams the encrypted data through its buffered reader and hashes
//! it (for packet equality), most of a 5 KiB document's walk. The rules kept are sequoia's
//! own for this packet (`Header::valid`, `SEIP::parse`): a definite length of at least 37
//! bytes, or partial lengths whose first is at least 512 bytes, or (legacy format) an
//! indeterminate one; version 1, or version 2 with its algorithms, a chunk size octet of at
//! most 16 and its 32 bytes of salt.

/// Packet tags (RFC 9580 §5).
const TAG_PKESK: u8 = 1;
const TAG_SKESK: u8 = 3;
const TAG_MARKER: u8 = 10;
const TAG_SEIPD: u8 = 18;
const TAG_PADDING: u8 = 21;

/// The least body a SEIPD packet with a definite length may have (sequoia's rule: its
/// version, a cipher block, the quick check, the smallest literal packet and the MDC).
const SEIPD_BODY_MIN: usize = 1 + 8 + 2 + 6 + 20;

/// The largest chunk size octet of a SEIPD v2 packet (RFC 9580 §5.13.2: chunks of 4 MiB).
const SEIPD_CHUNK_SIZE_MAX: u8 = 16;

/// The least first chunk of a partial-length body (RFC 9580 §4.2.1.4).
const FIRST_PARTIAL_MIN: usize = 512;

/// A body's length, as its header gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Length {
    Full(usize),
    /// The first chunk's length; more chunks follow, each with its own length.
    Partial(usize),
    /// To the end of the data (legacy format only).
    Indeterminate,
}

impl Length {
    /// The length of a body that ends where its header says.
    fn definite(self) -> Option<usize> {
        match self {
            Length::Full(len) => Some(len),
            Length::Partial(_) | Length::Indeterminate => None,
        }
    }
}

/// A packet header: its tag, its body's length, and its own size in bytes.
#[derive(Debug, PartialEq)]
struct Header {
    tag: u8,
    length: Length,
    size: usize,
}

/// Where the last packet of `binary` starts, when it is a SEIPD packet that ends
/// exactly at the end of `binary` and only PKESK, SKESK, marker and padding packets with
/// definite lengths stand before it; `None` otherwise.
pub(super) fn lone_encrypted_data_at_end(binary: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < binary.len() {
        let header = header(&binary[at..])?;
        let body = at + header.size;
        match (header.tag, header.length) {
            (TAG_PKESK | TAG_SKESK | TAG_MARKER | TAG_PADDING, Length::Full(len)) => {
                at = body.checked_add(len).filter(|&end| end <= binary.len())?;
            }
            (TAG_SEIPD, length) => {
                let end = data_end(binary, body, length)?;
                // A partial body's first chunk (512 bytes at least) holds the whole header.
                let readable = match &binary[body..end] {
                    [1, ..] => true,
                    [2, _cipher, _aead, chunk_size, salt @ ..] => {
                        *chunk_size <= SEIPD_CHUNK_SIZE_MAX && salt.len() >= 32
                    }
                    _ => false,
                };
                return (readable && end == binary.len()).then_some(at);
            }
            _ => return None,
        }
    }
    None
}

/// Where an encrypted data packet's body that starts at `body` ends, its chunks followed;
/// `None` when its length breaks the rules above or runs past the data.
fn data_end(binary: &[u8], body: usize, length: Length) -> Option<usize> {
    let end = match length {
        Length::Full(len) if len >= SEIPD_BODY_MIN => body.checked_add(len)?,
        Length::Full(_) => return None,
        Length::Indeterminate => binary.len(),
        Length::Partial(first) if first >= FIRST_PARTIAL_MIN => {
            let mut at = body.checked_add(first)?;
            loop {
                let (length, size) = new_format_length(binary.get(at..)?)?;
                at += size;
                match length {
                    Length::Partial(len) => at = at.checked_add(len)?,
                    last => break at.checked_add(last.definite()?)?,
                }
                if at > binary.len() {
                    return None;
                }
            }
        }
        Length::Partial(_) => return None,
    };
    (end <= binary.len()).then_some(end)
}

/// Reads the packet header at the start of `bytes` (RFC 9580 §4.2: the OpenPGP format and
/// the legacy one); `None` when it is not one, or is cut short.
fn header(bytes: &[u8]) -> Option<Header> {
    let first = *bytes.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    if first & 0x40 != 0 {
        let (length, size) = new_format_length(&bytes[1..])?;
        return Some(Header { tag: first & 0x3f, length, size: 1 + size });
    }
    let tag = (first >> 2) & 0x0f;
    let octets = match first & 0x03 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => return Some(Header { tag, length: Length::Indeterminate, size: 1 }),
    };
    let len = big_endian(bytes.get(1..1 + octets)?);
    Some(Header { tag, length: Length::Full(len), size: 1 + octets })
}

/// An OpenPGP-format body length (RFC 9580 §4.2.1) and how many bytes it took.
fn new_format_length(bytes: &[u8]) -> Option<(Length, usize)> {
    let first = usize::from(*bytes.first()?);
    Some(match first {
        0..=191 => (Length::Full(first), 1),
        192..=223 => (Length::Full(((first - 192) << 8) + usize::from(*bytes.get(1)?) + 192), 2),
        224..=254 => (Length::Partial(1 << (first & 0x1f)), 1),
        _ => (Length::Full(big_endian(bytes.get(1..5)?)), 5),
    })
}

/// A length written on one to four octets, most significant first.
fn big_endian(octets: &[u8]) -> usize {
    octets.iter().fold(0, |len, &byte| len << 8 | usize::from(byte))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn lengths_in_every_form() {
        assert_eq!(new_format_length(&[100]), Some((Length::Full(100), 1)));
        assert_eq!(new_format_length(&[192, 0]), Some((Length::Full(192), 2)));
        assert_eq!(new_format_length(&[223, 255]), Some((Length::Full(8383), 2)));
        assert_eq!(new_format_length(&[224]), Some((Length::Partial(1), 1)));
        assert_eq!(new_format_length(&[233]), Some((Length::Partial(512), 1)));
        assert_eq!(new_format_length(&[255, 0, 1, 0, 0]), Some((Length::Full(65536), 5)));
        assert_eq!(new_format_length(&[255, 0, 1]), None, "cut short");
        // Legacy: PKESK with a one-octet length, SKESK with two, indeterminate.
        assert_eq!(header(&[0x84, 12]), Some(Header { tag: 1, length: Length::Full(12), size: 2 }));
        assert_eq!(header(&[0x8d, 1, 2]), Some(Header { tag: 3, length: Length::Full(258), size: 3 }));
        assert_eq!(header(&[0x87]), Some(Header { tag: 1, length: Length::Indeterminate, size: 1 }));
        assert_eq!(header(&[0x0c, 1]), None, "not a packet header");
    }

    /// A PKESK of `len` bytes (its contents do not matter here), then a SEIPD v1 packet.
    fn message(pkesk_len: u8, seipd: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0xc1, pkesk_len];
        bytes.extend(std::iter::repeat_n(3, pkesk_len.into()));
        bytes.extend_from_slice(seipd);
        bytes
    }

    #[test]
    fn the_encrypted_data_must_end_the_message_alone() {
        let mut seipd = vec![0xd2, 40, 1];
        seipd.extend([0x55; 39]);
        let at = 2 + 10;
        assert_eq!(lone_encrypted_data_at_end(&message(10, &seipd)), Some(at));
        let mut trailing = message(10, &seipd);
        trailing.push(0);
        assert_eq!(lone_encrypted_data_at_end(&trailing), None, "a byte after it");
        let short = message(10, &seipd[..seipd.len() - 1]);
        assert_eq!(lone_encrypted_data_at_end(&short), None, "cut short");
        let mut version_2 = seipd.clone();
        version_2[2..6].copy_from_slice(&[2, 9, 2, 16]); // AES-256, OCB, chunks of 4 MiB
        assert_eq!(lone_encrypted_data_at_end(&message(10, &version_2)), Some(at), "version 2");
        version_2[5] = 17;
        assert_eq!(lone_encrypted_data_at_end(&message(10, &version_2)), None, "a chunk size out of range");
        let mut version_3 = seipd.clone();
        version_3[2] = 3;
        assert_eq!(lone_encrypted_data_at_end(&message(10, &version_3)), None, "version 3: sequoia's to read");
        let tiny = [0xd2, 36, 1].into_iter().chain([0x55; 35]).collect::<Vec<u8>>();
        assert_eq!(lone_encrypted_data_at_end(&message(10, &tiny)), None, "under 37 bytes");
        // A literal data packet (tag 11) before it: not a session key.
        let mut literal = vec![0xcb, 6, b'b', 0, 0, 0, 0, 0];
        literal.extend_from_slice(&seipd);
        assert_eq!(lone_encrypted_data_at_end(&literal), None);
    }

    #[test]
    fn partial_lengths_are_followed_to_the_last_chunk() {
        // First chunk of 512 bytes (the version among them), then 1024, then 7 definite.
        let mut seipd = vec![0xd2, 233, 1];
        seipd.extend([0x55; 511]);
        seipd.push(234);
        seipd.extend([0x55; 1024]);
        seipd.push(7);
        seipd.extend([0x55; 7]);
        assert_eq!(lone_encrypted_data_at_end(&message(4, &seipd)), Some(6));
        assert_eq!(lone_encrypted_data_at_end(&message(4, &seipd[..seipd.len() - 1])), None, "last chunk cut");
        let mut small_first = vec![0xd2, 232, 1];
        small_first.extend([0x55; 255]);
        small_first.push(0);
        assert_eq!(lone_encrypted_data_at_end(&message(4, &small_first)), None, "first chunk under 512");
    }

    /// A 100 KiB document encrypted by sequoia to a certificate with `features`.
    fn sequoia_message(features: sequoia_openpgp::types::Features) -> Vec<u8> {
        use std::io::Write;

        use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
        use sequoia_openpgp::policy::StandardPolicy;
        use sequoia_openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};

        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_features(features)
            .expect("features")
            .add_userid("<b@relay.test>")
            .add_transport_encryption_subkey()
            .generate()
            .expect("certificate");
        let policy = StandardPolicy::new();
        let recipients = cert.keys().with_policy(&policy, None).supported().for_transport_encryption();
        let mut binary = Vec::new();
        let message = Encryptor::for_recipients(Message::new(&mut binary), recipients).build().expect("encryptor");
        let mut message = LiteralWriter::new(message).build().expect("literal");
        message.write_all(&vec![0x5a; 100 * 1024]).expect("write");
        message.finalize().expect("finalize");
        binary
    }

    #[test]
    fn sequoia_s_messages_take_the_two_steps_in_both_versions() {
        use sequoia_openpgp::types::Features;

        for (features, version) in [(Features::empty().set_seipdv1(), 1), (Features::sequoia(), 2)] {
            let binary = sequoia_message(features);
            let start = lone_encrypted_data_at_end(&binary).expect("the encrypted data found at the end");
            assert_eq!(binary[start] & 0x3f, TAG_SEIPD);
            let header = header(&binary[start..]).expect("header");
            assert_eq!(binary[start + header.size], version);
            let keys = super::super::encryption_packets(&binary).expect("accepted");
            assert_eq!(keys.len(), 1);
            let whole = super::super::sequoia_walk(&binary).and_then(super::super::Walked::message_keys);
            assert_eq!(Ok(keys), whole);
        }
    }

    /// How a packet's header writes its length.
    #[derive(Debug, Clone, Copy)]
    enum Form {
        /// OpenPGP format, the shortest definite length.
        Shortest,
        /// OpenPGP format, the five-octet length.
        FiveOctets,
        /// Legacy format, the shortest definite length (tags under 16).
        Legacy,
        /// Legacy format, to the end of the data.
        LegacyIndeterminate,
        /// OpenPGP format, chunks of 2^k bytes then a definite last one.
        Partial(u8),
    }

    fn definite(len: usize) -> Vec<u8> {
        match len {
            0..=191 => vec![len as u8],
            192..=8383 => vec![(((len - 192) >> 8) + 192) as u8, (len - 192) as u8],
            _ => [vec![255], (len as u32).to_be_bytes().to_vec()].concat(),
        }
    }

    fn encode(tag: u8, body: &[u8], form: Form) -> Vec<u8> {
        let mut out = Vec::new();
        match form {
            Form::Legacy if tag < 16 => {
                let octets: &[u8] = match body.len() {
                    0..=255 => &[body.len() as u8],
                    256..=65535 => &(body.len() as u16).to_be_bytes(),
                    _ => &(body.len() as u32).to_be_bytes(),
                };
                let kind = match octets.len() {
                    1 => 0,
                    2 => 1,
                    _ => 2,
                };
                out.push(0x80 | tag << 2 | kind);
                out.extend_from_slice(octets);
                out.extend_from_slice(body);
            }
            Form::LegacyIndeterminate if tag < 16 => {
                out.push(0x80 | tag << 2 | 3);
                out.extend_from_slice(body);
            }
            Form::FiveOctets => {
                out.push(0xc0 | tag);
                out.push(255);
                out.extend_from_slice(&(body.len() as u32).to_be_bytes());
                out.extend_from_slice(body);
            }
            Form::Partial(k) if body.len() > 1 << k => {
                out.push(0xc0 | tag);
                let mut rest = body;
                while rest.len() > 1 << k {
                    out.push(224 + k);
                    out.extend_from_slice(&rest[..1 << k]);
                    rest = &rest[1 << k..];
                }
                out.extend(definite(rest.len()));
                out.extend_from_slice(rest);
            }
            _ => {
                out.push(0xc0 | tag);
                out.extend(definite(body.len()));
                out.extend_from_slice(body);
            }
        }
        out
    }

    /// The PKESK packets' bodies of a message gpg encrypted to two keys.
    fn fixture_session_keys() -> Vec<Vec<u8>> {
        let bytes: &[u8] = include_bytes!("../../tests/fixtures/encrypted.gpg");
        let mut keys = Vec::new();
        let mut at = 0;
        while let Some(found) = header(&bytes[at..]) {
            let body = at + found.size;
            let Length::Full(len) = found.length else { break };
            if found.tag == TAG_PKESK {
                keys.push(bytes[body..body + len].to_vec());
            }
            at = body + len;
        }
        assert!(!keys.is_empty(), "the fixture's PKESK packets");
        keys
    }

    fn form() -> impl Strategy<Value = Form> {
        prop_oneof![
            Just(Form::Shortest),
            Just(Form::FiveOctets),
            Just(Form::Legacy),
            Just(Form::LegacyIndeterminate),
            (0u8..5).prop_map(|k| Form::Partial(k + 8)),
        ]
    }

    /// A damage done to the message after it is written.
    #[derive(Debug, Clone)]
    enum Damage {
        None,
        Flip(usize, u8),
        Cut(usize),
        Append(Vec<u8>),
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            3 => Just(Damage::None),
            2 => (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Damage::Flip(at, bits)),
            1 => any::<usize>().prop_map(Damage::Cut),
            1 => proptest::collection::vec(any::<u8>(), 1..8).prop_map(Damage::Append),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6000, ..ProptestConfig::default() })]

        /// Whatever the packets, their headers' forms and any damage, the two-step reading
        /// gives sequoia's verdict on the whole message: the same recipients, or the same
        /// refusal.
        #[test]
        fn the_two_steps_agree_with_sequoia_reading_the_whole_message(
            session_keys in proptest::collection::vec((any::<prop::sample::Index>(), form()), 0..3),
            marker in proptest::option::of(form()),
            padding in proptest::option::of((1usize..40, form())),
            literal_before in any::<bool>(),
            version in prop_oneof![4 => Just(1u8), 4 => Just(2u8), 1 => Just(9u8)],
            chunk_size in 0u8..20,
            body_len in 20usize..3000,
            data_form in form(),
            damage in damage(),
        ) {
            let pkesks = fixture_session_keys();
            let mut message = Vec::new();
            if let Some(form) = marker {
                message.extend(encode(TAG_MARKER, b"PGP", form));
            }
            for (index, form) in &session_keys {
                message.extend(encode(TAG_PKESK, &pkesks[index.index(pkesks.len())], *form));
            }
            if let Some((len, form)) = padding {
                message.extend(encode(TAG_PADDING, &vec![0x42; len], form));
            }
            if literal_before {
                message.extend(encode(11, b"b\0\0\0\0\0clear", Form::Shortest));
            }
            let mut body: Vec<u8> = std::iter::once(version).chain((1..body_len).map(|i| (i * 7) as u8)).collect();
            if version == 2 {
                body[3] = chunk_size;
            }
            message.extend(encode(TAG_SEIPD, &body, data_form));
            match damage {
                Damage::None => {}
                Damage::Flip(at, bits) => {
                    let at = at % message.len();
                    message[at] ^= bits;
                }
                Damage::Cut(at) => message.truncate(at % message.len()),
                Damage::Append(bytes) => message.extend(bytes),
            }
            let whole = super::super::sequoia_walk(&message).and_then(super::super::Walked::message_keys);
            prop_assert_eq!(super::super::encryption_packets(&message), whole);
        }
    }
}
