//! Arbitrary bytes as a frame header and an ack: never a panic; lengths stay
//! within the limit asked for; acks round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_protocol::{frame, Ack};

fuzz_target!(|data: &[u8]| {
    if let [a, b, rest @ ..] = data {
        for max in [1, frame::MAX_ACK_LEN, vantage_protocol::MAX_ENVELOPE_LEN] {
            if let Ok(len) = frame::frame_len([*a, *b], max) {
                assert!(len >= 1 && len <= max);
            }
        }
        if let Ok(ack) = Ack::decode(rest) {
            assert_eq!(Ack::decode(&ack.encode()), Ok(ack));
        }
    }
});
