//! The kernel side of the agent: loading the XDP object, pinning its maps and
//! links under bpffs so they outlive the agent, attaching to interfaces, and
//! typed access to the maps, reading them into plain samples, and the
//! stream of decoded events. This is the only module that uses aya or reads
//! the kernel's structs; everything it hands out is plain data.

mod attach;
mod bpffs;
pub mod events;
mod hosts;
pub mod iface;
pub mod kernel_probe;
mod maps;
mod pins;
pub mod replay;
pub mod snapshot;
pub mod xdp_mode;

use std::path::{Path, PathBuf};

pub use crate::config::AttachMode;
pub use attach::{is_sensor_program, link_report, Attachment};
use aya::{
    maps::{Map, MapData, RingBuf},
    programs::Xdp,
    Ebpf, EbpfLoader,
};
pub use bpffs::{ensure_bpffs, BpffsError};
pub use events::{decode_event, EventDecodeError, EventReader, EventStream, DNS_MESSAGE_MAX};
pub use maps::{BlockRecord, HostRecord, SensorMaps};
use sensor_common::{ALL_MAPS, MAP_EVENTS, MAP_HOSTS, PROGRAM_REFERENCE, PROGRAM_SENSOR};

/// The XDP object built by `build.rs` from `sensor-ebpf`.
pub static SENSOR_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor"));

/// How the program was attached to an interface.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AttachedMode {
    /// Native XDP in the driver.
    Driver,
    /// Generic XDP in the kernel stack (slower; used when the driver lacks XDP).
    Generic,
}

