//! The Mann-Whitney U test against a reference no one here wrote: SciPy's
//! `scipy.stats.mannwhitneyu` with its defaults (PyPI scipy; `make test` installs it). Every U and
//! p-value agrees to 1e-9 — small samples (the exact distribution), ties (the normal
//! approximation with its tie correction), large samples, all three alternatives — and the
//! properties a comparison leans on hold for any samples.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use release_passport::stats::{Alternative, mann_whitney_u};

/// A small deterministic generator, so every run asks SciPy the same questions.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` values around `centre`; with `grid`, rounded to it so values tie.
    fn sample(&mut self, n: usize, centre: f64, grid: Option<f64>) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let v = centre + self.next() - 0.5;
                grid.map_or(v, |g| (v / g).round() * g)
            })
            .collect()
    }
}

const ALTERNATIVES: [(Alternative, &str); 3] = [
    (Alternative::TwoSided, "two-sided"),
    (Alternative::Greater, "greater"),
    (Alternative::Less, "less"),
];

/// (first, second) samples covering each path: sizes 1–8 without ties (exact), small with ties,
/// one side small and the other large, both large, shifted and not, a whole sample tied.
fn cases() -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut g = Lcg(20261207);
    let mut out = Vec::new();
    for (n1, n2) in [
        (1, 1),
        (1, 5),
        (3, 4),
        (5, 5),
        (8, 8),
        (2, 30),
        (8, 200),
        (9, 9),
    ] {
        for shift in [0.0, 0.3, 1.0] {
            out.push((g.sample(n1, shift, None), g.sample(n2, 0.0, None)));
        }
    }
    for (n1, n2, grid) in [
        (4, 6, 0.25),
        (8, 8, 0.5),
        (30, 30, 0.1),
        (60, 60, 0.05),
        (1000, 1000, 0.01),
    ] {
        for shift in [0.0, 0.1, 0.5] {
            out.push((
                g.sample(n1, shift, Some(grid)),
                g.sample(n2, 0.0, Some(grid)),
            ));
        }
    }
    for (n1, n2) in [(100, 100), (1000, 1000), (50, 700)] {
        for shift in [0.0, 0.05, 0.3] {
            out.push((g.sample(n1, shift, None), g.sample(n2, 0.0, None)));
        }
    }
    out.push((vec![2.0; 12], vec![2.0; 9]));
    out.push((vec![1.0, 1.0, 2.0], vec![1.0, 3.0]));
    out
}

#[test]
fn u_and_p_agree_with_scipy() {
    let cases = cases();
    let questions: Vec<serde_json::Value> = cases
        .iter()
        .flat_map(|(x, y)| {
            ALTERNATIVES
                .iter()
                .map(move |(_, name)| serde_json::json!({"x": x, "y": y, "alternative": name}))
        })
        .collect();
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom scipy.stats import mannwhitneyu\n\
             for q in json.load(sys.stdin):\n    r = mannwhitneyu(q['x'], q['y'], alternative=q['alternative'])\n    print(repr(float(r.statistic)), repr(float(r.pvalue)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&questions).unwrap().as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SciPy could not answer (make test installs scipy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<(f64, f64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (u, p) = l.split_once(' ').unwrap();
            (u.parse().unwrap(), p.parse().unwrap())
        })
        .collect();
    assert_eq!(answers.len(), questions.len());
    let mut methods = std::collections::BTreeSet::new();
    let mut answers = answers.into_iter();
    for (x, y) in &cases {
        for (alternative, name) in ALTERNATIVES {
            let (u, p) = answers.next().unwrap();
            let ours = mann_whitney_u(x, y, alternative).unwrap();
            methods.insert(format!("{:?}", ours.method));
            let case = format!("{} vs {} values, {name}", x.len(), y.len());
            assert!(
                (ours.u - u).abs() <= 1e-9,
                "{case}: U {} vs SciPy's {u}",
                ours.u
            );
            let close = (ours.p - p).abs() <= 1e-9 && (ours.p - p).abs() <= 1e-9 * p.max(1e-300);
            assert!(
                close || (ours.p - p).abs() <= 1e-15,
                "{case}: p {} vs SciPy's {p}",
                ours.p
            );
        }
    }
    assert_eq!(
        methods.len(),
        2,
        "both the exact and the asymptotic path: {methods:?}"
    );
}

/// Eighths, so shifting and scaling stay exact and ties stay ties.
fn samples() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((-8000i32..8000).prop_map(|v| f64::from(v) / 8.0), 1..40)
}

proptest! {
    /// Swapping the samples flips the direction: x greater than y is y less than x, with the
    /// U's adding up to every pair.
    #[test]
    fn swapping_the_samples_flips_the_direction(x in samples(), y in samples()) {
        let forward = mann_whitney_u(&x, &y, Alternative::Greater).unwrap();
        let back = mann_whitney_u(&y, &x, Alternative::Less).unwrap();
        prop_assert!((forward.p - back.p).abs() < 1e-12);
        prop_assert!((forward.u + back.u - (x.len() * y.len()) as f64).abs() < 1e-9);
        let two = mann_whitney_u(&x, &y, Alternative::TwoSided).unwrap();
        let two_back = mann_whitney_u(&y, &x, Alternative::TwoSided).unwrap();
        prop_assert!((two.p - two_back.p).abs() < 1e-12);
    }

    /// Only the order of values counts: adding a constant to both, or scaling both by a positive
    /// factor, changes nothing.
    #[test]
    fn shifting_or_scaling_both_changes_nothing(x in samples(), y in samples(), c in -100i32..100, k in 1u32..50) {
        let (c, k) = (f64::from(c), f64::from(k));
        let moved = |s: &[f64]| s.iter().map(|v| v * k + c).collect::<Vec<_>>();
        for (alternative, _) in ALTERNATIVES {
            let a = mann_whitney_u(&x, &y, alternative).unwrap();
            let b = mann_whitney_u(&moved(&x), &moved(&y), alternative).unwrap();
            prop_assert_eq!(a.u, b.u);
            prop_assert!((a.p - b.p).abs() < 1e-12);
            prop_assert_eq!(a.method, b.method);
        }
    }
}
