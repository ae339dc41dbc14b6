//! `vantage-fleet`: parses the command line and runs one command.

use clap::Parser as _;

mod commands;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = vantage_fleet::cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vantage-fleet: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
