//! The Vantage agent as a library: the `vantage` binary is a thin CLI over it,
//! and the integration tests drive the same code.
//!
//! Only [`datapath`] touches aya and the kernel; everything else works on
//! plain data.

pub mod config;
pub mod target;
