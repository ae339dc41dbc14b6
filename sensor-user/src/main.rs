//! `vantage`: the sensor agent and its operator commands.

mod cli;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = cli::args::Cli::parse();
    if !matches!(args.command, cli::args::Command::Run(_)) {
        // The agent keeps Rust's default (a closed socket is an error to
        // handle); the one-shot commands stop quietly at a closed pipe.
        vantage::sys::default_sigpipe();
    }
    match cli::dispatch(args.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vantage: {}", chain_text(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined with ": ", leaving out a cause whose text
/// an outer message already quotes (many library errors repeat their source).
fn chain_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
