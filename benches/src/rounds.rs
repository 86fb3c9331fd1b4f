//! Several rounds of a run, the engines in alternating order (forward,
//! then backward, …), combined into one figure per engine and workload.
//!
//! On a shared machine the load changes during a run, and the engines run
//! one after another: a burst of another job's I/O (this VM's fsyncs then
//! take a 4 ms quantum) lands on whichever engine is running its durable
//! workloads at that moment. Alternating the order puts each engine early
//! and late in equal measure, as `benches/redis/run` runs keel before and
//! after redis-server, so a load that rises or falls during the run
//! favours no engine.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::latency::Percentiles;
use crate::workloads::{Figure, Measurement};

/// The indices of `count` engines in the order they run in round `round`
/// (0-based): as selected in even rounds, reversed in odd ones.
pub fn order(count: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// One engine's measurements of every round combined: throughput as all
/// rounds' operations over all rounds' time; durations, sizes, latency
/// percentiles and records per fsync as the mean of the rounds. Every
/// round must have measured the same workloads in the same order.
pub fn combine(rounds: Vec<Vec<Measurement>>) -> Result<Vec<Measurement>> {
    let mut rounds = rounds.into_iter();
    let Some(first) = rounds.next() else {
        bail!("no round to combine");
    };
    let rest: Vec<Vec<Measurement>> = rounds.collect();
    let mut combined = Vec::with_capacity(first.len());
    for (index, measurement) in first.into_iter().enumerate() {
        let mut same = vec![measurement];
        for round in &rest {
            match round.get(index) {
                Some(other) if other.workload == same[0].workload => same.push(other.clone()),
                _ => bail!(
                    "the rounds measured different workloads at row {index} ({:?})",
                    same[0].workload
                ),
            }
        }
        combined.push(combine_one(&same)?);
    }
    if let Some(round) = rest.iter().find(|round| round.len() != combined.len()) {
        bail!(
            "the rounds measured {} and {} workloads",
            combined.len(),
            round.len()
        );
    }
    Ok(combined)
}

/// The rounds' measurements of one workload as one.
fn combine_one(same: &[Measurement]) -> Result<Measurement> {
    let count = same.len() as u32;
    let figure = match same[0].figure {
        Figure::Throughput { .. } => {
            let all = each(same, |figure| match figure {
                Figure::Throughput {
                    operations,
                    elapsed,
                } => Some((operations, elapsed)),
                _ => None,
            })?;
            Figure::Throughput {
                operations: all.iter().map(|&(operations, _)| operations).sum(),
                elapsed: all.iter().map(|&(_, elapsed)| elapsed).sum(),
            }
        }
        Figure::Duration(_) => Figure::Duration(
            each(same, |figure| match figure {
                Figure::Duration(duration) => Some(duration),
                _ => None,
            })?
            .into_iter()
            .sum::<Duration>()
                / count,
        ),
        Figure::Bytes(_) => Figure::Bytes(
            each(same, |figure| match figure {
                Figure::Bytes(bytes) => Some(bytes),
                _ => None,
            })?
            .into_iter()
            .sum::<u64>()
                / u64::from(count),
        ),
        Figure::NotApplicable => Figure::NotApplicable,
    };
    Ok(Measurement {
        workload: same[0].workload.clone(),
        figure,
        latency: mean_percentiles(same),
        records_per_fsync: mean(same.iter().map(|measurement| measurement.records_per_fsync)),
    })
}

/// What `pick` takes from every round's figure; an error when a round's
/// figure is of another kind than the first round's.
fn each<T>(same: &[Measurement], pick: fn(Figure) -> Option<T>) -> Result<Vec<T>> {
    same.iter()
        .map(|measurement| pick(measurement.figure))
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{:?}: a figure of another kind in one round",
                same[0].workload
            )
        })
}

/// Each percentile's mean over the rounds, when every round has them.
fn mean_percentiles(same: &[Measurement]) -> Option<Percentiles> {
    let all: Vec<Percentiles> = same
        .iter()
        .map(|measurement| measurement.latency)
        .collect::<Option<_>>()?;
    let count = all.len() as u32;
    let mean_of =
        |pick: fn(&Percentiles) -> Duration| all.iter().map(pick).sum::<Duration>() / count;
    Some(Percentiles {
        p50: mean_of(|p| p.p50),
        p99: mean_of(|p| p.p99),
        p999: mean_of(|p| p.p999),
        commits: all.iter().map(|p| p.commits).sum(),
    })
}

/// The mean of values every round has, or `None`.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Vec<f64> = values.collect::<Option<_>>()?;
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throughput(workload: &str, operations: u64, millis: u64) -> Measurement {
        Measurement {
            workload: workload.to_string(),
            figure: Figure::Throughput {
                operations,
                elapsed: Duration::from_millis(millis),
            },
            latency: Some(Percentiles {
                p50: Duration::from_micros(millis),
                p99: Duration::from_micros(2 * millis),
                p999: Duration::from_micros(3 * millis),
                commits: operations,
            }),
            records_per_fsync: Some(millis as f64),
        }
    }

    fn bytes(workload: &str, bytes: u64) -> Measurement {
        Measurement {
            workload: workload.to_string(),
            figure: Figure::Bytes(bytes),
            latency: None,
            records_per_fsync: None,
        }
    }

    #[test]
    fn odd_rounds_run_the_engines_backwards() {
        assert_eq!(order(3, 0), [0, 1, 2]);
        assert_eq!(order(3, 1), [2, 1, 0]);
        assert_eq!(order(3, 2), [0, 1, 2]);
    }

    #[test]
    fn throughput_is_all_operations_over_all_time_and_the_rest_a_mean() {
        let combined = combine(vec![
            vec![throughput("w", 100, 100), bytes("d", 10)],
            vec![throughput("w", 100, 300), bytes("d", 30)],
        ])
        .expect("same workloads");
        let Figure::Throughput {
            operations,
            elapsed,
        } = combined[0].figure
        else {
            panic!("a throughput");
        };
        assert_eq!((operations, elapsed), (200, Duration::from_millis(400)));
        let latency = combined[0].latency.expect("both rounds timed commits");
        assert_eq!(latency.p50, Duration::from_micros(200));
        assert_eq!(latency.p999, Duration::from_micros(600));
        assert_eq!(latency.commits, 200);
        assert_eq!(combined[0].records_per_fsync, Some(200.0));
        assert!(matches!(combined[1].figure, Figure::Bytes(20)));
    }

    #[test]
    fn rounds_that_measured_different_workloads_are_refused() {
        let error = combine(vec![
            vec![throughput("w", 1, 1)],
            vec![throughput("other", 1, 1)],
        ])
        .expect_err("different workloads");
        assert!(error.to_string().contains("different workloads"), "{error}");
        assert!(combine(vec![vec![bytes("d", 1)], vec![]]).is_err());
        let error = combine(vec![vec![bytes("w", 1)], vec![throughput("w", 1, 1)]])
            .expect_err("a size and a throughput");
        assert!(error.to_string().contains("another kind"), "{error}");
        assert!(combine(Vec::new()).is_err());
    }
}
