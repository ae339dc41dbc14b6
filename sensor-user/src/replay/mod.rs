//! Replays: a capture's frames through the real XDP program
//! (`BPF_PROG_TEST_RUN`, see `datapath::replay`), or a recorded trace,
//! turned into the same [`Interval`]s the running agent samples, with the
//! capture's timestamps as the clock. The caller drives the pipeline with
//! them, so a replay judges and decides exactly as the gateway would have.
//!
//! Intervals are `tick` long on the capture's clock, starting at its first
//! frame. Events are drained after every frame and stamped with the frame's
//! capture time (Unix ns in `timestamp_ns`, and `end_monotonic_ns` is the
//! interval's end in Unix ns, so `Interval::wall_of` gives capture time).
//! A capture whose clock steps back keeps the pipeline's clock where it was
//! (counted); a gap longer than a tick is one interval, not thousands of
//! empty ones.

pub mod capture;
pub mod output;
pub mod session;
pub mod trace;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::{
    datapath::{
        replay::{FrameLink, ReplayDatapath, MULTI_BUFFER_MAX},
        DatapathError,
    },
    sample::{Event, Interval, Sampler},
};
use capture::{Capture, CaptureError};

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("running the XDP program: {0}")]
    Datapath(#[from] DatapathError),
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
}

/// What a replay went through, for its summary line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReplayStats {
    /// Frames read from the capture, and their bytes on the wire.
    pub frames: u64,
    pub bytes: u64,
    /// Frames run through the program, by verdict.
    pub passed: u64,
    pub dropped: u64,
    pub other_verdicts: u64,
    /// Frames larger than one test run takes ([`MULTI_BUFFER_MAX`]):
    /// counted here, not run.
    pub skipped_too_large: u64,
    /// Frames the capture cut short (captured fewer bytes than the wire had).
    pub snapped: u64,
    /// Frames of links the program does not read (pcapng interfaces other
    /// than Ethernet and raw IP): counted, not run; and those link types.
    pub skipped_other_link: u64,
    pub other_links: Vec<String>,
    /// Frames of a raw-IP link.
    pub raw_ip_frames: u64,
    /// Times the capture's clock went backwards (the pipeline's clock held).
    pub clock_steps_back: u64,
    /// Event records the agent could not decode.
    pub undecodable_events: u64,
    /// Capture time of the first and last frame, Unix seconds.
    pub first_at: f64,
    pub last_at: f64,
    /// Intervals handed to the pipeline.
    pub intervals: u64,
    /// The capture ended with an unreadable frame: the error, after the
    /// frames before it were replayed.
    pub stopped_by: Option<String>,
}

impl ReplayStats {
    /// Seconds between the first and the last frame.
    pub fn span_secs(&self) -> f64 {
        (self.last_at - self.first_at).max(0.0)
    }
}

