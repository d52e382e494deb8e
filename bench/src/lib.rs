//! `wflow bench*`: the benchmarks behind the figures in the docs, kept out of the shipped
//! crates' library surface. Each measures through real parts (the `wflow` binary, loopback
//! servers, a real store) and prints what it measured:
//!
//! - [`check`]: `wflow check` lines/s against actionlint on a generated corpus;
//! - [`exec`]: the engine's per-node overhead, runs/s and memory;
//! - [`serve`]: `wflow serve` runs/s through the HTTP API and request to first node, and
//!   (`recovery`) interrupted runs resumed per second after a `kill -9` and a restart;
//! - [`lsp`]: the language server's latencies and an edit storm;
//! - [`graph`]: laying out and drawing a 100-node workflow;
//! - [`test`]: `wflow test` over 1,000 generated cases.

pub mod check;
pub mod exec;
pub mod graph;
mod loopback;
pub mod lsp;
mod recovery;
pub mod serve;
pub mod test;
