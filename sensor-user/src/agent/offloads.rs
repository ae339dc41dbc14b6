//! Receive offloads on attached interfaces. In generic mode XDP runs after
//! GRO has merged TCP segments, so one merged frame would count as one
//! packet: the agent turns GRO and LRO off there, records what they were in
//! `<state_dir>/offloads.json`, and `vantage unload` puts them back. VLAN
//! tag stripping (rx VLAN offload) hides tags from XDP in any mode: it is
//! reported with the fix, not changed behind the operator's back.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::datapath::iface;

/// File in the state directory recording offloads the agent changed.
pub const OFFLOADS_FILE: &str = "offloads.json";

/// What an interface's merging offloads were before the agent turned them off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merging {
    pub gro: bool,
    pub lro: bool,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(OFFLOADS_FILE)
}

fn read(state_dir: &Path) -> BTreeMap<String, Merging> {
    std::fs::read(path(state_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write(state_dir: &Path, records: &BTreeMap<String, Merging>) -> io::Result<()> {
    let body = serde_json::to_vec_pretty(records).map_err(io::Error::other)?;
    std::fs::create_dir_all(state_dir)?;
    std::fs::write(path(state_dir), body)
}

/// Turns GRO and LRO off on `iface`, first recording what they were (once:
/// a record from an earlier agent is the original state and is kept).
pub fn stop_merging(state_dir: &Path, iface: &str) -> io::Result<()> {
    let mut records = read(state_dir);
    if !records.contains_key(iface) {
        let (gro, lro) = iface::merging_offloads(iface)?;
        records.insert(iface.to_owned(), Merging { gro, lro });
        write(state_dir, &records)?;
    }
    iface::set_merging_offloads(iface, false, false)
}

/// True if an agent turned merging off on `iface` and has not restored it.
pub fn merging_stopped(state_dir: &Path, iface: &str) -> bool {
    read(state_dir).contains_key(iface)
}

/// Restores every recorded interface; returns what was restored and what
/// failed (an interface that is gone, say). The record is removed.
pub fn restore(state_dir: &Path) -> Vec<(String, io::Result<Merging>)> {
    let records = read(state_dir);
    let results = records
        .into_iter()
        .map(|(iface, merging)| {
            let result =
                iface::set_merging_offloads(&iface, merging.gro, merging.lro).map(|()| merging);
            (iface, result)
        })
        .collect();
    let _ = std::fs::remove_file(path(state_dir));
    results
}
