//! The Vantage XDP program: accounts every frame, enforces blocks, reports
//! new connections and what answers them, echo requests and DNS messages,
//! and never aborts on hostile input.
//!
//! One pass per frame: [`parse`] reads the headers (malformed frames are
//! counted by reason and passed), [`dedup`] notices frames seen twice,
//! [`account`] updates the site and per-host counters, [`policy`] decides
//! the verdict from the allowlist and the blocks (each with an expiry
//! checked here, so blocks lapse without the agent), and [`events`] tells
//! the agent about a protected host's connection attempts, echo requests
//! and DNS queries, and about the SYN-ACKs, RSTs, ICMP unreachables and DNS
//! responses sent to it.
//!
//! Four entry points share that pass: for links with an Ethernet header or
//! without one (ppp0, wg0, tun0), each for single-buffer frames or for
//! multi-buffer (`frags`) frames on interfaces whose MTU is beyond one page.
#![no_std]
#![no_main]
// BPF atomic add for block hit counters (see `policy::bump`).
#![feature(core_intrinsics)]
#![allow(internal_features)]

mod account;
mod clock;
mod dedup;
mod events;
mod facts;
mod maps;
mod parse;
mod policy;

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_xdp_get_buff_len, macros::xdp, programs::XdpContext,
};
use sensor_common::{
    policy::{SETTING_EVENTS_ENABLED, SETTING_SKIP_DUPLICATES},
    DropReason,
};

use crate::parse::{Parsed, Tunneled};

/// Frames with an Ethernet header, in one buffer.
#[xdp]
#[inline(always)]
pub fn vantage_xdp(ctx: XdpContext) -> u32 {
    let len = ctx.data_end() - ctx.data();
    try_vantage_xdp(&ctx, false, len)
}

/// Frames with an Ethernet header, possibly in several buffers (jumbo MTU).
#[xdp(frags)]
#[inline(always)]
pub fn vantage_xdp_frags(ctx: XdpContext) -> u32 {
    let len = buffer_len(&ctx);
    try_vantage_xdp(&ctx, false, len)
}

/// Frames without an Ethernet header (L3 links), in one buffer.
#[xdp]
#[inline(always)]
pub fn vantage_xdp_raw_ip(ctx: XdpContext) -> u32 {
    let len = ctx.data_end() - ctx.data();
    try_vantage_xdp(&ctx, true, len)
}

/// Frames without an Ethernet header, possibly in several buffers.
#[xdp(frags)]
#[inline(always)]
pub fn vantage_xdp_raw_ip_frags(ctx: XdpContext) -> u32 {
    let len = buffer_len(&ctx);
    try_vantage_xdp(&ctx, true, len)
}

/// Pass-only program in the same object: the benchmark's reference cost.
#[xdp]
pub fn vantage_reference_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// The benchmark's cut-down copies of [`vantage_xdp`], each stopping after
/// one more stage, so that the differences say what each stage costs. Never
/// attached; loaded (verified) only by the benchmark.
#[xdp]
#[inline(always)]
pub fn vantage_stage_parse(ctx: XdpContext) -> u32 {
    let len = ctx.data_end() - ctx.data();
    run::<STOP_AFTER_PARSE>(&ctx, false, len)
}

/// See [`vantage_stage_parse`]: parse, then the clock and the duplicate check.
#[xdp]
#[inline(always)]
pub fn vantage_stage_dedup(ctx: XdpContext) -> u32 {
    let len = ctx.data_end() - ctx.data();
    run::<STOP_AFTER_DEDUP>(&ctx, false, len)
}

/// See [`vantage_stage_parse`]: up to and including host accounting.
#[xdp]
#[inline(always)]
pub fn vantage_stage_account(ctx: XdpContext) -> u32 {
    let len = ctx.data_end() - ctx.data();
    run::<STOP_AFTER_ACCOUNT>(&ctx, false, len)
}

/// See [`vantage_stage_parse`]: up to and including the verdict.
#[xdp]
#[inline(always)]
pub fn vantage_stage_policy(ctx: XdpContext) -> u32 {
    let len = ctx.data_end() - ctx.data();
    run::<STOP_AFTER_POLICY>(&ctx, false, len)
}

const STOP_AFTER_PARSE: u8 = 1;
const STOP_AFTER_DEDUP: u8 = 2;
const STOP_AFTER_ACCOUNT: u8 = 3;
const STOP_AFTER_POLICY: u8 = 4;
/// The whole program.
const ALL_STAGES: u8 = 5;

/// The whole frame's length, all buffers included.
#[inline(always)]
fn buffer_len(ctx: &XdpContext) -> usize {
    // SAFETY: the context pointer is the program's own.
    unsafe { bpf_xdp_get_buff_len(ctx.ctx) as usize }
}

#[inline(always)]
fn try_vantage_xdp(ctx: &XdpContext, raw_ip: bool, frame_len: usize) -> u32 {
    run::<ALL_STAGES>(ctx, raw_ip, frame_len)
}

/// The program's stages up to `LAST` (see [`vantage_stage_parse`]).
#[inline(always)]
fn run<const LAST: u8>(ctx: &XdpContext, raw_ip: bool, frame_len: usize) -> u32 {
    let Some(site) = maps::site() else {
        return xdp_action::XDP_PASS;
    };
    site.packets += 1;
    site.bytes += frame_len as u64;

    let Some(settings) = maps::settings() else {
        return xdp_action::XDP_PASS;
    };
    let packet = match parse::parse(ctx, site, settings, raw_ip, frame_len) {
        Parsed::Ip(packet) => packet,
        Parsed::NotIp | Parsed::Malformed => return xdp_action::XDP_PASS,
    };
    if LAST == STOP_AFTER_PARSE {
        return xdp_action::XDP_PASS;
    }

    // CLOCK_MONOTONIC at tick resolution is enough for last-seen times,
    // block expiry, duplicates and event times (see `clock`).
    let now = clock::now();
    let duplicate = dedup::seen_twice(packet, frame_len, now);
    if duplicate {
        site.duplicates += 1;
    }
    // A duplicate counts (and raises events) again unless told otherwise.
    // The outer packet of a tunnel whose inner frame is unreadable is
    // policed but belongs to no host.
    let skip = (duplicate && settings.flags & SETTING_SKIP_DUPLICATES != 0)
        || packet.tunnel == Tunneled::OuterOnly;
    if LAST == STOP_AFTER_DEDUP {
        return xdp_action::XDP_PASS;
    }
    let new_peer = !skip && account::account(ctx, site, packet, settings.host_sets, now);
    if LAST == STOP_AFTER_ACCOUNT {
        return xdp_action::XDP_PASS;
    }

    let drop_reason = policy::verdict(site, packet, settings, now);
    if let Some(reason) = drop_reason {
        site.dropped[parse::bounded(reason as usize, 3)] += 1;
    }
    if LAST == STOP_AFTER_POLICY {
        return verdict(drop_reason);
    }

    if settings.flags & SETTING_EVENTS_ENABLED != 0 && !skip {
        if let Some(kind) = events::kind_of(packet, new_peer) {
            events::emit(
                ctx,
                site,
                settings,
                packet,
                kind,
                drop_reason.is_some(),
                now,
            );
        }
    }

    verdict(drop_reason)
}

#[inline(always)]
fn verdict(drop_reason: Option<DropReason>) -> u32 {
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
