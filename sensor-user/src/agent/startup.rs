//! What the agent does once, at start: load the program (or take the
//! pinned one over), write the configuration into its maps, attach it to
//! every interface and say what each attachment is, and set up the
//! mirror-mode self-test.

use std::{path::Path, time::SystemTime};

use super::{offloads, self_test, watch::Watched, AgentError, AgentOptions};
use crate::{
    config::SiteMode,
    datapath::{iface::LinkKind, AttachedMode, Attachment, Datapath, DatapathError, LoadOptions},
    report::agent_state::InterfaceState,
    time::Clock,
};

/// Loads the program (or takes over the pinned one), configures its maps and
/// attaches it to every interface.
pub(super) fn load_and_attach(
    options: &AgentOptions,
    clock: &dyn Clock,
) -> Result<(Datapath, Vec<InterfaceState>, Vec<Watched>), AgentError> {
    let mut datapath = Datapath::load(&LoadOptions {
        pins: Some(options.pins.clone()),
        host_capacity: options.host_capacity,
    })?;
    configure(&mut datapath, options, clock)?;
    let mut interfaces = Vec::new();
    let mut programs = Vec::new();
    for iface in &options.interfaces {
        let attached = datapath.attach(iface, options.attach)?;
        interfaces.push(describe(iface, &attached, &options.state_dir));
        programs.push(Watched {
            name: iface.clone(),
            program_id: Some(attached.program_id),
            generic: attached.mode == AttachedMode::Generic,
        });
    }
    Ok((datapath, interfaces, programs))
}

/// The self-test, on a mirror port with a declared resolver.
pub(super) fn self_tester(
    options: &AgentOptions,
    now: SystemTime,
) -> Option<self_test::SelfTester> {
    let site = &options.site;
    let every = site.self_test_interval.0;
    if site.mode != SiteMode::Mirror || every.is_zero() {
        return None;
    }
    let resolver = site.resolvers.first()?;
    Some(self_test::SelfTester::new(
        every,
        *resolver,
        &options.local_nets,
        now,
    ))
}

/// What the status shows of one attached interface; turns merging offloads
/// off in generic mode and reports VLAN tag stripping.
fn describe(iface: &str, attached: &Attachment, state_dir: &Path) -> InterfaceState {
    let mode: &'static str = attached.mode.into();
    log::info!(
        "attached to {iface} ({mode}{}{}, MTU {})",
        if attached.frags { ", multi-buffer" } else { "" },
        if attached.took_over {
            ", taken over from the earlier agent"
        } else {
            ""
        },
        attached.mtu
    );
    let vlan_offload = attached.link == LinkKind::Ethernet
        && crate::datapath::iface::rx_vlan_offload(iface).unwrap_or(false);
    if vlan_offload {
        log::warn!(
            "{iface} reports rx VLAN offload: VLAN tags the NIC strips do not reach XDP, so VLAN counters and per-host VLANs may read 0; to see them: ethtool -K {iface} rxvlan off"
        );
    }
    if attached.mode == AttachedMode::Generic {
        match offloads::stop_merging(state_dir, iface) {
            Ok(()) => log::info!(
                "{iface}: GRO and LRO turned off so that generic XDP sees every received segment (`vantage unload --state-dir {}` turns them back on)",
                state_dir.display()
            ),
            Err(error) => log::warn!(
                "{iface}: could not turn GRO/LRO off ({error}); in generic mode merged segments then count as one packet"
            ),
        }
    }
    InterfaceState {
        name: iface.to_owned(),
        mode: mode.to_owned(),
        took_over: attached.took_over,
        link: match attached.link {
            LinkKind::Ethernet => "ethernet",
            LinkKind::RawIp => "raw_ip",
        }
        .to_owned(),
        mtu: attached.mtu,
        multi_buffer: attached.frags,
        generic_because: attached.generic_because.clone(),
        vlan_offload,
        merging_off: offloads::merging_stopped(state_dir, iface),
        program_id: attached.program_id,
    }
}

/// Writes protected prefixes, the configured allowlist and event limits into the maps.
fn configure(
    datapath: &mut Datapath,
    options: &AgentOptions,
    clock: &dyn Clock,
) -> Result<(), DatapathError> {
    let maps = datapath.maps_mut();
    maps.set_local_nets(&options.local_nets)?;
    let now = clock.monotonic_ns();
    for net in &options.allow {
        maps.allow_add(net, now)?;
    }
    maps.set_events(
        options.events_enabled,
        options.event_rate_per_cpu,
        options.event_burst,
    )?;
    maps.set_parsing(&options.decapsulate, options.skip_duplicates)
}
