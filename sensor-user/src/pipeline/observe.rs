//! What the kernel sent, as the detectors see it: each interval's decoded
//! events and new host entries turned into [`Observation`]s, with the
//! protected host first, the time on the pipeline's clock, DNS answers
//! parsed (hickory-proto, in `detect::pdns`) and each attempt's peer named
//! by the passive DNS table when it knows the peer.

use sensor_common::EventKind;
use serde::Serialize;

use crate::{
    detect::{
        pdns::{parse_answer, AnswerError, PassiveDns},
        Observation, Outcome, Seen, Transport,
    },
    sample::{Event, Interval},
};

/// mDNS and LLMNR: multicast name resolution on the link, not DNS to a resolver.
const LINK_LOCAL_NAME_PORTS: [u16; 2] = [5353, 5355];

/// DNS answers the agent could not use, since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnswerCounts {
    /// Answers parsed into the passive DNS table.
    pub parsed: u64,
    /// Answers cut short (longer than the kernel copies): what was read
    /// before the cut is used when the question is complete.
    pub truncated: u64,
    /// Answers that do not parse as DNS.
    pub malformed: u64,
}

/// Turns one interval into observations (appended to `out`, oldest first):
/// events in their order, then the host entries that are new with a MAC.
pub fn observe(
    interval: &Interval,
    pdns: &PassiveDns,
    answers: &mut AnswerCounts,
    out: &mut Vec<Observation>,
) {
    for event in &interval.events {
        let at = interval.wall_of(event.timestamp_ns).unwrap_or(interval.end);
        if let Some(seen) = seen_of(event, pdns, answers) {
            out.push(Observation { at, seen });
        }
    }
    for host in &interval.hosts {
        if host.new_entry && host.mac != [0; 6] {
            out.push(Observation {
                at: interval.end,
                seen: Seen::Device {
                    host: host.addr,
                    mac: host.mac,
                    vlan: host.vlan,
                },
            });
        }
    }
}

fn seen_of(event: &Event, pdns: &PassiveDns, answers: &mut AnswerCounts) -> Option<Seen> {
    // A packet a block dropped reached nobody: a blocked host retrying its
    // peer is not a beacon, and its "scan" is already stopped.
    if event.dropped {
        return None;
    }
    let attempt = |transport, port| Seen::Attempt {
        host: event.src,
        peer: event.dst,
        port,
        transport,
        domain: pdns.domain_of(event.dst),
    };
    // Answers: the peer sent them to the protected host.
    let answer = |outcome| Seen::Answer {
        host: event.dst,
        peer: event.src,
        port: event.src_port,
        outcome,
    };
    match event.kind {
        EventKind::TcpSyn => Some(attempt(Transport::Tcp, event.dst_port)),
        EventKind::UdpNewPeer => Some(attempt(Transport::Udp, event.dst_port)),
        EventKind::IcmpEcho => Some(attempt(Transport::IcmpEcho, 0)),
        EventKind::TcpAnswered => Some(answer(Outcome::Answered)),
        EventKind::TcpRefused | EventKind::IcmpUnreachable => Some(answer(Outcome::Refused)),
        EventKind::DnsQuery => {
            if LINK_LOCAL_NAME_PORTS.contains(&event.dst_port) {
                return None;
            }
            Some(Seen::DnsQuery {
                host: event.src,
                resolver: event.dst,
                name: event.qname.as_deref()?.to_ascii_lowercase(),
                qtype: event.qtype,
                truncated: event.qname_truncated,
            })
        }
        EventKind::DnsAnswer => {
            if LINK_LOCAL_NAME_PORTS.contains(&event.src_port) {
                return None;
            }
            let parsed = match parse_answer(event.answer.as_deref()?) {
                Ok(parsed) => {
                    answers.parsed += 1;
                    parsed
                }
                // A cut answer still names what it had room for.
                Err(AnswerError::Truncated { partial }) => {
                    answers.truncated += 1;
                    *partial?
                }
                Err(_) => {
                    answers.malformed += 1;
                    return None;
                }
            };
            Some(Seen::DnsAnswer {
                host: event.dst,
                resolver: event.src,
                name: parsed.name,
                addrs: parsed.addrs,
                ttl_secs: parsed.min_ttl_secs.unwrap_or(0),
            })
        }
    }
}
