//! `vantage`: the sensor agent and its operator commands.

mod commands;
mod uplink_commands;

use clap::Parser as _;
use vantage::cli::Cli;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match commands::dispatch(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vantage: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
