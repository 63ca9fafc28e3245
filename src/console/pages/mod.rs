//! One module per console menu. Each page is a pure function of the snapshot and the viewer.

pub mod builder;
pub mod gate;
pub mod integrations;
pub mod metrics;
pub mod overview;
pub mod radar;
pub mod release;
pub mod releases;
pub mod reports;
pub mod settings;

use maud::{Markup, html};

pub use crate::output::human_duration as duration;

pub fn percent(v: Option<f64>) -> String {
    crate::output::maybe_percent(v, "n/a")
}

pub fn signed_out() -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Signed out · Release Passport" }
                link rel="stylesheet" href="/console/assets/console.css";
                link rel="icon" href="data:,";
            }
            body { main { h1 { "Signed out" } p { a href="/console" { "Sign in again" } } } }
        }
    }
}
