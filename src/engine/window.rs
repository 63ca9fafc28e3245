//! Freeze windows: is `now` inside one, and when does that next change?

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::compile::{Freeze, FreezeSpan};

/// Where `now` stands relative to one freeze window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowState {
    /// Inside, until `until`.
    Inside { until: DateTime<Utc> },
    /// Outside; the next window opens at `opens` (if ever).
    Outside { opens: Option<DateTime<Utc>> },
}

/// Where `now` stands relative to `freeze`, with recurring windows computed in `tz`.
pub fn state(freeze: &Freeze, tz: Tz, now: DateTime<Utc>) -> WindowState {
    match &freeze.span {
        FreezeSpan::Absolute { start, end } => {
            if *start <= now && now < *end {
                WindowState::Inside { until: *end }
            } else if now < *start {
                WindowState::Outside {
                    opens: Some(*start),
                }
            } else {
                WindowState::Outside { opens: None }
            }
        }
        FreezeSpan::Recurring { cron, duration } => {
            // The earliest opening after (now - duration) is the only one that can still
            // cover `now`; if it opened after `now`, we are outside and it is the next opening.
            let from = (now - *duration).with_timezone(&tz);
            match cron.find_next_occurrence(&from, false) {
                Ok(open) => {
                    let open = open.with_timezone(&Utc);
                    if open <= now {
                        WindowState::Inside {
                            until: open + *duration,
                        }
                    } else {
                        WindowState::Outside { opens: Some(open) }
                    }
                }
                Err(_) => WindowState::Outside { opens: None },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use std::str::FromStr;

    fn recurring(cron: &str, hours: i64) -> Freeze {
        Freeze {
            name: "weekend".into(),
            span: FreezeSpan::Recurring {
                cron: Box::new(croner::Cron::from_str(cron).unwrap()),
                duration: Duration::hours(hours),
            },
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn weekend_freeze_in_berlin() {
        // Fridays 18:00 Berlin for 62h: 2026-11-27 is a Friday; Berlin is UTC+1 in November.
        let f = recurring("0 18 * * FRI", 62);
        let tz = chrono_tz::Europe::Berlin;
        assert_eq!(
            state(&f, tz, at("2026-11-27T16:59:00Z")),
            WindowState::Outside {
                opens: Some(at("2026-11-27T17:00:00Z"))
            }
        );
        assert_eq!(
            state(&f, tz, at("2026-11-27T17:00:00Z")),
            WindowState::Inside {
                until: at("2026-11-30T07:00:00Z")
            }
        );
        assert_eq!(
            state(&f, tz, at("2026-11-30T07:00:00Z")),
            WindowState::Outside {
                opens: Some(at("2026-12-04T17:00:00Z"))
            }
        );
    }

    #[test]
    fn absolute_window_is_half_open() {
        let f = Freeze {
            name: "black-friday".into(),
            span: FreezeSpan::Absolute {
                start: at("2026-11-26T00:00:00Z"),
                end: at("2026-11-30T00:00:00Z"),
            },
        };
        assert!(matches!(
            state(&f, Tz::UTC, at("2026-11-26T00:00:00Z")),
            WindowState::Inside { .. }
        ));
        assert_eq!(
            state(&f, Tz::UTC, at("2026-11-30T00:00:00Z")),
            WindowState::Outside { opens: None }
        );
    }
}
