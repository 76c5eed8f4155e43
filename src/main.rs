use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use clap::Parser;

fn main() -> ExitCode {
    use_better_blas_kernels();
    simbench::cli::run(simbench::cli::Cli::parse())
}

/// Starts over with `OPENBLAS_CORETYPE` set when the system OpenBLAS fell back to slow kernels on
/// a CPU it does not recognise; an explicit `OPENBLAS_CORETYPE` is always respected.
fn use_better_blas_kernels() {
    if std::env::var_os("OPENBLAS_CORETYPE").is_some() {
        return;
    }
    let Some(core) = simbench::metrics::better_blas_core() else {
        return;
    };
    let Ok(executable) = std::env::current_exe() else {
        return;
    };
    // exec only returns on failure; then carry on with OpenBLAS's own kernels.
    let error = Command::new(executable)
        .args(std::env::args_os().skip(1))
        .env("OPENBLAS_CORETYPE", core)
        .exec();
    eprintln!("simbench: could not restart with OPENBLAS_CORETYPE={core}: {error}");
}
