//! The results of one run: a row per workload, a column per engine, and
//! keel's ratio to the best peer in each row; as text for the terminal and
//! as the markdown of `docs/BENCHMARKS.md`.

use std::fmt::Write as _;

use crate::latency::Percentiles;
use crate::workloads::{Figure, Measurement};

/// The engine the ratio column is about.
pub const SUBJECT: &str = "keel";

/// Every engine's measurements from one run.
pub struct Results {
    /// `(engine, its measurements)`, in the order they ran.
    pub engines: Vec<(&'static str, Vec<Measurement>)>,
}

/// keel against the best peer in one row.
pub struct Comparison {
    /// keel's figure ÷ the best peer's, oriented so that above 1 means keel
    /// is ahead (faster, or smaller on disk).
    pub ratio: f64,
    /// The best peer.
    pub peer: &'static str,
}

/// A figure as "higher is better", or `None` when it cannot be compared.
pub fn score(figure: &Figure) -> Option<f64> {
    let score = match *figure {
        Figure::Throughput {
            operations,
            elapsed,
        } => operations as f64 / elapsed.as_secs_f64(),
        Figure::Duration(elapsed) => 1.0 / elapsed.as_secs_f64(),
        Figure::Bytes(bytes) => 1.0 / bytes as f64,
        Figure::NotApplicable => return None,
    };
    score.is_finite().then_some(score)
}

impl Results {
    /// The workloads, in the order they ran.
    pub fn workloads(&self) -> Vec<&str> {
        let mut workloads: Vec<&str> = Vec::new();
        for (_, measurements) in &self.engines {
            for measurement in measurements {
                if !workloads.contains(&measurement.workload.as_str()) {
                    workloads.push(&measurement.workload);
                }
            }
        }
        workloads
    }

    /// `engine`'s figure for `workload`.
    pub fn figure(&self, engine: &str, workload: &str) -> Option<&Figure> {
        let (_, measurements) = self.engines.iter().find(|(name, _)| *name == engine)?;
        measurements
            .iter()
            .find(|measurement| measurement.workload == workload)
            .map(|measurement| &measurement.figure)
    }

    /// The engine with the best figure for `workload`, and its score.
    pub fn best(&self, workload: &str, peers_only: bool) -> Option<(&'static str, f64)> {
        self.engines
            .iter()
            .filter(|(name, _)| !peers_only || *name != SUBJECT)
            .filter_map(|(name, _)| Some((*name, score(self.figure(name, workload)?)?)))
            .max_by(|left, right| left.1.total_cmp(&right.1))
    }

    /// keel against the best peer for `workload`.
    pub fn comparison(&self, workload: &str) -> Option<Comparison> {
        let keel = score(self.figure(SUBJECT, workload)?)?;
        let (peer, best) = self.best(workload, true)?;
        Some(Comparison {
            ratio: keel / best,
            peer,
        })
    }

    /// The workloads with commit latencies, in the order they ran.
    fn durable_workloads(&self) -> Vec<&str> {
        self.workloads()
            .into_iter()
            .filter(|workload| {
                self.engines
                    .iter()
                    .any(|(name, _)| self.latency(name, workload).is_some())
            })
            .collect()
    }

    /// `engine`'s measurement of `workload`.
    fn measurement(&self, engine: &str, workload: &str) -> Option<&Measurement> {
        let (_, measurements) = self.engines.iter().find(|(name, _)| *name == engine)?;
        measurements
            .iter()
            .find(|measurement| measurement.workload == workload)
    }

    /// `engine`'s commit latency percentiles for `workload`.
    pub fn latency(&self, engine: &str, workload: &str) -> Option<&Percentiles> {
        self.measurement(engine, workload)?.latency.as_ref()
    }

    /// The latency table's rows: a header, then per durable workload the
    /// latency cell of every engine and keel's records per fsync.
    fn latency_rows(&self) -> Vec<Vec<String>> {
        let mut header = vec!["commit latency p50 / p99 / p99.9".to_owned()];
        header.extend(self.engines.iter().map(|(name, _)| (*name).to_owned()));
        header.push(format!("{SUBJECT} records/fsync"));
        let mut rows = vec![header];
        for workload in self.durable_workloads() {
            let mut row = vec![workload.to_owned()];
            for (name, _) in &self.engines {
                row.push(
                    self.latency(name, workload)
                        .map_or_else(|| "-".to_owned(), Percentiles::text),
                );
            }
            row.push(
                self.measurement(SUBJECT, workload)
                    .and_then(|measurement| measurement.records_per_fsync)
                    .map_or_else(|| "-".to_owned(), |records| format!("{records:.1}")),
            );
            rows.push(row);
        }
        rows
    }

