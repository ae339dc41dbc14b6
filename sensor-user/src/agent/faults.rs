//! Transient faults the agent survives: each kind is logged when it starts
//! failing and when it recovers (not on every retry), counted, shown in
//! the state file and carried in heartbeats. Only loading and attaching the
//! program are fatal; everything here is retried on the next tick.

use std::{collections::BTreeMap, fmt::Display, time::SystemTime};

use crate::{report::agent_state::FaultState, time::unix_secs};

/// What failed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum FaultKind {
    /// Writing the state file (`vantage status` reads it).
    StateFile,
    /// Committing to the spool, or recording acks in it.
    Spool,
    /// Waiting on the events ring buffer.
    Events,
    /// Reading the counter maps.
    Snapshot,
    /// Deleting expired blocks.
    BlockSweep,
    /// Reading or clearing the outbox of hand-raised alerts.
    Outbox,
    /// Writing a block the response policy decided.
    Response,
    /// The detectors' files: the device inventory, the alert ids, the
    /// known-bad lists, the `--record` trace.
    DetectFiles,
}

impl FaultKind {
    /// This kind's bit in a heartbeat's `failing` set.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Every fault kind's state.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    kinds: BTreeMap<FaultKind, FaultState>,
}

impl Faults {
    /// Records a failure of `kind` at `now`; logs it if it was not already failing.
    pub fn failed(&mut self, kind: FaultKind, error: &dyn Display, now: SystemTime) {
        let state = self.kinds.entry(kind).or_default();
        let message = error.to_string();
        if !state.failing || state.last_error.as_deref() != Some(&message) {
            log::warn!("{}: {message}; retrying", <&str>::from(kind));
        }
        state.count += 1;
        state.failing = true;
        state.last_error = Some(message);
        state.last_at = Some(unix_secs(now));
    }

    /// Records that `kind` works (again); logs the recovery.
    pub fn succeeded(&mut self, kind: FaultKind) {
        if let Some(state) = self.kinds.get_mut(&kind) {
            if state.failing {
                state.failing = false;
                log::info!(
                    "{}: recovered after {} failure(s)",
                    <&str>::from(kind),
                    state.count
                );
            }
        }
    }

    /// Records the outcome of an attempt of `kind`, returning its value if it worked.
    pub fn check<T, E: Display>(
        &mut self,
        kind: FaultKind,
        result: Result<T, E>,
        now: SystemTime,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.succeeded(kind);
                Some(value)
            }
            Err(error) => {
                self.failed(kind, &error, now);
                None
            }
        }
    }

    /// Failures of every kind since the agent started.
    pub fn total(&self) -> u64 {
        self.kinds.values().map(|state| state.count).sum()
    }

    /// The set of kinds failing now, as heartbeat bits.
    pub fn failing_bits(&self) -> u8 {
        self.kinds
            .iter()
            .filter(|(_, state)| state.failing)
            .fold(0, |bits, (kind, _)| bits | kind.bit())
    }

    /// The report for the state file, by kind name.
    pub fn report(&self) -> BTreeMap<String, FaultState> {
        self.kinds
            .iter()
            .map(|(kind, state)| (<&str>::from(*kind).to_owned(), state.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn failures_are_counted_until_recovery() {
        let mut faults = Faults::default();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            faults.check(FaultKind::StateFile, Ok::<u8, String>(1), now),
            Some(1)
        );
        assert_eq!(faults.total(), 0);
        for _ in 0..3 {
            let result: Result<(), String> = Err("No space left on device".into());
            assert_eq!(faults.check(FaultKind::StateFile, result, now), None);
        }
        faults.failed(FaultKind::Outbox, &"denied", now);
        assert_eq!(faults.total(), 4);
        assert_eq!(
            faults.failing_bits(),
            FaultKind::StateFile.bit() | FaultKind::Outbox.bit()
        );
        assert_eq!(
            (FaultKind::StateFile.bit(), FaultKind::Outbox.bit()),
            (1, 32)
        );
        faults.succeeded(FaultKind::StateFile);
        assert_eq!(faults.failing_bits(), FaultKind::Outbox.bit());
        let report = faults.report();
        let state = &report["state_file"];
        assert_eq!((state.count, state.failing), (3, false));
        assert_eq!(state.last_error.as_deref(), Some("No space left on device"));
        assert_eq!(state.last_at, Some(1_700_000_000));
    }
}
