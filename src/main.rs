//! The `reprise` command line: parses arguments, dispatches to `cli/`, maps errors to exit codes.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use reprise::error::printable;

fn main() -> ExitCode {
    reprise::guard::install_hook();
    reprise::error::set_warning_sink(|m| eprintln!("warning: {m}"));
    let parsed = match cli::Cli::try_parse() {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap prints them.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("reprise: {}", printable(&cli::common::one_line(&e)));
            return ExitCode::from(2);
        }
    };
    let Some(command) = parsed.command.or_else(cli::default_command) else {
        let _ = <cli::Cli as clap::CommandFactory>::command().print_help();
        return ExitCode::from(2);
    };
    match cli::run(command) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

/// One line on stderr; exit 2 for what the user can fix, 1 for internal failures, 130 when stopped.
fn report(err: &anyhow::Error) -> ExitCode {
    let ours = err.downcast_ref::<reprise::Error>();
    // Our errors' one line already names their cause; anyhow's `{:#}` would repeat it.
    match ours {
        Some(e) => eprintln!("reprise: {}", printable(&e.to_string())),
        None => eprintln!("reprise: {}", printable(&format!("{err:#}"))),
    }
    if matches!(ours, Some(reprise::Error::Cancelled)) {
        return ExitCode::from(130);
    }
    let user = ours.is_none_or(reprise::Error::is_user_error);
    ExitCode::from(if user { 2 } else { 1 })
}
