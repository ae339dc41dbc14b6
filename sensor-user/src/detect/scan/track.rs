//! Bookkeeping shared by the scan, sweep and lateral-movement detectors:
//! a key map capped by evicting the least recently active key ([`Lru`]),
//! per-target tallies of attempts and answers ([`Tally`], [`Targets`]), and
//! the addresses that are never a peer worth counting ([`ignored_peer`]).

use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
    net::IpAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::detect::{Outcome, Site};

/// Milliseconds since the Unix epoch (0 before it, saturating far after).
pub(in crate::detect) fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A window in milliseconds (saturating).
pub(in crate::detect) fn window_millis(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

/// True for addresses no detector counts as a peer: multicast, the limited
/// broadcast 255.255.255.255, the unspecified and loopback addresses, and
/// the last address of every protected IPv4 prefix from /1 to /30. That is
/// the directed broadcast when the prefix is one subnet (a /24 in
/// `sensor.local_nets` has its .255 ignored); a declared /16 holding many
/// /24 subnets does not say where they are, so only its x.y.255.255 is.
pub(in crate::detect) fn ignored_peer(site: &Site, peer: IpAddr) -> bool {
    if peer.is_multicast() || peer.is_unspecified() || peer.is_loopback() {
        return true;
    }
    let IpAddr::V4(v4) = peer else {
        return false;
    };
    if v4.is_broadcast() {
        return true;
    }
    let value = u32::from(v4);
    site.protected.iter().any(|net| match net.addr {
        IpAddr::V4(base) if (1..=30).contains(&net.prefix_len) => {
            let last = u32::from(base) | (u32::MAX >> net.prefix_len);
            value == last
        }
        _ => false,
    })
}

/// A map of at most `cap` keys; adding a key to a full map evicts the
/// least recently active one (active: added, or looked up with
/// [`Lru::entry`] or [`Lru::touch`]). Evictions are counted.
#[derive(Debug)]
pub(in crate::detect) struct Lru<K, V> {
    entries: HashMap<K, Slot<V>>,
    /// Activity stamp -> key, oldest first.
    order: BTreeMap<u64, K>,
    next: u64,
    cap: usize,
    evicted: u64,
}

#[derive(Debug)]
struct Slot<V> {
    stamp: u64,
    value: V,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    /// An empty map holding at most `cap` keys (0: holds nothing).
    pub(in crate::detect) fn new(cap: usize) -> Lru<K, V> {
        Lru {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            cap,
            evicted: 0,
        }
    }

    fn stamp(&mut self) -> u64 {
        let stamp = self.next;
        self.next = self.next.wrapping_add(1);
        stamp
    }

    /// The value of `key`, made by `make` when the key is new (evicting the
    /// least recently active key when full), and marked active. `None` only
    /// when the cap is 0.
    pub(in crate::detect) fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> Option<&mut V> {
        if self.entries.contains_key(&key) {
            return self.touch(&key);
        }
        if self.cap == 0 {
            return None;
        }
        while self.entries.len() >= self.cap {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if self.entries.remove(&oldest).is_some() {
                self.evicted += 1;
            }
        }
        let stamp = self.stamp();
        self.order.insert(stamp, key.clone());
        let slot = self.entries.entry(key).or_insert(Slot {
            stamp,
            value: make(),
        });
        Some(&mut slot.value)
    }

    /// The value of `key` if tracked, marked active.
    pub(in crate::detect) fn touch(&mut self, key: &K) -> Option<&mut V> {
        let stamp = self.stamp();
        let slot = self.entries.get_mut(key)?;
        self.order.remove(&slot.stamp);
        slot.stamp = stamp;
        self.order.insert(stamp, key.clone());
        Some(&mut slot.value)
    }

    /// Keeps the keys for which `keep` returns true (it may change the value).
    pub(in crate::detect) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain(|key, slot| keep(key, &mut slot.value));
        let entries = &self.entries;
        self.order.retain(|_, key| entries.contains_key(key));
    }

    pub(in crate::detect) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, slot)| (key, &slot.value))
    }

    /// Keys tracked now.
    pub(in crate::detect) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keys evicted since the start.
    pub(in crate::detect) fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// Attempts and answers of one target (a port, a peer) within the window.
