//! The Vantage agent as a library: the `vantage` binary is a thin CLI over it,
//! and the integration tests and benchmarks drive the same code.
//!
//! Only [`datapath`] touches aya and the kernel; everything else works on
//! plain data.

pub mod agent;
pub mod agent_state;
pub mod capabilities;
pub mod cli;
pub mod clock;
pub mod config;
pub mod datapath;
pub mod events;
pub mod heartbeat;
pub mod outbox;
pub mod sendlog;
pub mod spool;
pub mod status;
pub mod target;
pub mod uplink;
