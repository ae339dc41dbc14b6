//! `vantage`: the sensor agent and its operator commands.

mod cli;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = cli::args::Cli::parse();
    match cli::dispatch(args.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vantage: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
