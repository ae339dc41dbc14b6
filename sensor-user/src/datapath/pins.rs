//! Pinned maps left by another version of the program. The maps outlive
//! the agent, and a new version reuses them (counters and blocks survive a
//! restart); but a map whose key or value layout changed between versions
//! would be misread by both the program and the agent. Before reusing pins,
//! every pinned map's key and value sizes are compared with this version's;
//! a difference stops the agent (and the operator commands) with the way out:
//! `vantage unload`, after which the maps start empty.

use std::path::Path;

use aya::maps::MapData;
use sensor_common::{
    event::EventBudget, host::HostSet, AllowEntry, BlockEntry, FlowKey, HostKey, Settings,
    SiteCounters, TrieKey, ALL_MAPS, MAP_ALLOW_NETS, MAP_BLOCK_FLOWS, MAP_BLOCK_HOSTS,
    MAP_BLOCK_NETS, MAP_EVENTS, MAP_EVENT_BUDGET, MAP_HOSTS, MAP_LOCAL_NETS, MAP_SETTINGS,
    MAP_SITE,
};

use super::{DatapathError, PinLayout};

/// Key and value sizes in bytes of map `name` in this version.
fn shape(name: &str) -> Option<(u32, u32)> {
    fn size<T>() -> u32 {
        core::mem::size_of::<T>() as u32
    }
    let index = size::<u32>();
    Some(match name {
        MAP_HOSTS => (index, size::<HostSet>()),
        MAP_SITE => (index, size::<SiteCounters>()),
        MAP_LOCAL_NETS => (size::<TrieKey>(), size::<u8>()),
        MAP_ALLOW_NETS => (size::<TrieKey>(), size::<AllowEntry>()),
        MAP_BLOCK_HOSTS => (size::<HostKey>(), size::<BlockEntry>()),
        MAP_BLOCK_FLOWS => (size::<FlowKey>(), size::<BlockEntry>()),
        MAP_BLOCK_NETS => (size::<TrieKey>(), size::<BlockEntry>()),
        // A ring buffer has neither keys nor values.
        MAP_EVENTS => (0, 0),
        MAP_EVENT_BUDGET => (index, size::<EventBudget>()),
        MAP_SETTINGS => (index, size::<Settings>()),
        _ => return None,
    })
}

/// Fails if a map pinned under `pins` has another layout than this
/// version's. Maps not pinned (yet) are fine.
pub fn check(pins: &PinLayout) -> Result<(), DatapathError> {
    for name in ALL_MAPS {
        let path = pins.map(name);
        if !path.exists() {
            continue;
        }
        let Some(expected) = shape(name) else {
            continue;
        };
        let found = pinned_shape(&path).map_err(|source| DatapathError::NotPinned {
            path: path.clone(),
            source,
        })?;
        if found != expected {
            return Err(DatapathError::PinnedByOtherVersion {
                map: name,
                pin_dir: pins.root().to_path_buf(),
                found,
                expected,
            });
        }
    }
    Ok(())
}

fn pinned_shape(path: &Path) -> Result<(u32, u32), aya::maps::MapError> {
    let info = MapData::from_pin(path)?.info()?;
    Ok((info.key_size(), info.value_size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_map_has_a_shape() {
        for name in ALL_MAPS {
            assert!(shape(name).is_some(), "{name}");
        }
        assert_eq!(shape(MAP_SITE), Some((4, size_of::<SiteCounters>() as u32)));
    }
}
