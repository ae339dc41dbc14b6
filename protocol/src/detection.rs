//! Codes of the sensor's detections, shared by the sensor and the
//! collector: which detector raised an alert ([`Detector`]) and the named
//! numbers of its explanation ([`Fact`]). The wire carries the numbers;
//! both ends render names and text from them.

use serde::{Deserialize, Serialize};

/// Which detector raised a finding. The numbers are the wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::FromRepr)]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
pub enum Detector {
    /// One host tries many ports of one peer, mostly unanswered.
    PortScan = 1,
    /// One host tries one port (or ICMP echo) on many peers.
    HostSweep = 2,
    /// One protected host reaches several other protected hosts on admin ports.
    LateralMovement = 3,
    /// Regular, machine-like connections from a host to a peer or domain.
    Beacon = 4,
    /// DNS queries shaped like a tunnel or exfiltration under one domain.
    DnsTunnel = 5,
    /// Traffic to an address, prefix or domain on a local list of known-bad peers.
    KnownBad = 6,
    /// An address or MAC never seen before, after the learning period.
    NewDevice = 7,
}

impl Detector {
    /// Every detector, in wire-code order.
    pub const ALL: &'static [Detector] = <Detector as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A named number in an [`Explanation`]. The numbers are wire codes: only
/// ever append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::FromRepr)]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
pub enum Fact {
    /// Connection attempts (TCP SYN, UDP to a new peer, ICMP echo).
    Attempts = 1,
    /// Attempts answered by a SYN-ACK.
    Answered = 2,
    /// Attempts refused by a RST.
    Refused = 3,
    /// Attempts that got no answer.
    Unanswered = 4,
    /// Distinct destination ports.
    DistinctPorts = 5,
    /// Distinct peers.
    DistinctPeers = 6,
    /// Distinct protected hosts reached.
    DistinctHosts = 7,
    /// Connections counted (beacons).
    Connections = 8,
    /// Mean time between connections, seconds.
    MeanIntervalSecs = 9,
    /// Bowley skewness of the intervals, 0 (symmetric) to 1.
    TimingSkew = 10,
    /// Median absolute deviation of the intervals, seconds.
    TimingMadSecs = 11,
    /// Timing score (RITA-style), 0 to 1.
    TimingScore = 12,
    /// Share of the observation window the connections span, 0 to 1.
    DurationScore = 13,
    /// Distinct hours of the day with connections.
    HoursSeen = 14,
    /// Distinct query names under the domain.
    DistinctNames = 15,
    /// Longest label, characters.
    MaxLabelLen = 16,
    /// Mean query name length, characters.
    MeanNameLen = 17,
    /// Shannon entropy of the labels below the registered domain, bits per character.
    EntropyBits = 18,
    /// Queries of unusual record types (TXT, NULL, ...).
    UnusualTypes = 19,
    /// Queries counted.
    Queries = 20,
    /// Age of the list entry, days.
    EntryAgeDays = 21,
    /// Line of the entry in its list file.
    ListLine = 22,
    /// 1 when the MAC is locally administered (randomised).
    LocalMac = 23,
    /// Days the inventory has been learning.
    LearnedDays = 24,
    /// Queries per minute.
    QueriesPerMinute = 25,
    /// Size score (RITA-style), 0 to 1.
    SizeScore = 26,
    /// Index of the list among the configured lists (0-based).
    ListIndex = 27,
}

impl Fact {
    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_are_stable() {
        assert_eq!(Detector::PortScan as u8, 1);
        assert_eq!(Detector::NewDevice as u8, 7);
        assert_eq!(Detector::from_repr(5), Some(Detector::DnsTunnel));
        assert_eq!(Fact::from_repr(12), Some(Fact::TimingScore));
        assert_eq!(Detector::Beacon.name(), "beacon");
    }
}