    /// The commit latency table as aligned text (empty without durable
    /// workloads).
    pub fn latency_text(&self) -> String {
        let rows = self.latency_rows();
        if rows.len() < 2 {
            return String::new();
        }
        aligned(&rows)
    }

    /// The commit latency table as markdown (empty without durable
    /// workloads).
    pub fn latency_markdown(&self) -> String {
        let rows = self.latency_rows();
        if rows.len() < 2 {
            return String::new();
        }
        let mut text = String::new();
        for (index, row) in rows.iter().enumerate() {
            let _ = writeln!(text, "| {} |", row.join(" | "));
            if index == 0 {
                let _ = writeln!(text, "|---|{}", "---:|".repeat(row.len() - 1));
            }
        }
        text
    }

    /// The table as aligned text.
    pub fn text(&self) -> String {
        let mut header = vec!["workload".to_owned(), "ops".to_owned()];
        header.extend(self.engines.iter().map(|(name, _)| (*name).to_owned()));
        header.push(format!("{SUBJECT} vs best peer"));
        let mut rows = vec![header];
        for workload in self.workloads() {
            let mut row = vec![workload.to_owned(), self.operations(workload)];
            for (name, _) in &self.engines {
                row.push(
                    self.figure(name, workload)
                        .map_or_else(|| "-".to_owned(), cell),
                );
            }
            row.push(self.comparison(workload).map_or_else(
                || "-".to_owned(),
                |c| format!("{}x {}", ratio_text(c.ratio), c.peer),
            ));
            rows.push(row);
        }
        aligned(&rows)
    }

    /// The table as markdown; the best engine of each row in bold.
    pub fn markdown(&self) -> String {
        let mut text = String::from("| workload | ops |");
        for (name, _) in &self.engines {
            let _ = write!(text, " {name} |");
        }
        let _ = writeln!(text, " {SUBJECT} vs best peer |");
        text.push_str("|---|---:|");
        for _ in &self.engines {
            text.push_str("---:|");
        }
        text.push_str("---:|\n");
        for workload in self.workloads() {
            let best = self.best(workload, false).map(|(name, _)| name);
            let _ = write!(text, "| {workload} | {} |", self.operations(workload));
            for (name, _) in &self.engines {
                let value = self
                    .figure(name, workload)
                    .map_or_else(|| "-".to_owned(), cell);
                if best == Some(*name) && self.engines.len() > 1 {
                    let _ = write!(text, " **{value}** |");
                } else {
                    let _ = write!(text, " {value} |");
                }
            }
            let ratio = self.comparison(workload).map_or_else(
                || "-".to_owned(),
                |c| format!("{}× {}", ratio_text(c.ratio), c.peer),
            );
            let _ = writeln!(text, " {ratio} |");
        }
        text
    }

    /// The operations of a row (the same for every engine, except for the
    /// scan, whose count depends on the writer).
    fn operations(&self, workload: &str) -> String {
        let counts: Vec<u64> = self
            .engines
            .iter()
            .filter_map(|(name, _)| match self.figure(name, workload)? {
                Figure::Throughput { operations, .. } => Some(*operations),
                _ => None,
            })
            .collect();
        match (counts.iter().min(), counts.iter().max()) {
            (Some(low), Some(high)) if low == high => count(*low),
            (Some(low), Some(high)) => format!("{}–{}", count(*low), count(*high)),
            _ => String::new(),
        }
    }
}

/// Rows as aligned text: the first column left-aligned, the others right.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        for (column, value) in row.iter().enumerate() {
            let pad = widths[column] - value.chars().count();
            if column == 0 {
                let _ = write!(text, "{value}{} ", " ".repeat(pad));
            } else {
                let _ = write!(text, " {}{value}", " ".repeat(pad));
            }
        }
        text.push('\n');
    }
    text
}

/// A ratio with two significant digits (at least two decimals).
pub fn ratio_text(ratio: f64) -> String {
    if ratio >= 0.1 || ratio <= 0.0 {
        format!("{ratio:.2}")
    } else {
        let decimals = 1 - ratio.log10().floor() as i32;
        format!("{ratio:.*}", decimals.max(2) as usize)
    }
}

