//! Time for everything above the datapath: a [`Clock`] passed in, so that the
//! agent runs on the system's clocks and simulations, replays and tests run
//! on a [`ManualClock`] in accelerated time. This module is the only place
//! that reads the system's clocks.
//!
//! Two clocks matter: wall-clock time (what people and the collector read)
//! and `CLOCK_MONOTONIC` in nanoseconds, which is what the XDP program's
//! `bpf_ktime_get_ns` returns and what block expiries and first/last-seen
//! times in the kernel maps are measured on.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall-clock time now.
    fn now(&self) -> SystemTime;

    /// Now on the kernel program's clock (`CLOCK_MONOTONIC`, ns).
    fn monotonic_ns(&self) -> u64;

    /// A kernel timestamp (`CLOCK_MONOTONIC` ns) as wall-clock time; `None`
    /// for 0, which the kernel maps use for "never".
    fn wall_of(&self, monotonic_ns: u64) -> Option<SystemTime> {
        if monotonic_ns == 0 {
            return None;
        }
        let (now_mono, now_wall) = (self.monotonic_ns(), self.now());
        if monotonic_ns <= now_mono {
            now_wall.checked_sub(Duration::from_nanos(now_mono - monotonic_ns))
        } else {
            now_wall.checked_add(Duration::from_nanos(monotonic_ns - now_mono))
        }
    }
}

/// The machine's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic_ns(&self) -> u64 {
        crate::sys::clock_ns(libc::CLOCK_MONOTONIC)
    }
}

/// A clock that moves only when told to: both readings advance together.
#[derive(Debug)]
pub struct ManualClock {
    readings: Mutex<(SystemTime, u64)>,
}

impl ManualClock {
    /// Starts at wall-clock `wall` with the monotonic clock at `monotonic_ns`.
    pub fn new(wall: SystemTime, monotonic_ns: u64) -> ManualClock {
        ManualClock {
            readings: Mutex::new((wall, monotonic_ns)),
        }
    }

    /// Starts at `unix_secs` seconds after the epoch, monotonic clock at 1 s.
    pub fn at_unix(unix_secs: u64) -> ManualClock {
        ManualClock::new(UNIX_EPOCH + Duration::from_secs(unix_secs), 1_000_000_000)
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut readings = self.lock();
        readings.0 += by;
        readings.1 = readings
            .1
            .saturating_add(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Sets the wall clock (a jump, as NTP or a capture's timestamps make);
    /// the monotonic clock moves by the same amount if forward, not at all if back.
    pub fn set(&self, wall: SystemTime) {
        let mut readings = self.lock();
        if let Ok(forward) = wall.duration_since(readings.0) {
            readings.1 = readings
                .1
                .saturating_add(u64::try_from(forward.as_nanos()).unwrap_or(u64::MAX));
        }
        readings.0 = wall;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (SystemTime, u64)> {
        self.readings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.lock().0
    }

    fn monotonic_ns(&self) -> u64 {
        self.lock().1
    }
}

/// Seconds since the Unix epoch with millisecond precision, for JSON output
/// (0 for times before the epoch).
pub fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_millis() as f64) / 1000.0,
        Err(_) => 0.0,
    }
}

/// Whole seconds since the Unix epoch (0 for times before it).
pub fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A kernel timestamp as Unix seconds on `clock` (0.0 for "never").
pub fn kernel_time_unix(clock: &dyn Clock, monotonic_ns: u64) -> f64 {
    clock.wall_of(monotonic_ns).map_or(0.0, unix_seconds)
}

/// Unix seconds as an RFC 3339 UTC time, e.g. `2026-11-29T21:00:00Z`.
pub fn format_unix(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_monotonic_advances_and_converts_near_now() {
        let clock = SystemClock;
        let a = clock.monotonic_ns();
        std::thread::sleep(Duration::from_millis(5));
        let b = clock.monotonic_ns();
        assert!(b >= a + 5_000_000, "a={a} b={b}");
        let wall = kernel_time_unix(&clock, b);
        let now = unix_seconds(clock.now());
        assert!((now - wall).abs() < 1.0, "now={now} converted={wall}");
        assert_eq!(clock.wall_of(0), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_unix(1_700_000_000);
        assert_eq!(unix_secs(clock.now()), 1_700_000_000);
        assert_eq!(clock.monotonic_ns(), 1_000_000_000);
        clock.advance(Duration::from_millis(2500));
        assert_eq!(unix_seconds(clock.now()), 1_700_000_002.5);
        assert_eq!(clock.monotonic_ns(), 3_500_000_000);
        // A kernel timestamp 1.5 s before now reads 1.5 s before the wall clock.
        assert_eq!(kernel_time_unix(&clock, 2_000_000_000), 1_700_000_001.0);
        clock.set(UNIX_EPOCH + Duration::from_secs(1_700_000_010));
        assert_eq!(clock.monotonic_ns(), 11_000_000_000);
        // Backwards: the wall clock jumps, the monotonic clock stays.
        clock.set(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(clock.monotonic_ns(), 11_000_000_000);
    }
}
