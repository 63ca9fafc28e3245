//! Every integration test in one binary: one link instead of twenty keeps a clean clone's
//! build small and quick (each tier's module is its own file beside this one; run one with
//! `cargo test --test integration e2e_cluster::`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::zombie_processes
)]

mod common;

mod admission;
mod argocd_health;
mod cli_attest;
mod cli_demo;
mod cli_evaluate;
mod cli_metrics;
mod cli_simulate;
mod cluster_faults;
mod cluster_install;
mod connectors_alertmanager;
mod connectors_cluster;
mod connectors_http;
mod connectors_influxdb;
mod connectors_prometheus;
mod console_auth;
mod console_coherence;
mod console_e2e;
mod console_export;
mod console_isolation;
mod console_words;
mod controller_reconcile;
mod crds;
mod demo_history;
mod e2e_cluster;
mod engine_props;
mod engine_table;
mod gitops_argocd;
mod gitops_flux;
mod install;
mod layers;
mod metrics_delivery;
mod metrics_exposition;
mod notify_cluster;
mod peers;
mod serve_tls;
mod stats_scipy;
