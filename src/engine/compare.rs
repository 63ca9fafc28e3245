//! A release's metric judged against its baseline (pure): the two windows' medians compared
//! with a tolerance in the direction that is worse, and, when asked, a one-sided Mann-Whitney U
//! test saying whether the release's samples are significantly worse. A fixed threshold misses a
//! service that ran at 0.1% errors and now runs at 0.8%; this does not.

use crate::api::policy::{MetricUnit, show_pair, show_value};
use crate::stats::{Alternative, mann_whitney_u};

/// Which way the metric gets worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worse {
    /// Errors, latency: a larger value is worse.
    Higher,
    /// Throughput, success rate: a smaller value is worse.
    Lower,
}

/// How much worse than the baseline still passes. With both set, the release must be worse
/// beyond both (0.10% → 0.12% is 20% worse but 0.02 points: noise a relative tolerance alone
/// would flag); with neither, any worsening counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tolerance {
    /// A share of the baseline (0.2: 20% worse still passes).
    pub relative: Option<f64>,
    /// In the metric's own unit.
    pub absolute: Option<f64>,
}

/// The statistical test: worse beyond tolerance counts only when the release's samples are
/// significantly worse than the baseline's at `alpha`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Significance {
    pub alpha: f64,
}

/// One comparison, as a compiled rule holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub worse: Worse,
    pub tolerance: Tolerance,
    pub test: Option<Significance>,
    /// Fewer samples than this in either window decide nothing (the rule's no-data effect).
    pub min_samples: usize,
}

/// What the comparison found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not worse beyond tolerance, or not significantly.
    NotWorse,
    /// Worse beyond tolerance (and significantly, with a test).
    Worse,
    /// A window holds too few samples to judge.
    TooFewSamples,
}

/// The summary a passport keeps: never the samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub verdict: Verdict,
    pub release_median: Option<f64>,
    pub baseline_median: Option<f64>,
    /// The one-sided Mann-Whitney p-value, when a test was asked and run.
    pub p: Option<f64>,
    /// The worst release median that still passes, when the baseline has one.
    pub limit: Option<f64>,
    pub samples: (usize, usize),
    /// In plain words: "0.81% since 14:02 vs 0.10% in the 30m before: 8.1× higher, p < 0.001
    /// (Mann-Whitney, 60 vs 60 samples)".
    pub words: String,
}

impl Judged {
    /// Release median over baseline median, when the baseline's is not zero.
    pub fn ratio(&self) -> Option<f64> {
        let (now, before) = (self.release_median?, self.baseline_median?);
        (before != 0.0).then(|| now / before)
    }

    /// What a passport's evidence entry says of it: "median 0.81% vs 0.1% (8.1×), p < 0.001,
    /// 60 vs 60 samples".
    pub fn summary(&self, unit: Option<MetricUnit>) -> String {
        let (a, b) = self.samples;
        let mut out = match (self.release_median, self.baseline_median) {
            (Some(r), Some(base)) => {
                let (r, base) = show_pair(r, base, unit);
                format!("median {r} vs {base}")
            }
            _ => "no medians".to_string(),
        };
        if let Some(ratio) = self.ratio() {
            out.push_str(&format!(" ({}×)", show_value(ratio, None)));
        }
        if let Some(p) = self.p {
            out.push_str(&format!(", {}", p_value(p)));
        }
        out.push_str(&format!(", {a} vs {b} samples"));
        out
    }
}

/// The median of finite `values`; `None` when there are none. Selected, not sorted: a
/// comparison takes two medians of up to 1,000 samples on every decision.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let (mid, even) = (v.len() / 2, v.len().is_multiple_of(2));
    let (below, upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    // With an even count the median is the mean of the two middle values: the largest below.
    Some(if even {
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    } else {
        upper
    })
}

