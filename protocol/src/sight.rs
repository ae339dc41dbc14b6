//! What a sensor can see, as it judges itself in every heartbeat: a verdict
//! over a sliding window, the findings behind it (each a stable reason code
//! with two evidence figures), the host census, and what the sensor's
//! configuration declares the site to be, so that the collector can compare
//! it with the contract the MSSP recorded at enrolment.
//!
//! Fix hints and the meaning of each code's figures live here
//! ([`FindingCode::hint`], [`Finding::describe`]) so that the sensor, the
//! collector and their reports say the same thing.

use heapless::Vec as BoundedVec;
use serde::{Deserialize, Serialize};

use crate::message::Addr;

/// Most findings a heartbeat carries (one of each code fits).
pub const FINDINGS_MAX: usize = 20;
/// Most resolvers a heartbeat names.
pub const RESOLVERS_SEEN_MAX: usize = 4;

/// The sensor's verdict on whether it sees the traffic it is meant to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    /// Not enough evidence yet: within the first window after start, with
    /// nothing wrong seen so far.
    Unknown,
    /// Positive evidence of full sight and no problem finding.
    Ok,
    /// It sees, but part of what it should is missing or distorted.
    Degraded,
    /// It cannot see the traffic it is meant to watch.
    Blind,
}

impl Verdict {
    /// Every verdict, best first after `unknown`.
    pub const ALL: &'static [Verdict] = <Verdict as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Where the sensor says it is deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum DeploymentMode {
    /// Not declared in the configuration.
    Undeclared,
    /// In the traffic's path (a gateway): it sees and can drop.
    Inline,
    /// On a mirror (SPAN) port: it sees copies and cannot drop.
    Mirror,
}

impl DeploymentMode {
    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Why the sensor is not `ok`, or a caveat that does not change the verdict.
/// Stable names; new codes are only ever added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum FindingCode {
    /// No frame at all in the window. Figures: packets (0), window seconds.
    NoTraffic,
    /// An attached interface is down. Figures: interfaces down, attached.
    LinkDown,
    /// Our XDP program is gone from an interface, or another replaced it.
    /// Figures: interfaces without it, attached.
    ProgramDetached,
    /// Nearly everything seen is broadcast or multicast: an ordinary switch
    /// port, not a mirror. Figures: broadcast and multicast frames, frames.
    OnlyBroadcast,
    /// One direction only: connection attempts without answers, DNS queries
    /// without answers, or a class of traffic one way. Figures: requests
    /// (SYNs, queries or one direction's packets), answers (the other).
    OneSided,
    /// Traffic, but not of the protected hosts, or all of it through one
    /// translated address. Figures: packets of protected hosts, packets.
    OutsideFirewall,
    /// Protected hosts are active but no DNS is seen. Figures: DNS
    /// messages (0), packets of protected hosts.
    NoDns,
    /// Clients resolve elsewhere than the declared resolvers, or over
    /// HTTPS/TLS to well-known public resolvers. Figures: lookups elsewhere,
    /// lookups seen.
    DnsBypass,
    /// Fewer protected hosts seen sending than declared. Figures: seen,
    /// expected (the lower bound).
    FewerHostsThanExpected,
    /// Declared VLANs are not seen (or tags are stripped). Figures: declared
    /// VLANs seen, declared.
    MissingVlan,
    /// Frames arrive twice (a mirror copying both ends of a path).
    /// Figures: duplicate frames, frames.
    DuplicatePackets,
    /// Events the kernel could not hand over (ring full or rate-limited).
    /// Figures: lost, sent.
    EventsLost,
    /// Many frames inside tunnels the sensor does not open. Figures: frames
    /// in unopened tunnels, frames.
    Encapsulated,
    /// A caveat: generic XDP on some interface (more CPU per packet).
    /// Figures: generic interfaces, attached.
    GenericXdp,
    /// A caveat: on a mirror port blocks cannot drop anything. Figures: 0, 0.
    CannotBlock,
    /// The sensor's own DNS lookup or TCP connection was not seen by its
    /// datapath in both directions. Figures: checks seen, checks made.
    SelfTestFailed,
}