fn unix_ns(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Cuts a stream of timestamped frames into intervals; see the module
/// documentation.
struct Timeline {
    tick: Duration,
    /// The pipeline's clock: the latest capture time seen.
    clock: Option<SystemTime>,
    next_end: Option<SystemTime>,
}

impl Timeline {
    /// Takes a frame's time; returns the end of the interval to close
    /// before the frame is run, if one is due.
    fn advance(
        &mut self,
        at: SystemTime,
        stats: &mut ReplayStats,
    ) -> (SystemTime, Option<SystemTime>) {
        let clock = match self.clock {
            Some(clock) if at < clock => {
                stats.clock_steps_back += 1;
                clock
            }
            _ => at,
        };
        self.clock = Some(clock);
        let next_end = *self.next_end.get_or_insert(clock + self.tick);
        if clock < next_end {
            return (clock, None);
        }
        // Close at the last tick boundary at or before this frame.
        let behind = clock.duration_since(next_end).unwrap_or_default();
        let whole_ticks = (behind.as_nanos() / self.tick.as_nanos().max(1)) as u32;
        let end = next_end + self.tick * whole_ticks;
        self.next_end = Some(end + self.tick);
        (clock, Some(end))
    }
}

/// Replays `capture` through `kernel`, handing each interval to `sink`
/// (which drives the pipeline); the last interval ends at the last frame.
pub fn replay_capture<E>(
    capture: &mut Capture,
    kernel: &mut ReplayDatapath,
    tick: Duration,
    mut sink: impl FnMut(Interval) -> Result<(), E>,
) -> Result<Result<ReplayStats, E>, ReplayError> {
    let mut stats = ReplayStats::default();
    let mut timeline = Timeline {
        tick,
        clock: None,
        next_end: None,
    };
    let mut sampler = Sampler::new();
    let mut events: Vec<Event> = Vec::new();
    let mut fresh: Vec<Event> = Vec::new();
    let close = |end: SystemTime,
                 events: &mut Vec<Event>,
                 sampler: &mut Sampler,
                 kernel: &ReplayDatapath,
                 stats: &mut ReplayStats|
     -> Result<Interval, ReplayError> {
        let reading = kernel.snapshot()?;
        stats.intervals += 1;
        Ok(sampler.next(reading, std::mem::take(events), end, unix_ns(end)))
    };
    while let Some(frame) = capture.next_frame() {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                // What was read before stays replayed; the summary says why it stopped.
                stats.stopped_by = Some(error.to_string());
                break;
            }
        };
        let (clock, due) = timeline.advance(frame.at, &mut stats);
        if let Some(end) = due {
            let interval = close(end, &mut events, &mut sampler, kernel, &mut stats)?;
            if let Err(error) = sink(interval) {
                return Ok(Err(error));
            }
        }
        let at_secs = crate::time::unix_seconds(frame.at);
        if stats.frames == 0 {
            stats.first_at = at_secs;
        }
        stats.last_at = stats.last_at.max(at_secs);
        stats.frames += 1;
        stats.bytes += u64::from(frame.original_len);
        if (frame.data.len() as u64) < u64::from(frame.original_len) {
            stats.snapped += 1;
        }
        if frame.link == FrameLink::RawIp {
            stats.raw_ip_frames += 1;
        }
        if frame.data.len() > MULTI_BUFFER_MAX {
            stats.skipped_too_large += 1;
            continue;
        }
        match kernel.run(&frame.data, frame.link)? {
            1 => stats.dropped += 1,
            2 => stats.passed += 1,
            _ => stats.other_verdicts += 1,
        }
        stats.undecodable_events += kernel.drain_events(&mut fresh);
        let stamp = unix_ns(clock);
        for mut event in fresh.drain(..) {
            event.timestamp_ns = stamp;
            events.push(event);
        }
    }
    let (other, links) = capture.other_link_frames();
    stats.skipped_other_link = other;
    stats.other_links = links.to_vec();
    if let Some(clock) = timeline.clock {
        let interval = close(clock, &mut events, &mut sampler, kernel, &mut stats)?;
        if let Err(error) = sink(interval) {
            return Ok(Err(error));
        }
    }
    Ok(Ok(stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + millis)
    }

    #[test]
    fn the_timeline_closes_intervals_on_tick_boundaries_and_holds_on_steps_back() {
        let mut stats = ReplayStats::default();
        let mut timeline = Timeline {
            tick: Duration::from_secs(1),
            clock: None,
            next_end: None,
        };
        assert_eq!(timeline.advance(at(0), &mut stats), (at(0), None));
        assert_eq!(timeline.advance(at(999), &mut stats), (at(999), None));
        assert_eq!(
            timeline.advance(at(1000), &mut stats),
            (at(1000), Some(at(1000)))
        );
        // Back in time: the clock holds, no interval.
        assert_eq!(timeline.advance(at(500), &mut stats), (at(1000), None));
        assert_eq!(stats.clock_steps_back, 1);
        // A gap of years is one interval, closed at the last boundary.
        let years = 3 * 365 * 24 * 3600 * 1000;
        assert_eq!(
            timeline.advance(at(years + 2500), &mut stats),
            (at(years + 2500), Some(at(years + 2000)))
        );
        assert_eq!(timeline.advance(at(years + 2999), &mut stats).1, None);
        assert_eq!(
            timeline.advance(at(years + 3000), &mut stats).1,
            Some(at(years + 3000))
        );
    }
}
