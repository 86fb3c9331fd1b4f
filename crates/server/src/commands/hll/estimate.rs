//! The cardinality an HLL's registers estimate: Redis 7.0's estimator
//! (Otmar Ertl, "New cardinality estimation algorithms for HyperLogLog
//! sketches", arXiv:1702.01284), from how many registers hold each value.

use super::format::{INDEX_BITS, REGISTERS};

/// How many registers hold each value (0 to 63).
pub type Histogram = [u64; 64];

/// The bits of the hash above the register index: the largest value a
/// register is offered is one more.
const Q: usize = 64 - INDEX_BITS as usize;
/// 0.5 / ln 2: the estimator's bias correction as registers grow many.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// What Redis answers when the estimate is no integer (every register
/// 51 or more): x86-64's result for an out-of-range conversion.
const OUT_OF_RANGE: u64 = 1 << 63;

/// The estimated cardinality of registers with this histogram, rounded
/// as Redis rounds it (registers above 51 count for nothing).
pub fn cardinality(histogram: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q + 1] as f64) / m);
    for count in histogram[1..=Q].iter().rev() {
        z += *count as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    let estimate = (ALPHA_INF * m * m / z).round();
    // In range the conversion is exact.
    if estimate.is_finite() && estimate < i64::MAX as f64 {
        estimate as u64
    } else {
        OUT_OF_RANGE
    }
}

/// Ertl's sigma: x + x^2 + 2 x^4 + 4 x^8 …, to the last term that changes
/// the sum.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if z == previous {
            return z;
        }
    }
}

/// Ertl's tau, to the last term that changes the sum.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == previous {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(counts: &[(usize, u64)]) -> Histogram {
        let mut histogram = [0; 64];
        for &(value, count) in counts {
            histogram[value] = count;
        }
        histogram
    }

    #[test]
    fn the_constant_is_redis_s() {
        assert_eq!("0.721347520444481703680".parse::<f64>(), Ok(ALPHA_INF));
        assert_eq!(ALPHA_INF, 0.5 / std::f64::consts::LN_2);
    }

    #[test]
    fn small_and_empty_sets_count_exactly() {
        let m = REGISTERS as u64;
        assert_eq!(cardinality(&histogram(&[(0, m)])), 0);
        assert_eq!(cardinality(&histogram(&[(0, m - 1), (1, 1)])), 1);
        assert_eq!(cardinality(&histogram(&[(0, m - 5), (1, 4), (2, 1)])), 5);
    }

    /// PFCOUNT on redis-server 7.0 of dense HLLs whose registers are all
    /// one value; past 2^63 the estimate is no C long long, and Redis
    /// answers x86-64's conversion of it.
    #[test]
    fn large_estimates_are_redis_s() {
        let m = REGISTERS as u64;
        let all = |value: usize| cardinality(&histogram(&[(value, m)]));
        assert_eq!(all(12), 48_408_813);
        assert_eq!(all(30), 12_690_079_782_337);
        assert_eq!(all(40), 12_994_641_697_113_596);
        for value in [50, 51, 63] {
            assert_eq!(all(value), OUT_OF_RANGE, "{value}");
        }
    }

    #[test]
    fn sigma_and_tau_end_at_their_edges() {
        assert_eq!(sigma(1.0), f64::INFINITY);
        assert_eq!(sigma(0.0), 0.0);
        assert_eq!((tau(0.0), tau(1.0)), (0.0, 0.0));
        assert!(tau(0.5) > 0.0 && sigma(0.5) > 0.5);
    }
}
