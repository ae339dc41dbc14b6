//! Reading the counter maps at one moment: every protected host with each
//! CPU's copy of its counters, and the site counters summed over CPUs (by
//! `sensor-common`'s `user` feature).

use sensor_common::SiteCounters;

use super::{DatapathError, SensorMaps};
use crate::{net::ip_from_addr16, sample::Reading};

/// Reads the per-host and site maps into plain data.
pub fn read(maps: &SensorMaps) -> Result<Reading, DatapathError> {
    let hosts = maps
        .hosts()?
        .into_iter()
        .map(|record| (ip_from_addr16(&record.key.addr), record.per_cpu))
        .collect();
    Ok(Reading {
        hosts,
        site: SiteCounters::merge(&maps.site_per_cpu()?),
        host_capacity: maps.host_capacity()?,
    })
}
