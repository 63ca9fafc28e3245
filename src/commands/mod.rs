//! One module per subcommand; each returns the process exit code.

pub mod approve;
pub mod attest;
pub mod console;
pub mod controller;
pub mod crd;
pub mod demo;
pub mod evaluate;
pub mod gate;
pub mod metrics;
pub mod simulate;
