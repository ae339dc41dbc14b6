//! Arbitrary bytes as an envelope: decoding, hashing, verifying and decoding
//! the payload must never panic, and a decoded envelope keeps its exact bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_protocol::{Envelope, PublicKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::decode(data) {
        assert_eq!(envelope.wire(), data);
        let _ = envelope.hash();
        let _ = envelope.message();
        // No key signed fuzzer input.
        assert!(envelope.verify(&PublicKey([7; 32])).is_err());
    }
});
