//! Typed access to the sensor's maps, whether this process loaded them or
//! opened the pins a running agent left under bpffs.

use std::time::Duration;

use aya::{
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray},
    Ebpf,
};
use sensor_common::{
    policy::{
        SETTING_ALLOW_ACTIVE, SETTING_BLOCK_FLOWS_ACTIVE, SETTING_BLOCK_HOSTS_ACTIVE,
        SETTING_BLOCK_NETS_ACTIVE, SETTING_DECAP_VXLAN, SETTING_EVENTS_ENABLED,
        SETTING_SKIP_DUPLICATES,
    },
    Addr16, AllowEntry, BlockEntry, EncapKind, FlowKey, HostCounters, HostKey, HostSet, Settings,
    SiteCounters, MAP_ALLOW_NETS, MAP_BLOCK_FLOWS, MAP_BLOCK_HOSTS, MAP_BLOCK_NETS, MAP_HOSTS,
    MAP_LOCAL_NETS, MAP_SETTINGS, MAP_SITE,
};

use strum::IntoEnumIterator as _;

use super::{pinned_map, DatapathError, PinLayout};
use crate::net::{addr16, BlockOrigin, BlockTarget, Cidr, FlowSpec};

/// One protected host: its key and each CPU's counters.
#[derive(Clone, Debug)]
pub struct HostRecord {
    pub key: HostKey,
    pub per_cpu: Vec<HostCounters>,
}

/// One block as stored in the kernel.
#[derive(Clone, Debug)]
pub struct BlockRecord {
    pub target: BlockTarget,
    pub entry: BlockEntry,
}

/// Handles to every map the agent and the CLI use.
pub struct SensorMaps {
    pub(super) hosts: PerCpuArray<MapData, HostSet>,
    site: PerCpuArray<MapData, SiteCounters>,
    local_nets: LpmTrie<MapData, Addr16, u8>,
    allow_nets: LpmTrie<MapData, Addr16, AllowEntry>,
    block_hosts: HashMap<MapData, HostKey, BlockEntry>,
    block_flows: HashMap<MapData, FlowKey, BlockEntry>,
    block_nets: LpmTrie<MapData, Addr16, BlockEntry>,
    settings: Array<MapData, Settings>,
}

/// The settings flag that opens `kind`.
fn decap_flag(kind: EncapKind) -> u32 {
    SETTING_DECAP_VXLAN << (kind as u32)
}

pub(super) fn map_error(name: &'static str) -> impl Fn(MapError) -> DatapathError {
    move |source| DatapathError::Map { name, source }
}

