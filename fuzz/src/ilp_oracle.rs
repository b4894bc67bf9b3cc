//! Oracles for the `ilp` parsers of untrusted input.
//!
//! This file is shared: the fuzz targets call it through the `ferroloop_fuzz` library, and
//! `crates/ilp/tests/fuzz_corpus.rs` includes it with `#[path]` to replay the committed seeds
//! under a plain `cargo test`. It may therefore only use the `ilp` crate and `ilp`'s own
//! dependencies, and every function in it must be used by that test.

use ilp::base64url::MAX_ILP_PACKET_CHARS;
use ilp::packet::MAX_DATA_LEN;
use ilp::{Condition, Fulfilment, Packet, PacketType};

/// `ilp_packet`: [`Packet::decode`] over arbitrary bytes.
///
/// Never panics, and whatever decodes re-encodes to exactly the same bytes (the codec is strict
/// canonical OER, so each packet has one encoding). The base64url form of a decoded packet
/// parses back to the same packet.
pub fn packet(data: &[u8]) {
    let Ok(packet) = Packet::decode(data) else {
        return;
    };
    assert_eq!(
        packet.encode(),
        data,
        "a decoded {:?} must re-encode to the input bytes",
        packet.packet_type()
    );
    assert!(packet.data().len() <= MAX_DATA_LEN);
    let text = packet.to_base64url();
    // The largest packets do not fit in an FSPIOP `ilpPacket` string; that refusal is correct.
    if text.len() <= MAX_ILP_PACKET_CHARS {
        assert_eq!(Packet::from_base64url(&text).as_ref(), Ok(&packet));
    }
}

/// `ilp_base64`: the FSPIOP string forms (`ilpPacket`, `condition`, `fulfilment`) over
/// arbitrary UTF-8 text; other byte strings are skipped, as they cannot arrive in a JSON
/// string.
///
/// Never panics. Decoding accepts only the canonical base64url of a value (the `ilpPacket`
/// form may carry its canonical `=` padding), so whatever parses re-encodes to the input
/// without padding. A Transaction comes only out of a Payment or a Prepare and is a JSON object.
pub fn base64(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let packet = Packet::from_base64url(text);
    if let Ok(packet) = &packet {
        assert_eq!(packet.to_base64url(), text.trim_end_matches('='));
    }
    if let Ok(transaction) = ilp::transaction_from_ilp_packet(text) {
        assert!(transaction.is_object());
        let carrier = packet.as_ref().map(Packet::packet_type);
        assert!(
            matches!(carrier, Ok(PacketType::Payment | PacketType::Prepare)),
            "a Transaction came out of {carrier:?}"
        );
    }
    if let Ok(transaction) = ilp::terms::transaction_from_data(data) {
        assert!(transaction.is_object());
    }
    if let Ok(condition) = Condition::from_base64url(text) {
        assert_eq!(condition.to_base64url(), text);
    }
    if let Ok(fulfilment) = Fulfilment::from_base64url(text) {
        assert_eq!(fulfilment.to_base64url(), text);
        assert!(fulfilment.condition().is_fulfilled_by(&fulfilment));
    }
}
