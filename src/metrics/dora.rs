//! DORA performance bands: where a figure falls among the clusters of DORA's State of DevOps
//! research (dora.dev). The boundaries are those the clusters are described by: deployment
//! frequency on demand (daily or more) / weekly / monthly; lead time and recovery under a day,
//! a week, a month (recovery: an hour, a day, a week); change fail rate 5 / 10 / 15 % (the 2023
//! clusters: in 2024's, medium's 10 % sits beside high's 20 %, which bands cannot follow).
//! Analytics only: a band never changes a decision.

use chrono::Duration;

/// A cluster, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Elite => "elite",
            Band::High => "high",
            Band::Medium => "medium",
            Band::Low => "low",
        }
    }
}

/// The band of the first bound `value` is `within` (elite's, high's, medium's), else low.
fn band(value: f64, bounds: [f64; 3], within: impl Fn(f64, f64) -> bool) -> Band {
    match bounds.iter().position(|b| within(value, *b)) {
        Some(0) => Band::Elite,
        Some(1) => Band::High,
        Some(2) => Band::Medium,
        _ => Band::Low,
    }
}

/// Deployments per day: on demand (at least daily), at least weekly, at least monthly.
pub fn deployment_frequency(per_day: f64) -> Band {
    band(per_day, [1.0, 1.0 / 7.0, 1.0 / 30.0], |v, b| v >= b)
}

/// Commit to production: under a day, a week, a month.
pub fn lead_time(d: Duration) -> Band {
    let days = d.num_seconds() as f64 / 86_400.0;
    band(days, [1.0, 7.0, 30.0], |v, b| v < b)
}

/// Share of deployments that failed: at most 5, 10, 15 %.
pub fn change_fail_rate(rate: f64) -> Band {
    band(rate, [0.05, 0.10, 0.15], |v, b| v <= b + f64::EPSILON)
}

/// Failed deployment to recovery: under an hour, a day, a week.
pub fn recovery(d: Duration) -> Band {
    let hours = d.num_seconds() as f64 / 3_600.0;
    band(hours, [1.0, 24.0, 168.0], |v, b| v < b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_at_their_boundaries() {
        assert_eq!(deployment_frequency(3.0), Band::Elite);
        assert_eq!(deployment_frequency(1.0), Band::Elite);
        assert_eq!(deployment_frequency(0.5), Band::High);
        assert_eq!(deployment_frequency(1.0 / 7.0), Band::High);
        assert_eq!(deployment_frequency(0.1), Band::Medium);
        assert_eq!(deployment_frequency(0.01), Band::Low);
        assert_eq!(lead_time(Duration::hours(23)), Band::Elite);
        assert_eq!(lead_time(Duration::days(1)), Band::High);
        assert_eq!(lead_time(Duration::days(10)), Band::Medium);
        assert_eq!(lead_time(Duration::days(45)), Band::Low);
        assert_eq!(change_fail_rate(0.0), Band::Elite);
        assert_eq!(change_fail_rate(0.05), Band::Elite);
        assert_eq!(change_fail_rate(0.08), Band::High);
        assert_eq!(change_fail_rate(0.15), Band::Medium);
        assert_eq!(change_fail_rate(0.4), Band::Low);
        assert_eq!(recovery(Duration::minutes(30)), Band::Elite);
        assert_eq!(recovery(Duration::hours(5)), Band::High);
        assert_eq!(recovery(Duration::days(3)), Band::Medium);
        assert_eq!(recovery(Duration::days(10)), Band::Low);
    }
}
