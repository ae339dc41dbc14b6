//! `cargo xtask`: set up a machine, run the tests, the benchmarks and the lab;
//! build gateway images and test the datapath in QEMU VMs.

mod arch;
mod bench;
mod cmd;
mod fuzz;
mod image;
mod lab;
mod setup;
mod test;
mod vm;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Vantage developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install what building and testing need (as root), or say what is missing.
    Setup,
    /// Build everything and run every test in the real kernel (root).
    Test(test::TestArgs),
    /// Run the XDP benchmarks under BPF_PROG_TEST_RUN (root).
    Bench(bench::BenchArgs),
    /// Fuzz the wire protocol decoders with cargo-fuzz (nightly, libFuzzer).
    Fuzz(fuzz::FuzzArgs),
    /// Run a live demo site in network namespaces until Ctrl-C, SIGTERM or SIGHUP (root).
    Lab(lab::LabArgs),
    /// Build a bootable gateway disk image from Debian packages (root).
    Image(image::ImageArgs),
    /// Test the datapath in QEMU on Debian kernels (`vm test`), boot-check the image (`vm boot`, root).
    Vm(vm::VmArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::ensure(),
        Task::Test(args) => test::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::Lab(args) => lab::run(&args),
        Task::Fuzz(args) => fuzz::run(args.seconds),
        Task::Image(args) => image::run(&args),
        Task::Vm(args) => vm::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
