//! Whether the sensor can see the traffic it is meant to watch, judged from
//! the site counters of an [`Interval`]. Pure.
//!
//! The rule (from the site's lifetime totals, as the heartbeat has always
//! reported it):
//! - no packet at all after the grace period: blind;
//! - packets, but none to or from a protected network (the sensor sits where
//!   only other people's traffic passes): blind;
//! - protected hosts seen in one direction only: partial;
//! - both directions: sees.

use sensor_common::{SiteCounters, TrafficClass};
use vantage_protocol::{Visibility, VisibilityVerdict};

use crate::sample::Interval;

/// No verdict of "blind" is given for a silent link before this much uptime.
pub const VISIBILITY_GRACE_SECS: u32 = 60;

fn class_packets(site: &SiteCounters, class: TrafficClass) -> u64 {
    site.class_packets[class as usize]
}

/// Judges visibility from site counters after `uptime_secs` of watching.
pub fn verdict(site: &SiteCounters, uptime_secs: u32) -> VisibilityVerdict {
    let outbound = class_packets(site, TrafficClass::LocalToRemote);
    let inbound = class_packets(site, TrafficClass::RemoteToLocal);
    let internal = class_packets(site, TrafficClass::LocalToLocal);
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

/// The verdict with the figures behind it, as a heartbeat carries them.
pub fn assess(interval: &Interval, uptime_secs: u32) -> Visibility {
    let site = &interval.site.totals;
    Visibility {
        verdict: verdict(site, uptime_secs),
        packets: site.packets,
        bytes: site.bytes,
        hosts: u32::try_from(interval.hosts.len()).unwrap_or(u32::MAX),
        outbound_packets: class_packets(site, TrafficClass::LocalToRemote),
        inbound_packets: class_packets(site, TrafficClass::RemoteToLocal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(out: u64, inb: u64, internal: u64, transit: u64) -> SiteCounters {
        let mut site = SiteCounters::default();
        for (class, packets) in [
            (TrafficClass::LocalToRemote, out),
            (TrafficClass::RemoteToLocal, inb),
            (TrafficClass::LocalToLocal, internal),
            (TrafficClass::RemoteToRemote, transit),
        ] {
            site.class_packets[class as usize] = packets;
            site.class_bytes[class as usize] = packets * 100;
        }
        site.packets = out + inb + internal + transit;
        site
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&site(0, 0, 0, 0), 5), VisibilityVerdict::Unknown);
        assert_eq!(verdict(&site(0, 0, 0, 0), 61), VisibilityVerdict::Blind);
        // Wrong side of the firewall: plenty of traffic, none of it ours.
        assert_eq!(verdict(&site(0, 0, 0, 5000), 5), VisibilityVerdict::Blind);
        assert_eq!(verdict(&site(10, 0, 0, 0), 5), VisibilityVerdict::Partial);
        assert_eq!(verdict(&site(10, 12, 0, 0), 5), VisibilityVerdict::Sees);
    }
}
