//! What the running agent says about itself in its state file
//! (`<state_dir>/agent.json`), read by `vantage status`: its interfaces, the
//! events it drained, and the faults it survived. Types only; the agent
//! writes the file (`agent::state_file`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One attached interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceState {
    pub name: String,
    /// `driver` or `generic`: where the program runs.
    pub mode: String,
    /// The program was swapped into an earlier agent's attachment, whose
    /// mode it kept.
    #[serde(default)]
    pub took_over: bool,
    /// `ethernet`, or `raw_ip` for links without an Ethernet header.
    #[serde(default)]
    pub link: String,
    /// MTU in bytes.
    #[serde(default)]
    pub mtu: u32,
    /// The multi-buffer program runs here (an MTU beyond one page).
    #[serde(default)]
    pub multi_buffer: bool,
    /// Why generic mode is used, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_because: Option<String>,
    /// The NIC strips VLAN tags before XDP sees them: VLAN counters read 0
    /// (fix: `ethtool -K IF rxvlan off`).
    #[serde(default)]
    pub vlan_offload: bool,
    /// GRO/LRO were turned off here so that generic XDP sees every segment
    /// (restored by `vantage unload`).
    #[serde(default)]
    pub merging_off: bool,
    /// The kernel's id of the program attached here.
    #[serde(default)]
    pub program_id: u32,
}

/// Events drained from the kernel, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTotals {
    pub tcp_syn: u64,
    pub udp_new_peer: u64,
    pub dns_query: u64,
    /// SYN-ACKs to protected hosts.
    #[serde(default)]
    pub tcp_answered: u64,
    /// RSTs to protected hosts.
    #[serde(default)]
    pub tcp_refused: u64,
    /// Echo requests from protected hosts.
    #[serde(default)]
    pub icmp_echo: u64,
    /// ICMP destination unreachables to protected hosts.
    #[serde(default)]
    pub icmp_unreachable: u64,
    /// DNS responses to protected hosts.
    #[serde(default)]
    pub dns_answer: u64,
    /// Records the agent could not decode (wrong size or unknown kind).
    pub undecodable: u64,
    /// Events dropped because more arrived between two ticks than the agent holds.
    #[serde(default)]
    pub overflow: u64,
}

/// One recent event, for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentEvent {
    /// Unix seconds.
    pub at: f64,
    pub kind: String,
    pub src: String,
    pub dst: String,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// The DNS question name, for `dns_query` and `dns_answer` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qname: Option<String>,
    /// The DNS question type, for `dns_query` and `dns_answer` events
    /// whose type was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qtype: Option<u16>,
    pub dropped: bool,
}

/// A kind of transient fault the agent survived, and how it stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultState {
    /// Failures since the agent started.
    pub count: u64,
    /// True while the last attempt failed; false once it succeeded again.
    pub failing: bool,
    /// The latest failure's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Unix seconds of the latest failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<u64>,
}

/// The latest self-test of a mirror-port sensor (see `site.self_test_interval`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTestState {
    /// Unix seconds when its result was read from the counters.
    pub at: u64,
    /// The sensor's own address it was made from, and the resolver asked.
    pub from: String,
    pub to: String,
    /// Checks made (query, answer, SYN, SYN-ACK) and how many the
    /// datapath saw.
    pub made: u32,
    pub seen: u32,
}

/// How the uplink to the collector stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UplinkState {
    /// A TLS session with the collector is up.
    pub connected: bool,
    /// Why the last session ended or could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Acks received since the agent started.
    pub acks: u64,
    /// Envelopes in the spool waiting for an ack.
    pub pending: u64,
    /// Envelopes evicted (or refused) for lack of room, ever.
    pub evicted: u64,
    /// Envelopes the collector refused for good and the spool dropped, ever.
    pub rejected: u64,
    /// This run's boot epoch.
    pub epoch: u32,
}

/// What the agent reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// False when no agent is running (or its state file is stale).
    pub running: bool,
    pub pid: u32,
    /// Unix seconds.
    pub started_at: f64,
    pub updated_at: f64,
    pub interfaces: Vec<InterfaceState>,
    pub events: EventTotals,
    /// Newest last.
    pub recent_events: Vec<RecentEvent>,
    /// Faults by kind (`state_file`, `spool`, `events`, `snapshot`,
    /// `block_sweep`, `outbox`); only kinds that happened appear.
    #[serde(default)]
    pub faults: BTreeMap<String, FaultState>,
    /// The uplink, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<UplinkState>,
    /// What the sensor can see, as of the last tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sight: Option<super::sight::SightReport>,
    /// The latest self-test, once one has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_test: Option<SelfTestState>,
    /// Set by `vantage status` when the agent's process is alive but its
    /// state file has not been refreshed: the file is what it last managed to write.
    #[serde(default)]
    pub stale: bool,
    /// The detectors, alerts and rules of engagement, when detection is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<crate::pipeline::detection::DetectionStats>,
}
