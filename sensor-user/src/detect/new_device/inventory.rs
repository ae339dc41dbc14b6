//! The inventory of addresses and MACs the sensor has seen on the protected
//! networks, each with when it was first and last seen; persisted as JSON.
//!
//! ```json
//! {"version":1,"created":"2024-01-01T00:00:00Z",
//!  "addresses":[{"addr":"10.1.0.5","first_seen":"2024-01-01T08:02:11Z","last_seen":"2024-03-02T17:40:00Z"}],
//!  "macs":[{"mac":"3c:22:fb:01:02:03","first_seen":"...","last_seen":"..."}]}
//! ```
//!
//! Each table holds at most `max_entries` (65536 by default); when one is
//! full, its least recently seen 1/64 (1024 entries by default) is evicted
//! at once, and counted.

use std::{
    collections::HashMap,
    fmt,
    fs::{File, OpenOptions},
    hash::Hash,
    io::Write as _,
    net::IpAddr,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    time::SystemTime,
};

use serde::{Deserialize, Serialize};

/// The version of the file format written.
const VERSION: u32 = 1;

/// A full table evicts this fraction of its cap at once (1/64).
const EVICT_FRACTION: usize = 64;

/// When an address or MAC was first and last seen (on the pipeline's clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
}

/// A MAC address as people write it: `3c:22:fb:01:02:03`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl std::str::FromStr for Mac {
    type Err = String;

    fn from_str(text: &str) -> Result<Mac, String> {
        let mut octets = [0u8; 6];
        let mut parts = text.split(':');
        for octet in &mut octets {
            let part = parts.next().unwrap_or_default();
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("invalid MAC {text:?}"));
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| format!("invalid MAC {text:?}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("invalid MAC {text:?}"));
        }
        Ok(Mac(octets))
    }
}

/// Why the inventory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("reading inventory {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is there but is not an inventory: the caller reports it
    /// and starts a new one (learning again).
    #[error("inventory {path} is corrupt: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("writing inventory {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Addresses and MACs ever seen (within the caps), and when the inventory
/// was started (the learning period counts from it).
#[derive(Clone, Debug, PartialEq)]
pub struct Inventory {
    created: SystemTime,
    addresses: HashMap<IpAddr, Sighting>,
    macs: HashMap<Mac, Sighting>,
    max_entries: usize,
    /// Entries evicted to stay within the cap since this process loaded or
    /// created the inventory (not persisted).
    evicted: u64,
}

impl Inventory {
    /// Entries each table (addresses, MACs) holds at most by default: a
    /// /16 of hosts; about 100 bytes each in memory and on disk.
    pub const DEFAULT_MAX_ENTRIES: usize = 65_536;

    /// An empty inventory started at `created`.
    pub fn new(created: SystemTime) -> Inventory {
        Inventory {
            created,
            addresses: HashMap::new(),
            macs: HashMap::new(),
            max_entries: Inventory::DEFAULT_MAX_ENTRIES,
            evicted: 0,
        }
    }

    pub fn created(&self) -> SystemTime {
        self.created
    }

    pub fn address(&self, addr: IpAddr) -> Option<Sighting> {
        self.addresses.get(&addr).copied()
    }

    pub fn mac(&self, mac: Mac) -> Option<Sighting> {
        self.macs.get(&mac).copied()
    }

    /// Addresses held.
    pub fn address_count(&self) -> usize {
        self.addresses.len()
    }

