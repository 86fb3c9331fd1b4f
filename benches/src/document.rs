//! `docs/BENCHMARKS.md`: the table of the latest run with the machine it
//! ran on, the command that reproduces it, the chart, and how every
//! engine is configured. The file is written whole by each run.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::{Results, SUBJECT};
use crate::workloads::{RANGE_ENTRIES, Sizes};

/// What the document says besides the results.
pub struct Context<'a> {
    /// The machine, as the run describes it.
    pub machine: String,
    /// The command that reproduces the run.
    pub command: String,
    /// The chart's path relative to the document, if one was drawn.
    pub chart: Option<String>,
    /// The sizes of the run.
    pub sizes: &'a Sizes,
    /// `(engine, its configuration)`.
    pub configurations: Vec<(&'static str, String)>,
    /// Seconds the whole run took.
    pub run_seconds: f64,
    /// Rounds of the run (`--rounds`), the engines in alternating order.
    pub rounds: u64,
    /// The commit the benchmark was built from.
    pub commit: Option<String>,
}

/// The machine: cores, CPU model, memory and kernel from /proc, plus
/// `note`.
pub fn machine(note: Option<&str>) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / f64::from(1u32 << 20))
        })
        .map_or_else(|| "unknown".to_owned(), |gib| format!("{gib:.0}"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned());
    let mut text = format!("{cores} cores ({cpu}), {memory_gib} GiB RAM, Linux {kernel}");
    if let Some(note) = note {
        let _ = write!(text, "; {note}");
    }
    text
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `value` with thousands separated by commas.
fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// The commit the run was built from, if git can tell.
pub fn commit() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !commit.is_empty()).then_some(commit)
}