/// Counts saturate at 65,535.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::detect) struct Tally {
    /// Last attempt, milliseconds since the Unix epoch.
    pub last_ms: u64,
    pub attempts: u16,
    /// SYN-ACKs (or other positive answers) seen.
    pub answered: u16,
    /// RSTs and ICMP unreachables seen.
    pub refused: u16,
}

impl Tally {
    pub(in crate::detect) fn attempt(&mut self, at_ms: u64) {
        self.last_ms = self.last_ms.max(at_ms);
        self.attempts = self.attempts.saturating_add(1);
    }

    pub(in crate::detect) fn answer(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Answered => self.answered = self.answered.saturating_add(1),
            Outcome::Refused => self.refused = self.refused.saturating_add(1),
        }
    }

    /// True when the target never answered positively: refused or silent
    /// (Zeek's "failed connection").
    pub(in crate::detect) fn failed(&self) -> bool {
        self.answered == 0
    }

    /// True while the last attempt is at most `window_ms` before `now_ms`.
    pub(in crate::detect) fn within(&self, now_ms: u64, window_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_ms) <= window_ms
    }

    /// (answered, refused, silent) attempts: answers beyond the attempts
    /// (retransmitted SYN-ACKs) are not counted twice.
    pub(in crate::detect) fn split(&self) -> (u64, u64, u64) {
        let attempts = u64::from(self.attempts);
        let answered = u64::from(self.answered).min(attempts);
        let refused = u64::from(self.refused).min(attempts - answered);
        (answered, refused, attempts - answered - refused)
    }
}

/// Totals over a key's targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::detect) struct Summary {
    /// Distinct targets attempted.
    pub distinct: u64,
    /// Distinct targets that never answered positively.
    pub failed: u64,
    pub attempts: u64,
    pub answered: u64,
    pub refused: u64,
    /// Attempts with no answer at all.
    pub silent: u64,
}

impl Summary {
    pub(in crate::detect) fn add(&mut self, tally: &Tally) {
        let (answered, refused, silent) = tally.split();
        self.distinct += 1;
        self.failed += u64::from(tally.failed());
        self.attempts += u64::from(tally.attempts);
        self.answered += answered;
        self.refused += refused;
        self.silent += silent;
    }

    /// Share of attempts not answered positively, 0 to 100 (rounded down).
    pub(in crate::detect) fn failed_share(&self) -> u8 {
        if self.attempts == 0 {
            return 0;
        }
        let share = 100 * (self.attempts - self.answered) / self.attempts;
        u8::try_from(share).unwrap_or(100)
    }
}

/// The targets one key tried, at most `cap` of them: attempts to a new
/// target beyond the cap are not remembered (the measures saturate well
/// before; see the detectors' `MAX_*_PER_KEY`).
#[derive(Debug)]
pub(in crate::detect) struct Targets<I> {
    items: HashMap<I, Tally>,
}

impl<I: Eq + Hash + Copy> Targets<I> {
    pub(in crate::detect) fn new() -> Targets<I> {
        Targets {
            items: HashMap::new(),
        }
    }

    /// Counts an attempt on `item`; false when it is new and the set is full.
    pub(in crate::detect) fn attempt(&mut self, item: I, at_ms: u64, cap: usize) -> bool {
        if !self.items.contains_key(&item) && self.items.len() >= cap {
            return false;
        }
        self.items.entry(item).or_default().attempt(at_ms);
        true
    }

    /// Counts an answer from `item`, if it was attempted.
    pub(in crate::detect) fn answer(&mut self, item: I, outcome: Outcome) {
        if let Some(tally) = self.items.get_mut(&item) {
            tally.answer(outcome);
        }
    }

    /// Forgets the targets last attempted more than `window_ms` before `now_ms`.
    pub(in crate::detect) fn prune(&mut self, now_ms: u64, window_ms: u64) {
        self.items
            .retain(|_, tally| tally.within(now_ms, window_ms));
    }

    pub(in crate::detect) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(in crate::detect) fn iter(&self) -> impl Iterator<Item = (&I, &Tally)> {
        self.items.iter()
    }

    pub(in crate::detect) fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for tally in self.items.values() {
            summary.add(tally);
        }
        summary
    }
}
