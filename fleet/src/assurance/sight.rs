//! A heartbeat's sight as the collector stores it, whichever heartbeat
//! carried it: a current [`Heartbeat`]'s [`Sight`] as it is, or the first
//! revision's [`Visibility`] converted (`sees` -> `ok`, `partial` ->
//! `degraded`, `blind` -> `blind`, `unknown` -> `unknown`; no findings; its
//! host table count as the hosts seen; nothing declared, since that
//! revision could not say).

use serde::{Deserialize, Serialize};
use vantage_protocol::{
    Declared, Finding, Heartbeat, HeartbeatV1, Sight, Verdict, Visibility, VisibilityVerdict,
};

/// Which heartbeat a [`SightRecord`] came from.
pub const REVISION_V1: u8 = 1;
/// A heartbeat carrying a [`Sight`].
pub const REVISION_SIGHT: u8 = 2;

/// The sight of one stored heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SightRecord {
    /// [`REVISION_SIGHT`], or [`REVISION_V1`] for a first-revision heartbeat.
    pub revision: u8,
    /// The sensor's verdict on its sight.
    pub verdict: Verdict,
    /// Unix seconds since which the verdict has held (current heartbeats only).
    pub since: Option<u64>,
    /// The window the figures cover, seconds (current heartbeats only).
    pub window_secs: Option<u32>,
    /// Frames in the window (current heartbeats only).
    pub packets: Option<u64>,
    /// Bytes in the window (current heartbeats only).
    pub bytes: Option<u64>,
    /// Protected hosts seen sending (first revision: hosts in its table).
    pub hosts_seen: u32,
    /// The findings behind the verdict, with their evidence.
    pub findings: Vec<Finding>,
    /// What the sensor's configuration declares (`None`: a first-revision
    /// heartbeat, which cannot say).
    pub declared: Option<Declared>,
    /// Where the protected hosts' DNS queries went in the window, most used
    /// first (`None`: a first-revision heartbeat, which cannot say).
    #[serde(default)]
    pub resolvers_seen: Option<Vec<std::net::IpAddr>>,
}

impl From<&Sight> for SightRecord {
    fn from(sight: &Sight) -> SightRecord {
        SightRecord {
            revision: REVISION_SIGHT,
            verdict: sight.verdict,
            since: Some(sight.since),
            window_secs: Some(sight.window_secs),
            packets: Some(sight.packets),
            bytes: Some(sight.bytes),
            hosts_seen: sight.hosts_seen,
            findings: sight.findings.iter().copied().collect(),
            declared: Some(sight.declared),
            resolvers_seen: Some(sight.resolvers_seen.iter().map(|a| (*a).into()).collect()),
        }
    }
}

impl From<&Visibility> for SightRecord {
    fn from(visibility: &Visibility) -> SightRecord {
        SightRecord {
            revision: REVISION_V1,
            verdict: verdict_of_v1(visibility.verdict),
            since: None,
            window_secs: None,
            packets: None,
            bytes: None,
            hosts_seen: visibility.hosts,
            findings: Vec::new(),
            declared: None,
            resolvers_seen: None,
        }
    }
}

impl From<&Heartbeat> for SightRecord {
    fn from(beat: &Heartbeat) -> SightRecord {
        SightRecord::from(&beat.sight)
    }
}

impl From<&HeartbeatV1> for SightRecord {
    fn from(beat: &HeartbeatV1) -> SightRecord {
        SightRecord::from(&beat.visibility)
    }
}

/// The verdict a first-revision verdict stands for.
pub fn verdict_of_v1(verdict: VisibilityVerdict) -> Verdict {
    match verdict {
        VisibilityVerdict::Unknown => Verdict::Unknown,
        VisibilityVerdict::Sees => Verdict::Ok,
        VisibilityVerdict::Partial => Verdict::Degraded,
        VisibilityVerdict::Blind => Verdict::Blind,
    }
}

/// The first revision's word for `verdict`, kept for readers of the
/// `visibility` fields (the inverse of [`verdict_of_v1`]).
pub fn v1_of_verdict(verdict: Verdict) -> VisibilityVerdict {
    match verdict {
        Verdict::Unknown => VisibilityVerdict::Unknown,
        Verdict::Ok => VisibilityVerdict::Sees,
        Verdict::Degraded => VisibilityVerdict::Partial,
        Verdict::Blind => VisibilityVerdict::Blind,
    }
}

#[cfg(test)]
mod tests {
    use vantage_protocol::{DeploymentMode, FindingCode};

    use super::*;

    #[test]
    fn first_revision_verdicts_map_both_ways() {
        let pairs = [
            (VisibilityVerdict::Unknown, Verdict::Unknown),
            (VisibilityVerdict::Sees, Verdict::Ok),
            (VisibilityVerdict::Partial, Verdict::Degraded),
            (VisibilityVerdict::Blind, Verdict::Blind),
        ];
        for (old, new) in pairs {
            assert_eq!(verdict_of_v1(old), new);
            assert_eq!(v1_of_verdict(new), old);
        }
    }

    #[test]
    fn both_heartbeat_kinds_give_one_record() {
        let visibility = Visibility {
            verdict: VisibilityVerdict::Partial,
            packets: 900,
            bytes: 90_000,
            hosts: 12,
            outbound_packets: 900,
            inbound_packets: 0,
        };
        assert_eq!(
            SightRecord::from(&visibility),
            SightRecord {
                revision: 1,
                verdict: Verdict::Degraded,
                since: None,
                window_secs: None,
                packets: None,
                bytes: None,
                hosts_seen: 12,
                findings: vec![],
                declared: None,
                resolvers_seen: None,
            }
        );
        let finding = Finding {
            code: FindingCode::NoDns,
            a: 0,
            b: 4000,
        };
        let declared = Declared {
            mode: DeploymentMode::Mirror,
            hosts_min: 300,
            hosts_max: 400,
        };
        let sight = Sight {
            verdict: Verdict::Degraded,
            since: 1_795_000_000,
            window_secs: 300,
            packets: 5000,
            bytes: 3_000_000,
            hosts_seen: 290,
            findings: [finding].into_iter().collect(),
            declared,
            resolvers_seen: [vantage_protocol::Addr::V4([10, 0, 0, 53])]
                .into_iter()
                .collect(),
        };
        assert_eq!(
            SightRecord::from(&sight),
            SightRecord {
                revision: 2,
                verdict: Verdict::Degraded,
                since: Some(1_795_000_000),
                window_secs: Some(300),
                packets: Some(5000),
                bytes: Some(3_000_000),
                hosts_seen: 290,
                findings: vec![finding],
                declared: Some(declared),
                resolvers_seen: Some(vec![[10, 0, 0, 53].into()]),
            }
        );
    }
}
