//! `coffer`: the command-line client (see `coffer --help` and the README).

fn main() -> std::process::ExitCode {
    coffer::client::main()
}
