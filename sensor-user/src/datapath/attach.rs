//! Attaching the program to interfaces: which of its variants fits the link
//! (Ethernet or raw IP; single- or multi-buffer for a jumbo MTU), native
//! (driver) or generic mode and why, taking over an earlier agent's pinned
//! link without a gap in enforcement, and pinning the new link so it
//! outlives the agent.

use std::path::Path;

use aya::programs::{
    links::{FdLink, PinnedLink},
    Xdp, XdpMode,
};
use sensor_common::{PROGRAM_RAW_IP, PROGRAM_RAW_IP_FRAGS, PROGRAM_SENSOR, PROGRAM_SENSOR_FRAGS};

use super::{
    iface::{self, LinkKind},
    xdp_mode::{self, XdpAttached},
    AttachMode, AttachedMode, Datapath, DatapathError,
};

/// How the program was attached to one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub mode: AttachedMode,
    pub link: LinkKind,
    /// The multi-buffer variant (the interface's MTU is beyond one page).
    pub frags: bool,
    /// The interface's MTU in bytes.
    pub mtu: u32,
    /// Why generic mode was used when native was asked for or tried first.
    pub generic_because: Option<String>,
    /// An earlier agent's link was taken over (its mode is kept).
    pub took_over: bool,
    /// The kernel's id of the program attached, to recognise it later.
    pub program_id: u32,
}

impl Datapath {
    /// Attaches to `iface`. With pins, a link an earlier agent left behind is
    /// taken over by swapping in this program atomically (no gap in
    /// enforcement), and the new link is pinned so it outlives this process.
    ///
    /// In `Auto` mode native XDP is tried first: the single-buffer program,
    /// then, if the driver refuses the interface's MTU, the multi-buffer one;
    /// if both are refused the program runs in generic mode and the returned
    /// [`Attachment`] says why.
    pub fn attach(
        &mut self,
        iface: &str,
        request: AttachMode,
    ) -> Result<Attachment, DatapathError> {
        let mut attachment = self.attach_variant(iface, request)?;
        let name = match (attachment.link, attachment.frags) {
            (LinkKind::Ethernet, false) => PROGRAM_SENSOR,
            (LinkKind::Ethernet, true) => PROGRAM_SENSOR_FRAGS,
            (LinkKind::RawIp, false) => PROGRAM_RAW_IP,
            (LinkKind::RawIp, true) => PROGRAM_RAW_IP_FRAGS,
        };
        let info = self
            .program(name)?
            .info()
            .map_err(|source| DatapathError::Program { name, source })?;
        attachment.program_id = info.id();
        Ok(attachment)
    }

