//! Arbitrary bytes as a frame header and what follows it: reading the header
//! never panics and a length it accepts lies in `1..=max`; an ack decoded
//! from the framed body (or from everything after the header) never panics
//! and round-trips through its encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_protocol::{frame, Ack, MAX_ENVELOPE_LEN};

fn ack_round_trips(bytes: &[u8]) {
    if let Ok(ack) = Ack::decode(bytes) {
        let encoded = ack.encode();
        assert!(encoded.len() <= frame::MAX_ACK_LEN);
        assert_eq!(Ack::decode(&encoded), Ok(ack));
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let header = [*a, *b];
    for max in [0, 1, frame::MAX_ACK_LEN, MAX_ENVELOPE_LEN, usize::MAX] {
        if let Ok(len) = frame::frame_len(header, max) {
            assert!(len >= 1 && len <= max);
            assert_eq!(len, usize::from(u16::from_be_bytes(header)));
        }
    }
    if let Some(body) = frame::frame_len(header, frame::MAX_ACK_LEN)
        .ok()
        .and_then(|len| rest.get(..len))
    {
        ack_round_trips(body);
    }
    ack_round_trips(rest);
});
