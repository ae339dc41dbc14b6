//! Counting: the site's traffic classes and the per-host counters of every
//! protected address.

use aya_ebpf::programs::XdpContext;
use sensor_common::{
    host::{addr_hash_of, host_set_of, port_hash, sketch_insert},
    HostCounters, HostKey, SiteCounters, TrafficClass, HOST_WAYS,
};

use crate::{
    maps::HOSTS,
    parse::bounded,
    parse::{Dns, Packet, TransportKind},
};

/// Updates the site's traffic classes and the counters of each protected
/// endpoint. Returns true if the source host's peer sketch had not seen the
/// destination before (a first packet to that peer, as far as the sketch knows).
#[inline(always)]
pub fn account(
    ctx: &XdpContext,
    site: &mut SiteCounters,
    packet: &Packet,
    host_sets: u32,
    now: u64,
) -> bool {
    let frame_len = u64::from(packet.len);
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
        if let Some(host) = host_entry(site, &packet.src, packet.src_mix, host_sets, now) {
            new_peer = count_sent(ctx, host, packet, frame_len);
        }
    }
    // A frame to a broadcast or multicast MAC has no host at its
    // destination (a subnet's broadcast address, a multicast group).
    if packet.dst_local && !packet.to_group {
        if let Some(host) = host_entry(site, &packet.dst, packet.dst_mix, host_sets, now) {
            count_received(host, packet, frame_len);
        }
    }
    new_peer
}

/// This CPU's counters for `key`, in its set of the host table: the way that
/// holds it, else a free way (never touched, so the least recent), else the
/// way touched least recently on this CPU (an eviction). Creation never
/// fails the packet.
#[inline(always)]
fn host_entry(
    site: &mut SiteCounters,
    key: &HostKey,
    mix: u64,
    sets: u32,
    now: u64,
) -> Option<&'static mut HostCounters> {
    let Some(set) = HOSTS.get_ptr_mut(host_set_of(mix, sets)) else {
        // Only a set index the table does not have: counted, never silent.
        site.hosts_create_failed += 1;
        return None;
    };
    // SAFETY: this CPU's copy of the set, valid for the program's run.
    let set = unsafe { &mut *set };
    let words = key.words();
    let mut found = HOST_WAYS;
    let mut victim = 0;
    let mut victim_touched = u64::MAX;
    for way in 0..HOST_WAYS {
        let slot = &set.ways[way];
        if slot.key.words() == words {
            found = way;
            break;
        }
        if slot.touched < victim_touched {
            victim = way;
            victim_touched = slot.touched;
        }
    }
    let new = found == HOST_WAYS;
    // Read back so the verifier sees one bounded index, not one state per way.
    let way = bounded(if new { victim } else { found }, HOST_WAYS - 1);
    let slot = &mut set.ways[way];
    if new {
        if slot.key.words() != [0, 0] {
            site.hosts_evicted += 1;
        }
        site.hosts_created += 1;
        clear(&mut slot.counters);
        slot.key = *key;
        slot.counters.first_seen_ns = now;
    }
    slot.counters.last_seen_ns = now;
    slot.touched = site.packets;
    Some(unsafe { &mut *(&mut slot.counters as *mut HostCounters) })
}

/// Zeroes a slot's counters word by word: a struct assignment would become
/// a call to `memset`, whose byte loop the verifier walks on every path.
#[inline(always)]
fn clear(counters: &mut HostCounters) {
    let words = (counters as *mut HostCounters).cast::<u64>();
    for i in 0..core::mem::size_of::<HostCounters>() / 8 {
        // SAFETY: HostCounters is made of u64 fields and arrays of u64 and
        // u8/u16/u32 fields filling whole words (its size is asserted).
        unsafe { words.add(i).write_volatile(0) };
    }
}

#[inline(always)]
fn count_sent(ctx: &XdpContext, host: &mut HostCounters, packet: &Packet, frame_len: u64) -> bool {
    host.traffic.packets_out += 1;
    host.traffic.bytes_out += frame_len;
    // Through a local: between two pointers into map memory the compiler
    // would call `memmove`, a byte loop, for these six bytes.
    // SAFETY: a plain read of the packet's field; [u16; 3] and [u8; 6] have
    // the same size and bytes stay in frame order.
    let mac = unsafe { core::ptr::read_volatile(&packet.src_mac) };
    host.mac = unsafe { core::mem::transmute::<[u16; 3], [u8; 6]>(mac) };
    host.vlan = packet.vlan;
    host.ifindex = ctx.ingress_ifindex() as u32;
    if packet.dst_local {
        host.traffic.lateral_packets_out += 1;
        host.traffic.lateral_bytes_out += frame_len;
    }
    let new_peer = sketch_insert(&mut host.peer_sketch, addr_hash_of(packet.dst_mix));
    let transport = packet.transport;
    match transport.kind {
        TransportKind::Tcp => {
            if transport.syn && !transport.ack {
                host.traffic.tcp_syn_out += 1;
            }
            sketch_insert(&mut host.port_sketch, port_hash(transport.dst_port));
        }
        TransportKind::Udp => {
            host.traffic.udp_out += 1;
            sketch_insert(&mut host.port_sketch, port_hash(transport.dst_port));
        }
        TransportKind::Icmp => host.traffic.icmp_out += 1,
        TransportKind::Ports | TransportKind::None => {}
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
    sketch_insert(&mut host.peer_sketch, addr_hash_of(packet.src_mix));
    let transport = packet.transport;
    match transport.kind {
        TransportKind::Tcp => {
            if transport.syn && transport.ack {
                host.traffic.tcp_synack_in += 1;
            }
            if transport.rst {
                host.traffic.tcp_rst_in += 1;
            }
        }
        TransportKind::Udp => host.traffic.udp_in += 1,
        TransportKind::Icmp => host.traffic.icmp_in += 1,
        TransportKind::Ports | TransportKind::None => {}
    }
    if packet.dns == Dns::Answer {
        host.traffic.dns_answers_in += 1;
    }
}
