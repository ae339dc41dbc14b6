//! What the agent needs to know about an interface before and after
//! attaching to it, asked of the kernel with ioctls in the current network
//! namespace: its link type (Ethernet or raw IP), its MTU, and the receive
//! offloads that change what XDP sees (VLAN tag stripping, and GRO/LRO,
//! which merge segments before generic XDP runs).
//!
//! Request numbers and layouts are Linux's (`linux/sockios.h`,
//! `linux/if.h`, `linux/ethtool.h`); the legacy ethtool flag commands are
//! still served by every driver.

use std::{ffi::c_void, io, os::fd::AsRawFd as _};

const SIOCGIFMTU: libc::c_ulong = 0x8921;
const SIOCGIFHWADDR: libc::c_ulong = 0x8927;
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GFLAGS: u32 = 0x25;
const ETHTOOL_SFLAGS: u32 = 0x26;
const ETHTOOL_GGRO: u32 = 0x2b;
const ETHTOOL_SGRO: u32 = 0x2c;
/// `ETH_FLAG_RXVLAN`: the NIC strips VLAN tags into the receive descriptor.
const ETH_FLAG_RXVLAN: u32 = 1 << 8;
/// `ETH_FLAG_LRO`: large receive offload.
const ETH_FLAG_LRO: u32 = 1 << 15;

/// `ARPHRD_ETHER`.
pub const ARPHRD_ETHER: u16 = 1;
/// Link types whose frames reach XDP as a bare IP packet.
const RAW_IP_LINKS: [(u16, &str); 7] = [
    (512, "ppp"),
    (519, "rawip"),
    (768, "ipip tunnel"),
    (769, "ip6ip6 tunnel"),
    (776, "sit tunnel"),
    (823, "ip6gre tunnel"),
    (65534, "none (tun, wireguard)"),
];

/// How frames on a link begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// With an Ethernet header.
    Ethernet,
    /// With the IP header (ppp0, wg0, tun0, ipip).
    RawIp,
}

/// `struct ifreq`: a name, then a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: IfReqData,
}

#[repr(C)]
union IfReqData {
    hwaddr: libc::sockaddr,
    mtu: libc::c_int,
    ethtool: *mut c_void,
    _size: [u8; 24],
}

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn request(iface: &str) -> io::Result<IfReq> {
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut name = [0u8; libc::IFNAMSIZ];
    name[..bytes.len()].copy_from_slice(bytes);
    Ok(IfReq {
        name,
        data: IfReqData { _size: [0; 24] },
    })
}

fn ioctl(request_number: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    let socket =
        std::net::UdpSocket::bind("0.0.0.0:0").or_else(|_| std::net::UdpSocket::bind("[::]:0"))?;
    // SAFETY: `req` is a valid `struct ifreq` for these requests, and any
    // pointer in it points at memory that outlives the call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), request_number as _, req as *mut IfReq) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn ethtool(iface: &str, cmd: u32, data: u32) -> io::Result<u32> {
    let mut value = EthtoolValue { cmd, data };
    let mut req = request(iface)?;
    req.data.ethtool = (&mut value as *mut EthtoolValue).cast::<c_void>();
    ioctl(SIOCETHTOOL, &mut req)?;
    Ok(value.data)
}

/// The link's ARP hardware type (`ARPHRD_*`).
pub fn link_type(iface: &str) -> io::Result<u16> {
    let mut req = request(iface)?;
    ioctl(SIOCGIFHWADDR, &mut req)?;
    // SAFETY: SIOCGIFHWADDR fills the sockaddr member.
    Ok(unsafe { req.data.hwaddr.sa_family })
}

/// How frames on `iface` begin; `Err(name)` for a link type the program
/// cannot parse, with the type's number and name.
pub fn link_kind(link_type: u16) -> Result<LinkKind, String> {
    if link_type == ARPHRD_ETHER {
        return Ok(LinkKind::Ethernet);
    }
    match RAW_IP_LINKS.iter().find(|(number, _)| *number == link_type) {
        Some(_) => Ok(LinkKind::RawIp),
        None => Err(format!("link type {link_type} (see linux/if_arp.h)")),
    }
}

/// The link's MTU in bytes.
pub fn mtu(iface: &str) -> io::Result<u32> {
    let mut req = request(iface)?;
    ioctl(SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU fills the mtu member.
    Ok(u32::try_from(unsafe { req.data.mtu }).unwrap_or(0))
}

/// True when the NIC strips VLAN tags before XDP sees the frame.
pub fn rx_vlan_offload(iface: &str) -> io::Result<bool> {
    Ok(ethtool(iface, ETHTOOL_GFLAGS, 0)? & ETH_FLAG_RXVLAN != 0)
}

/// Whether GRO and LRO are on.
pub fn merging_offloads(iface: &str) -> io::Result<(bool, bool)> {
    let gro = ethtool(iface, ETHTOOL_GGRO, 0)? != 0;
    let lro = ethtool(iface, ETHTOOL_GFLAGS, 0)? & ETH_FLAG_LRO != 0;
    Ok((gro, lro))
}

/// Turns GRO and LRO on or off (LRO only where the driver has it).
pub fn set_merging_offloads(iface: &str, gro: bool, lro: bool) -> io::Result<()> {
    ethtool(iface, ETHTOOL_SGRO, u32::from(gro))?;
    let flags = ethtool(iface, ETHTOOL_GFLAGS, 0)?;
    let wanted = if lro {
        flags | ETH_FLAG_LRO
    } else {
        flags & !ETH_FLAG_LRO
    };
    if wanted != flags {
        ethtool(iface, ETHTOOL_SFLAGS, wanted)?;
    }
    Ok(())
}
