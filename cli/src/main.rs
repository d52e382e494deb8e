//! The `wflow` binary: a thin shell over the compiler.

/// mimalloc rather than the system allocator: `serve` allocates and frees on many threads at
/// once, where glibc's arenas cost it a fifth of its CPU time (see `docs/runtime.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wflow::run()
}
