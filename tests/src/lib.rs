//! Support for the cross-crate tests: the fuzzer.

pub mod fuzz;
