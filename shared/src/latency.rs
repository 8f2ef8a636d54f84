//! Handler durations as log-scale histograms: each duration falls in one of [`BUCKETS`] fixed
//! buckets whose bounds grow by [`GAMMA`], so a bucket's count is one atomic `ADD` on the counter
//! table, histograms of any number of requests, shards or hours merge by adding counts, and every
//! percentile read back from them is within [`RELATIVE_ERROR`] of the true one.
//!
//! Written here rather than taken from a sketch crate (`hdrhistogram`, `sketches-ddsketch`): those
//! keep their buckets in memory and serialise whole; what counting needs is the bucket *index*, a
//! stable key of a stored item, and the maths to read percentiles back from summed counts.
//!
//! Bucket 0 holds every duration up to [`MIN_MS`]; bucket `i >= 1` holds
//! `(MIN_MS * GAMMA^(i-1), MIN_MS * GAMMA^i]`, and the last holds everything above. A bucket
//! stands for `2 * MIN_MS * GAMMA^i / (GAMMA + 1)`, which is within `(GAMMA - 1) / (GAMMA + 1)`
//! of every value in it.

use std::collections::BTreeMap;

/// The ratio of one bucket's upper bound to the one before.
pub const GAMMA: f64 = 1.1;

/// The upper bound of bucket 0, in milliseconds: below it, only the absolute error (0.1 ms) holds.
pub const MIN_MS: f64 = 0.1;

/// How many buckets there are: the last starts at 900 s, Lambda's longest run.
pub const BUCKETS: u16 = 170;

/// The most a percentile read from a histogram differs from the true one, relative to it, for
/// durations from [`MIN_MS`] to 900 s: `(GAMMA - 1) / (GAMMA + 1)`, 4.76%.
pub const RELATIVE_ERROR: f64 = (GAMMA - 1.0) / (GAMMA + 1.0);

/// The bucket a duration of `ms` milliseconds falls in (negative and NaN count as 0).
pub fn bucket_of(ms: f64) -> u16 {
    if ms.is_nan() || ms <= MIN_MS {
        return 0;
    }
    let i = ((ms / MIN_MS).ln() / GAMMA.ln()).ceil();
    // A value at a bucket's upper bound may land one above through rounding: step back.
    let i = if i >= 1.0 && ms <= MIN_MS * GAMMA.powf(i - 1.0) {
        i - 1.0
    } else {
        i
    };
    i.clamp(1.0, f64::from(BUCKETS - 1)) as u16
}

/// The duration bucket `i` stands for, in milliseconds.
pub fn value_of(bucket: u16) -> f64 {
    match bucket {
        0 => MIN_MS / 2.0,
        i => 2.0 * MIN_MS * GAMMA.powi(i32::from(i)) / (GAMMA + 1.0),
    }
}

/// Durations counted per bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Histogram(BTreeMap<u16, u64>);

