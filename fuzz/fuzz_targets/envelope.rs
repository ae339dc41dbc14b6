//! Arbitrary bytes as an envelope: decoding, hashing, verifying and decoding
//! the payload must never panic, and a decoded envelope keeps its exact bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_protocol::{chain_hash, Envelope, Message, PublicKey};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::decode(data) else {
        return;
    };
    assert_eq!(envelope.wire(), data);
    assert_eq!(envelope.hash(), chain_hash(data));
    // No one holds the private half of this key: nothing verifies against it.
    assert!(envelope.verify(&PublicKey([7; 32])).is_err());
    if let Ok(Message::Enrolment(enrolment)) = envelope.message() {
        // What the collector does with an enrolment: check it against the key
        // it names. The seeds are validly signed, so this may succeed; it
        // reaches the signature check itself, and must not panic.
        let _ = envelope.verify(&PublicKey(enrolment.public_key));
    }
});