    /// MACs held.
    pub fn mac_count(&self) -> usize {
        self.macs.len()
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Entries evicted since this inventory was loaded or created.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Caps each table at `max` entries (at least 1), evicting the least
    /// recently seen beyond it.
    pub fn set_max_entries(&mut self, max: usize) {
        self.max_entries = max.max(1);
        self.evicted += trim(&mut self.addresses, self.max_entries);
        self.evicted += trim(&mut self.macs, self.max_entries);
    }

    /// Records `addr` seen at `at`; true when it was not known.
    pub fn record_address(&mut self, addr: IpAddr, at: SystemTime) -> bool {
        touch(
            &mut self.addresses,
            addr,
            at,
            self.max_entries,
            &mut self.evicted,
        )
    }

    /// Records `mac` seen at `at`; true when it was not known.
    pub fn record_mac(&mut self, mac: Mac, at: SystemTime) -> bool {
        touch(&mut self.macs, mac, at, self.max_entries, &mut self.evicted)
    }

    /// Reads an inventory written by [`Inventory::save`]; `Ok(None)` when
    /// there is no file yet. Its cap is the default until
    /// [`Inventory::set_max_entries`].
    pub fn load(path: &Path) -> Result<Option<Inventory>, InventoryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(InventoryError::Corrupt {
                    path: path.to_owned(),
                    problem: e.to_string(),
                })
            }
            Err(source) => {
                return Err(InventoryError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let corrupt = |problem: String| InventoryError::Corrupt {
            path: path.to_owned(),
            problem,
        };
        let file: InventoryFile =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        Inventory::from_file(file).map(Some).map_err(corrupt)
    }

    /// Writes the inventory to `path` atomically: a temporary file beside
    /// it (mode 0600: it maps the site's devices), synced, then renamed
    /// over `path`. The directory must exist.
    pub fn save(&self, path: &Path) -> Result<(), InventoryError> {
        let failed = |source| InventoryError::Write {
            path: path.to_owned(),
            source,
        };
        let body =
            serde_json::to_vec(&self.to_file()).map_err(|e| failed(std::io::Error::other(e)))?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().map_or_else(
            || "inventory".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        let tmp = dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            // A temporary file left by a crash may have other permissions.
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            File::open(&dir)?.sync_all()
        };
        let result = write();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(failed)
    }

    fn to_file(&self) -> InventoryFile {
        let mut addresses: Vec<AddressRecord> = self
            .addresses
            .iter()
            .map(|(addr, seen)| AddressRecord {
                addr: *addr,
                first_seen: rfc3339(seen.first_seen),
                last_seen: rfc3339(seen.last_seen),
            })
            .collect();
        addresses.sort_unstable_by_key(|r| r.addr);
        let mut macs: Vec<(Mac, MacRecord)> = self
            .macs
            .iter()
            .map(|(mac, seen)| {
                let record = MacRecord {
                    mac: mac.to_string(),
                    first_seen: rfc3339(seen.first_seen),
                    last_seen: rfc3339(seen.last_seen),
                };
                (*mac, record)
            })
            .collect();
        macs.sort_unstable_by_key(|(mac, _)| *mac);
        InventoryFile {
            version: VERSION,
            created: rfc3339(self.created),
            addresses,
            macs: macs.into_iter().map(|(_, record)| record).collect(),
        }
    }

    fn from_file(file: InventoryFile) -> Result<Inventory, String> {
        if file.version != VERSION {
            return Err(format!(
                "unknown version {} (this agent reads {VERSION})",
                file.version
            ));
        }
        let mut inventory = Inventory::new(parse_time(&file.created)?);
        let sighting = |first: &str, last: &str| -> Result<Sighting, String> {
            let seen = Sighting {
                first_seen: parse_time(first)?,
                last_seen: parse_time(last)?,
            };
            if seen.first_seen > seen.last_seen {
                return Err(format!("first seen {first} is after last seen {last}"));
            }
            Ok(seen)
        };
        for record in file.addresses {
            let seen = sighting(&record.first_seen, &record.last_seen)?;
            if inventory.addresses.insert(record.addr, seen).is_some() {
                return Err(format!("address {} listed twice", record.addr));
            }
        }
        for record in file.macs {
            let mac: Mac = record.mac.parse()?;
            let seen = sighting(&record.first_seen, &record.last_seen)?;
            if inventory.macs.insert(mac, seen).is_some() {
                return Err(format!("MAC {mac} listed twice"));
            }
        }
        Ok(inventory)
    }
}

/// Updates or inserts `key`. When the table is full, the least recently
/// seen 1/64 of it (at least one entry; ties: the lowest key) is evicted
/// at once, so that a flood of new devices costs one sort per 1/64 of the
/// cap rather than a scan per device. True when `key` was new.
fn touch<K: Copy + Eq + Hash + Ord>(
    map: &mut HashMap<K, Sighting>,
    key: K,
    at: SystemTime,
    max: usize,
    evicted: &mut u64,
) -> bool {
    if let Some(seen) = map.get_mut(&key) {
        seen.first_seen = seen.first_seen.min(at);
        seen.last_seen = seen.last_seen.max(at);
        return false;
    }
    let max = max.max(1);
    if map.len() >= max {
        let batch = (max / EVICT_FRACTION).max(1);
        *evicted += trim(map, max - batch);
    }
    map.insert(
        key,
        Sighting {
            first_seen: at,
            last_seen: at,
        },
    );
    true
}

/// Removes the least recently seen entries beyond `max`; how many.
fn trim<K: Copy + Eq + Hash + Ord>(map: &mut HashMap<K, Sighting>, max: usize) -> u64 {
    let Some(excess) = map.len().checked_sub(max).filter(|n| *n > 0) else {
        return 0;
    };
    let mut by_age: Vec<(SystemTime, K)> = map.iter().map(|(k, s)| (s.last_seen, *k)).collect();
    by_age.sort_unstable();
    for (_, key) in by_age.iter().take(excess) {
        map.remove(key);
    }
    excess as u64
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339(text).map_err(|e| format!("time {text:?}: {e}"))
}

/// The file as written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    version: u32,
    created: String,
    addresses: Vec<AddressRecord>,
    macs: Vec<MacRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressRecord {
    addr: IpAddr,
    first_seen: String,
    last_seen: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MacRecord {
    mac: String,
    first_seen: String,
    last_seen: String,
}
