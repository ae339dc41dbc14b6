//! Arbitrary bytes as a collector certificate: the DER walk that finds the
//! key to pin never panics and only returns a slice of its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_protocol::pin::spki_of_certificate;

fuzz_target!(|data: &[u8]| {
    if let Some(spki) = spki_of_certificate(data) {
        let start = spki.as_ptr() as usize - data.as_ptr() as usize;
        assert!(start + spki.len() <= data.len());
    }
});
