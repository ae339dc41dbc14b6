//! What the beacon detector remembers of one key: the newest connection
//! starts (a bounded ring, with their ports), the hourly counts over the
//! window, and the peers seen under a domain key.

use std::{collections::VecDeque, net::IpAddr, time::SystemTime};

/// Milliseconds in an hour.
pub const HOUR_MS: u64 = 3_600_000;

/// Hours since the epoch (fits 32 bits until the year 491,902).
pub fn hour_of(ms: u64) -> u32 {
    u32::try_from(ms / HOUR_MS).unwrap_or(u32::MAX)
}

/// Largest time a ring entry holds: 48 bits of milliseconds (year 10889).
const MAX_MILLIS: u64 = (1 << 48) - 1;

/// Milliseconds since the UNIX epoch (0 before it), capped at 48 bits.
pub fn millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
        .min(MAX_MILLIS)
}

/// What a key is about, besides its host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Peer(IpAddr),
    /// A registered domain, lower case, no final dot.
    Domain(String),
}

/// One connection start: milliseconds in the upper 48 bits, the
/// destination port in the lower 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Start(u64);

impl Start {
    fn new(at_ms: u64, port: u16) -> Start {
        Start((at_ms.min(MAX_MILLIS) << 16) | u64::from(port))
    }

    fn at_ms(self) -> u64 {
        self.0 >> 16
    }

    fn port(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

/// The state of one (host, peer) or (host, domain) key.
#[derive(Debug)]
pub struct Track {
    /// Counted connection starts, oldest first, at most `max_timestamps`.
    starts: VecDeque<Start>,
    /// The latest attempt, counted or merged (for `dedupe`).
    last_attempt_ms: u64,
    /// (hour since the epoch, counted connections), oldest first; only
    /// hours with connections, within the window.
    hours: VecDeque<(u32, u32)>,
    /// The first peer seen under this key, and whether another one was.
    first_peer: IpAddr,
    several_peers: bool,
    /// A connection was counted or dropped since the last evaluation.
    pub dirty: bool,
    /// The hour of the last evaluation (the histogram moves with the hour).
    pub evaluated_hour: Option<u32>,
    /// Where this key sits in the detector's recency index.
    pub recency: (u64, u64),
}

impl Track {
    pub fn new(peer: IpAddr, recency: (u64, u64)) -> Track {
        Track {
            starts: VecDeque::new(),
            last_attempt_ms: 0,
            hours: VecDeque::new(),
            first_peer: peer,
            several_peers: false,
            dirty: false,
            evaluated_hour: None,
            recency,
        }
    }

    /// Records an attempt at `at_ms` to `peer` on `port`. It is merged into
    /// the previous connection (not counted) when it comes within
    /// `dedupe_ms` of the latest attempt or of a counted neighbour (out of
    /// order). Keeps at most `max_starts`, dropping the oldest. True when
    /// counted.
    pub fn record(
        &mut self,
        at_ms: u64,
        port: u16,
        peer: IpAddr,
        dedupe_ms: u64,
        max_starts: usize,
    ) -> bool {
        if peer != self.first_peer {
            self.several_peers = true;
        }
        let start = Start::new(at_ms, port);
        let at_ms = start.at_ms();
        let near = |other: u64| other.abs_diff(at_ms) <= dedupe_ms;
        let position = self.starts.partition_point(|s| s.at_ms() <= at_ms);
        let merged = (!self.starts.is_empty() && near(self.last_attempt_ms))
            || position
                .checked_sub(1)
                .and_then(|i| self.starts.get(i))
                .is_some_and(|s| near(s.at_ms()))
            || self.starts.get(position).is_some_and(|s| near(s.at_ms()));
        self.last_attempt_ms = self.last_attempt_ms.max(at_ms);
        if merged {
            return false;
        }
        self.count_hour(hour_of(at_ms));
        self.dirty = true;
        let mut position = position;
        if self.starts.len() >= max_starts.max(1) {
            if position == 0 {
                // Older than every start kept: counted by the hour only.
                return true;
            }
            // Make room first, so the ring never outgrows its capacity.
            self.starts.pop_front();
            position -= 1;
        }
        self.starts.insert(position, start);
        true
    }

    fn count_hour(&mut self, hour: u32) {
        let position = self.hours.partition_point(|(h, _)| *h < hour);
        match self.hours.get_mut(position) {
            Some((h, count)) if *h == hour => *count = count.saturating_add(1),
            _ => self.hours.insert(position, (hour, 1)),
        }
    }

    /// Forgets starts before `cutoff_ms` and hours before `oldest_hour`.
    /// True when the key has nothing left.
    pub fn expire(&mut self, cutoff_ms: u64, oldest_hour: u32) -> bool {
        while self.starts.front().is_some_and(|s| s.at_ms() < cutoff_ms) {
            self.starts.pop_front();
            self.dirty = true;
        }
        while self.hours.front().is_some_and(|(h, _)| *h < oldest_hour) {
            self.hours.pop_front();
        }
        self.starts.is_empty()
    }

    /// Connection starts kept.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// The latest counted start, ms.
    pub fn last_ms(&self) -> Option<u64> {
        self.starts.back().map(|s| s.at_ms())
    }

    /// The starts in seconds after the first one.
    pub fn starts_secs(&self) -> Vec<f64> {
        let first = self.starts.front().map_or(0, |s| s.at_ms());
        self.starts
            .iter()
            .map(|s| (s.at_ms() - first) as f64 / 1000.0)
            .collect()
    }

    /// The port every kept connection went to, if one (and not 0, ICMP).
    pub fn single_port(&self) -> Option<u16> {
        let port = self.starts.front()?.port();
        (port != 0 && self.starts.iter().all(|s| s.port() == port)).then_some(port)
    }

    /// More than one peer address seen under this key since it was created.
    pub fn several_peers(&self) -> bool {
        self.several_peers
    }

    /// Hours with connections in the window.
    pub fn hours_seen(&self) -> usize {
        self.hours.len()
    }

    /// The counts of the complete hours between the key's first hour in
    /// the window and `now_hour` (both excluded: the first is cut by the
    /// key's start or the window's, the current one is still running), zeros
    /// included, in order.
    pub fn complete_hours(&self, now_hour: u32) -> Vec<u32> {
        let Some(&(first, _)) = self.hours.front() else {
            return Vec::new();
        };
        let mut counts = Vec::new();
        let mut next = self.hours.iter().skip(1).peekable();
        for hour in first.saturating_add(1)..now_hour {
            match next.peek() {
                Some((h, count)) if *h == hour => {
                    counts.push(*count);
                    next.next();
                }
                _ => counts.push(0),
            }
        }
        counts
    }
}
