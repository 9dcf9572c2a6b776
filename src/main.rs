//! The `firmhook` binary: parse the command line, run it, report any error
//! on stderr with its causes, and exit with the code DESIGN section 7 gives.

use std::process::ExitCode;

use clap::Parser;
use firmhook::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
