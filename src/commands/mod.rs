//! One module per subcommand; each returns the process exit code.

pub mod crd;
pub mod demo;
pub mod evaluate;
