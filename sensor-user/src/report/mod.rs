//! Presentation: what `vantage status`, the state file and heartbeats say,
//! built from plain data. Every `--json` type lives here with its schema
//! name. No I/O.

pub mod agent_state;
pub mod detection;
pub mod heartbeat;
pub mod sight;
pub mod status;
pub mod table;
