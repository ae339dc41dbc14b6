//! How an XDP program is attached to an interface right now (native,
//! generic, none), asked of the kernel with one rtnetlink `RTM_GETLINK`
//! request in the current network namespace. The agent asks before taking
//! over an earlier agent's link, whose mode the link itself does not record.
//!
//! Message layouts and numbers are Linux's (`linux/netlink.h`,
//! `linux/rtnetlink.h`, `linux/if_link.h`).

use std::{io, mem::size_of};

const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
/// Nested attributes carry this flag in their type.
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_HEADER: usize = 4;

/// Where an interface's XDP program runs (`XDP_ATTACHED_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpAttached {
    None,
    /// Native, in the driver.
    Driver,
    /// Generic, in the kernel stack.
    Generic,
    /// Offloaded to the NIC, or several programs at once.
    Other,
}

#[repr(C)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

#[repr(C)]
struct IfInfoMsg {
    family: u8,
    pad: u8,
    kind: u16,
    index: i32,
    flags: u32,
    change: u32,
}

#[repr(C)]
struct Request {
    header: NlMsgHdr,
    info: IfInfoMsg,
}

/// How an XDP program is attached to the interface with index `ifindex`.
pub fn attached(ifindex: u32) -> io::Result<XdpAttached> {
    // SAFETY: plain socket call; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let request = Request {
        header: NlMsgHdr {
            len: size_of::<Request>() as u32,
            kind: RTM_GETLINK,
            flags: NLM_F_REQUEST,
            seq: 1,
            pid: 0,
        },
        info: IfInfoMsg {
            family: libc::AF_UNSPEC as u8,
            pad: 0,
            kind: 0,
            index: i32::try_from(ifindex).map_err(io::Error::other)?,
            flags: 0,
            change: 0,
        },
    };
    use std::os::fd::AsRawFd as _;
    // SAFETY: sends `size_of::<Request>()` bytes of a live value.
    let sent = unsafe {
        libc::send(
            socket.as_raw_fd(),
            (&request as *const Request).cast(),
            size_of::<Request>(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buffer = vec![0u8; 64 * 1024];
    // SAFETY: receives into a buffer of the length given.
    let received = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            0,
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    parse_reply(&buffer[..received as usize])
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Netlink attributes are padded to four bytes.
fn aligned(len: usize) -> usize {
    (len + 3) & !3
}

/// The attribute of type `wanted` among the attributes in `bytes`.
fn attribute(bytes: &[u8], wanted: u16) -> Option<&[u8]> {
    let mut at = 0;
    while at + NLA_HEADER <= bytes.len() {
        let len = usize::from(u16_at(bytes, at)?);
        let kind = u16_at(bytes, at + 2)? & !NLA_F_NESTED;
        if len < NLA_HEADER || at + len > bytes.len() {
            return None;
        }
        if kind == wanted {
            return Some(&bytes[at + NLA_HEADER..at + len]);
        }
        at += aligned(len);
    }
    None
}

fn parse_reply(reply: &[u8]) -> io::Result<XdpAttached> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed RTM_NEWLINK reply");
    let len = u32_at(reply, 0).ok_or_else(bad)? as usize;
    let kind = u16_at(reply, 4).ok_or_else(bad)?;
    if kind == NLMSG_ERROR {
        let errno = u32_at(reply, size_of::<NlMsgHdr>()).ok_or_else(bad)? as i32;
        return Err(io::Error::from_raw_os_error(-errno));
    }
    if kind != RTM_NEWLINK || len > reply.len() {
        return Err(bad());
    }
    let attributes = reply
        .get(size_of::<NlMsgHdr>() + size_of::<IfInfoMsg>()..len)
        .ok_or_else(bad)?;
    let mode = attribute(attributes, IFLA_XDP)
        .and_then(|xdp| attribute(xdp, IFLA_XDP_ATTACHED))
        .and_then(|value| value.first().copied());
    Ok(match mode {
        None | Some(0) => XdpAttached::None,
        Some(1) => XdpAttached::Driver,
        Some(2) => XdpAttached::Generic,
        Some(_) => XdpAttached::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWLINK reply with an IFLA_MTU and a nested IFLA_XDP whose
    /// IFLA_XDP_ATTACHED is `mode`.
    fn reply(mode: u8) -> Vec<u8> {
        let mut attributes = Vec::new();
        // IFLA_MTU (4): 1500.
        attributes.extend_from_slice(&8u16.to_ne_bytes());
        attributes.extend_from_slice(&4u16.to_ne_bytes());
        attributes.extend_from_slice(&1500u32.to_ne_bytes());
        // IFLA_XDP, nested: IFLA_XDP_ATTACHED (u8, padded) then a prog id.
        let mut xdp = Vec::new();
        xdp.extend_from_slice(&5u16.to_ne_bytes());
        xdp.extend_from_slice(&IFLA_XDP_ATTACHED.to_ne_bytes());
        xdp.extend_from_slice(&[mode, 0, 0, 0]);
        xdp.extend_from_slice(&8u16.to_ne_bytes());
        xdp.extend_from_slice(&4u16.to_ne_bytes());
        xdp.extend_from_slice(&77u32.to_ne_bytes());
        attributes.extend_from_slice(&((NLA_HEADER + xdp.len()) as u16).to_ne_bytes());
        attributes.extend_from_slice(&(IFLA_XDP | NLA_F_NESTED).to_ne_bytes());
        attributes.extend_from_slice(&xdp);
        let len = size_of::<NlMsgHdr>() + size_of::<IfInfoMsg>() + attributes.len();
        let mut message = Vec::new();
        message.extend_from_slice(&(len as u32).to_ne_bytes());
        message.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
        message.extend_from_slice(&[0; 10]);
        message.extend_from_slice(&[0; size_of::<IfInfoMsg>()]);
        message.extend_from_slice(&attributes);
        message
    }

    #[test]
    fn reads_the_attached_mode_from_a_reply() {
        assert_eq!(parse_reply(&reply(1)).ok(), Some(XdpAttached::Driver));
        assert_eq!(parse_reply(&reply(2)).ok(), Some(XdpAttached::Generic));
        assert_eq!(parse_reply(&reply(0)).ok(), Some(XdpAttached::None));
        assert_eq!(parse_reply(&reply(3)).ok(), Some(XdpAttached::Other));
    }

    #[test]
    fn a_cut_reply_is_an_error_not_a_mode() {
        let full = reply(1);
        assert!(parse_reply(&full[..10]).is_err());
        let mut lying = full.clone();
        lying[0..4].copy_from_slice(&10_000u32.to_ne_bytes());
        assert!(parse_reply(&lying).is_err());
    }
}
