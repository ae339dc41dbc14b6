//! `cargo xtask vm`: the datapath and the gateway image in QEMU virtual
//! machines. `vm test` boots Debian kernels with an initramfs that runs the
//! kernel tests; `vm boot` boots the gateway image between two namespaces.

mod boot;
mod debian;
mod initramfs;
mod kernel;
mod qemu;
mod test;

use clap::{Args, Subcommand};

use crate::arch::Arch;

#[derive(Debug, Args)]
pub struct VmArgs {
    #[command(subcommand)]
    task: VmTask,
}

#[derive(Debug, Subcommand)]
enum VmTask {
    /// Run the kernel tests inside QEMU on Debian kernels (root).
    Test(TestArgs),
    /// Boot the gateway image between a LAN and a WAN namespace and check it (root).
    Boot(boot::BootArgs),
}

/// Arguments of `cargo xtask vm test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Kernel series or exact Debian versions (e.g. `6.1`, `6.12.117+deb12`);
    /// default: every series listed for the architecture.
    #[arg(long = "kernel", value_name = "VERSION")]
    kernels: Vec<String>,
    /// Guest architecture.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    arch: Arch,
    /// Accelerator: TCG works everywhere; KVM only where it really works
    /// (nested KVM hangs on the machines this project builds on).
    #[arg(long, value_enum, default_value_t = qemu::Accel::Tcg)]
    accel: qemu::Accel,
    /// Passed to every test executable in the VM instead of the default
    /// selection (e.g. a test name filter).
    #[arg(last = true)]
    test_args: Vec<String>,
}

/// The kernels `cargo xtask test` boots (the whole list takes longer than
/// CI's budget allows; `cargo xtask vm test` runs the rest).
pub const CI_KERNELS: [&str; 1] = ["6.12"];

/// What `cargo xtask test` runs in VMs: the kernel tests on [`CI_KERNELS`]
/// (x86_64).
pub fn ci_kernel_tests() -> anyhow::Result<()> {
    test::run_tests(&TestArgs {
        kernels: CI_KERNELS.iter().map(|k| (*k).to_owned()).collect(),
        arch: Arch::X86_64,
        accel: qemu::Accel::Tcg,
        test_args: Vec::new(),
    })
}

/// What `cargo xtask test` runs of the gateway image: `cargo xtask image
/// --arch x86_64`, then `cargo xtask vm boot`.
pub fn ci_image_boot() -> anyhow::Result<()> {
    #[derive(clap::Parser)]
    struct Image {
        #[command(flatten)]
        args: crate::image::ImageArgs,
    }
    #[derive(clap::Parser)]
    struct Boot {
        #[command(flatten)]
        args: boot::BootArgs,
    }
    use clap::Parser as _;
    let image = Image::try_parse_from(["image", "--arch", "x86_64"])?;
    crate::image::run(&image.args)?;
    let boot = Boot::try_parse_from(["boot", "--arch", "x86_64"])?;
    boot::run(&boot.args)
}

pub fn run(args: &VmArgs) -> anyhow::Result<()> {
    match &args.task {
        VmTask::Test(test) => test::run_tests(test),
        VmTask::Boot(boot) => boot::run(boot),
    }
}
