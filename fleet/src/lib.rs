//! `vantage-fleet`, the MSSP's collector: a TLS listener that verifies,
//! de-duplicates and stores what enrolled sensors send, a SQLite store, the
//! fleet view, and exports to SIEMs.

pub mod assurance;
pub mod cli;
pub mod ingest;
pub mod listing;
pub mod record;
pub mod serve;
pub mod siem;
pub mod store;
pub mod tls;
pub mod view;
