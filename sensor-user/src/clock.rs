//! Time as the kernel program sees it (`CLOCK_MONOTONIC`, as returned by
//! `bpf_ktime_get_ns`) and its conversion to wall-clock time for display.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads a POSIX clock in nanoseconds.
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Now, on the kernel program's clock.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Converts a kernel timestamp to wall-clock time (`None` for 0, "never").
pub fn to_system_time(monotonic: u64) -> Option<SystemTime> {
    if monotonic == 0 {
        return None;
    }
    let now_mono = monotonic_ns();
    let now_wall = SystemTime::now();
    if monotonic <= now_mono {
        now_wall.checked_sub(Duration::from_nanos(now_mono - monotonic))
    } else {
        now_wall.checked_add(Duration::from_nanos(monotonic - now_mono))
    }
}

/// Seconds since the Unix epoch, with millisecond precision, for JSON output.
pub fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_millis() as f64) / 1000.0,
        Err(_) => 0.0,
    }
}

/// Whole seconds since the Unix epoch, now (0 if the clock is before it).
pub fn unix_now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_advances_and_converts_near_now() {
        let a = monotonic_ns();
        std::thread::sleep(Duration::from_millis(5));
        let b = monotonic_ns();
        assert!(b >= a + 5_000_000, "a={a} b={b}");
        let wall = to_system_time(b).map(unix_seconds).unwrap_or(0.0);
        let now = unix_seconds(SystemTime::now());
        assert!((now - wall).abs() < 1.0, "now={now} converted={wall}");
        assert_eq!(to_system_time(0), None);
    }
}