/// The figures the dashboard shows of one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Histogram {
    /// Adds `n` durations to `bucket`.
    pub fn add(&mut self, bucket: u16, n: u64) {
        if n > 0 {
            *self.0.entry(bucket.min(BUCKETS - 1)).or_default() += n;
        }
    }

    /// Records one duration.
    pub fn record(&mut self, ms: f64) {
        self.add(bucket_of(ms), 1);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (&bucket, &n) in &other.0 {
            self.add(bucket, n);
        }
    }

    /// How many durations it holds.
    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The buckets with their counts, lowest first.
    pub fn buckets(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0.iter().map(|(&b, &n)| (b, n))
    }

    /// The `q`-quantile (0 < q <= 1) by nearest rank: the smallest duration that at least
    /// `ceil(q * count)` durations do not exceed. `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&bucket, &n) in &self.0 {
            seen += n;
            if seen >= rank {
                return Some(value_of(bucket));
            }
        }
        self.max()
    }

    /// The longest duration, to the same error. `None` if empty.
    pub fn max(&self) -> Option<f64> {
        self.0.keys().next_back().map(|&b| value_of(b))
    }

    /// p50, p95, p99 and max. `None` if empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        Some(Percentiles {
            p50: self.quantile(0.50)?,
            p95: self.quantile(0.95)?,
            p99: self.quantile(0.99)?,
            max: self.max()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The exact nearest-rank quantile of `values`.
    fn exact(values: &mut [f64], q: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        let rank = ((q * values.len() as f64).ceil() as usize).max(1);
        values[rank - 1]
    }

    /// Records `values` and checks p50, p90, p95, p99, p99.9 and max against the exact ones.
    fn check(name: &str, mut values: Vec<f64>) {
        let mut h = Histogram::default();
        for &v in &values {
            h.record(v);
        }
        assert_eq!(h.count(), values.len() as u64);
        for q in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let truth = exact(&mut values, q);
            let got = h.quantile(q).unwrap();
            let error = (got - truth).abs() / truth;
            assert!(
                error <= RELATIVE_ERROR + 1e-12,
                "{name}: q{q} is {got}, exactly {truth}: off by {:.2}%",
                error * 100.0
            );
        }
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        assert!((h.max().unwrap() - max).abs() / max <= RELATIVE_ERROR + 1e-12);
    }

    /// The error the dashboard states (5%) holds by construction.
    const _WITHIN_5_PERCENT: () = assert!(RELATIVE_ERROR <= 0.05);

    #[test]
    fn the_stated_error_is_4_8_percent() {
        assert!((RELATIVE_ERROR - 0.047_619).abs() < 1e-6);
    }

    #[test]
    fn percentiles_are_within_the_stated_error_for_known_distributions() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        // Uniform over 1 ms .. 2 s.
        check(
            "uniform",
            (0..20_000).map(|_| rng.gen_range(1.0..2_000.0)).collect(),
        );
        // Exponential, mean 40 ms: a typical handler with a long tail.
        check(
            "exponential",
            (0..20_000)
                .map(|_| -40.0 * (1.0 - rng.gen::<f64>()).ln() + 0.2)
                .collect(),
        );
        // Log-normal around 12 ms (Box–Muller): skewed like network latency.
        check(
            "log-normal",
            (0..20_000)
                .map(|_| {
                    let (u1, u2): (f64, f64) = (rng.gen::<f64>().max(1e-12), rng.gen());
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    (12f64.ln() + 0.8 * z).exp()
                })
                .collect(),
        );
        // Bimodal: warm answers near 5 ms, cold starts near 400 ms.
        check(
            "bimodal",
            (0..10_000)
                .map(|i| {
                    if i % 20 == 0 {
                        380.0 + (i % 7) as f64 * 9.0
                    } else {
                        4.0 + (i % 13) as f64 * 0.3
                    }
                })
                .collect(),
        );
        // Every value on a bucket bound, where rounding could put it one bucket off.
        check(
            "bounds",
            (1..BUCKETS - 1)
                .map(|i| MIN_MS * GAMMA.powi(i32::from(i)))
                .collect(),
        );
        check("one value", vec![250.0]);
        check("constant", vec![7.0; 1_000]);
    }

    #[test]
    fn known_small_cases_by_nearest_rank() {
        // 1..=100 ms: p50 is 50, p95 95, p99 99, max 100.
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(f64::from(v));
        }
        let p = h.percentiles().unwrap();
        for (got, want) in [(p.p50, 50.0), (p.p95, 95.0), (p.p99, 99.0), (p.max, 100.0)] {
            assert!(
                (got - want).abs() / want <= RELATIVE_ERROR,
                "{got} vs {want}"
            );
        }
        assert_eq!(Histogram::default().percentiles(), None);
    }

    #[test]
    fn merged_histograms_equal_one_recorded_at_once() {
        let values: Vec<f64> = (0..500).map(|i| 0.05 + f64::from(i) * 3.7).collect();
        let (mut a, mut b, mut all) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for (i, &v) in values.iter().enumerate() {
            if i % 3 == 0 { &mut a } else { &mut b }.record(v);
            all.record(v);
        }
        let mut merged = a;
        merged.merge(&b);
        assert_eq!(merged, all);
    }

    #[test]
    fn extremes_fall_in_the_first_and_last_buckets() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(-3.0), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(MIN_MS), 0);
        assert_eq!(bucket_of(MIN_MS * 1.0001), 1);
        assert_eq!(bucket_of(900_000.0), BUCKETS - 1);
        assert_eq!(bucket_of(1e12), BUCKETS - 1);
        assert!(value_of(BUCKETS - 2) < 900_000.0);
        // Buckets are increasing and each value maps back to its own bucket.
        for i in 1..BUCKETS {
            assert!(value_of(i) > value_of(i - 1));
            assert_eq!(bucket_of(value_of(i)), i, "bucket {i}");
        }
    }
}
