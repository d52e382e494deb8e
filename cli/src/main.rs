//! The `wflow` binary: a thin shell over the compiler.

fn main() -> std::process::ExitCode {
    wflow::run()
}
