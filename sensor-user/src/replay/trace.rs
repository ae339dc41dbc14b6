//! Traces: the intervals a running agent sampled (`vantage run --record
//! FILE`), one JSON object per line, replayed later without root and
//! without a kernel (`vantage replay --trace FILE`).
//!
//! Each line is one interval:
//! `{"start":<unix s>,"end":<unix s>,"end_monotonic_ns":<ns>,"host_capacity":<n>,
//! "hosts":[{"addr":"10.0.0.5","totals":{..},"delta":{..},"new_entry":false,
//! "first_seen_ns":..,"last_seen_ns":..,"mac":[..],"vlan":0,"ifindex":2,
//! "peers":{"estimate":3,"saturated":false},"dst_ports":{..}}],
//! "site":{"totals":[..],"delta":[..]},"events":[{"kind":"tcp_syn",..}]}`.
//! Times are Unix seconds with nanosecond fractions; `site` holds the site
//! counters as arrays in the order of `sensor_common::SiteCounters`'
//! fields; events are `sample::Event` as serde writes them.

use std::{
    io::{BufRead, Write},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sensor_common::{user::CounterWords as _, SiteCounters};
use serde::{Deserialize, Serialize};

use crate::sample::{DistinctCount, Event, HostSample, Interval, SiteSample};

/// A trace line that does not parse, with its line number.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("trace line {line}: {source}")]
    Parse {
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("trace line {line}: site counters have {got} words, this build has {expected}")]
    SiteWords {
        line: u64,
        got: usize,
        expected: usize,
    },
    #[error("trace line {line}: {source}")]
    Io {
        line: u64,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct TraceHost {
    addr: std::net::IpAddr,
    totals: sensor_common::HostTraffic,
    delta: sensor_common::HostTraffic,
    new_entry: bool,
    first_seen_ns: u64,
    last_seen_ns: u64,
    mac: [u8; 6],
    vlan: u16,
    ifindex: u32,
    peers: DistinctCount,
    dst_ports: DistinctCount,
}

#[derive(Serialize, Deserialize)]
struct TraceSite {
    totals: Vec<u64>,
    delta: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct TraceLine {
    start: f64,
    end: f64,
    end_monotonic_ns: u64,
    host_capacity: u32,
    hosts: Vec<TraceHost>,
    site: TraceSite,
    events: Vec<Event>,
}

fn unix(at: SystemTime) -> f64 {
    crate::time::unix_seconds(at)
}

fn from_unix(seconds: f64) -> SystemTime {
    if seconds.is_finite() && seconds > 0.0 {
        UNIX_EPOCH + Duration::from_secs_f64(seconds)
    } else {
        UNIX_EPOCH
    }
}

/// Writes one interval as one line.
pub fn write_interval(out: &mut impl Write, interval: &Interval) -> std::io::Result<()> {
    let line = TraceLine {
        start: unix(interval.start),
        end: unix(interval.end),
        end_monotonic_ns: interval.end_monotonic_ns,
        host_capacity: interval.host_capacity,
        hosts: interval
            .hosts
            .iter()
            .map(|h| TraceHost {
                addr: h.addr,
                totals: h.totals,
                delta: h.delta,
                new_entry: h.new_entry,
                first_seen_ns: h.first_seen_ns,
                last_seen_ns: h.last_seen_ns,
                mac: h.mac,
                vlan: h.vlan,
                ifindex: h.ifindex,
                peers: h.peers,
                dst_ports: h.dst_ports,
            })
            .collect(),
        site: TraceSite {
            totals: interval.site.totals.words().to_vec(),
            delta: interval.site.delta.words().to_vec(),
        },
        events: interval.events.clone(),
    };
    serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

fn site_counters(words: &[u64], line: u64) -> Result<SiteCounters, TraceError> {
    let mut counters = SiteCounters::default();
    let expected = counters.words().len();
    if words.len() != expected {
        return Err(TraceError::SiteWords {
            line,
            got: words.len(),
            expected,
        });
    }
    counters.words_mut().copy_from_slice(words);
    Ok(counters)
}

/// Reads intervals back, one per line; blank lines are skipped.
pub struct TraceReader<R> {
    input: R,
    line: u64,
}

impl<R: BufRead> TraceReader<R> {
    pub fn new(input: R) -> TraceReader<R> {
        TraceReader { input, line: 0 }
    }

    /// The next interval, `None` at the end.
    pub fn next_interval(&mut self) -> Option<Result<Interval, TraceError>> {
        let mut text = String::new();
        loop {
            text.clear();
            self.line += 1;
            let line = self.line;
            match self.input.read_line(&mut text) {
                Ok(0) => return None,
                Ok(_) if text.trim().is_empty() => continue,
                Ok(_) => return Some(Self::parse(&text, line)),
                Err(source) => return Some(Err(TraceError::Io { line, source })),
            }
        }
    }

    fn parse(text: &str, line: u64) -> Result<Interval, TraceError> {
        let parsed: TraceLine =
            serde_json::from_str(text).map_err(|source| TraceError::Parse { line, source })?;
        Ok(Interval {
            start: from_unix(parsed.start),
            end: from_unix(parsed.end),
            hosts: parsed
                .hosts
                .into_iter()
                .map(|h| HostSample {
                    addr: h.addr,
                    totals: h.totals,
                    delta: h.delta,
                    new_entry: h.new_entry,
                    first_seen_ns: h.first_seen_ns,
                    last_seen_ns: h.last_seen_ns,
                    mac: h.mac,
                    vlan: h.vlan,
                    ifindex: h.ifindex,
                    peers: h.peers,
                    dst_ports: h.dst_ports,
                })
                .collect(),
            site: SiteSample {
                totals: site_counters(&parsed.site.totals, line)?,
                delta: site_counters(&parsed.site.delta, line)?,
            },
            events: parsed.events,
            host_capacity: parsed.host_capacity,
            end_monotonic_ns: parsed.end_monotonic_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_survives_a_round_trip_and_a_bad_line_is_named(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut site = SiteCounters::default();
        site.words_mut()[0] = 42;
        let interval = Interval {
            start: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            end: UNIX_EPOCH + Duration::from_millis(1_700_000_001_500),
            hosts: Vec::new(),
            site: SiteSample {
                totals: site,
                delta: site,
            },
            events: vec![Event {
                kind: sensor_common::EventKind::TcpSyn,
                timestamp_ns: 7,
                src: "10.0.0.5".parse()?,
                dst: "192.0.2.1".parse()?,
                src_port: 40000,
                dst_port: 443,
                protocol: 6,
                ifindex: 2,
                qname: Some("example.com".to_owned()),
                qname_truncated: false,
                qtype: 1,
                message_len: 29,
                answer: Some(vec![0x12, 0x34, 0x81, 0x80]),
                answer_truncated: true,
                dropped: false,
            }],
            host_capacity: 1024,
            end_monotonic_ns: 99,
        };
        let mut text = Vec::new();
        write_interval(&mut text, &interval)?;
        text.extend_from_slice(b"\n{\"start\": 1}\n");
        let mut reader = TraceReader::new(text.as_slice());
        let back = reader.next_interval().ok_or("no interval")??;
        assert_eq!(back, interval);
        let error = reader.next_interval().ok_or("no second line")?;
        assert!(
            matches!(error, Err(TraceError::Parse { line: 3, .. })),
            "{error:?}"
        );
        Ok(())
    }
}
