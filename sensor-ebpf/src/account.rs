//! Counting: the site's traffic classes and the per-host counters of every
//! protected address.

use aya_ebpf::programs::XdpContext;
use sensor_common::{
    host::{addr_hash, port_hash, sketch_insert},
    HostCounters, HostKey, SiteCounters, TrafficClass,
};

use crate::{
    maps::{HOSTS, HOST_TEMPLATE},
    parse::{Dns, Packet, Transport},
};

/// `BPF_NOEXIST`: create only, so two CPUs never overwrite each other's new entry.
const CREATE_ONLY: u64 = 1;

/// Updates the site's traffic classes and the counters of each protected
/// endpoint. Returns true if the source host's peer sketch had not seen the
/// destination before (a first packet to that peer, as far as the sketch knows).
#[inline(always)]
pub fn account(ctx: &XdpContext, site: &mut SiteCounters, packet: &Packet, now: u64) -> bool {
    let frame_len = packet.len;
    let class = match (packet.src_local, packet.dst_local) {
        (true, true) => TrafficClass::LocalToLocal,
        (true, false) => TrafficClass::LocalToRemote,
        (false, true) => TrafficClass::RemoteToLocal,
        (false, false) => TrafficClass::RemoteToRemote,
    };
    let slot = crate::parse::bounded(class as usize, 3);
    site.class_packets[slot] += 1;
    site.class_bytes[slot] += frame_len;

    let mut new_peer = false;
    if packet.src_local {
        if let Some(host) = host_entry(site, &packet.src, now) {
            new_peer = count_sent(ctx, host, packet, frame_len);
        }
    }
    if packet.dst_local {
        if let Some(host) = host_entry(site, &packet.dst, now) {
            count_received(host, packet, frame_len);
        }
    }
    new_peer
}

/// This CPU's counters for `addr`, created if the host is new. When the map is
/// full the LRU evicts the least recently seen host; creation never fails the packet.
#[inline(always)]
fn host_entry(
    site: &mut SiteCounters,
    key: &HostKey,
    now: u64,
) -> Option<&'static mut HostCounters> {
    let host = match HOSTS.get_ptr_mut(key) {
        Some(existing) => existing,
        None => {
            let template = HOST_TEMPLATE.get(0)?;
            if HOSTS.insert(key, template, CREATE_ONLY).is_ok() {
                site.hosts_created += 1;
            }
            match HOSTS.get_ptr_mut(key) {
                Some(created) => created,
                None => {
                    site.hosts_create_failed += 1;
                    return None;
                }
            }
        }
    };
    let host = unsafe { &mut *host };
    if host.first_seen_ns == 0 {
        host.first_seen_ns = now;
    }
    host.last_seen_ns = now;
    Some(host)
}

#[inline(always)]
fn count_sent(ctx: &XdpContext, host: &mut HostCounters, packet: &Packet, frame_len: u64) -> bool {
    host.traffic.packets_out += 1;
    host.traffic.bytes_out += frame_len;
    // SAFETY: [u16; 3] and [u8; 6] have the same size; bytes stay in frame order.
    host.mac = unsafe { core::mem::transmute::<[u16; 3], [u8; 6]>(packet.src_mac) };
    host.vlan = packet.vlan;
    host.ifindex = ctx.ingress_ifindex() as u32;
    if packet.dst_local {
        host.traffic.lateral_packets_out += 1;
        host.traffic.lateral_bytes_out += frame_len;
    }
    let new_peer = sketch_insert(&mut host.peer_sketch, addr_hash(&packet.dst));
    match packet.transport {
        Transport::Tcp {
            dst_port, syn, ack, ..
        } => {
            if syn && !ack {
                host.traffic.tcp_syn_out += 1;
            }
            sketch_insert(&mut host.port_sketch, port_hash(dst_port));
        }
        Transport::Udp { dst_port, .. } => {
            host.traffic.udp_out += 1;
            sketch_insert(&mut host.port_sketch, port_hash(dst_port));
        }
        Transport::Icmp => host.traffic.icmp_out += 1,
        Transport::Ports { .. } | Transport::None => {}
    }
    if packet.dns == Dns::Query {
        host.traffic.dns_queries_out += 1;
    }
    new_peer
}

#[inline(always)]
fn count_received(host: &mut HostCounters, packet: &Packet, frame_len: u64) {
    host.traffic.packets_in += 1;
    host.traffic.bytes_in += frame_len;
    if packet.src_local {
        host.traffic.lateral_packets_in += 1;
    }
    sketch_insert(&mut host.peer_sketch, addr_hash(&packet.src));
    match packet.transport {
        Transport::Tcp { syn, ack, rst, .. } => {
            if syn && ack {
                host.traffic.tcp_synack_in += 1;
            }
            if rst {
                host.traffic.tcp_rst_in += 1;
            }
        }
        Transport::Udp { .. } => host.traffic.udp_in += 1,
        Transport::Icmp => host.traffic.icmp_in += 1,
        Transport::Ports { .. } | Transport::None => {}
    }
    if packet.dns == Dns::Answer {
        host.traffic.dns_answers_in += 1;
    }
}