#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error("this vantage binary was built with AYA_BUILD_SKIP and carries no XDP program")]
    NoObject,
    #[error("loading the XDP object: {0}")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("the XDP object has no program `{0}`")]
    MissingProgram(&'static str),
    #[error("the XDP object has no map `{0}`")]
    MissingMap(&'static str),
    #[error("map `{name}`: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("program `{name}`: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("no network interface named `{0}` here")]
    NoSuchInterface(String),
    #[error("`{iface}`: {source}")]
    Interface {
        iface: String,
        source: std::io::Error,
    },
    #[error("`{iface}` is a {what}: the program reads Ethernet frames, or raw IP on ppp, rawip, ipip, ip6ip6, sit, ip6gre and headerless links (tun, WireGuard), and nothing else")]
    UnsupportedLink { iface: String, what: String },
    #[error("native XDP on `{iface}` refuses its MTU of {mtu} bytes, with single- and multi-buffer programs: lower the MTU or use generic mode (attach_mode = \"generic\")")]
    MtuTooLarge { iface: String, mtu: u32 },
    #[error("another XDP program is attached to `{iface}` (another vantage pin_dir, or xdp-loader): `ip link show {iface}` names it; unload it first (`vantage unload --pin-dir DIR` or `ip link set {iface} xdp off`)")]
    AttachBusy { iface: String },
    #[error("attaching to `{iface}` in {mode} mode: {source}")]
    Attach {
        iface: String,
        mode: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error(
        "no sensor maps pinned at {path}: start the agent with `vantage run` first ({source})"
    )]
    NotPinned {
        path: PathBuf,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("pinning `{what}` at {path}: {message}")]
    Pin {
        what: String,
        path: PathBuf,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bpffs(#[from] BpffsError),
    #[error(transparent)]
    Kernel(#[from] kernel_probe::KernelError),
    #[error("the map {map} pinned under {} was made by another version of the program (key {} and value {} bytes; this version needs {} and {}): stop that version's agent, run `vantage unload --pin-dir {}` with the --state-dir it used (its counters and blocks are lost), then start again", pin_dir.display(), found.0, found.1, expected.0, expected.1, pin_dir.display())]
    PinnedByOtherVersion {
        map: &'static str,
        pin_dir: PathBuf,
        /// Key and value sizes of the pinned map, bytes.
        found: (u32, u32),
        /// Key and value sizes this version needs, bytes.
        expected: (u32, u32),
    },
}

/// Where things live under the pin directory.
#[derive(Clone, Debug)]
pub struct PinLayout {
    root: PathBuf,
}

impl PinLayout {
    pub fn new(root: impl Into<PathBuf>) -> PinLayout {
        PinLayout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn maps_dir(&self) -> PathBuf {
        self.root.join("maps")
    }

    pub fn map(&self, name: &str) -> PathBuf {
        self.maps_dir().join(name)
    }

    pub fn links_dir(&self) -> PathBuf {
        self.root.join("links")
    }

    pub fn link(&self, iface: &str) -> PathBuf {
        self.links_dir().join(format!("xdp-{iface}"))
    }

    /// True if maps are pinned here (an agent ran, or runs, with this layout).
    pub fn has_maps(&self) -> bool {
        self.map(sensor_common::MAP_HOSTS).exists()
    }

    /// True if nothing at all is pinned here (no map, no link).
    pub fn is_empty(&self) -> bool {
        [self.maps_dir(), self.links_dir()]
            .iter()
            .all(|dir| std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none()))
    }

    fn create_dirs(&self) -> Result<(), DatapathError> {
        for dir in [self.maps_dir(), self.links_dir()] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| DatapathError::Io { path: dir, source })?;
        }
        Ok(())
    }
}

/// Options for [`Datapath::load`].
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Pin maps (reusing pinned ones) under this layout; `None` keeps them private
    /// to this process (tests and benchmarks).
    pub pins: Option<PinLayout>,
    /// Host slots per CPU; rounded up to whole sets of [`sensor_common::HOST_WAYS`]
    /// and a power of two of sets. Ignored when an existing pinned map is reused.
    pub host_capacity: u32,
}

/// The loaded program with its maps. Dropping it detaches links that were not pinned.
pub struct Datapath {
    ebpf: Ebpf,
    maps: SensorMaps,
    events: Option<EventReader>,
    pins: Option<PinLayout>,
}

impl Datapath {
    /// Loads and verifies the XDP program, creating or reusing its maps.
    pub fn load(options: &LoadOptions) -> Result<Datapath, DatapathError> {
        if SENSOR_OBJECT.is_empty() {
            return Err(DatapathError::NoObject);
        }
        kernel_probe::require()?;
        let mut loader = EbpfLoader::new();
        loader.map_max_entries(MAP_HOSTS, host_sets(options.host_capacity));
        if let Some(pins) = &options.pins {
            ensure_bpffs(pins.root())?;
            pins::check(pins)?;
            pins.create_dirs()?;
            for name in ALL_MAPS {
                loader.map_pin_path(name, pins.map(name));
            }
        }
        let mut ebpf = loader
            .load(SENSOR_OBJECT)
            .map_err(|e| DatapathError::Load(Box::new(e)))?;
        // Verify the main program now, so that a kernel that refuses it
        // says so at start; the other variants load when first attached.
        for name in [PROGRAM_SENSOR, PROGRAM_REFERENCE] {
            xdp_program(&mut ebpf, name)?
                .load()
                .map_err(|source| DatapathError::Program { name, source })?;
        }
        let mut maps = SensorMaps::from_ebpf(&mut ebpf)?;
        maps.publish_host_sets()?;
        let events = match ebpf.take_map(MAP_EVENTS) {
            Some(map) => Some(EventReader::new(RingBuf::try_from(map).map_err(
                |source| DatapathError::Map {
                    name: MAP_EVENTS,
                    source,
                },
            )?)),
            None => return Err(DatapathError::MissingMap(MAP_EVENTS)),
        };
        Ok(Datapath {
            ebpf,
            maps,
            events,
            pins: options.pins.clone(),
        })
    }

    pub fn maps(&self) -> &SensorMaps {
        &self.maps
    }

    pub fn maps_mut(&mut self) -> &mut SensorMaps {
        &mut self.maps
    }

    /// Hands the events ring buffer to its consumer (once).
    pub fn take_events(&mut self) -> Option<EventReader> {
        self.events.take()
    }

    /// Reads the counter maps now.
    pub fn snapshot(&self) -> Result<crate::sample::Reading, DatapathError> {
        snapshot::read(&self.maps)
    }

    /// The sensor program for Ethernet frames, for `BPF_PROG_TEST_RUN`.
    pub fn sensor_program(&mut self) -> Result<&mut Xdp, DatapathError> {
        self.program(PROGRAM_SENSOR)
    }

    /// The sensor program for raw IP frames, for `BPF_PROG_TEST_RUN`.
    pub fn raw_ip_program(&mut self) -> Result<&mut Xdp, DatapathError> {
        self.program(sensor_common::PROGRAM_RAW_IP)
    }

    /// One of the object's programs by name (`sensor_common::PROGRAM_*`),
    /// loaded (verified) on first use, for `BPF_PROG_TEST_RUN`.
    pub fn program(&mut self, name: &'static str) -> Result<&mut Xdp, DatapathError> {
        let program = xdp_program(&mut self.ebpf, name)?;
        if program.fd().is_err() {
            program
                .load()
                .map_err(|source| DatapathError::Program { name, source })?;
        }
        Ok(program)
    }

    /// The pass-only reference program, for benchmarks.
    pub fn reference_program(&mut self) -> Result<&mut Xdp, DatapathError> {
        self.program(PROGRAM_REFERENCE)
    }
}

/// Sets for a table of at least `capacity` host slots.
pub fn host_sets(capacity: u32) -> u32 {
    capacity
        .div_ceil(sensor_common::HOST_WAYS as u32)
        .max(1)
        .next_power_of_two()
}

/// Opens the maps a running (or crashed) agent pinned, without loading anything.
pub fn open_pinned(pins: &PinLayout) -> Result<SensorMaps, DatapathError> {
    pins::check(pins)?;
    SensorMaps::from_pins(pins)
}

/// Removes every pin under `pins`: detaches pinned links (the program stops
/// running) and releases the maps once nothing else holds them.
pub fn unload(pins: &PinLayout) -> Result<Vec<PathBuf>, DatapathError> {
    let mut removed = Vec::new();
    for dir in [pins.links_dir(), pins.maps_dir()] {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(DatapathError::Io { path: dir, source }),
        };
        for entry in entries {
            let path = entry
                .map_err(|source| DatapathError::Io {
                    path: dir.clone(),
                    source,
                })?
                .path();
            std::fs::remove_file(&path).map_err(|source| DatapathError::Io {
                path: path.clone(),
                source,
            })?;
            removed.push(path);
        }
        std::fs::remove_dir(&dir).map_err(|source| DatapathError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    match std::fs::remove_dir(pins.root()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(DatapathError::Io {
                path: pins.root().to_path_buf(),
                source,
            })
        }
    }
    Ok(removed)
}

/// Opens one pinned map by name.
fn pinned_map(pins: &PinLayout, name: &'static str) -> Result<Map, DatapathError> {
    let path = pins.map(name);
    let data =
        MapData::from_pin(&path).map_err(|source| DatapathError::NotPinned { path, source })?;
    Map::from_map_data(data).map_err(|source| DatapathError::Map { name, source })
}

fn xdp_program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, DatapathError> {
    let program = ebpf
        .program_mut(name)
        .ok_or(DatapathError::MissingProgram(name))?;
    program
        .try_into()
        .map_err(|source| DatapathError::Program { name, source })
}