/// The release's samples against the baseline's. `release_window` and `baseline_window` say
/// in words what each is ("since 14:02", "in the 30m before"); `unit` writes the values.
pub fn judge(
    release: &[f64],
    baseline: &[f64],
    comparison: &Comparison,
    unit: Option<MetricUnit>,
    release_window: &str,
    baseline_window: &str,
) -> Judged {
    let finite = |s: &[f64]| {
        s.iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect::<Vec<_>>()
    };
    let (release, baseline) = (finite(release), finite(baseline));
    let found = Found {
        release_median: median(&release),
        baseline_median: median(&baseline),
        samples: (release.len(), baseline.len()),
    };
    // Is the release's side worse: larger when higher is worse, smaller when lower is.
    let alternative = match comparison.worse {
        Worse::Higher => Alternative::Greater,
        Worse::Lower => Alternative::Less,
    };
    let p = || Some(mann_whitney_u(&release, &baseline, alternative).map_or(1.0, |r| r.p));
    conclude(&found, p, comparison, unit, release_window, baseline_window)
}

/// A comparison a passport recorded, judged again under `comparison` (the simulator replays
/// passports, which keep the medians, never the samples): the medians decide the tolerance,
/// and a test reuses the recorded p-value when it was taken in the same direction.
pub fn rejudge(
    recorded: &crate::api::passport::ComparisonSummary,
    comparison: &Comparison,
    release_window: &str,
) -> Judged {
    let found = Found {
        release_median: Some(recorded.release_median),
        baseline_median: Some(recorded.baseline_median),
        samples: (
            recorded.release_samples as usize,
            recorded.baseline_samples as usize,
        ),
    };
    let same_direction = matches!(
        (recorded.worse, comparison.worse),
        (crate::api::policy::WorseWhen::Higher, Worse::Higher)
            | (crate::api::policy::WorseWhen::Lower, Worse::Lower)
    );
    let p = || recorded.p_value.filter(|_| same_direction);
    conclude(
        &found,
        p,
        comparison,
        recorded.unit,
        release_window,
        &format!("in {}", recorded.baseline),
    )
}

/// What both windows gave: their medians and sample counts.
struct Found {
    release_median: Option<f64>,
    baseline_median: Option<f64>,
    samples: (usize, usize),
}

/// The verdict and its words from what was found; `p` gives the one-sided test's p-value when
/// the comparison asks for a test (`None`: there is none to be had).
fn conclude(
    found: &Found,
    p: impl FnOnce() -> Option<f64>,
    comparison: &Comparison,
    unit: Option<MetricUnit>,
    release_window: &str,
    baseline_window: &str,
) -> Judged {
    let Found {
        release_median,
        baseline_median,
        samples,
    } = *found;
    let counts = format!("{} vs {} samples", samples.0, samples.1);
    let needed = comparison.min_samples.max(1);
    let limit = baseline_median.map(|b| limit(b, comparison));
    let judged = |verdict, p, words| Judged {
        verdict,
        release_median,
        baseline_median,
        p,
        limit,
        samples,
        words,
    };
    let (Some(now), Some(before)) = (release_median, baseline_median) else {
        return judged(
            Verdict::TooFewSamples,
            None,
            format!("no samples to compare {release_window} with {baseline_window} ({counts})"),
        );
    };
    let (shown_now, shown_before) = show_pair(now, before, unit);
    let headline = format!(
        "{shown_now} {release_window} vs {shown_before} {baseline_window}: {}",
        change(now, before, unit)
    );
    if samples.0 < needed || samples.1 < needed {
        return judged(
            Verdict::TooFewSamples,
            None,
            format!("{headline}; too few samples to judge ({counts}, at least {needed} each)"),
        );
    }
    let worse_by = match comparison.worse {
        Worse::Higher => now - before,
        Worse::Lower => before - now,
    };
    let beyond = beyond_tolerance(worse_by, before, comparison.tolerance);
    let tolerance = tolerance_words(comparison.tolerance, unit);
    let Some(alpha) = comparison.test.map(|t| t.alpha) else {
        return if beyond {
            judged(
                Verdict::Worse,
                None,
                format!("{headline}, worse beyond {tolerance} ({counts})"),
            )
        } else {
            judged(
                Verdict::NotWorse,
                None,
                format!("{headline}, within {tolerance} ({counts})"),
            )
        };
    };
    let Some(p) = p() else {
        return judged(
            Verdict::TooFewSamples,
            None,
            format!("{headline}; no test in this direction was recorded to reuse ({counts})"),
        );
    };
    let (verdict, said) = match (beyond, p < alpha) {
        (false, _) => (Verdict::NotWorse, format!("within {tolerance}")),
        (true, true) => (Verdict::Worse, "significantly worse".to_string()),
        (true, false) => (
            Verdict::NotWorse,
            format!("not significantly worse at {}", p_words(alpha)),
        ),
    };
    judged(
        verdict,
        Some(p),
        format!(
            "{headline}, {said} — {} (Mann-Whitney, {counts})",
            p_value(p)
        ),
    )
}

