//! Release Passport: decides whether a release may be promoted, from scoped evidence.

pub mod api;
pub mod attest;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod connectors;
pub mod console;
pub mod controller;
pub mod decide;
pub mod engine;
pub mod evidence;
pub mod examples;
pub mod freeze;
pub mod gate;
pub mod leadership;
pub mod load;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod radar;
pub mod runtime;
pub mod scrub;
pub mod serve;
pub mod simulate;
pub mod stats;
pub mod text;