/// The whole document.
pub fn render(results: &Results, context: &Context<'_>) -> String {
    let sizes = context.sizes;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Benchmarks: keel against the engines it would replace"
    );
    text.push('\n');
    let _ = writeln!(
        text,
        "<!-- Written by the benchmark itself (benches/, `keel-benches`); rerun the \
         command below to refresh it. -->"
    );
    text.push('\n');
    let _ = writeln!(
        text,
        "Every engine runs the same workloads on the same data in one run of one \
         program, one engine after the other, on the same disk. A durable commit means \
         the commit is fsynced before it returns, in every engine (configurations \
         below). Compare figures *within* this table, as ratios: durable-write timings \
         swing between runs (by up to 10× on a shared VM)."
    );
    text.push('\n');
    let _ = writeln!(
        text,
        "- Run: {}, {:.0} s for every engine, keel at commit {}.",
        today(),
        context.run_seconds,
        context.commit.as_deref().unwrap_or("(unknown)")
    );
    if context.rounds > 1 {
        let _ = writeln!(
            text,
            "- {} rounds, the engines in alternating order (forward, backward, …) so that \
             a change in the machine's load favours none: each throughput is all rounds' \
             operations over all rounds' time; sizes, one-off times, latency percentiles \
             and records per fsync are the rounds' mean.",
            context.rounds
        );
    }
    let _ = writeln!(text, "- Machine: {}.", context.machine);
    let _ = writeln!(text, "- Reproduce (from the repository root):");
    text.push('\n');
    let _ = writeln!(text, "  ```sh");
    let _ = writeln!(text, "  {}", context.command);
    let _ = writeln!(text, "  ```");
    text.push('\n');
    if let Some(chart) = &context.chart {
        let _ = writeln!(
            text,
            "![Throughput of each engine relative to the fastest in each workload]({chart})"
        );
        text.push('\n');
    }
    let _ = writeln!(text, "## Results");
    text.push('\n');
    let _ = writeln!(
        text,
        "Each cell: operations per second (wall-clock time of the workload); sizes in \
         MiB allocated on disk. Bold: the best engine in the row. The last column is \
         {SUBJECT}'s figure against the best peer's, oriented so that above 1× means \
         {SUBJECT} is ahead: its throughput ÷ the peer's, or the peer's size or time ÷ \
         {SUBJECT}'s."
    );
    text.push('\n');
    text.push_str(&results.markdown());
    text.push('\n');
    let latency = results.latency_markdown();
    if !latency.is_empty() {
        let _ = writeln!(
            text,
            "Latency of each durable commit of the workloads made of many (one-commit \
             workloads have their time above): p50 / p99 / p99.9. For {SUBJECT}, log \
             records per log fsync during the workload, from its own counters."
        );
        text.push('\n');
        text.push_str(&latency);
        text.push('\n');
    }
    let _ = writeln!(text, "## Workloads");
    text.push('\n');
    let _ = writeln!(
        text,
        "redb's benchmark shape: {}-byte random keys, {}-byte random values, a fixed \
         seed; every engine gets the same keys in the same order. In the order they run:",
        crate::dataset::KEY_BYTES,
        crate::dataset::VALUE_BYTES
    );
    text.push('\n');
    let lines = [
        format!(
            "**bulk load**: {} keys in one transaction, one durable commit.",
            grouped(sizes.bulk_keys)
        ),
        format!(
            "**individual writes**: {} transactions of one key, each a durable commit.",
            grouped(sizes.individual_writes)
        ),
        format!(
            "**batch writes**: {} durable transactions of {} keys.",
            grouped(sizes.batches),
            grouped(sizes.batch_keys)
        ),
        "**reopen**: the engine closed, its files synced and dropped from the OS page \
         cache (`posix_fadvise(DONTNEED)`, these files only), then opened again (timed: \
         recovery); the median of five such reopens."
            .to_owned(),
        format!(
            "**random reads**: {} point reads of random present keys, 1,000 per read \
             transaction; *cold* right after the reopen, then *warm* (the same keys \
             again). Each read must find its key with its value.",
            grouped(sizes.reads)
        ),
        format!(
            "**range reads**: {} reads of {RANGE_ENTRIES} entries from a random start \
             key; the entries are checked against a sorted copy of the data.",
            grouped(sizes.ranges)
        ),
        format!(
            "**random reads, 2 threads**: {} point reads split over two threads.",
            grouped(sizes.reads / 2 * 2)
        ),
        format!(
            "**removals**: half the bulk-loaded keys ({}) in one durable transaction.",
            grouped(sizes.bulk_keys / 2)
        ),
        "**compaction**: the engine's own compaction, where it has one (n/a otherwise).".to_owned(),
        format!(
            "**N concurrent writers** (N = {}): N threads each making durable single-key \
             commits of fresh keys, {} commits in all per N.",
            sizes
                .writer_threads
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            grouped(sizes.writer_commits)
        ),
        format!(
            "**95% reads / 5% durable writes**: {} threads, {} operations in all; a read \
             is a read transaction of one point read, a write a durable single-key commit.",
            sizes.mix_threads,
            grouped(sizes.mix_operations)
        ),
        format!(
            "**full scans while a writer commits**: {} full scans of the database, each \
             in one read transaction, while another thread makes durable single-key \
             commits; entries per second. Each scan must see every key acknowledged before \
             it began, in order.",
            sizes.scans
        ),
        "**disk after …**: bytes allocated under the engine's directory (as `du`), \
         log or journal included. *After writes* is taken right after the batch writes, \
         where an engine may still hold recent writes only in its log; *after reopen* \
         once it has been closed and opened again, as its close leaves its files (keel \
         checkpoints and drops its log; the benchmark's close flushes RocksDB's \
         memtables and persists fjall's journal)."
            .to_owned(),
    ];
    for line in lines {
        let _ = writeln!(text, "- {line}");
    }
    text.push('\n');
    let _ = writeln!(
        text,
        "After every phase that writes, a full scan must count exactly the keys that \
         should be there, and sampled removed keys must be gone: an engine that skipped \
         work would fail the run, not look fast."
    );
    text.push('\n');
    let _ = writeln!(text, "## Reading these figures");
    text.push('\n');
    let notes = [
        "Same-run ratios only: the engines ran one after the other, and on a shared \
         or loaded machine (see above) absolute figures, durable writes above all, \
         swing between runs; rerun before quoting a figure.",
        "Work deferred is charged to whoever runs next. keel's commit puts a \
         transaction's versions in its in-memory delta and its log, and folds them \
         into the B+tree in the background; RocksDB and fjall flush and compact in \
         the background. So the bulk load's fold or compaction can land in the batch \
         writes that follow it; LMDB and redb build their B-trees inside the \
         commit.",
        "Sizes count allocated bytes, so preallocated logs count: keel preallocates \
         64 MiB log segments and RocksDB its WAL (about 1.1 × the 64 MiB write \
         buffer), which dominates their size at small data sizes.",
        "sled has no snapshots: its \"read transactions\" read the latest data.",
    ];
    for note in notes {
        let _ = writeln!(text, "- {note}");
    }
    text.push('\n');
    let _ = writeln!(text, "## How each engine is configured");
    text.push('\n');
    for (engine, configuration) in &context.configurations {
        let _ = writeln!(text, "- **{engine}**: {configuration}.");
    }
    text.push('\n');
    let _ = writeln!(
        text,
        "Other sizes: `cargo run --release -p keel-benches -- --help` (every workload's \
         size is a flag; `--engines` picks engines; `--tiny` is the CI smoke run)."
    );
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn today_is_a_plausible_date() {
        let today = super::today();
        assert_eq!(today.len(), 10, "{today}");
        assert!(today.as_str() > "2024-01-01", "{today}");
        assert_eq!(super::grouped(1_000_000), "1,000,000");
        assert_eq!(super::grouped(100), "100");
        assert_eq!(super::grouped(4_000), "4,000");
    }
}