/// The worst median that still passes against `baseline`: moved by the larger tolerance (worse
/// beyond both fails) in the worse direction.
fn limit(baseline: f64, comparison: &Comparison) -> f64 {
    let t = comparison.tolerance;
    let room = t
        .absolute
        .unwrap_or(0.0)
        .max(t.relative.unwrap_or(0.0) * baseline.abs());
    match comparison.worse {
        Worse::Higher => baseline + room,
        Worse::Lower => baseline - room,
    }
}

/// Whether worsening by `worse_by` from `baseline` exceeds every tolerance set.
fn beyond_tolerance(worse_by: f64, baseline: f64, tolerance: Tolerance) -> bool {
    worse_by > 0.0
        && tolerance.absolute.is_none_or(|a| worse_by > a)
        && tolerance
            .relative
            .is_none_or(|r| worse_by > r * baseline.abs())
}

fn tolerance_words(tolerance: Tolerance, unit: Option<MetricUnit>) -> String {
    let relative = tolerance
        .relative
        .map(|r| format!("{}%", show_value(r * 100.0, None)));
    let absolute = tolerance.absolute.map(|a| show_value(a, unit));
    match (relative, absolute) {
        (Some(r), Some(a)) => format!("the tolerance ({r} and {a})"),
        (Some(t), None) | (None, Some(t)) => format!("the {t} tolerance"),
        (None, None) => "no tolerance".to_string(),
    }
}

/// How the release moved from the baseline: "8.1× higher", "12% lower", "unchanged".
fn change(now: f64, before: f64, unit: Option<MetricUnit>) -> String {
    if now == before {
        return "unchanged".to_string();
    }
    let direction = if now > before { "higher" } else { "lower" };
    if before == 0.0 {
        return format!("{direction} by {}", show_value((now - before).abs(), unit));
    }
    let ratio = now / before;
    if ratio >= 2.0 {
        format!("{}× {direction}", show_value(ratio, None))
    } else {
        let share = ((now - before) / before.abs()).abs() * 100.0;
        format!("{}% {direction}", show_value(share, None))
    }
}

/// A p-value as a reader wants it: "p < 0.001" below that, else to three places.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {}", p_words(p))
    }
}