/// Ignores "no such key" (removing what is already gone is fine).
fn ignore_missing(result: Result<(), MapError>) -> Result<bool, MapError> {
    match result {
        Ok(()) => Ok(true),
        Err(MapError::KeyNotFound) | Err(MapError::ElementNotFound) => Ok(false),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

impl SensorMaps {
    /// Takes the maps out of a freshly loaded object.
    pub(super) fn from_ebpf(ebpf: &mut Ebpf) -> Result<SensorMaps, DatapathError> {
        let mut take =
            |name: &'static str| ebpf.take_map(name).ok_or(DatapathError::MissingMap(name));
        let maps = [
            take(MAP_HOSTS)?,
            take(MAP_SITE)?,
            take(MAP_LOCAL_NETS)?,
            take(MAP_ALLOW_NETS)?,
            take(MAP_BLOCK_HOSTS)?,
            take(MAP_BLOCK_FLOWS)?,
            take(MAP_BLOCK_NETS)?,
            take(MAP_SETTINGS)?,
        ];
        Self::from_maps(maps)
    }

    /// Opens the maps pinned under `pins`.
    pub(super) fn from_pins(pins: &PinLayout) -> Result<SensorMaps, DatapathError> {
        let maps = [
            pinned_map(pins, MAP_HOSTS)?,
            pinned_map(pins, MAP_SITE)?,
            pinned_map(pins, MAP_LOCAL_NETS)?,
            pinned_map(pins, MAP_ALLOW_NETS)?,
            pinned_map(pins, MAP_BLOCK_HOSTS)?,
            pinned_map(pins, MAP_BLOCK_FLOWS)?,
            pinned_map(pins, MAP_BLOCK_NETS)?,
            pinned_map(pins, MAP_SETTINGS)?,
        ];
        Self::from_maps(maps)
    }

    fn from_maps(maps: [Map; 8]) -> Result<SensorMaps, DatapathError> {
        let [hosts, site, local_nets, allow_nets, block_hosts, block_flows, block_nets, settings] =
            maps;
        // A typed wrapper checks key and value sizes, so a map pinned by a
        // build with another layout is refused here rather than misread.
        Ok(SensorMaps {
            hosts: PerCpuArray::try_from(hosts).map_err(map_error(MAP_HOSTS))?,
            site: PerCpuArray::try_from(site).map_err(map_error(MAP_SITE))?,
            local_nets: LpmTrie::try_from(local_nets).map_err(map_error(MAP_LOCAL_NETS))?,
            allow_nets: LpmTrie::try_from(allow_nets).map_err(map_error(MAP_ALLOW_NETS))?,
            block_hosts: HashMap::try_from(block_hosts).map_err(map_error(MAP_BLOCK_HOSTS))?,
            block_flows: HashMap::try_from(block_flows).map_err(map_error(MAP_BLOCK_FLOWS))?,
            block_nets: LpmTrie::try_from(block_nets).map_err(map_error(MAP_BLOCK_NETS))?,
            settings: Array::try_from(settings).map_err(map_error(MAP_SETTINGS))?,
        })
    }

    /// Each CPU's site counters.
    pub fn site_per_cpu(&self) -> Result<Vec<SiteCounters>, DatapathError> {
        let values = self.site.get(&0, 0).map_err(map_error(MAP_SITE))?;
        Ok(values.iter().copied().collect())
    }

    /// The protected prefixes.
    pub fn local_nets(&self) -> Result<Vec<Cidr>, DatapathError> {
        let mut nets = Vec::new();
        for key in self.local_nets.keys() {
            let key = key.map_err(map_error(MAP_LOCAL_NETS))?;
            nets.push(Cidr::from_lpm_key(key.prefix_len(), key.data()));
        }
        nets.sort();
        Ok(nets)
    }

    /// Makes the protected prefixes exactly `nets`, then bumps the locality
    /// generation so the program forgets answers cached under the old set.
    pub fn set_local_nets(&mut self, nets: &[Cidr]) -> Result<(), DatapathError> {
        let wanted: Vec<(u32, Addr16)> = nets.iter().map(Cidr::lpm_key).collect();
        for net in &wanted {
            self.local_nets
                .insert(&Key::new(net.0, net.1), 1u8, 0)
                .map_err(map_error(MAP_LOCAL_NETS))?;
        }
        let present: Vec<Key<Addr16>> = self
            .local_nets
            .keys()
            .collect::<Result<_, _>>()
            .map_err(map_error(MAP_LOCAL_NETS))?;
        for key in present {
            if !wanted.contains(&(key.prefix_len(), key.data())) {
                ignore_missing(self.local_nets.remove(&key)).map_err(map_error(MAP_LOCAL_NETS))?;
            }
        }
        let mut settings = self.settings()?;
        settings.local_generation = settings.local_generation.wrapping_add(1).max(1);
        self.settings
            .set(0, settings, 0)
            .map_err(map_error(MAP_SETTINGS))
    }

    /// Allowlists `net` (permanently; allowlisted traffic is never dropped).
    pub fn allow_add(&mut self, net: &Cidr, now_ns: u64) -> Result<(), DatapathError> {
        let (len, addr) = net.lpm_key();
        let key = Key::new(len, addr);
        let entry = match self.allow_nets.get(&key, 0) {
            Ok(existing) => existing,
            Err(_) => AllowEntry {
                created_at_ns: now_ns,
                hits: 0,
            },
        };
        self.allow_nets
            .insert(&key, entry, 0)
            .map_err(map_error(MAP_ALLOW_NETS))?;
        self.refresh_active_flags()
    }

    /// Removes `net` from the allowlist; false if it was not there.
    pub fn allow_del(&mut self, net: &Cidr) -> Result<bool, DatapathError> {
        let (len, addr) = net.lpm_key();
        let removed = ignore_missing(self.allow_nets.remove(&Key::new(len, addr)))
            .map_err(map_error(MAP_ALLOW_NETS))?;
        self.refresh_active_flags()?;
        Ok(removed)
    }

    /// The allowlist with each entry's hit count.
    pub fn allow_list(&self) -> Result<Vec<(Cidr, AllowEntry)>, DatapathError> {
        let mut list = Vec::new();
        for item in self.allow_nets.iter() {
            let (key, entry) = item.map_err(map_error(MAP_ALLOW_NETS))?;
            list.push((Cidr::from_lpm_key(key.prefix_len(), key.data()), entry));
        }
        list.sort_by_key(|(net, _)| *net);
        Ok(list)
    }

    /// Blocks `target` until `now + ttl`, replacing any block on the same target.
    pub fn block_add(
        &mut self,
        target: &BlockTarget,
        ttl: Duration,
        origin: BlockOrigin,
        now_ns: u64,
    ) -> Result<BlockEntry, DatapathError> {
        let ttl_ns = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        let entry = BlockEntry {
            expires_at_ns: now_ns.saturating_add(ttl_ns),
            created_at_ns: now_ns,
            hits: 0,
            origin: origin as u32,
            _pad: 0,
        };
        match target {
            BlockTarget::Host(ip) => self
                .block_hosts
                .insert(HostKey { addr: addr16(*ip) }, entry, 0)
                .map_err(map_error(MAP_BLOCK_HOSTS))?,
            BlockTarget::Prefix(net) => {
                let (len, addr) = net.lpm_key();
                self.block_nets
                    .insert(&Key::new(len, addr), entry, 0)
                    .map_err(map_error(MAP_BLOCK_NETS))?
            }
            BlockTarget::Flow(flow) => self
                .block_flows
                .insert(flow.key(), entry, 0)
                .map_err(map_error(MAP_BLOCK_FLOWS))?,
        }
        self.refresh_active_flags()?;
        Ok(entry)
    }

    /// Removes the block on `target`; false if there was none.
    pub fn block_del(&mut self, target: &BlockTarget) -> Result<bool, DatapathError> {
        let removed = match target {
            BlockTarget::Host(ip) => {
                ignore_missing(self.block_hosts.remove(&HostKey { addr: addr16(*ip) }))
                    .map_err(map_error(MAP_BLOCK_HOSTS))?
            }
            BlockTarget::Prefix(net) => {
                let (len, addr) = net.lpm_key();
                ignore_missing(self.block_nets.remove(&Key::new(len, addr)))
                    .map_err(map_error(MAP_BLOCK_NETS))?
            }
            BlockTarget::Flow(flow) => ignore_missing(self.block_flows.remove(&flow.key()))
                .map_err(map_error(MAP_BLOCK_FLOWS))?,
        };
        self.refresh_active_flags()?;
        Ok(removed)
    }

    /// Every block, live or expired (the kernel ignores expired ones).
    pub fn blocks(&self) -> Result<Vec<BlockRecord>, DatapathError> {
        let mut records = Vec::new();
        for item in self.block_hosts.iter() {
            let (key, entry) = item.map_err(map_error(MAP_BLOCK_HOSTS))?;
            records.push(BlockRecord {
                target: BlockTarget::Host(crate::net::ip_from_addr16(&key.addr)),
                entry,
            });
        }
        for item in self.block_nets.iter() {
            let (key, entry) = item.map_err(map_error(MAP_BLOCK_NETS))?;
            records.push(BlockRecord {
                target: BlockTarget::Prefix(Cidr::from_lpm_key(key.prefix_len(), key.data())),
                entry,
            });
        }
        for item in self.block_flows.iter() {
            let (key, entry) = item.map_err(map_error(MAP_BLOCK_FLOWS))?;
            records.push(BlockRecord {
                target: BlockTarget::Flow(FlowSpec::from_key(&key)),
                entry,
            });
        }
        Ok(records)
    }

    /// Deletes blocks whose expiry has passed (they already drop nothing) and
    /// returns how many went.
    pub fn remove_expired_blocks(&mut self, now_ns: u64) -> Result<usize, DatapathError> {
        let mut removed = 0;
        for record in self.blocks()? {
            if record.entry.expires_at_ns <= now_ns && self.block_del(&record.target)? {
                removed += 1;
            }
        }
        self.refresh_active_flags()?;
        Ok(removed)
    }

    pub fn settings(&self) -> Result<Settings, DatapathError> {
        self.settings.get(&0, 0).map_err(map_error(MAP_SETTINGS))
    }

    /// Writes the settings, all fields at once.
    pub(super) fn write_settings(&mut self, settings: Settings) -> Result<(), DatapathError> {
        self.settings
            .set(0, settings, 0)
            .map_err(map_error(MAP_SETTINGS))
    }

    /// Sets the event switch and rate limit, keeping the map flags.
    pub fn set_events(
        &mut self,
        enabled: bool,
        rate_per_sec: u32,
        burst: u32,
    ) -> Result<(), DatapathError> {
        let mut settings = self.settings()?;
        settings.flags = (settings.flags & !SETTING_EVENTS_ENABLED)
            | if enabled { SETTING_EVENTS_ENABLED } else { 0 };
        settings.event_cost_ns = 1_000_000_000 / rate_per_sec.max(1);
        settings.event_burst = burst;
        self.settings
            .set(0, settings, 0)
            .map_err(map_error(MAP_SETTINGS))?;
        self.refresh_active_flags()
    }

    /// Which tunnels the program opens, and whether a duplicate frame counts
    /// for its hosts again, keeping the other flags.
    pub fn set_parsing(
        &mut self,
        decapsulate: &[EncapKind],
        skip_duplicates: bool,
    ) -> Result<(), DatapathError> {
        let all_decap = EncapKind::iter().fold(0, |bits, kind| bits | decap_flag(kind));
        let wanted = decapsulate
            .iter()
            .fold(0, |bits, kind| bits | decap_flag(*kind))
            | if skip_duplicates {
                SETTING_SKIP_DUPLICATES
            } else {
                0
            };
        let mut settings = self.settings()?;
        settings.flags = (settings.flags & !(all_decap | SETTING_SKIP_DUPLICATES)) | wanted;
        self.settings
            .set(0, settings, 0)
            .map_err(map_error(MAP_SETTINGS))
    }

    /// The tunnels the program opens and whether duplicates are skipped, as
    /// the kernel's settings say now.
    pub fn parsing(&self) -> Result<(Vec<EncapKind>, bool), DatapathError> {
        let flags = self.settings()?.flags;
        let open = EncapKind::iter()
            .filter(|kind| flags & decap_flag(*kind) != 0)
            .collect();
        Ok((open, flags & SETTING_SKIP_DUPLICATES != 0))
    }

    /// Recomputes the "map has entries" flags that let the program skip empty
    /// maps, and starts a new policy generation (call after every change).
    pub fn refresh_active_flags(&mut self) -> Result<(), DatapathError> {
        let mut active = 0;
        if self.allow_nets.keys().next().is_some() {
            active |= SETTING_ALLOW_ACTIVE;
        }
        if self.block_hosts.keys().next().is_some() {
            active |= SETTING_BLOCK_HOSTS_ACTIVE;
        }
        if self.block_nets.keys().next().is_some() {
            active |= SETTING_BLOCK_NETS_ACTIVE;
        }
        if self.block_flows.keys().next().is_some() {
            active |= SETTING_BLOCK_FLOWS_ACTIVE;
        }
        let all = SETTING_ALLOW_ACTIVE
            | SETTING_BLOCK_HOSTS_ACTIVE
            | SETTING_BLOCK_NETS_ACTIVE
            | SETTING_BLOCK_FLOWS_ACTIVE;
        let mut settings = self.settings()?;
        settings.flags = (settings.flags & !all) | active;
        // The program caches, per address, whether it has allow or block
        // entries; a new generation makes it look again.
        settings.policy_generation = settings.policy_generation.wrapping_add(1).max(1);
        self.settings
            .set(0, settings, 0)
            .map_err(map_error(MAP_SETTINGS))?;
        Ok(())
    }
}