    fn attach_variant(
        &mut self,
        iface: &str,
        request: AttachMode,
    ) -> Result<Attachment, DatapathError> {
        if !interface_exists(iface) {
            return Err(DatapathError::NoSuchInterface(iface.to_owned()));
        }
        let io = |source| DatapathError::Interface {
            iface: iface.to_owned(),
            source,
        };
        let link_type = iface::link_type(iface).map_err(io)?;
        let link = iface::link_kind(link_type).map_err(|what| DatapathError::UnsupportedLink {
            iface: iface.to_owned(),
            what,
        })?;
        let mtu = iface::mtu(iface).map_err(io)?;
        let (single, multi) = match link {
            LinkKind::Ethernet => (PROGRAM_SENSOR, PROGRAM_SENSOR_FRAGS),
            LinkKind::RawIp => (PROGRAM_RAW_IP, PROGRAM_RAW_IP_FRAGS),
        };
        let attachment = |mode, frags, generic_because| Attachment {
            mode,
            link,
            frags,
            mtu,
            generic_because,
            took_over: false,
            program_id: 0,
        };
        if let Some(pins) = self.pins.clone() {
            let path = pins.link(iface);
            if path.exists() {
                // The link does not record its mode; the interface does.
                let running = interface_index(iface)
                    .ok_or_else(|| DatapathError::NoSuchInterface(iface.to_owned()))
                    .and_then(|index| xdp_mode::attached(index).map_err(io))?;
                let conflict = matches!(
                    (request, running),
                    (AttachMode::Driver, XdpAttached::Generic)
                        | (AttachMode::Generic, XdpAttached::Driver)
                );
                if conflict {
                    log::info!(
                        "{iface}: the earlier agent's program runs in {} mode and {} mode was asked for: attaching afresh",
                        if running == XdpAttached::Generic { "generic" } else { "driver" },
                        if request == AttachMode::Generic { "generic" } else { "driver" },
                    );
                    drop_pinned_link(iface, &path)?;
                } else if take_over_link(self.program(single)?, iface, &path)? {
                    // A link of the multi-buffer variant does not take the
                    // single-buffer one: the swap fails, the old link goes,
                    // and the interface is attached afresh below (a brief
                    // gap, on jumbo-MTU interfaces only).
                    let generic = running == XdpAttached::Generic;
                    let mut taken = attachment(
                        if generic {
                            AttachedMode::Generic
                        } else {
                            AttachedMode::Driver
                        },
                        false,
                        generic.then(|| {
                            "the earlier agent's generic attachment was taken over".to_owned()
                        }),
                    );
                    taken.took_over = true;
                    return Ok(taken);
                }
            }
        }
        let native = |datapath: &mut Datapath| -> Result<(bool, ()), DatapathError> {
            match datapath.attach_one(single, iface, XdpMode::Driver) {
                Ok(()) => Ok((false, ())),
                Err(error) if os_error_of(&error) == Some(libc::ERANGE) => {
                    // The driver's single-buffer XDP cannot hold this MTU.
                    match datapath.attach_one(multi, iface, XdpMode::Driver) {
                        Ok(()) => Ok((true, ())),
                        Err(_) => Err(DatapathError::MtuTooLarge {
                            iface: iface.to_owned(),
                            mtu,
                        }),
                    }
                }
                Err(error) => Err(error),
            }
        };
        match request {
            AttachMode::Driver => {
                let (frags, ()) = native(self)?;
                Ok(attachment(AttachedMode::Driver, frags, None))
            }
            AttachMode::Generic => {
                self.attach_one(single, iface, XdpMode::Skb)?;
                Ok(attachment(
                    AttachedMode::Generic,
                    false,
                    Some("generic mode was asked for".to_owned()),
                ))
            }
            AttachMode::Auto => match native(self) {
                Ok((frags, ())) => Ok(attachment(AttachedMode::Driver, frags, None)),
                Err(busy @ DatapathError::AttachBusy { .. }) => Err(busy),
                Err(native_error) => {
                    let because = error_chain(&native_error);
                    log::warn!(
                        "{iface}: native XDP refused ({because}); using generic XDP, which works everywhere but costs more CPU per packet and sees segments the kernel merged (GRO), which the agent turns off on this interface"
                    );
                    self.attach_one(single, iface, XdpMode::Skb)?;
                    Ok(attachment(AttachedMode::Generic, false, Some(because)))
                }
            },
        }
    }

    /// Attaches program `name` to `iface` in `mode`, pinning the link.
    fn attach_one(
        &mut self,
        name: &'static str,
        iface: &str,
        mode: XdpMode,
    ) -> Result<(), DatapathError> {
        let pins = self.pins.clone();
        let program = self.program(name)?;
        let link_id = attach_in(program, iface, mode)?;
        let Some(pins) = pins else {
            return Ok(());
        };
        let link = program
            .take_link(link_id)
            .map_err(|source| DatapathError::Program { name, source })?;
        let path = pins.link(iface);
        match FdLink::try_from(link) {
            Ok(fd_link) => fd_link
                .pin(&path)
                .map(|_| ())
                .map_err(|e| DatapathError::Pin {
                    what: format!("XDP link of {iface}"),
                    path: path.clone(),
                    message: e.to_string(),
                }),
            Err(_) => {
                // A netlink attachment (kernels before 5.9) stays on the
                // interface after this process exits by itself.
                log::info!("{iface}: netlink XDP attachment; it persists without a pinned link");
                Ok(())
            }
        }
    }
}

/// The interface as the kernel reports it now: the XDP program attached
/// (compare with [`Attachment::program_id`]) and whether the link runs.
pub fn link_report(iface: &str) -> Result<xdp_mode::LinkReport, DatapathError> {
    let index =
        interface_index(iface).ok_or_else(|| DatapathError::NoSuchInterface(iface.to_owned()))?;
    xdp_mode::report(index).map_err(|source| DatapathError::Interface {
        iface: iface.to_owned(),
        source,
    })
}

