//! The probes themselves: aya's for program types, map types and helpers
//! (libbpf's method: a map of the type created; a program calling the
//! helper loaded, a verifier log naming it unknown meaning missing), and
//! raw `bpf(2)` calls for what aya does not probe (function calls, bounded
//! loops, the multi-buffer flag, XDP links). Each probe program is valid:
//! on a kernel with the feature it loads.

use std::{
    ffi::CStr,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::Instant,
};

use aya::{
    maps::MapType,
    programs::{ProgramError, ProgramType},
    sys::{is_helper_supported, is_map_supported, BpfHelper, SyscallError},
};
use caps::{CapSet, Capability};

use super::{errno_name, Feature, FeatureProbe, KernelReport, Outcome};

/// `bpf(2)` commands (`enum bpf_cmd`).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
/// `BPF_PROG_TYPE_XDP`.
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_F_XDP_HAS_FRAGS` (load flag, Linux 5.18).
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// `BPF_XDP` (`enum bpf_attach_type`, Linux 5.9).
const BPF_XDP: u32 = 37;
/// `XDP_FLAGS_DRV_MODE`: native mode, which the loopback device lacks.
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// `XDP_PASS`.
const XDP_PASS: i32 = 2;
/// Opcodes: `BPF_ALU64|BPF_MOV|BPF_K`, `BPF_ALU64|BPF_ADD|BPF_K`,
/// `BPF_JMP|BPF_JNE|BPF_K`, `BPF_JMP|BPF_CALL`, `BPF_JMP|BPF_EXIT`.
const MOV64_IMM: u8 = 0xb7;
const ADD64_IMM: u8 = 0x07;
const JNE_IMM: u8 = 0x55;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
/// `BPF_PSEUDO_CALL`: a call's source register marking a BPF-to-BPF call.
const PSEUDO_CALL: u8 = 1;
/// Bytes of verifier log kept when a probe program is refused.
const LOG_BYTES: usize = 4096;

/// Runs every probe, in [`Feature::ALL`] order.
pub(super) fn run() -> KernelReport {
    let started = Instant::now();
    let probes = Feature::ALL
        .iter()
        .map(|&feature| FeatureProbe {
            feature,
            outcome: probe(feature),
        })
        .collect();
    KernelReport {
        release: release(),
        probes,
        elapsed: started.elapsed(),
    }
}

fn probe(feature: Feature) -> Outcome {
    match feature {
        Feature::XdpPrograms => program_type(ProgramType::Xdp),
        Feature::HashMaps => map_type(MapType::Hash),
        Feature::ArrayMaps => map_type(MapType::Array),
        Feature::PerCpuArrays => map_type(MapType::PerCpuArray),
        Feature::LpmTries => map_type(MapType::LpmTrie),
        Feature::RingBuffer => map_type(MapType::RingBuf),
        Feature::Jiffies64 => helper(BpfHelper::BPF_FUNC_jiffies64),
        Feature::RingbufReserve => helper(BpfHelper::BPF_FUNC_ringbuf_reserve),
        Feature::RingbufSubmit => helper(BpfHelper::BPF_FUNC_ringbuf_submit),
        Feature::KtimeGetCoarseNs => helper(BpfHelper::BPF_FUNC_ktime_get_coarse_ns),
        Feature::XdpGetBuffLen => helper(BpfHelper::BPF_FUNC_xdp_get_buff_len),
        Feature::XdpLoadBytes => helper(BpfHelper::BPF_FUNC_xdp_load_bytes),
        Feature::FunctionCalls => function_calls(),
        Feature::BoundedLoops => bounded_loops(),
        Feature::XdpFrags => frags(),
        Feature::XdpLinks => xdp_links(),
    }
}

/// `uname -r`.
fn release() -> String {
    // SAFETY: utsname is plain bytes, valid all zero; uname fills it.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `names` is a valid, writable utsname.
    if unsafe { libc::uname(&mut names) } != 0 {
        return "(unknown release)".to_owned();
    }
    let bytes: Vec<u8> = names
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Denied for EPERM and EACCES, undetermined for anything else.
fn refused(call: &str, errno: i32) -> Outcome {
    match errno {
        libc::EPERM | libc::EACCES => Outcome::Denied { errno },
        _ => Outcome::Undetermined {
            detail: format!("{call}: {}", errno_name(errno)),
        },
    }
}

fn syscall_failure(error: &SyscallError) -> Outcome {
    refused(
        error.call,
        error.io_error.raw_os_error().unwrap_or(libc::EINVAL),
    )
}

fn program_type(program_type: ProgramType) -> Outcome {
    match aya::sys::is_program_supported(program_type) {
        Ok(true) => Outcome::Present,
        Ok(false) => Outcome::Missing {
            evidence: "BPF_PROG_LOAD refuses the program type (EINVAL)".to_owned(),
        },
        Err(ProgramError::SyscallError(error)) => syscall_failure(&error),
        Err(other) => Outcome::Undetermined {
            detail: other.to_string(),
        },
    }
}

fn map_type(map_type: MapType) -> Outcome {
    match is_map_supported(map_type) {
        Ok(true) => Outcome::Present,
        Ok(false) => Outcome::Missing {
            evidence: format!(
                "BPF_MAP_CREATE refuses map type {} (EINVAL)",
                map_type as u32
            ),
        },
        Err(error) => syscall_failure(&error),
    }
}

fn helper(helper: BpfHelper) -> Outcome {
    match is_helper_supported(ProgramType::Xdp, helper) {
        Ok(true) => Outcome::Present,
        Ok(false) => Outcome::Missing {
            evidence: format!(
                "the verifier does not know helper #{} in XDP programs",
                helper as u32
            ),
        },
        Err(ProgramError::SyscallError(error)) => syscall_failure(&error),
        Err(other) => Outcome::Undetermined {
            detail: other.to_string(),
        },
    }
}

/// A main function calling a subprogram.
fn function_calls() -> Outcome {
    let insns = [
        insn(CALL, 0, PSEUDO_CALL, 0, 2),
        insn(MOV64_IMM, 0, 0, 0, XDP_PASS),
        insn(EXIT, 0, 0, 0, 0),
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    // Kernels before 4.16 do not follow the call, so the subprogram is
    // unreachable to them, and reject a call with a source register.
    verified(
        &insns,
        0,
        &["unreachable insn", "BPF_CALL uses reserved fields"],
    )
}

/// A loop counting down from 4.
///
/// Only with CAP_PERFMON or CAP_SYS_ADMIN: without either the verifier
/// also walks each branch the way a mispredicting CPU would, with the
/// compared value unknown, and a loop's last exit then leads into an
/// endless walk (seconds, then E2BIG; kernels since 6.17 cut it short).
fn bounded_loops() -> Outcome {
    let bypasses_speculation = [Capability::CAP_PERFMON, Capability::CAP_SYS_ADMIN]
        .into_iter()
        .any(|cap| caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false));
    if !bypasses_speculation {
        return Outcome::Undetermined {
            detail: "not probed without CAP_PERFMON or CAP_SYS_ADMIN".to_owned(),
        };
    }
    let insns = [
        insn(MOV64_IMM, 1, 0, 0, 4),
        insn(ADD64_IMM, 1, 0, 0, -1),
        insn(JNE_IMM, 1, 0, -2, 0),
        insn(MOV64_IMM, 0, 0, 0, XDP_PASS),
        insn(EXIT, 0, 0, 0, 0),
    ];
    // Kernels before 5.3 reject any jump backwards as a "back-edge".
    verified(&insns, 0, &["back-edge"])
}

/// The smallest XDP program, loaded with the multi-buffer flag.
fn frags() -> Outcome {
    match load_xdp(&PASS, BPF_F_XDP_HAS_FRAGS) {
        Ok(_fd) => Outcome::Present,
        // Kernels before 5.18 refuse unknown load flags before verifying
        // anything (an empty log).
        Err(Refusal { errno, log }) if errno == libc::EINVAL && log.is_empty() => {
            match load_xdp(&PASS, 0) {
                Ok(_fd) => Outcome::Missing {
                    evidence: "BPF_PROG_LOAD refuses the BPF_F_XDP_HAS_FRAGS flag (EINVAL)"
                        .to_owned(),
                },
                Err(refusal) => refusal.outcome(),
            }
        }
        Err(refusal) => refusal.outcome(),
    }
}

/// Asks for a native-mode XDP link on the loopback device, which has no
/// native XDP: a kernel with XDP links answers EOPNOTSUPP (or EEXIST when
/// generic XDP runs there) without attaching anything, one without them
/// EINVAL (`BPF_LINK_CREATE` unknown before 5.7, XDP not linkable before
/// 5.9).
fn xdp_links() -> Outcome {
    let program = match load_xdp(&PASS, 0) {
        Ok(fd) => fd,
        Err(refusal) => return refusal.outcome(),
    };
    // SAFETY: a NUL-terminated name.
    let loopback = match unsafe { libc::if_nametoindex(c"lo".as_ptr()) } {
        0 => 1,
        index => index,
    };
    let mut attr = LinkCreateAttr {
        prog_fd: program.as_raw_fd() as u32,
        target_ifindex: loopback,
        attach_type: BPF_XDP,
        flags: XDP_FLAGS_DRV_MODE,
    };
    match sys_bpf(BPF_LINK_CREATE, &mut attr) {
        // Attached after all (closing the fd detaches it again).
        Ok(_link) => Outcome::Present,
        Err(errno) if errno == libc::EOPNOTSUPP || errno == libc::EEXIST => Outcome::Present,
        Err(errno) if errno == libc::EINVAL => Outcome::Missing {
            evidence: "BPF_LINK_CREATE refuses the XDP attach type (EINVAL)".to_owned(),
        },
        Err(errno) => refused("BPF_LINK_CREATE", errno),
    }
}

/// `r0 = XDP_PASS; exit`.
const PASS: [Insn; 2] = [insn(MOV64_IMM, 0, 0, 0, XDP_PASS), insn(EXIT, 0, 0, 0, 0)];

/// Loads `insns`: present if the kernel takes them, missing if it refuses
/// them (EINVAL) with a verifier log line saying one of `markers`.
fn verified(insns: &[Insn], flags: u32, markers: &[&str]) -> Outcome {
    match load_xdp(insns, flags) {
        Ok(_fd) => Outcome::Present,
        Err(refusal) if refusal.errno == libc::EINVAL => {
            match refusal
                .log
                .lines()
                .find(|line| markers.iter().any(|marker| line.contains(marker)))
            {
                Some(line) => Outcome::Missing {
                    evidence: format!("the verifier says: {}", line.trim()),
                },
                None => refusal.outcome(),
            }
        }
        Err(refusal) => refusal.outcome(),
    }
}

/// One BPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to `prog_flags`
/// (every kernel since 4.12 knows these fields).
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// The `BPF_LINK_CREATE` part of `union bpf_attr`.
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// A refused probe program: the errno and the verifier's log.
struct Refusal {
    errno: i32,
    log: String,
}

impl Refusal {
    /// Denied, or undetermined with the verifier's last word.
    fn outcome(&self) -> Outcome {
        match (
            refused("BPF_PROG_LOAD", self.errno),
            self.log.lines().rfind(|l| !l.trim().is_empty()),
        ) {
            (Outcome::Undetermined { detail }, Some(line)) => Outcome::Undetermined {
                detail: format!("{detail} (verifier: {})", line.trim()),
            },
            (outcome, _) => outcome,
        }
    }
}

/// Loads an XDP program; when refused, loads it again with the verifier's
/// log to say why.
fn load_xdp(insns: &[Insn], flags: u32) -> Result<OwnedFd, Refusal> {
    if let Ok(fd) = load_once(insns, flags, None) {
        return Ok(fd);
    }
    let mut log = vec![0u8; LOG_BYTES];
    match load_once(insns, flags, Some(&mut log)) {
        Ok(fd) => Ok(fd),
        Err(errno) => Err(Refusal {
            errno,
            log: CStr::from_bytes_until_nul(&log)
                .map(|text| text.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }),
    }
}

fn load_once(insns: &[Insn], flags: u32, log: Option<&mut [u8]>) -> Result<OwnedFd, i32> {
    let (log_level, log_size, log_buf) = match log {
        Some(log) => (1, log.len() as u32, log.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: c"GPL".as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        kern_version: 0,
        prog_flags: flags,
    };
    sys_bpf(BPF_PROG_LOAD, &mut attr)
}

/// `bpf(cmd, attr, sizeof attr)`, returning the new file descriptor.
fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<OwnedFd, i32> {
    // SAFETY: `attr` is a live, initialised prefix of `union bpf_attr` of
    // exactly the size passed, and every pointer in it outlives the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL));
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}