impl FindingCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [FindingCode] = <FindingCode as strum::VariantArray>::VARIANTS;

    /// The stable snake_case name used on every interface.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value with this name, if any.
    pub fn from_name(name: &str) -> Option<FindingCode> {
        name.parse().ok()
    }

    /// A caveat leaves the verdict as it is.
    pub fn is_caveat(self) -> bool {
        matches!(self, FindingCode::GenericXdp | FindingCode::CannotBlock)
    }

    /// A finding that means the sensor sees nothing it should (the verdict
    /// is `blind`); the others make it `degraded`.
    pub fn blinds(self) -> bool {
        matches!(
            self,
            FindingCode::NoTraffic
                | FindingCode::LinkDown
                | FindingCode::ProgramDetached
                | FindingCode::OnlyBroadcast
                | FindingCode::OutsideFirewall
        )
    }

    /// What to do about it, for the installer and the SOC.
    pub fn hint(self) -> &'static str {
        match self {
            FindingCode::NoTraffic => {
                "no frame arrives: check the cable and the switch port, and that the mirror session (if any) is active and points at this interface"
            }
            FindingCode::LinkDown => "an attached interface is down: check its cable, the peer port and `ip link`",
            FindingCode::ProgramDetached => {
                "the XDP program is missing from an interface (unloaded, or replaced by another program): restart `vantage run`, and find what detached it (`ip link show IF`)"
            }
            FindingCode::OnlyBroadcast => {
                "only broadcast and multicast arrive: this is an ordinary switch port; configure a mirror (SPAN) session for the protected VLANs to this port, or move the sensor inline"
            }
            FindingCode::OneSided => {
                "only one direction is seen: mirror both ingress and egress (SPAN `both`), include the uplink port in the session, or attach to both the LAN and the WAN side"
            }
            FindingCode::OutsideFirewall => {
                "the protected hosts are not seen (or only one translated address): the sensor sits outside the firewall or NAT; move it to the LAN side, or mirror the LAN side"
            }
            FindingCode::NoDns => {
                "no DNS is seen while hosts are active: the resolver's traffic does not cross this point; mirror the resolver's port too, or declare the resolvers that are in use"
            }
            FindingCode::DnsBypass => {
                "clients resolve elsewhere than the declared resolvers (or over DNS-over-HTTPS/TLS): name lookups are not visible; enforce the site's resolvers, or declare them"
            }
            FindingCode::FewerHostsThanExpected => {
                "fewer protected hosts are seen than declared: part of the network does not cross this point; mirror every protected VLAN, or correct site.expected_hosts"
            }
            FindingCode::MissingVlan => {
                "declared VLANs are not seen: add them to the mirror session or the trunk; if the NIC strips tags, run `ethtool -K IF rxvlan off`"
            }
            FindingCode::DuplicatePackets => {
                "frames arrive twice: the mirror copies both ends of a path; mirror one port per direction, or set sensor.skip_duplicates"
            }
            FindingCode::EventsLost => {
                "events are lost to the rate limit or a full ring: raise events.rate_per_cpu and events.burst, or give the agent more CPU"
            }
            FindingCode::Encapsulated => {
                "many frames arrive inside tunnels the sensor does not open: list them in sensor.decapsulate"
            }
            FindingCode::GenericXdp => {
                "generic XDP costs more CPU per packet than native: use a NIC whose driver has XDP"
            }
            FindingCode::CannotBlock => {
                "on a mirror port, blocks drop only the copies: the sensor watches but cannot stop anything"
            }
            FindingCode::SelfTestFailed => {
                "the sensor's own lookup or connection was not seen both ways: its own traffic does not cross the watched path"
            }
        }
    }
}

/// One finding with its evidence (see [`FindingCode`] for what the two
/// figures are for each code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    pub code: FindingCode,
    pub a: u64,
    pub b: u64,
}

