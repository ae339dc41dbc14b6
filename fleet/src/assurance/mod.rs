//! Visibility assurance on the collector's side: the MSSP judges a
//! sensor's reports against the contract it recorded at enrolment,
//! independently of the sensor's own configuration.
//!
//! - [`contract`]: what the MSSP expects of a site (mode, host count,
//!   resolvers), and how its command-line flags parse;
//! - [`sight`]: a heartbeat's sight as stored, from either heartbeat kind;
//! - [`check`]: the contract check and where a sensor's reports contradict
//!   its enrolment;
//! - [`dwell`]: how long a sensor has spent in each verdict;
//! - [`canary`]: canary names and the latency of the path they prove.
//!
//! Everything here is pure: no database, no clock.

pub mod canary;
pub mod check;
pub mod contract;
pub mod dwell;
pub mod sight;
