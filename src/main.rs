//! The `reprise` command line: parses arguments, dispatches to `cli/`, maps errors to exit codes.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use reprise::error::printable;

fn main() -> ExitCode {
    keep_freed_memory();
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

/// Keeps freed memory in the process. Otherwise glibc hands candle's large temporaries (tens of MB
/// per synth step) back to the kernel and faults them in again on the next step: that was half of a
/// cloning's time (`clone-timbre --steps 40` on one core: 22 s → 12 s).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes glibc's allocator settings, before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

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
