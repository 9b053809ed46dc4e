//! testapp: the test workload, one small static program that plays every part a cluster test
//! needs from a container: an HTTP server with a health endpoint that fails on demand, a
//! printer of log lines, a sleeper, a process exiting with a chosen status, a memory hog for
//! OOM kills, and a tiny shell for `kubectl exec`. `testapp help` lists the commands.

mod cli;
mod commands;
mod http;
mod pod;
mod routes;
mod serve;
mod sh;
mod signals;

use std::process::ExitCode;

fn main() -> ExitCode {
    signals::exit_zero_on_sigterm();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command = match cli::parse_argv(&argv) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("testapp: {e}");
            return ExitCode::from(2);
        }
    };
    // Unlocked handles: serve's connection threads log through stdout while this one waits.
    let status = commands::run(command, &mut std::io::stdout(), &mut std::io::stderr());
    // `exit -1` is 255, as in sh.
    ExitCode::from((status & 0xff) as u8)
}
