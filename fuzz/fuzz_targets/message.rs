//! Arbitrary bytes as a message: never a panic, and whatever decodes
//! re-encodes to something that decodes to the same message (compared by
//! encoding: a detection's `f32` figures may be NaN, never equal to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_protocol::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        let again = Message::decode(&message.encode()).expect("re-encoded message decodes");
        assert_eq!(again.encode(), message.encode());
    }
});
