//! `coffer`: the command-line client (see `coffer --help` and the README).

// The same allocator as the other binaries: freed part buffers go back for reuse
// instead of piling up in per-thread arenas (glibc's kept 150 MiB for a 2 GiB push).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    coffer::client::main()
}
