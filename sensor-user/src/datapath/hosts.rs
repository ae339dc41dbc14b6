//! The per-host table as the agent reads it: a per-CPU array of
//! set-associative sets ([`sensor_common::HostSet`]). Each CPU keeps its own
//! copy of every set; a host's counters are the copies of its slot on every
//! CPU that has one, merged later.

use std::collections::BTreeMap;

use aya::maps::PerCpuValues;
use sensor_common::{host::host_set, Addr16, HostCounters, HostKey, HostSet, HOST_WAYS, MAP_HOSTS};

use super::{maps::map_error, DatapathError, HostRecord, SensorMaps};

fn cpu_count() -> Result<usize, DatapathError> {
    aya::util::nr_cpus().map_err(|(_, source)| DatapathError::Io {
        path: "/sys/devices/system/cpu/possible".into(),
        source,
    })
}

impl SensorMaps {
    /// Sets in the host table (a power of two).
    pub fn host_sets(&self) -> Result<u32, DatapathError> {
        Ok(self.hosts.len())
    }

    /// Host slots per CPU (sets × ways).
    pub fn host_capacity(&self) -> Result<u32, DatapathError> {
        Ok(self.host_sets()?.saturating_mul(HOST_WAYS as u32))
    }

    /// Tells the program how many sets the table has (after loading, or
    /// when taking over maps an earlier agent pinned).
    pub(super) fn publish_host_sets(&mut self) -> Result<(), DatapathError> {
        let sets = self.host_sets()?;
        let mut settings = self.settings()?;
        if settings.host_sets != sets {
            settings.host_sets = sets;
            self.write_settings(settings)?;
        }
        Ok(())
    }

    fn set_copies(&self, index: u32) -> Result<PerCpuValues<HostSet>, DatapathError> {
        self.hosts.get(&index, 0).map_err(map_error(MAP_HOSTS))
    }

    /// Every protected host in the table, each with its slot's counters on
    /// every CPU (zero where a CPU has no slot for it), by address.
    pub fn hosts(&self) -> Result<Vec<HostRecord>, DatapathError> {
        let cpus = cpu_count()?;
        let mut found: BTreeMap<HostKey, Vec<HostCounters>> = BTreeMap::new();
        for index in 0..self.host_sets()? {
            for (cpu, set) in self.set_copies(index)?.iter().enumerate() {
                for slot in &set.ways {
                    if slot.key.addr == [0; 16] {
                        continue;
                    }
                    let copies = found
                        .entry(slot.key)
                        .or_insert_with(|| vec![HostCounters::default(); cpus]);
                    if let Some(copy) = copies.get_mut(cpu) {
                        *copy = slot.counters;
                    }
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|(key, per_cpu)| HostRecord { key, per_cpu })
            .collect())
    }

    /// One host's per-CPU counters, if any CPU has a slot for it.
    pub fn host(&self, addr: &Addr16) -> Result<Option<HostRecord>, DatapathError> {
        let key = HostKey { addr: *addr };
        let copies = self.set_copies(host_set(&key, self.host_sets()?))?;
        let mut per_cpu = vec![HostCounters::default(); copies.len()];
        let mut seen = false;
        for (cpu, set) in copies.iter().enumerate() {
            if let Some(slot) = set.ways.iter().find(|slot| slot.key == key) {
                per_cpu[cpu] = slot.counters;
                seen = true;
            }
        }
        Ok(seen.then_some(HostRecord { key, per_cpu }))
    }

    /// Puts a host with `counters` on every CPU, in a free way of its set
    /// (benchmarks fill the table this way). False if the set is full.
    pub fn insert_host(
        &mut self,
        addr: &Addr16,
        counters: HostCounters,
    ) -> Result<bool, DatapathError> {
        let key = HostKey { addr: *addr };
        let index = host_set(&key, self.host_sets()?);
        let mut copies: Vec<HostSet> = self.set_copies(index)?.iter().copied().collect();
        for set in &mut copies {
            let Some(slot) = set
                .ways
                .iter_mut()
                .find(|slot| slot.key == key || slot.key.addr == [0; 16])
            else {
                return Ok(false);
            };
            slot.key = key;
            slot.touched = 1;
            slot.counters = counters;
        }
        let values = PerCpuValues::try_from(copies).map_err(|source| DatapathError::Io {
            path: "/sys/devices/system/cpu/possible".into(),
            source,
        })?;
        self.hosts
            .set(index, values, 0)
            .map_err(map_error(MAP_HOSTS))?;
        Ok(true)
    }
}
