//! The Vantage XDP program: accounts every frame, enforces blocks, reports
//! new connections and DNS names, and never aborts on hostile input.
//!
//! One pass per frame: [`parse`] reads the headers (malformed frames are
//! counted by reason and passed), [`account`] updates the site and per-host
//! counters, [`policy`] decides the verdict from the allowlist and the blocks
//! (each with an expiry checked here, so blocks lapse without the agent), and
//! [`events`] tells the agent about new outbound connection attempts.
#![no_std]
#![no_main]
// BPF atomic add for block hit counters (see `policy::bump`).
#![feature(core_intrinsics)]
#![allow(internal_features)]

mod account;
mod events;
mod facts;
mod maps;
mod parse;
mod policy;

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_ktime_get_coarse_ns, macros::xdp, programs::XdpContext,
};
use sensor_common::{DropReason, Settings};

use crate::parse::{Parsed, Transport};

/// Entry point attached to every monitored interface.
#[xdp]
pub fn vantage_xdp(ctx: XdpContext) -> u32 {
    try_vantage_xdp(&ctx)
}

/// Pass-only program in the same object: the benchmark's reference cost.
#[xdp]
pub fn vantage_reference_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[inline(always)]
fn try_vantage_xdp(ctx: &XdpContext) -> u32 {
    let Some(site) = maps::site() else {
        return xdp_action::XDP_PASS;
    };
    let frame_len = (ctx.data_end() - ctx.data()) as u64;
    site.packets += 1;
    site.bytes += frame_len;

    let settings: Settings = maps::settings();
    let packet = match parse::parse(ctx, site, &settings) {
        Parsed::Ip(packet) => packet,
        Parsed::NotIp | Parsed::Malformed => return xdp_action::XDP_PASS,
    };

    // The coarse clock (CLOCK_MONOTONIC at tick resolution) is enough for
    // last-seen times, block expiry and event times, and costs a fraction
    // of `bpf_ktime_get_ns`, which reads the clocksource on every packet.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let new_peer = account::account(ctx, site, &packet, frame_len, now);

    let drop_reason = policy::verdict(site, &packet, &settings, now);
    if let Some(reason) = drop_reason {
        site.dropped[parse::bounded(reason as usize, 3)] += 1;
    }

    if settings.flags & sensor_common::policy::SETTING_EVENTS_ENABLED != 0 && packet.src_local {
        let kind = match packet.transport {
            Transport::Tcp {
                syn: true,
                ack: false,
                ..
            } => Some(sensor_common::EventKind::TcpSyn),
            Transport::Udp {
                dns_query: true, ..
            } => Some(sensor_common::EventKind::DnsQuery),
            Transport::Udp { .. } if new_peer => Some(sensor_common::EventKind::UdpNewPeer),
            _ => None,
        };
        if let Some(kind) = kind {
            events::emit(
                ctx,
                site,
                &settings,
                &packet,
                kind,
                drop_reason.is_some(),
                now,
            );
        }
    }

    match drop_reason {
        Some(DropReason::BlockedHost | DropReason::BlockedFlow | DropReason::BlockedPrefix) => {
            xdp_action::XDP_DROP
        }
        None => xdp_action::XDP_PASS,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel requires a GPL-compatible license string for some helpers.
#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
