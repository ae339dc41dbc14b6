//! Least-recently-seen order for the bounded tables of passive DNS and the
//! DNS tunnel detector: each key carries a [`Stamp`] (when it was last seen
//! on the pipeline's clock, plus a sequence number that keeps stamps unique
//! and orders keys seen at the same instant), and the table evicts the key
//! with the smallest stamp when it is full.

use std::{collections::BTreeMap, time::SystemTime};

/// When a key was last seen, and the order in which it was touched.
pub(in crate::detect) type Stamp = (SystemTime, u64);

/// Keys ordered from least to most recently seen.
#[derive(Debug)]
pub(in crate::detect) struct Recency<K> {
    order: BTreeMap<Stamp, K>,
    next: u64,
}

impl<K: PartialEq> Recency<K> {
    pub(in crate::detect) fn new() -> Recency<K> {
        Recency {
            order: BTreeMap::new(),
            next: 0,
        }
    }

    /// Records `key` as seen at `at`, replacing its `previous` stamp; returns
    /// the new stamp. A time earlier than the previous one (a capture
    /// slightly out of order) keeps the previous time: a key is never made
    /// older by being seen.
    pub(in crate::detect) fn touch(
        &mut self,
        previous: Option<Stamp>,
        key: K,
        at: SystemTime,
    ) -> Stamp {
        let mut when = at;
        if let Some(previous) = previous {
            self.order.remove(&previous);
            when = when.max(previous.0);
        }
        let stamp = (when, self.next);
        self.next = self.next.wrapping_add(1);
        self.order.insert(stamp, key);
        stamp
    }

    /// Forgets the key with `stamp`.
    pub(in crate::detect) fn remove(&mut self, stamp: Stamp) {
        self.order.remove(&stamp);
    }

    /// True when `key` is the least recently seen key.
    pub(in crate::detect) fn is_oldest(&self, key: &K) -> bool {
        self.order
            .first_key_value()
            .is_some_and(|(_, oldest)| oldest == key)
    }

    /// Removes and returns the least recently seen key.
    pub(in crate::detect) fn pop_oldest(&mut self) -> Option<K> {
        self.order.pop_first().map(|(_, key)| key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn pops_least_recently_seen_first_and_never_ages_a_key() {
        let t = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        let mut order = Recency::new();
        let a = order.touch(None, 'a', t(10));
        let b = order.touch(None, 'b', t(20));
        // `a` seen again with an earlier time keeps its 10 s: still the oldest.
        let a = order.touch(Some(a), 'a', t(5));
        assert_eq!(a.0, t(10));
        assert!(order.is_oldest(&'a'));
        let a = order.touch(Some(a), 'a', t(30));
        assert!(order.is_oldest(&'b'));
        order.remove(b);
        assert!(order.is_oldest(&'a'));
        assert_eq!(order.pop_oldest(), Some('a'));
        assert_eq!(order.pop_oldest(), None);
        assert_eq!(a.0, t(30));
    }
}