fn p_words(p: f64) -> String {
    let text = format!("{p:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(test: bool) -> Comparison {
        Comparison {
            worse: Worse::Higher,
            tolerance: Tolerance {
                relative: Some(0.2),
                absolute: Some(0.001),
            },
            test: test.then_some(Significance { alpha: 0.05 }),
            min_samples: 10,
        }
    }

    /// 60 samples around `centre`, spread ±5%.
    fn around(centre: f64) -> Vec<f64> {
        (0..60)
            .map(|i| centre * (0.95 + 0.1 * f64::from(i) / 59.0))
            .collect()
    }

    #[test]
    fn eight_times_the_errors_blocks_though_under_any_threshold() {
        let j = judge(
            &around(0.0081),
            &around(0.001),
            &comparison(true),
            Some(MetricUnit::Ratio),
            "since 14:02",
            "in the 30m before",
        );
        assert_eq!(j.verdict, Verdict::Worse);
        assert_eq!(
            j.words,
            "0.81% since 14:02 vs 0.1% in the 30m before: 8.1× higher, significantly worse — \
             p < 0.001 (Mann-Whitney, 60 vs 60 samples)"
        );
        assert!(j.p.is_some_and(|p| p < 1e-9));
    }

    /// The rows: release and baseline centres, the test asked, and what it finds.
    #[test]
    fn the_table() {
        let rows: &[(f64, f64, bool, Verdict, &str)] = &[
            // Within 20%: passes with or without the test.
            (
                0.0011,
                0.001,
                false,
                Verdict::NotWorse,
                "10% higher, within the tolerance (20% and 0.1%) (60 vs 60 samples)",
            ),
            (
                0.0011,
                0.001,
                true,
                Verdict::NotWorse,
                "10% higher, within the tolerance (20% and 0.1%) — p < 0.001 (Mann-Whitney, 60 vs 60 samples)",
            ),
            // Better is never worse.
            (
                0.0005,
                0.001,
                true,
                Verdict::NotWorse,
                "50% lower, within the tolerance (20% and 0.1%) — p = 1 (Mann-Whitney, 60 vs 60 samples)",
            ),
            // 30% worse but by less than the absolute tolerance.
            (
                0.0013,
                0.001,
                false,
                Verdict::NotWorse,
                "30% higher, within the tolerance (20% and 0.1%) (60 vs 60 samples)",
            ),
            // Beyond both.
            (
                0.005,
                0.001,
                false,
                Verdict::Worse,
                "5× higher, worse beyond the tolerance (20% and 0.1%) (60 vs 60 samples)",
            ),
        ];
        for (now, before, test, verdict, words) in rows {
            let j = judge(
                &around(*now),
                &around(*before),
                &comparison(*test),
                Some(MetricUnit::Ratio),
                "now",
                "before",
            );
            assert_eq!(j.verdict, *verdict, "{now} vs {before}: {}", j.words);
            assert!(j.words.ends_with(words), "{now} vs {before}: {}", j.words);
        }
    }

    #[test]
    fn overlapping_samples_are_not_significantly_worse() {
        // Medians 40% apart, but the samples interleave: no significant difference.
        let release = [1.0, 9.0, 1.4, 8.0, 1.2, 7.0, 1.4, 9.5, 1.5, 8.5, 1.4];
        let baseline = [1.0, 9.0, 1.1, 8.0, 1.0, 7.0, 1.1, 9.5, 0.9, 8.5, 1.0];
        let c = Comparison {
            tolerance: Tolerance::default(),
            ..comparison(true)
        };
        let j = judge(&release, &baseline, &c, None, "now", "before");
        assert_eq!(j.verdict, Verdict::NotWorse, "{}", j.words);
        assert!(
            j.words.contains("not significantly worse at 0.05 — p = 0."),
            "{}",
            j.words
        );
    }

    #[test]
    fn too_few_or_no_samples_decide_nothing() {
        let j = judge(
            &around(0.5)[..5],
            &around(0.1),
            &comparison(true),
            None,
            "now",
            "before",
        );
        assert_eq!(j.verdict, Verdict::TooFewSamples);
        assert!(
            j.words
                .ends_with("too few samples to judge (5 vs 60 samples, at least 10 each)"),
            "{}",
            j.words
        );
        let j = judge(
            &[f64::NAN],
            &around(0.1),
            &comparison(false),
            None,
            "since 14:02",
            "in the 30m before",
        );
        assert_eq!(j.verdict, Verdict::TooFewSamples);
        assert_eq!(
            j.words,
            "no samples to compare since 14:02 with in the 30m before (0 vs 60 samples)"
        );
    }

    #[test]
    fn lower_is_worse_for_throughput() {
        let c = Comparison {
            worse: Worse::Lower,
            tolerance: Tolerance {
                relative: Some(0.1),
                absolute: None,
            },
            ..comparison(true)
        };
        let j = judge(&around(70.0), &around(100.0), &c, None, "now", "before");
        assert_eq!(j.verdict, Verdict::Worse, "{}", j.words);
        assert!(
            j.words
                .starts_with("70 now vs 100 before: 30% lower, significantly worse"),
            "{}",
            j.words
        );
        let j = judge(&around(130.0), &around(100.0), &c, None, "now", "before");
        assert_eq!(j.verdict, Verdict::NotWorse, "{}", j.words);
    }

    #[test]
    fn the_limit_moves_the_baseline_by_the_larger_tolerance_the_worse_way() {
        let mut c = comparison(false);
        assert!((limit(0.001, &c) - 0.002).abs() < 1e-15);
        c.tolerance.absolute = None;
        assert!((limit(0.001, &c) - 0.0012).abs() < 1e-15);
        c.worse = Worse::Lower;
        assert!((limit(100.0, &c) - 80.0).abs() < 1e-12);
        c.tolerance = Tolerance::default();
        assert_eq!(limit(100.0, &c), 100.0);
    }

    #[test]
    fn medians_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN]), None);
    }
}
