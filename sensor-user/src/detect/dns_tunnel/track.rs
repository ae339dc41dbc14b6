//! What the detector keeps per (host, domain): the distinct names (64-bit
//! hashes with their shape and when last seen) and the queries in slices
//! of the window; and per host, the last domain it sent a long label to.

use std::{
    collections::{HashMap, VecDeque},
    hash::{DefaultHasher, Hasher},
    net::IpAddr,
    time::{SystemTime, UNIX_EPOCH},
};

use super::{shape::NameShape, TunnelMeasures};
use crate::detect::pdns::recency::Stamp;

/// Milliseconds since the Unix epoch (0 before it).
pub(super) fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The 64-bit hash a name is remembered by (SipHash with fixed keys).
pub(super) fn name_hash(name: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(name.as_bytes());
    hasher.finish()
}

/// One distinct name of a key.
#[derive(Clone, Copy, Debug)]
struct NameRecord {
    last_ms: u64,
    shape: NameShape,
}

/// Queries of a key within one slice of the window.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    start_ms: u64,
    first_ms: u64,
    last_ms: u64,
    queries: u32,
    typed: u32,
    unusual: u32,
}

/// One (host, domain): its names and queries within the window.
#[derive(Debug)]
pub(super) struct KeyState {
    names: HashMap<u64, NameRecord>,
    buckets: VecDeque<Bucket>,
    /// The resolver of the latest query.
    pub resolver: IpAddr,
    pub stamp: Stamp,
}

impl KeyState {
    pub fn new(resolver: IpAddr, stamp: Stamp) -> KeyState {
        KeyState {
            names: HashMap::new(),
            buckets: VecDeque::new(),
            resolver,
            stamp,
        }
    }

    /// Distinct names remembered.
    pub fn names(&self) -> usize {
        self.names.len()
    }

    /// Counts a query at `at_ms` in its slice of `bucket_ms`, after
    /// forgetting the slices that left the window (so that memory stays
    /// bounded between ticks). A time earlier than the newest slice counts
    /// in the newest.
    pub fn count_query(
        &mut self,
        at_ms: u64,
        typed: bool,
        unusual: bool,
        bucket_ms: u64,
        window_ms: u64,
    ) {
        self.forget_queries_before(at_ms.saturating_sub(window_ms));
        let start_ms = at_ms - at_ms % bucket_ms.max(1);
        match self.buckets.back_mut() {
            Some(bucket) if bucket.start_ms >= start_ms => {
                bucket.queries = bucket.queries.saturating_add(1);
                bucket.typed = bucket.typed.saturating_add(u32::from(typed));
                bucket.unusual = bucket.unusual.saturating_add(u32::from(unusual));
                bucket.first_ms = bucket.first_ms.min(at_ms);
                bucket.last_ms = bucket.last_ms.max(at_ms);
            }
            _ => self.buckets.push_back(Bucket {
                start_ms,
                first_ms: at_ms,
                last_ms: at_ms,
                queries: 1,
                typed: u32::from(typed),
                unusual: u32::from(unusual),
            }),
        }
    }

    /// Remembers the name with `hash` as seen at `at_ms`; true when it is
    /// new. The caller makes room first ([`KeyState::evict_oldest_name`]).
    pub fn see_name(&mut self, hash: u64, shape: NameShape, at_ms: u64) -> bool {
        if let Some(record) = self.names.get_mut(&hash) {
            record.last_ms = record.last_ms.max(at_ms);
            return false;
        }
        self.names.insert(
            hash,
            NameRecord {
                last_ms: at_ms,
                shape,
            },
        );
        true
    }

    /// True when the name with `hash` is remembered.
    pub fn knows(&self, hash: u64) -> bool {
        self.names.contains_key(&hash)
    }

    /// Forgets the least recently seen name; false when there is none.
    pub fn evict_oldest_name(&mut self) -> bool {
        let oldest = self
            .names
            .iter()
            .min_by_key(|(_, record)| record.last_ms)
            .map(|(hash, _)| *hash);
        oldest.is_some_and(|hash| self.names.remove(&hash).is_some())
    }

    fn forget_queries_before(&mut self, cutoff_ms: u64) {
        while self.buckets.front().is_some_and(|b| b.last_ms < cutoff_ms) {
            self.buckets.pop_front();
        }
    }

    /// Forgets names and query slices last seen before `cutoff_ms`; returns
    /// how many names went.
    pub fn prune(&mut self, cutoff_ms: u64) -> usize {
        let before = self.names.len();
        self.names.retain(|_, record| record.last_ms >= cutoff_ms);
        self.forget_queries_before(cutoff_ms);
        before - self.names.len()
    }

    pub fn measures(&self) -> TunnelMeasures {
        let mut measures = TunnelMeasures {
            distinct_names: self.names.len(),
            ..TunnelMeasures::default()
        };
        let (mut len, mut payload, mut weighted) = (0_u64, 0_u64, 0.0_f64);
        for record in self.names.values() {
            let shape = record.shape;
            measures.max_label = measures.max_label.max(usize::from(shape.max_label));
            len += u64::from(shape.len);
            payload += u64::from(shape.payload);
            weighted += f64::from(shape.entropy) * f64::from(shape.payload);
        }
        if !self.names.is_empty() {
            measures.mean_name_len = len as f64 / self.names.len() as f64;
        }
        if payload > 0 {
            measures.entropy_bits = weighted / payload as f64;
        }
        let (mut first, mut last) = (u64::MAX, 0);
        for bucket in &self.buckets {
            measures.queries += u64::from(bucket.queries);
            measures.typed_queries += u64::from(bucket.typed);
            measures.unusual_queries += u64::from(bucket.unusual);
            first = first.min(bucket.first_ms);
            last = last.max(bucket.last_ms);
        }
        if measures.queries > 0 {
            let minutes = last.saturating_sub(first).max(60_000) as f64 / 60_000.0;
            measures.queries_per_minute = measures.queries as f64 / minutes;
        }
        measures
    }
}

/// The host's last whole name with a long label: where its cut names go.
#[derive(Debug)]
pub(super) struct LongLabelSeen {
    /// `None`: an exempt domain (its cut names are exempt too).
    pub domain: Option<String>,
    pub at_ms: u64,
    pub stamp: Stamp,
}
