//! Support for the privileged integration tests, the benchmark and the lab:
//! frame building, network namespaces, tiny real services, and the lab site.

pub mod harness;
pub mod packet;
