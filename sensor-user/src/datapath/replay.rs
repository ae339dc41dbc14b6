//! The real XDP program, loaded privately (no pins, attached nowhere) and
//! fed one frame at a time with `BPF_PROG_TEST_RUN`: `vantage replay` runs
//! captures through the same code the gateway runs. Frames too large for one
//! single-buffer run go to the multi-buffer (`frags`) variant, which the
//! kernel hands the frame split over pages, so they count at their true
//! length; frames too large even for that are reported by the caller.

use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use sensor_common::{
    EncapKind, PROGRAM_RAW_IP, PROGRAM_RAW_IP_FRAGS, PROGRAM_SENSOR, PROGRAM_SENSOR_FRAGS,
};

use super::{Datapath, DatapathError, EventReader, LoadOptions};
use crate::{net::Cidr, sample::Event};

/// Largest frame one single-buffer test run takes: a page less the
/// headroom and the `skb_shared_info` tail the kernel reserves (measured
/// conservatively for x86_64; larger frames use the multi-buffer variant).
pub const SINGLE_BUFFER_MAX: usize = 3_000;

/// Largest frame the multi-buffer variant takes: the kernel splits test
/// data over at most `MAX_SKB_FRAGS` (17) pages after the first.
pub const MULTI_BUFFER_MAX: usize = 65_535;

/// The link layer of the frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameLink {
    /// Frames start with an Ethernet header.
    Ethernet,
    /// Frames start with the IPv4 or IPv6 header.
    RawIp,
}

/// The program and its maps, for replays.
pub struct ReplayDatapath {
    datapath: Datapath,
    events: EventReader,
}

impl ReplayDatapath {
    /// Loads a private copy of the program with `local_nets` protected,
    /// events on without a practical rate limit (the replay runs faster than
    /// the capture's time), and the given tunnels opened.
    pub fn load(
        local_nets: &[Cidr],
        decapsulate: &[EncapKind],
        host_capacity: u32,
    ) -> Result<ReplayDatapath, DatapathError> {
        let mut datapath = Datapath::load(&LoadOptions {
            pins: None,
            host_capacity,
        })?;
        let maps = datapath.maps_mut();
        maps.set_local_nets(local_nets)?;
        maps.set_events(true, 1_000_000_000, 1_000_000)?;
        maps.set_parsing(decapsulate, false)?;
        let events = datapath
            .take_events()
            .ok_or(DatapathError::MissingMap(sensor_common::MAP_EVENTS))?;
        Ok(ReplayDatapath { datapath, events })
    }

    /// Runs the program once on `frame` and returns its XDP verdict.
    /// `frame` must be at most [`MULTI_BUFFER_MAX`] bytes.
    pub fn run(&mut self, frame: &[u8], link: FrameLink) -> Result<u32, DatapathError> {
        let large = frame.len() > SINGLE_BUFFER_MAX;
        let name = match (link, large) {
            (FrameLink::Ethernet, false) => PROGRAM_SENSOR,
            (FrameLink::Ethernet, true) => PROGRAM_SENSOR_FRAGS,
            (FrameLink::RawIp, false) => PROGRAM_RAW_IP,
            (FrameLink::RawIp, true) => PROGRAM_RAW_IP_FRAGS,
        };
        let program: &mut Xdp = self.datapath.program(name)?;
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat: 1,
                ..TestRunOptions::default()
            })
            .map_err(|source| DatapathError::Program { name, source })?;
        Ok(result.return_value)
    }

    /// Moves the events the program sent since the last call into `out`;
    /// returns how many records could not be decoded.
    pub fn drain_events(&mut self, out: &mut Vec<Event>) -> u64 {
        self.events.drain_into(out)
    }

    /// Reads the counter maps now.
    pub fn snapshot(&self) -> Result<crate::sample::Reading, DatapathError> {
        self.datapath.snapshot()
    }
}
