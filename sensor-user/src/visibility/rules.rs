//! The findings: each rule looks at the window's counters, the census, the
//! interfaces and the declaration, and says what is wrong with the evidence
//! for it. Thresholds are the constants below: a share-based rule waits for
//! enough frames that one odd packet cannot trigger it.

use std::collections::BTreeSet;

use sensor_common::{SiteCounters, TrafficClass};
use vantage_protocol::{Finding, FindingCode};

use super::{window::Lookups, Declaration, SelfTestResult, Surroundings};
use crate::config::SiteMode;

/// Frames a share-based rule needs in the window before it judges.
pub const MIN_FRAMES: u64 = 20;
/// `only_broadcast`: broadcast and multicast frames at least this share, %.
pub const BROADCAST_SHARE: u64 = 90;
/// `one_sided`: SYNs with no SYN-ACK and no RST at all, at least this many.
pub const UNANSWERED_SYNS: u64 = 10;
/// `one_sided`: DNS queries with no answer at all, at least this many.
pub const UNANSWERED_QUERIES: u64 = 5;
/// `no_dns`: packets of protected hosts and SYNs they sent, at least.
pub const NO_DNS_PACKETS: u64 = 200;
pub const NO_DNS_SYNS: u64 = 5;
/// `dns_bypass`: lookups elsewhere, at least this many and this share, %;
/// or this many encrypted lookups.
pub const BYPASS_LOOKUPS: u64 = 5;
pub const BYPASS_SHARE: u64 = 20;
pub const ENCRYPTED_LOOKUPS: u64 = 3;
/// `duplicate_packets` and `encapsulated`: at least this many frames and
/// this share, %.
pub const ODD_FRAMES: u64 = 20;
pub const ODD_SHARE: u64 = 10;
/// `events_lost`: at least this many lost and this share of all, %.
pub const LOST_EVENTS: u64 = 100;
pub const LOST_SHARE: u64 = 10;

/// What the rules look at.
pub struct Evidence<'a> {
    /// Site counters over the window.
    pub site: &'a SiteCounters,
    pub lookups: &'a Lookups,
    /// The first minute of watching is over.
    pub settled: bool,
    /// Seconds the window covers.
    pub covered_secs: u64,
    /// Hosts present (census).
    pub census: u32,
    /// VLAN ids of the present hosts.
    pub vlans: &'a BTreeSet<u16>,
    pub declaration: &'a Declaration,
    pub surroundings: &'a Surroundings,
    pub self_test: Option<SelfTestResult>,
}

fn class(site: &SiteCounters, class: TrafficClass) -> u64 {
    site.class_packets[class as usize]
}

/// Packets with a protected host at either end.
pub fn protected_packets(site: &SiteCounters) -> u64 {
    class(site, TrafficClass::LocalToLocal)
        + class(site, TrafficClass::LocalToRemote)
        + class(site, TrafficClass::RemoteToLocal)
}

/// IP packets between two unprotected addresses that were not sent to a
/// broadcast or multicast MAC and do not carry an unopened tunnel: other
/// people's conversations. Link-local chatter (neighbour discovery, MLD,
/// mDNS) says nothing about where the sensor sits, and a remote mirror's
/// tunnel runs between two unprotected endpoints whatever it carries, so
/// both are taken out (all group frames, as if each were unprotected: this
/// errs on the low side).
pub fn unprotected_unicast(site: &SiteCounters) -> u64 {
    class(site, TrafficClass::RemoteToRemote)
        .saturating_sub(site.broadcast + site.multicast + site.encap_unopened)
}

/// `part` is at least `percent` % of `whole`.
fn at_least(part: u64, whole: u64, percent: u64) -> bool {
    whole > 0 && part.saturating_mul(100) >= whole.saturating_mul(percent)
}

fn finding(code: FindingCode, a: u64, b: u64) -> Finding {
    Finding { code, a, b }
}