impl Finding {
    /// The evidence in words, e.g. "seen 5 of 375 expected hosts".
    pub fn describe(&self) -> String {
        let (a, b) = (self.a, self.b);
        let share = |a: u64, b: u64| {
            if b == 0 {
                "0%".to_owned()
            } else {
                format!("{:.0}%", a as f64 * 100.0 / b as f64)
            }
        };
        match self.code {
            FindingCode::NoTraffic => format!("no frame in {b} s"),
            FindingCode::LinkDown => format!("{a} of {b} interfaces down"),
            FindingCode::ProgramDetached => format!("program missing on {a} of {b} interfaces"),
            FindingCode::OnlyBroadcast => {
                format!("{a} of {b} frames broadcast or multicast ({})", share(a, b))
            }
            FindingCode::OneSided => format!("{a} one way, {b} the other"),
            FindingCode::OutsideFirewall => {
                format!(
                    "{a} of {b} packets involve protected hosts ({})",
                    share(a, b)
                )
            }
            FindingCode::NoDns => format!("no DNS among {b} packets of protected hosts"),
            FindingCode::DnsBypass => format!(
                "{a} of {b} lookups went elsewhere (other resolvers, or DNS over HTTPS/TLS)"
            ),
            FindingCode::FewerHostsThanExpected => format!("seen {a} of {b} expected hosts"),
            FindingCode::MissingVlan => format!("{a} of {b} declared VLANs seen"),
            FindingCode::DuplicatePackets => {
                format!("{a} of {b} frames seen twice ({})", share(a, b))
            }
            FindingCode::EventsLost => format!("{a} events lost, {b} delivered"),
            FindingCode::Encapsulated => {
                format!("{a} of {b} frames in unopened tunnels ({})", share(a, b))
            }
            FindingCode::GenericXdp => format!("{a} of {b} interfaces in generic mode"),
            FindingCode::CannotBlock => "mirror mode".to_owned(),
            FindingCode::SelfTestFailed => format!("{a} of {b} self-test checks seen"),
        }
    }
}

/// What the sensor's configuration declares the site to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    pub mode: DeploymentMode,
    /// Expected protected hosts, lower and upper bound; 0 and 0 when not
    /// declared.
    pub hosts_min: u32,
    pub hosts_max: u32,
}

/// The sensor's judgement of its own sight, in every heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sight {
    pub verdict: Verdict,
    /// Unix seconds since which the verdict has held.
    pub since: u64,
    /// The sliding window the figures cover, seconds.
    pub window_secs: u32,
    /// Frames and bytes in the window.
    pub packets: u64,
    pub bytes: u64,
    /// Protected hosts seen sending in the window (never network, broadcast
    /// or multicast addresses).
    pub hosts_seen: u32,
    pub findings: BoundedVec<Finding, FINDINGS_MAX>,
    pub declared: Declared,
    /// Where the protected hosts' DNS queries went in the window, most
    /// used first (from the sensor's events), so that the collector can
    /// check them against the contracted resolvers.
    pub resolvers_seen: BoundedVec<Addr, RESOLVERS_SEEN_MAX>,
}

impl Sight {
    /// The verdict findings give once there is positive evidence: `blind`
    /// if any blinds, else `degraded` if any is not a caveat, else `ok`.
    pub fn verdict_of(findings: &[Finding]) -> Verdict {
        if findings.iter().any(|f| f.code.blinds()) {
            Verdict::Blind
        } else if findings.iter().any(|f| !f.code.is_caveat()) {
            Verdict::Degraded
        } else {
            Verdict::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_every_code_has_a_hint() {
        assert_eq!(
            FindingCode::FewerHostsThanExpected.name(),
            "fewer_hosts_than_expected"
        );
        assert_eq!(
            FindingCode::from_name("dns_bypass"),
            Some(FindingCode::DnsBypass)
        );
        assert_eq!(Verdict::Degraded.name(), "degraded");
        for code in FindingCode::ALL {
            assert!(code.hint().len() > 20, "{code}");
            let text = Finding {
                code: *code,
                a: 5,
                b: 375,
            }
            .describe();
            assert!(!text.is_empty(), "{code}");
        }
        let seen = Finding {
            code: FindingCode::FewerHostsThanExpected,
            a: 5,
            b: 375,
        };
        assert_eq!(seen.describe(), "seen 5 of 375 expected hosts");
    }

    #[test]
    fn caveats_do_not_change_the_verdict() {
        let f = |code| Finding { code, a: 1, b: 1 };
        assert_eq!(Sight::verdict_of(&[]), Verdict::Ok);
        assert_eq!(
            Sight::verdict_of(&[f(FindingCode::CannotBlock)]),
            Verdict::Ok
        );
        assert_eq!(
            Sight::verdict_of(&[f(FindingCode::CannotBlock), f(FindingCode::NoDns)]),
            Verdict::Degraded
        );
        assert_eq!(
            Sight::verdict_of(&[f(FindingCode::NoDns), f(FindingCode::OutsideFirewall)]),
            Verdict::Blind
        );
    }
}
