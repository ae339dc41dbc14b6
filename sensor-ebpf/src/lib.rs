//! Empty library target: the XDP program lives in `src/main.rs` (the `sensor` binary).
#![no_std]