/// One engine's figure in a table cell.
fn cell(figure: &Figure) -> String {
    match *figure {
        Figure::Throughput {
            operations,
            elapsed,
        } => {
            let seconds = elapsed.as_secs_f64();
            format!(
                "{}/s ({})",
                count_f64(operations as f64 / seconds),
                seconds_text(seconds)
            )
        }
        Figure::Duration(elapsed) => seconds_text(elapsed.as_secs_f64()),
        Figure::Bytes(bytes) => format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20)),
        Figure::NotApplicable => "n/a".to_owned(),
    }
}

fn seconds_text(seconds: f64) -> String {
    if seconds < 0.01 {
        format!("{:.1} ms", seconds * 1e3)
    } else if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

fn count(value: u64) -> String {
    count_f64(value as f64)
}

/// A count with a k or M suffix, three significant digits.
fn count_f64(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    if scaled >= 100.0 || suffix.is_empty() {
        format!("{scaled:.0}{suffix}")
    } else if scaled >= 10.0 {
        format!("{scaled:.1}{suffix}")
    } else {
        format!("{scaled:.2}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn measurement(workload: &str, figure: Figure) -> Measurement {
        Measurement {
            workload: workload.to_owned(),
            figure,
            latency: None,
            records_per_fsync: None,
        }
    }

    #[test]
    fn the_ratio_is_keel_against_the_best_peer_higher_meaning_keel_ahead() {
        let results = Results {
            engines: vec![
                (
                    "keel",
                    vec![
                        measurement(
                            "reads",
                            Figure::Throughput {
                                operations: 100,
                                elapsed: Duration::from_secs(1),
                            },
                        ),
                        measurement("disk", Figure::Bytes(200)),
                    ],
                ),
                (
                    "lmdb",
                    vec![
                        measurement(
                            "reads",
                            Figure::Throughput {
                                operations: 400,
                                elapsed: Duration::from_secs(1),
                            },
                        ),
                        measurement("disk", Figure::Bytes(100)),
                    ],
                ),
                (
                    "sled",
                    vec![
                        measurement(
                            "reads",
                            Figure::Throughput {
                                operations: 50,
                                elapsed: Duration::from_secs(1),
                            },
                        ),
                        measurement("disk", Figure::NotApplicable),
                    ],
                ),
            ],
        };
        let reads = results.comparison("reads").expect("comparable");
        assert_eq!((reads.peer, reads.ratio), ("lmdb", 0.25));
        let disk = results.comparison("disk").expect("comparable");
        assert_eq!((disk.peer, disk.ratio), ("lmdb", 0.5));
        let markdown = results.markdown();
        assert!(
            markdown.contains("| reads | 50–400 | 100/s (1.00 s) | **400/s (1.00 s)** | 50/s (1.00 s) | 0.25× lmdb |"),
            "{markdown}"
        );
        assert_eq!(ratio_text(0.004), "0.0040");
        assert_eq!(ratio_text(0.25), "0.25");
        assert_eq!(ratio_text(12.345), "12.35");
        assert_eq!(count_f64(123_456.0), "123k");
        assert_eq!(count_f64(12_345.0), "12.3k");
        assert_eq!(count_f64(1_234_567.0), "1.23M");
    }

    #[test]
    fn the_latency_table_shows_durable_workloads_and_keels_records_per_fsync() {
        let percentiles = Percentiles {
            p50: Duration::from_micros(150),
            p99: Duration::from_micros(900),
            p999: Duration::from_millis(2),
            commits: 1000,
        };
        let commits = Figure::Throughput {
            operations: 1000,
            elapsed: Duration::from_secs(1),
        };
        let with = |latency, records_per_fsync| Measurement {
            workload: "16 concurrent writers, commits".to_owned(),
            figure: commits,
            latency,
            records_per_fsync,
        };
        let results = Results {
            engines: vec![
                (
                    "keel",
                    vec![
                        with(Some(percentiles), Some(7.94)),
                        measurement("reads", commits),
                    ],
                ),
                ("rocksdb", vec![with(None, None)]),
            ],
        };
        let markdown = results.latency_markdown();
        assert_eq!(
            markdown,
            "| commit latency p50 / p99 / p99.9 | keel | rocksdb | keel records/fsync |\n\
             |---|---:|---:|---:|\n\
             | 16 concurrent writers, commits | 150 µs / 900 µs / 2.00 ms | - | 7.9 |\n"
        );
        assert!(results.latency_text().contains("7.9"));
        let none = Results {
            engines: vec![("keel", vec![measurement("reads", commits)])],
        };
        assert_eq!(none.latency_markdown(), "");
        assert_eq!(none.latency_text(), "");
    }
}
