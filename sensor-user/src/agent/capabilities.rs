//! Dropping the capabilities the agent needs only to start.
//!
//! Loading and attaching need CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON and, for
//! mounting bpffs, CAP_SYS_ADMIN. Afterwards the agent only reads and writes
//! maps through descriptors it already holds, which needs CAP_BPF at most
//! (CAP_SYS_ADMIN on kernels older than 5.8, which lack CAP_BPF).

use caps::{CapSet, Capability, CapsHashSet};

/// Keeps only what map access needs, in every set, and clears the bounding
/// set so nothing can be regained. Failure is logged, not fatal: an agent
/// started without these capabilities has nothing to drop.
pub fn drop_after_attach() {
    let mut keep = CapsHashSet::new();
    if caps::runtime::thread_all_supported().contains(&Capability::CAP_BPF) {
        keep.insert(Capability::CAP_BPF);
    } else {
        keep.insert(Capability::CAP_SYS_ADMIN);
    }
    let result = (|| -> Result<(), caps::errors::CapsError> {
        for cap in caps::all() {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)?;
            }
        }
        caps::set(None, CapSet::Inheritable, &CapsHashSet::new())?;
        caps::set(None, CapSet::Effective, &keep)?;
        caps::set(None, CapSet::Permitted, &keep)?;
        Ok(())
    })();
    match result {
        Ok(()) => log::info!("capabilities reduced to {keep:?}"),
        Err(e) => log::warn!("could not drop capabilities: {e}"),
    }
}

/// The capabilities this thread holds now (effective set).
pub fn effective() -> CapsHashSet {
    caps::read(None, CapSet::Effective).unwrap_or_default()
}
