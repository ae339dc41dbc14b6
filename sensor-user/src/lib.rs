//! The Vantage agent as a library: the `vantage` binary is a thin CLI over
//! it, and the integration tests and benchmarks drive the same code.
//!
//! The layers, each importing only those above it in this list:
//! - [`net`], [`time`], [`config`]: addresses and block targets, the
//!   [`time::Clock`] everything reads time from, the settings;
//! - [`sample`]: what the sensor saw, as plain data ([`sample::Interval`]);
//! - [`visibility`] and [`pipeline`]: pure judgement over intervals, driven
//!   by the time passed in;
//! - [`report`]: presentation of samples and state (no I/O);
//! - [`datapath`]: the only module that touches aya and the kernel;
//! - [`uplink`]: everything that leaves the box, and its disk;
//! - [`agent`]: the daemon wiring datapath -> pipeline -> uplink and files.
//!
//! `unsafe` code lives only in [`datapath`] and the small `sys` module.
#![deny(unsafe_code)]

pub mod agent;
pub mod canary;
pub mod config;
#[allow(
    unsafe_code,
    reason = "reading the kernel's event records and calling statfs/mount for bpffs"
)]
pub mod datapath;
pub mod detect;
pub mod net;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod respond;
pub mod sample;
#[allow(unsafe_code, reason = "libc calls for clocks and process checks")]
pub mod sys;
pub mod time;
pub mod uplink;
pub mod visibility;