/// True if the loaded program with `id` is one of this object's sensor
/// programs (by name), whoever loaded it.
pub fn is_sensor_program(id: u32) -> bool {
    use sensor_common::{PROGRAM_RAW_IP, PROGRAM_RAW_IP_FRAGS};
    aya::programs::loaded_programs().flatten().any(|info| {
        info.id() == id
            && info.name_as_str().is_some_and(|name| {
                [
                    PROGRAM_SENSOR,
                    PROGRAM_SENSOR_FRAGS,
                    PROGRAM_RAW_IP,
                    PROGRAM_RAW_IP_FRAGS,
                ]
                .iter()
                // The kernel keeps the first 15 bytes of a program's name.
                .any(|ours| ours.starts_with(name) && !name.is_empty())
            })
    })
}

/// True if an interface of this name exists in this network namespace.
fn interface_exists(iface: &str) -> bool {
    interface_index(iface).is_some()
}

/// The interface's index in this network namespace.
fn interface_index(iface: &str) -> Option<u32> {
    let name = std::ffi::CString::new(iface).ok()?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Detaches the earlier agent's pinned link (unpinned and closed).
fn drop_pinned_link(iface: &str, path: &Path) -> Result<(), DatapathError> {
    let pin_error = |message: String| DatapathError::Pin {
        what: format!("XDP link of {iface}"),
        path: path.to_path_buf(),
        message,
    };
    let pinned = PinnedLink::from_pin(path).map_err(|e| pin_error(e.to_string()))?;
    drop(pinned.unpin().map_err(|e| pin_error(e.to_string()))?);
    Ok(())
}

fn attach_in(
    program: &mut Xdp,
    iface: &str,
    mode: XdpMode,
) -> Result<aya::programs::xdp::XdpLinkId, DatapathError> {
    program.attach(iface, mode).map_err(|source| {
        if os_error_in(&source) == Some(libc::EEXIST) {
            return DatapathError::AttachBusy {
                iface: iface.to_owned(),
            };
        }
        DatapathError::Attach {
            iface: iface.to_owned(),
            mode: match mode {
                XdpMode::Driver => "driver",
                XdpMode::Skb => "generic",
                XdpMode::Hardware => "hardware",
                XdpMode::Default => "default",
            },
            source,
        }
    })
}

/// An error and every cause under it, as one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let next = current.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = current.source();
    }
    text
}

/// The OS error number of an attach failure, if it carries one.
fn os_error_of(error: &DatapathError) -> Option<i32> {
    match error {
        DatapathError::Attach { source, .. } => os_error_in(source),
        _ => None,
    }
}

/// The OS error number somewhere in an error's chain, if any.
fn os_error_in(error: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(code) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return Some(code);
        }
        cause = current.source();
    }
    None
}

/// Swaps `program` into a pinned link left by an earlier agent and pins the
/// link again. False (the stale pin removed) if the link can no longer be
/// updated, e.g. because its interface was deleted.
fn take_over_link(program: &mut Xdp, iface: &str, path: &Path) -> Result<bool, DatapathError> {
    let pin_error = |message: String| DatapathError::Pin {
        what: format!("XDP link of {iface}"),
        path: path.to_path_buf(),
        message,
    };
    let pinned = PinnedLink::from_pin(path).map_err(|e| pin_error(e.to_string()))?;
    let fd_link = pinned.unpin().map_err(|e| pin_error(e.to_string()))?;
    let xdp_link =
        aya::programs::xdp::XdpLink::try_from(fd_link).map_err(|e| pin_error(e.to_string()))?;
    let id = match program.attach_to_link(xdp_link) {
        Ok(id) => id,
        Err(e) => {
            log::warn!(
                "{iface}: could not take over the earlier agent's link ({e}); attaching afresh"
            );
            return Ok(false);
        }
    };
    let link = program
        .take_link(id)
        .map_err(|source| DatapathError::Program {
            name: PROGRAM_SENSOR,
            source,
        })?;
    let fd_link = FdLink::try_from(link).map_err(|e| pin_error(e.to_string()))?;
    fd_link.pin(path).map_err(|e| pin_error(e.to_string()))?;
    Ok(true)
}
