//! `cargo xtask lab`: a live site in network namespaces (`vantage-lab`, in the tests crate).

use clap::Args;

use crate::cmd::{cargo, require_root, run as run_command};

#[derive(Debug, Args)]
pub struct LabArgs {
    /// Passed to vantage-lab (e.g. `-- --seconds 30`).
    #[arg(last = true)]
    args: Vec<String>,
}

extern "C" fn wait_for_the_lab(_signal: libc::c_int) {}

pub fn run(args: &LabArgs) -> anyhow::Result<()> {
    crate::setup::ensure()?;
    require_root("cargo xtask lab")?;
    run_command(cargo().args(["build", "--workspace", "--exclude", "sensor-ebpf", "--bins"]))?;
    // Ctrl-C reaches the whole process group. The lab handles it by removing
    // what it built; xtask must outlive that. A handler (unlike SIG_IGN) is
    // reset to the default in children at exec, so the lab still gets it.
    let handler = wait_for_the_lab as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler does nothing, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    run_command(
        cargo()
            .args(["run", "-p", "vantage-tests", "--bin", "vantage-lab", "--"])
            .args(&args.args),
    )
}
