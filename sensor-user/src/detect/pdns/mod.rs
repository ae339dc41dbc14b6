//! Passive DNS: which names the protected hosts' resolvers answered with
//! which addresses, so that a connection to an address can be told by the
//! name it was looked up under (beacons by domain, known-bad domains). Also
//! the registered domain (eTLD+1) of a name, by the public suffix list,
//! which the DNS detectors group by.
//!
//! [`PassiveDns`] is a bounded table: at most `max_addrs` addresses, each
//! with its `max_names` most recently seen names; the least recently seen
//! address, or name of an address, is evicted and counted.

mod answer;
pub(in crate::detect) mod recency;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_answer;

use std::{collections::HashMap, net::IpAddr, time::SystemTime};

pub use answer::{parse_answer, AnswerError, DnsAnswer};

use self::recency::{Recency, Stamp};
use super::DetectorStats;

/// The registrable domain ("eTLD+1") of a dotted name by the public suffix
/// list (the `psl` crate, ICANN and private sections): `www.example.co.uk`
/// gives `example.co.uk`, `foo.github.io` gives `foo.github.io` (a
/// private-section suffix), `a.b.example.com` gives `example.com`. The
/// result is lower case without a final dot. A top-level label the list
/// does not know counts as a suffix of one label (the list's default `*`
/// rule): `t.pirate.sea` gives `pirate.sea`.
///
/// `None` for names that have no registered domain worth grouping by:
/// - under `arpa` (reverse lookups `in-addr.arpa`, `ip6.arpa`, and
///   `home.arpa`, RFC 8375): infrastructure, not a party;
/// - under `local` (multicast DNS, RFC 6762): never leaves the link;
/// - single-label names (`wpad`, `localhost`, an unqualified host);
/// - a public suffix alone (`co.uk`), an empty name or one with an empty
///   label (`a..b`).
pub fn registered_domain(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let (_, top) = lower.rsplit_once('.')?;
    if top == "arpa" || top == "local" {
        return None;
    }
    let domain = psl::domain(lower.as_bytes())?;
    std::str::from_utf8(domain.trim().as_bytes())
        .ok()
        .map(str::to_owned)
}

/// A name an address was given for, and when it was last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenName {
    /// Dotted, lower case, no final dot.
    pub name: String,
    /// When an answer last gave the address for this name (pipeline clock).
    pub at: SystemTime,
}

#[derive(Debug)]
struct AddrNames {
    /// Most recently seen first.
    names: Vec<SeenName>,
    stamp: Stamp,
}

/// The passive DNS table: address -> the names answers gave it for.
#[derive(Debug)]
pub struct PassiveDns {
    addrs: HashMap<IpAddr, AddrNames>,
    order: Recency<IpAddr>,
    max_addrs: usize,
    max_names: usize,
    addrs_evicted: u64,
    names_evicted: u64,
}

impl Default for PassiveDns {
    fn default() -> PassiveDns {
        PassiveDns::new(PassiveDns::DEFAULT_MAX_ADDRS, PassiveDns::DEFAULT_MAX_NAMES)
    }
}

impl PassiveDns {
    /// Addresses remembered by default. An entry with four names takes
    /// about 300 bytes: about 5 MiB when full.
    pub const DEFAULT_MAX_ADDRS: usize = 16_384;
    /// Names remembered per address by default: a CDN address serves many
    /// names, but the most recent few are the ones a connection that
    /// follows was looked up under.
    pub const DEFAULT_MAX_NAMES: usize = 4;

    /// An empty table keeping at most `max_addrs` addresses and
    /// `max_names` names per address (each at least 1).
    pub fn new(max_addrs: usize, max_names: usize) -> PassiveDns {
        PassiveDns {
            addrs: HashMap::new(),
            order: Recency::new(),
            max_addrs: max_addrs.max(1),
            max_names: max_names.max(1),
            addrs_evicted: 0,
            names_evicted: 0,
        }
    }

    /// Remembers that `answer` gave its addresses for its question name at
    /// `at`. Answers without addresses (NXDOMAIN, NODATA) change nothing.
    pub fn record(&mut self, answer: &DnsAnswer, at: SystemTime) {
        self.record_addrs(&answer.name, &answer.addrs, at);
    }

    /// Remembers that `name` resolved to `addrs` at `at` (what a
    /// `Seen::DnsAnswer` carries). The name is lower-cased and loses a
    /// final dot; an empty name is ignored.
    pub fn record_addrs(&mut self, name: &str, addrs: &[IpAddr], at: SystemTime) {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        if name.is_empty() {
            return;
        }
        for &addr in addrs {
            if !self.addrs.contains_key(&addr) {
                while self.addrs.len() >= self.max_addrs {
                    let Some(oldest) = self.order.pop_oldest() else {
                        break;
                    };
                    self.addrs.remove(&oldest);
                    self.addrs_evicted += 1;
                }
            }
            let previous = self.addrs.get(&addr).map(|entry| entry.stamp);
            let stamp = self.order.touch(previous, addr, at);
            let entry = self.addrs.entry(addr).or_insert_with(|| AddrNames {
                names: Vec::new(),
                stamp,
            });
            entry.stamp = stamp;
            match entry.names.iter_mut().find(|seen| seen.name == name) {
                Some(seen) => seen.at = seen.at.max(at),
                None => entry.names.push(SeenName {
                    name: name.clone(),
                    at,
                }),
            }
            // Stable: names seen at the same instant keep their order.
            entry.names.sort_by_key(|seen| std::cmp::Reverse(seen.at));
            if entry.names.len() > self.max_names {
                self.names_evicted += (entry.names.len() - self.max_names) as u64;
                entry.names.truncate(self.max_names);
            }
        }
    }

    /// The names `addr` was given for, most recently seen first; empty for
    /// an address never seen (or evicted).
    pub fn names_of(&self, addr: IpAddr) -> &[SeenName] {
        self.addrs
            .get(&addr)
            .map_or(&[], |entry| entry.names.as_slice())
    }

    /// The registered domain ([`registered_domain`]) of the most recently
    /// seen name of `addr` that has one (names under `arpa` or `local` and
    /// single labels are skipped); `None` when none has.
    pub fn domain_of(&self, addr: IpAddr) -> Option<String> {
        self.names_of(addr)
            .iter()
            .find_map(|seen| registered_domain(&seen.name))
    }

    /// Addresses tracked, and evictions since the start (addresses evicted
    /// for the address cap plus names evicted for the per-address cap).
    pub fn stats(&self) -> DetectorStats {
        DetectorStats {
            tracked: u32::try_from(self.addrs.len()).unwrap_or(u32::MAX),
            evicted: self.addrs_evicted + self.names_evicted,
        }
    }

    /// Addresses evicted for the address cap, since the start.
    pub fn addrs_evicted(&self) -> u64 {
        self.addrs_evicted
    }

    /// Names evicted for the per-address cap, since the start.
    pub fn names_evicted(&self) -> u64 {
        self.names_evicted
    }
}
