//! Sealers shared by the wire tests.

use vantage_protocol::{Sealer, SensorKey};

/// A sealer with a small header: epoch 7, from sequence 1.
pub fn small_header_sealer() -> std::result::Result<Sealer, Box<dyn std::error::Error>> {
    Ok(Sealer::new(SensorKey::ephemeral()?, 7, 1, [0; 16]))
}

/// A sealer as on a running sensor: the epoch is Unix seconds (5-byte
/// varint), the sequence in the thousands (2 bytes).
pub fn real_header_sealer() -> std::result::Result<Sealer, Box<dyn std::error::Error>> {
    Ok(Sealer::new(
        SensorKey::ephemeral()?,
        1_795_000_000,
        1_000,
        [0; 16],
    ))
}
