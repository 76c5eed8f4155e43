use clap::Parser;

fn main() -> std::process::ExitCode {
    simbench::cli::run(simbench::cli::Cli::parse())
}
