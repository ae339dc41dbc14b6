//! Support for the privileged integration tests, the benchmark and the lab:
//! frame building, the kernel test harness, network namespaces, tiny real
//! services, the lab site, and the `vantage` process wrapper.

pub mod agent;
pub mod fleet;
pub mod harness;
pub mod netns;
pub mod packet;
pub mod services;
pub mod site;
