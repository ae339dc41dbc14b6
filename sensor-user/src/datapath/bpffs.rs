//! Making sure a bpffs is mounted where pins are kept.

use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
};

/// `BPF_FS_MAGIC` from `linux/magic.h`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// Where bpffs is conventionally mounted.
const DEFAULT_BPFFS: &str = "/sys/fs/bpf";

#[derive(Debug, thiserror::Error)]
pub enum BpffsError {
    #[error("{path} is not on a bpffs: choose a pin_dir under {DEFAULT_BPFFS} (the agent mounts bpffs there when it is missing)")]
    NotBpffs { path: PathBuf },
    #[error("mounting bpffs at {path}: {source}")]
    Mount {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid out-parameter.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stat` is writable.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    rc == 0 && stat.f_type as i64 == BPF_FS_MAGIC
}

/// Ensures `pin_root` (or its nearest existing ancestor) is on a bpffs,
/// mounting one at `/sys/fs/bpf` if that is where it should be and none is.
pub fn ensure_bpffs(pin_root: &Path) -> Result<(), BpffsError> {
    let mut existing = pin_root;
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => break,
        }
    }
    if is_bpffs(existing) {
        return Ok(());
    }
    let default = Path::new(DEFAULT_BPFFS);
    if pin_root.starts_with(default) && !is_bpffs(default) {
        let target = CString::new(DEFAULT_BPFFS).map_err(|e| BpffsError::Mount {
            path: default.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        let fstype = c"bpf";
        // SAFETY: all pointers are NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(BpffsError::Mount {
                path: default.to_path_buf(),
                source: std::io::Error::last_os_error(),
            });
        }
        log::info!("mounted bpffs at {DEFAULT_BPFFS}");
        return Ok(());
    }
    Err(BpffsError::NotBpffs {
        path: existing.to_path_buf(),
    })
}
