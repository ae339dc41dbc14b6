//! Heartbeats: what the sensor tells its MSSP every interval about its own
//! health and about whether it can see the traffic it is meant to watch.
//! Pure: built from a status snapshot and the spool's counters.

use vantage_protocol::{
    message::bounded, DatapathState, Health, Heartbeat, Visibility, VisibilityVerdict,
};

use crate::{spool::SpoolCounters, status::SiteStatus};

/// No verdict of "blind" is given before this much uptime.
pub const VISIBILITY_GRACE_SECS: u32 = 60;

/// Judges visibility from the site counters.
///
/// - no packet at all after the grace period: blind;
/// - packets, but none to or from a protected network (the sensor sits where
///   only other people's traffic passes): blind;
/// - protected hosts seen in one direction only: partial;
/// - both directions: sees.
pub fn visibility_verdict(site: &SiteStatus, uptime_secs: u32) -> VisibilityVerdict {
    let outbound = class_packets(site, "local_to_remote");
    let inbound = class_packets(site, "remote_to_local");
    let internal = class_packets(site, "local_to_local");
    if outbound + inbound + internal == 0 {
        if site.packets == 0 && uptime_secs < VISIBILITY_GRACE_SECS {
            return VisibilityVerdict::Unknown;
        }
        return VisibilityVerdict::Blind;
    }
    if outbound > 0 && inbound > 0 {
        VisibilityVerdict::Sees
    } else {
        VisibilityVerdict::Partial
    }
}

/// Inputs of a heartbeat that come from outside the datapath.
#[derive(Clone, Copy, Debug)]
pub struct HeartbeatContext {
    pub now_unix: u64,
    pub uptime_secs: u32,
    pub interval_secs: u32,
    pub datapath: DatapathState,
    pub interfaces: u8,
    pub hosts: u32,
    pub spool_pending: u32,
    pub spool: SpoolCounters,
    pub events_lost: u64,
}

/// Packets of one traffic class (0 when the class is absent).
fn class_packets(site: &SiteStatus, class: &str) -> u64 {
    site.classes.get(class).map_or(0, |v| v.packets)
}

pub fn build(site: &SiteStatus, context: &HeartbeatContext) -> Heartbeat {
    Heartbeat {
        at: context.now_unix,
        uptime_secs: context.uptime_secs,
        interval_secs: context.interval_secs,
        health: Health {
            agent_version: bounded(env!("CARGO_PKG_VERSION")),
            datapath: context.datapath,
            interfaces: context.interfaces,
            spool_pending: context.spool_pending,
            spool_evicted: u32::try_from(context.spool.evicted_total()).unwrap_or(u32::MAX),
            spool_torn: u32::try_from(context.spool.torn_records).unwrap_or(u32::MAX),
            events_lost: context.events_lost,
            malformed: site.malformed_total,
        },
        visibility: Visibility {
            verdict: visibility_verdict(site, context.uptime_secs),
            packets: site.packets,
            bytes: site.bytes,
            hosts: context.hosts,
            outbound_packets: class_packets(site, "local_to_remote"),
            inbound_packets: class_packets(site, "remote_to_local"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Volume;

    fn site(out: u64, inb: u64, internal: u64, transit: u64) -> SiteStatus {
        let mut site = SiteStatus::default();
        for (name, packets) in [
            ("local_to_remote", out),
            ("remote_to_local", inb),
            ("local_to_local", internal),
            ("remote_to_remote", transit),
        ] {
            site.classes.insert(
                name.into(),
                Volume {
                    packets,
                    bytes: packets * 100,
                },
            );
        }
        site.packets = out + inb + internal + transit;
        site
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            visibility_verdict(&site(0, 0, 0, 0), 5),
            VisibilityVerdict::Unknown
        );
        assert_eq!(
            visibility_verdict(&site(0, 0, 0, 0), 61),
            VisibilityVerdict::Blind
        );
        // Wrong side of the firewall: plenty of traffic, none of it ours.
        assert_eq!(
            visibility_verdict(&site(0, 0, 0, 5000), 5),
            VisibilityVerdict::Blind
        );
        assert_eq!(
            visibility_verdict(&site(10, 0, 0, 0), 5),
            VisibilityVerdict::Partial
        );
        assert_eq!(
            visibility_verdict(&site(10, 12, 0, 0), 5),
            VisibilityVerdict::Sees
        );
    }

    #[test]
    fn heartbeat_carries_the_counters() {
        let counters = SpoolCounters {
            evicted: [1, 2, 0, 0, 0],
            torn_records: 1,
            ..SpoolCounters::default()
        };
        let beat = build(
            &site(10, 12, 3, 0),
            &HeartbeatContext {
                now_unix: 1000,
                uptime_secs: 30,
                interval_secs: 60,
                datapath: DatapathState::Driver,
                interfaces: 2,
                hosts: 7,
                spool_pending: 4,
                spool: counters,
                events_lost: 9,
            },
        );
        assert_eq!(beat.health.spool_evicted, 3);
        assert_eq!(beat.health.spool_torn, 1);
        assert_eq!(beat.visibility.outbound_packets, 10);
        assert_eq!(beat.visibility.inbound_packets, 12);
        assert_eq!(beat.visibility.packets, 25);
        assert_eq!(beat.visibility.verdict, VisibilityVerdict::Sees);
    }
}