/// Every finding the evidence supports, in code order.
pub fn findings(e: &Evidence<'_>) -> Vec<Finding> {
    let site = e.site;
    let mut out = Vec::new();
    let interfaces = e.surroundings.interfaces.len() as u64;
    let count = |f: &dyn Fn(&super::InterfaceSight) -> bool| {
        e.surroundings.interfaces.iter().filter(|i| f(i)).count() as u64
    };

    if e.settled && site.packets == 0 {
        out.push(finding(FindingCode::NoTraffic, 0, e.covered_secs));
    }
    let down = count(&|i| !i.up);
    if down > 0 {
        out.push(finding(FindingCode::LinkDown, down, interfaces));
    }
    let detached = count(&|i| !i.ours);
    if detached > 0 {
        out.push(finding(FindingCode::ProgramDetached, detached, interfaces));
    }
    let group = site.broadcast + site.multicast;
    // A share, judged once the first minute is over: an interface that has
    // just come up sends its burst of neighbour discovery and MLD first.
    let only_broadcast =
        e.settled && site.packets >= MIN_FRAMES && at_least(group, site.packets, BROADCAST_SHARE);
    if only_broadcast {
        out.push(finding(FindingCode::OnlyBroadcast, group, site.packets));
    }

    let protected = protected_packets(site);
    let (out_packets, in_packets) = (
        class(site, TrafficClass::LocalToRemote),
        class(site, TrafficClass::RemoteToLocal),
    );
    if out_packets >= MIN_FRAMES && in_packets == 0 {
        out.push(finding(FindingCode::OneSided, out_packets, 0));
    } else if in_packets >= MIN_FRAMES && out_packets == 0 {
        out.push(finding(FindingCode::OneSided, in_packets, 0));
    } else if site.tcp_syn >= UNANSWERED_SYNS && site.tcp_synack == 0 && site.tcp_rst == 0 {
        out.push(finding(FindingCode::OneSided, site.tcp_syn, 0));
    } else if site.dns_queries >= UNANSWERED_QUERIES && site.dns_answers == 0 {
        out.push(finding(FindingCode::OneSided, site.dns_queries, 0));
    }

    let translated = e.declaration.expected.is_some_and(|range| range.min >= 2)
        && e.settled
        && e.census == 1
        && protected >= MIN_FRAMES;
    let elsewhere = unprotected_unicast(site);
    if !only_broadcast && ((elsewhere >= MIN_FRAMES && protected == 0) || translated) {
        out.push(finding(
            FindingCode::OutsideFirewall,
            protected,
            site.packets,
        ));
    }

    let dns = site.dns_queries + site.dns_answers;
    if e.settled
        && e.census >= 1
        && protected >= NO_DNS_PACKETS
        && site.tcp_syn >= NO_DNS_SYNS
        && dns == 0
    {
        out.push(finding(FindingCode::NoDns, 0, protected));
    }
    let lookups = e.lookups;
    if lookups.elsewhere >= BYPASS_LOOKUPS
        && at_least(lookups.elsewhere, lookups.queries, BYPASS_SHARE)
    {
        out.push(finding(
            FindingCode::DnsBypass,
            lookups.elsewhere,
            lookups.queries,
        ));
    } else if lookups.encrypted >= ENCRYPTED_LOOKUPS {
        out.push(finding(
            FindingCode::DnsBypass,
            lookups.encrypted,
            lookups.queries + lookups.encrypted,
        ));
    }

    if let Some(range) = e.declaration.expected {
        if e.settled && e.census < range.min {
            out.push(finding(
                FindingCode::FewerHostsThanExpected,
                u64::from(e.census),
                u64::from(range.min),
            ));
        }
    }
    let declared_vlans = &e.declaration.vlans;
    if e.settled && !declared_vlans.is_empty() {
        let seen = declared_vlans
            .iter()
            .filter(|v| e.vlans.contains(v))
            .count() as u64;
        if seen < declared_vlans.len() as u64 {
            out.push(finding(
                FindingCode::MissingVlan,
                seen,
                declared_vlans.len() as u64,
            ));
        }
    }
    if !e.declaration.skip_duplicates
        && site.duplicates >= ODD_FRAMES
        && at_least(site.duplicates, site.packets, ODD_SHARE)
    {
        out.push(finding(
            FindingCode::DuplicatePackets,
            site.duplicates,
            site.packets,
        ));
    }
    let lost = site.events_rate_limited + site.events_ring_full;
    if lost >= LOST_EVENTS && at_least(lost, lost + site.events_sent, LOST_SHARE) {
        out.push(finding(FindingCode::EventsLost, lost, site.events_sent));
    }
    if site.encap_unopened >= ODD_FRAMES && at_least(site.encap_unopened, site.packets, ODD_SHARE) {
        out.push(finding(
            FindingCode::Encapsulated,
            site.encap_unopened,
            site.packets,
        ));
    }
    let generic = count(&|i| i.generic);
    if generic > 0 {
        out.push(finding(FindingCode::GenericXdp, generic, interfaces));
    }
    if e.declaration.mode == SiteMode::Mirror {
        out.push(finding(FindingCode::CannotBlock, 0, 0));
    }
    if let Some(test) = e.self_test {
        if test.seen < test.made {
            out.push(finding(
                FindingCode::SelfTestFailed,
                u64::from(test.seen),
                u64::from(test.made),
            ));
        }
    }
    out
}

/// What explains a settled window without positive evidence when no rule
/// fired on its thresholds: it is never `ok`.
pub fn fallback(site: &SiteCounters) -> Finding {
    // A window with no frame at all is `no_traffic`, which the rules give.
    if protected_packets(site) == 0 {
        let group = site.broadcast + site.multicast;
        if unprotected_unicast(site) < MIN_FRAMES && group > 0 {
            finding(FindingCode::OnlyBroadcast, group, site.packets)
        } else {
            finding(FindingCode::OutsideFirewall, 0, site.packets)
        }
    } else {
        let (out_packets, in_packets) = (
            class(site, TrafficClass::LocalToRemote),
            class(site, TrafficClass::RemoteToLocal),
        );
        finding(
            FindingCode::OneSided,
            out_packets.max(in_packets),
            out_packets.min(in_packets),
        )
    }
}

/// Positive evidence of sight: protected hosts' traffic both ways (to and
/// from the outside, or between two present protected hosts).
pub fn sees_both_ways(site: &SiteCounters, census: u32) -> bool {
    census >= 1
        && ((class(site, TrafficClass::LocalToRemote) > 0
            && class(site, TrafficClass::RemoteToLocal) > 0)
            || (census >= 2 && class(site, TrafficClass::LocalToLocal) >= 2))
}
