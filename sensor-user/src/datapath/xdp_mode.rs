//! An interface as the kernel reports it right now, asked with one
//! rtnetlink `RTM_GETLINK` request in the current network namespace: how an
//! XDP program is attached (native, generic, none) and which one, and
//! whether the link is up. The agent asks before taking over an earlier
//! agent's link (whose mode the link itself does not record), and every
//! tick, to notice a link that went down or a program that was detached.
//!
//! Message layouts and numbers are Linux's (`linux/netlink.h`,
//! `linux/rtnetlink.h`, `linux/if_link.h`).

use std::{io, mem::size_of};

const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_PROG_ID: u16 = 4;
/// `IF_OPER_DOWN`, `IF_OPER_LOWERLAYERDOWN`, `IF_OPER_NOTPRESENT`,
/// `IF_OPER_DORMANT`: no frames arrive.
const OPER_NOT_RUNNING: [u8; 4] = [2, 3, 1, 5];
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

/// What rtnetlink says about one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkReport {
    pub xdp: XdpAttached,
    /// The id of the XDP program attached, if any.
    pub prog_id: Option<u32>,
    /// The operational state lets frames arrive (up, or unknown as for
    /// some virtual links).
    pub running: bool,
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
    report(ifindex).map(|r| r.xdp)
}

/// The interface with index `ifindex`, as rtnetlink reports it.
pub fn report(ifindex: u32) -> io::Result<LinkReport> {
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

fn parse_reply(reply: &[u8]) -> io::Result<LinkReport> {
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
    let xdp = attribute(attributes, IFLA_XDP);
    let mode = xdp
        .and_then(|xdp| attribute(xdp, IFLA_XDP_ATTACHED))
        .and_then(|value| value.first().copied());
    let prog_id = xdp
        .and_then(|xdp| attribute(xdp, IFLA_XDP_PROG_ID))
        .and_then(|value| u32_at(value, 0))
        .filter(|id| *id != 0);
    let oper = attribute(attributes, IFLA_OPERSTATE).and_then(|value| value.first().copied());
    Ok(LinkReport {
        xdp: match mode {
            None | Some(0) => XdpAttached::None,
            Some(1) => XdpAttached::Driver,
            Some(2) => XdpAttached::Generic,
            Some(_) => XdpAttached::Other,
        },
        prog_id,
        running: !oper.is_some_and(|state| OPER_NOT_RUNNING.contains(&state)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWLINK reply with an IFLA_MTU, an IFLA_OPERSTATE of `oper`
    /// and a nested IFLA_XDP whose IFLA_XDP_ATTACHED is `mode` (program 77).
    fn reply_with(mode: u8, oper: u8) -> Vec<u8> {
        let mut attributes = Vec::new();
        // IFLA_OPERSTATE (u8, padded).
        attributes.extend_from_slice(&5u16.to_ne_bytes());
        attributes.extend_from_slice(&IFLA_OPERSTATE.to_ne_bytes());
        attributes.extend_from_slice(&[oper, 0, 0, 0]);
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
        xdp.extend_from_slice(&IFLA_XDP_PROG_ID.to_ne_bytes());
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

    fn reply(mode: u8) -> Vec<u8> {
        reply_with(mode, 6)
    }

    #[test]
    fn reads_the_attached_mode_program_and_state_from_a_reply() {
        let xdp = |bytes: &[u8]| parse_reply(bytes).ok().map(|r| r.xdp);
        assert_eq!(xdp(&reply(1)), Some(XdpAttached::Driver));
        assert_eq!(xdp(&reply(2)), Some(XdpAttached::Generic));
        assert_eq!(xdp(&reply(0)), Some(XdpAttached::None));
        assert_eq!(xdp(&reply(3)), Some(XdpAttached::Other));
        let up = parse_reply(&reply_with(1, 6)).ok();
        assert_eq!(up.map(|r| (r.prog_id, r.running)), Some((Some(77), true)));
        let down = parse_reply(&reply_with(1, 2)).ok();
        assert_eq!(down.map(|r| r.running), Some(false));
        // Unknown (as for a tun) counts as running.
        assert_eq!(
            parse_reply(&reply_with(1, 0)).ok().map(|r| r.running),
            Some(true)
        );
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
