//! Map keys and values shared by the Vantage XDP program and the agent.
//!
//! Every type here is `#[repr(C)]`, `Copy`, has its padding spelled out as
//! named fields, and has its size pinned by a `const` assertion, so the kernel
//! and user-space halves can never disagree about a layout. With the `user`
//! feature (module [`user`]) each type also implements `aya::Pod`, per-CPU
//! copies can be merged, and the enums carry their stable names.
//!
//! Addresses are always 16 bytes: IPv4 is stored IPv4-mapped
//! (`::ffff:a.b.c.d`), so one key type covers both families and an IPv4
//! prefix of length `n` is stored with prefix length `96 + n`.
#![no_std]

pub mod event;
pub mod host;
pub mod maps;
pub mod policy;
pub mod site;

pub use event::{
    Event, EventHeader, EventKind, DNS_HEADER_LEN, DNS_QNAME_MAX, EVENT_HEADER_LEN, EVENT_LEN,
    EVENT_PAYLOAD_MAX,
};
pub use host::{
    HostCounters, HostKey, HostSet, HostSlot, HostTraffic, HOST_WAYS, SKETCH_BITS, SKETCH_WORDS,
};
pub use maps::*;
pub use policy::{AllowEntry, BlockEntry, FlowKey, Settings};
pub use site::{DropReason, EncapKind, MalformedReason, SiteCounters, TrafficClass};

/// A 16-byte address as used in every key: IPv6, or IPv4-mapped IPv6.
pub type Addr16 = [u8; 16];

/// Prefix length added to an IPv4 prefix when it is stored IPv4-mapped.
pub const V4_MAPPED_PREFIX_BITS: u32 = 96;

/// Returns the IPv4-mapped form (`::ffff:a.b.c.d`) of an IPv4 address.
#[inline(always)]
pub const fn v4_mapped(octets: [u8; 4]) -> Addr16 {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, octets[0], octets[1], octets[2], octets[3],
    ]
}

/// Returns the IPv4 octets if `addr` is IPv4-mapped.
pub fn v4_unmapped(addr: &Addr16) -> Option<[u8; 4]> {
    if addr[..10].iter().all(|b| *b == 0) && addr[10] == 0xff && addr[11] == 0xff {
        Some([addr[12], addr[13], addr[14], addr[15]])
    } else {
        None
    }
}

#[cfg(feature = "user")]
pub mod user;

/// Key of the LPM tries, laid out as the kernel expects (`struct
/// bpf_lpm_trie_key`: a 32-bit prefix length, then the address).
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrieKey {
    pub prefix_len: u32,
    pub addr: Addr16,
}
const _: () = assert!(core::mem::size_of::<TrieKey>() == 20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_mapping_round_trips() {
        let mapped = v4_mapped([192, 0, 2, 7]);
        assert_eq!(mapped[10..12], [0xff, 0xff]);
        assert_eq!(v4_unmapped(&mapped), Some([192, 0, 2, 7]));
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        assert_eq!(v4_unmapped(&v6), None);
    }
}
