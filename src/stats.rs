//! Statistics for judging a release against its baseline (pure): the Mann-Whitney U test, as
//! SciPy's `scipy.stats.mannwhitneyu` computes it with its defaults (continuity correction, tie
//! correction, the exact distribution when a sample has at most eight values and none tie, the
//! normal approximation otherwise) — the tests hold every U and p-value to SciPy's.

use thiserror::Error;

/// What the test asks of the first sample against the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alternative {
    /// Its values tend to be larger.
    Greater,
    /// Its values tend to be smaller.
    Less,
    /// They differ either way.
    TwoSided,
}

/// How the p-value was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// From the exact distribution of U (small samples without ties).
    Exact,
    /// From the normal approximation with tie and continuity corrections.
    Asymptotic,
}

/// One test's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample: how many (first, second) pairs the first wins, ties counting half.
    pub u: f64,
    pub p: f64,
    pub method: Method,
}

#[derive(Debug, Error, PartialEq)]
pub enum StatsError {
    #[error("the {0} sample is empty")]
    Empty(&'static str),
    #[error("the {0} sample holds a value that is not a number")]
    NotANumber(&'static str),
    #[error("samples of {0} and {1} values are more than the exact distribution can count")]
    TooLarge(usize, usize),
}

/// A sample at most this long on one side, without ties, gets the exact distribution (SciPy's
/// rule).
const EXACT_UP_TO: usize = 8;

/// Mann-Whitney U of `x` against `y`.
pub fn mann_whitney_u(
    x: &[f64],
    y: &[f64],
    alternative: Alternative,
) -> Result<MannWhitney, StatsError> {
    for (name, sample) in [("first", x), ("second", y)] {
        if sample.is_empty() {
            return Err(StatsError::Empty(name));
        }
        if sample.iter().any(|v| v.is_nan()) {
            return Err(StatsError::NotANumber(name));
        }
    }
    let (n1, n2) = (x.len(), y.len());
    let (rank_sum, ties) = ranks_of_first(x, y);
    let u1 = rank_sum - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    // The statistic whose upper tail the p-value is: for "less", U2's by symmetry.
    let (u, factor) = match alternative {
        Alternative::Greater => (u1, 1.0),
        Alternative::Less => (u2, 1.0),
        Alternative::TwoSided => (u1.max(u2), 2.0),
    };
    let tied = ties.iter().any(|&t| t > 1);
    let (tail, method) = if (n1 <= EXACT_UP_TO || n2 <= EXACT_UP_TO) && !tied {
        // No ties: U is a whole number.
        let tail = exact_upper_tail(u as u64, n1.min(n2), n1.max(n2))
            .ok_or(StatsError::TooLarge(n1, n2))?;
        (tail, Method::Exact)
    } else {
        (normal_upper_tail(u, n1, n2, &ties), Method::Asymptotic)
    };
    Ok(MannWhitney {
        u: u1,
        p: (tail * factor).clamp(0.0, 1.0),
        method,
    })
}

/// The sum of `x`'s ranks in `x` and `y` together (tied values share their average rank), and
/// the size of every group of equal values.
fn ranks_of_first(x: &[f64], y: &[f64]) -> (f64, Vec<usize>) {
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    // Equal values are one group whatever their order within it.
    all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let (mut sum, mut ties) = (0.0, Vec::new());
    let mut start = 0;
    while start < all.len() {
        // -0.0 and 0.0 are one value.
        let end = start
            + all[start..]
                .iter()
                .take_while(|v| v.0 == all[start].0)
                .count();
        // Ranks start + 1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        sum += rank * all[start..end].iter().filter(|v| v.1).count() as f64;
        ties.push(end - start);
        start = end;
    }
    (sum, ties)
}

/// P(U ≥ u) under the normal approximation, with the tie and continuity corrections.
fn normal_upper_tail(u: f64, n1: usize, n2: usize, ties: &[usize]) -> f64 {
    let (n1, n2) = (n1 as f64, n2 as f64);
    let n = n1 + n2;
    let tie_term: f64 = ties
        .iter()
        .map(|&t| {
            let t = t as f64;
            t * t * t - t
        })
        .sum();
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    let numerator = u - n1 * n2 / 2.0 - 0.5;
    if variance <= 0.0 {
        // Every value equal: nothing tells the samples apart.
        return 1.0;
    }
    let z = numerator / variance.sqrt();
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// P(U ≥ u) for samples of `m` ≤ `n` values without ties, counted exactly: the number of
/// orderings giving each U is a coefficient of the Gaussian binomial [m + n choose m] in q.
/// `None` when the counts outgrow 128 bits.
fn exact_upper_tail(u: u64, m: usize, n: usize) -> Option<f64> {
    let top = m.checked_mul(n)?;
    if u as usize > top {
        return Some(0.0);
    }
    // The product over i of (1 − q^(n+i)) / (1 − q^i), each division exact.
    let mut counts = vec![0i128; top + 1];
    counts[0] = 1;
    for i in 1..=m {
        let shift = n + i;
        for k in (shift..=top).rev() {
            counts[k] = counts[k].checked_sub(counts[k - shift])?;
        }
        for k in i..=top {
            counts[k] = counts[k].checked_add(counts[k - i])?;
        }
    }
    let total: i128 = counts.iter().try_fold(0i128, |a, c| a.checked_add(*c))?;
    let tail: i128 = counts[u as usize..].iter().sum();
    Some(tail as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ordering of 3 against 4 values, counted by hand: U runs 0..=12 with the 35
    /// orderings spread 1 1 2 3 4 4 5 4 4 3 2 1 1.
    #[test]
    fn the_exact_distribution_counts_every_ordering() {
        let counts = [1, 1, 2, 3, 4, 4, 5, 4, 4, 3, 2, 1, 1];
        for u in 0..=12u64 {
            let tail: i32 = counts[u as usize..].iter().sum();
            let p = exact_upper_tail(u, 3, 4).unwrap();
            assert!((p - f64::from(tail) / 35.0).abs() < 1e-15, "U ≥ {u}: {p}");
        }
        assert_eq!(exact_upper_tail(13, 3, 4), Some(0.0));
    }

    #[test]
    fn bad_samples_are_named() {
        assert_eq!(
            mann_whitney_u(&[], &[1.0], Alternative::TwoSided),
            Err(StatsError::Empty("first"))
        );
        assert_eq!(
            mann_whitney_u(&[1.0], &[f64::NAN], Alternative::TwoSided),
            Err(StatsError::NotANumber("second"))
        );
    }

    #[test]
    fn identical_samples_tell_nothing() {
        let r = mann_whitney_u(&[1.0; 20], &[1.0; 20], Alternative::Greater).unwrap();
        assert_eq!((r.u, r.p, r.method), (200.0, 1.0, Method::Asymptotic));
    }

    #[test]
    fn ties_share_their_mean_rank() {
        // Ranks: 1, 2.5, 2.5, 4 — x holds 1 and one of the tied 2.5s.
        let (sum, ties) = ranks_of_first(&[1.0, 2.0], &[2.0, 3.0]);
        assert_eq!(sum, 3.5);
        assert_eq!(ties, [1, 2, 1]);
    }
}
