//! A page that is in the pool: what a read of it costs, and what the page
//! table behind it costs.
//!
//! The pager holds `PAGES` pages of 4 KiB in a pool of as many frames, all
//! loaded (allocated, written, checkpointed); nothing is evicted. The same
//! bytes are also kept in one plain `Vec<u8>`. Every iteration takes the
//! next of `ACCESSES` precomputed random (page, 8-aligned offset) pairs, the
//! same sequence on both sides.
//!
//! * `page_read/{1,2} thread(s)`: `Pager::read(page, |view| view.u64_at(offset))`
//!   (optimistic: page-table lookup, version, hit count, bounds-checked
//!   copy, validation) next to the same little-endian `u64` read from the
//!   `Vec`. Target: keel / Vec at most 3x. Two shapes: `*_read_u64` reads
//!   the precomputed pairs, independent of each other, so the processor
//!   may overlap them (throughput; the `Vec` side overlaps its cache misses
//!   freely); `*_read_u64_chase` derives each access from the value the
//!   one before read (`chase_next`), a dependent chain like a tree descent
//!   (latency).
//! * `page_table/{1,2} thread(s)`: the page-table choice documented in
//!   `src/page_table.rs`. `pager_optimistic` is `Pager::optimistic(page)`
//!   dropped at once (the table lookup plus the frame's latch word, page
//!   check and hit count); `direct_table` is a copy of the pager's two-level
//!   directly indexed table (lookup only, as `PageTable::lookup` does it);
//!   `sharded_hash_map` is the alternative the design brief allows: 16
//!   cache-padded shards of `parking_lot::RwLock<HashMap<u64, u32>>` with a
//!   multiplicative hash, a shared read lock per lookup. The ratios of the
//!   hash map to the two others are printed.
//!
//! After the `page_read` groups, the one-thread `*_read_u64` loops also
//! run interleaved, in short rounds, and the ratio of their fastest rounds
//! is printed (`common::report_paired_ratio`): on a shared machine, the
//! steadier figure.
//!
//! In the two-thread groups each iteration is one access on *each* thread
//! (started together), so a time per iteration is the time per access as
//! each thread sees it.
//!
//! ```text
//! cargo bench -p keel-pager --bench page_access -- --warm-up-time 1 --measurement-time 3
//! ```

mod common;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::Tally;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use crossbeam_utils::CachePadded;
use keel_pager::{PAGE_SIZE_DEFAULT, PageId, Pager};
use parking_lot::RwLock;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Pages in the pool (4 MiB).
const PAGES: u64 = 1024;
const PAGE_BYTES: usize = PAGE_SIZE_DEFAULT as usize;
/// Precomputed accesses, cycled through (a power of two).
const ACCESSES: usize = 1 << 16;
const THREAD_COUNTS: [usize; 2] = [1, 2];

/// The word at `offset` of page `page` (both sides hold these bytes).
fn word(page: u64, offset: usize) -> u64 {
    (page << 32 | offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A random access: page id and 8-aligned offset.
#[derive(Clone, Copy)]
struct Access {
    page: u64,
    offset: usize,
}

fn accesses() -> Vec<Access> {
    let mut rng = SmallRng::seed_from_u64(0x6B65_656C);
    (0..ACCESSES)
        .map(|_| Access {
            page: rng.random_range(1..=PAGES),
            offset: rng.random_range(0..PAGE_BYTES / 8) * 8,
        })
        .collect()
}

/// Runs `body(thread, iterations)` on each of `threads` threads started
/// together (on the calling thread when there is one); returns the time
/// until the last one finished.
fn on_threads(threads: usize, iterations: u64, body: impl Fn(usize, u64) + Sync) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        body(0, iterations);
        return start.elapsed();
    }
    let barrier = Barrier::new(threads + 1);
    thread::scope(|scope| {
        for thread in 0..threads {
            let (barrier, body) = (&barrier, &body);
            scope.spawn(move || {
                barrier.wait();
                body(thread, iterations);
            });
        }
        barrier.wait();
        // Leaving the scope joins the threads.
        Instant::now()
    })
    .elapsed()
}

/// Runs `access(index)` for `iterations` consecutive indices, from a start
/// of its own for each thread.
fn each_access(thread: usize, threads: usize, iterations: u64, access: impl Fn(usize)) {
    let first = thread * (ACCESSES / threads);
    for index in first..first + iterations as usize {
        access(index);
    }
}

/// The access after one that read `value`, at step `step` of a chase: the
/// step is mixed in so that a chase never settles into a short cycle.
fn chase_next(value: u64, step: u64) -> Access {
    let mixed = (value ^ step).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    Access {
        page: 1 + (mixed >> 32) % PAGES,
        offset: (mixed >> 16) as usize % (PAGE_BYTES / 8) * 8,
    }
}

/// Runs a chase of `iterations` dependent reads, each at the access
/// `chase_next` derives from the value before; `read` reads one.
fn chase(thread: usize, iterations: u64, read: impl Fn(Access) -> u64) {
    let mut value = thread as u64;
    for step in 0..iterations {
        value = read(chase_next(value, step));
    }
    black_box(value);
}

/// A pager in `dir` holding `PAGES` pages of `word`s, all in the pool.
fn loaded_pager(dir: &std::path::Path) -> Pager {
    let pager = common::open_pager(dir, PAGES);
    for page in 1..=PAGES {
        let mut guard = pager.allocate().expect("allocate a page");
        assert_eq!(
            guard.page_id(),
            PageId::new(page),
            "ids are handed out densely"
        );
        for (index, bytes) in guard.chunks_exact_mut(8).enumerate() {
            bytes.copy_from_slice(&word(page, index * 8).to_le_bytes());
        }
    }
    pager.checkpoint(b"").expect("checkpoint");
    let stats = pager.stats();
    assert_eq!((stats.frames, stats.pages), (PAGES, PAGES));
    pager
}

/// The same bytes as the pager's pages, page `p` at `(p - 1) * PAGE_BYTES`.
fn plain_pages() -> Vec<u8> {
    let mut bytes = vec![0u8; PAGES as usize * PAGE_BYTES];
    for (index, out) in bytes.chunks_exact_mut(8).enumerate() {
        let page = (index * 8 / PAGE_BYTES) as u64 + 1;
        out.copy_from_slice(&word(page, index * 8 % PAGE_BYTES).to_le_bytes());
    }
    bytes
}

fn page_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let pager = loaded_pager(dir.path());
    let plain = plain_pages();
    let accesses = accesses();
    let at = |index: usize| accesses[index & (ACCESSES - 1)];
    let pager_read = |Access { page, offset }: Access| {
        let read = pager.read(PageId::new(page), |view| view.u64_at(offset));
        read.expect("read")
    };
    let vec_read = |Access { page, offset }: Access| {
        let start = (page as usize - 1) * PAGE_BYTES + offset;
        u64::from_le_bytes(plain[start..start + 8].try_into().expect("8 bytes"))
    };
    // The two sides agree.
    for step in 0..ACCESSES as u64 {
        let access = chase_next(step, step);
        let expected = word(access.page, access.offset);
        assert_eq!((pager_read(access), vec_read(access)), (expected, expected));
    }

    // Whether the one-thread independent reads ran (a filter may skip them).
    let page_read_ran = std::cell::Cell::new(false);
    for threads in THREAD_COUNTS {
        let name = format!("page_read/{threads} thread(s)");
        let mut group = c.benchmark_group(&name);
        let keel = Tally::default();
        group.bench_function("pager_read_u64", |b| {
            b.iter_custom(|iterations| {
                let elapsed = on_threads(threads, iterations, |thread, iterations| {
                    each_access(thread, threads, iterations, |index| {
                        black_box(pager_read(at(index)));
                    })
                });
                keel.record(iterations, elapsed)
            })
        });
        let baseline = Tally::default();
        group.bench_function("vec_read_u64", |b| {
            b.iter_custom(|iterations| {
                let elapsed = on_threads(threads, iterations, |thread, iterations| {
                    each_access(thread, threads, iterations, |index| {
                        black_box(vec_read(at(index)));
                    })
                });
                baseline.record(iterations, elapsed)
            })
        });
        let keel_chase = Tally::default();
        group.bench_function("pager_read_u64_chase", |b| {
            b.iter_custom(|iterations| {
                let elapsed = on_threads(threads, iterations, |thread, iterations| {
                    chase(thread, iterations, pager_read)
                });
                keel_chase.record(iterations, elapsed)
            })
        });
        let baseline_chase = Tally::default();
        group.bench_function("vec_read_u64_chase", |b| {
            b.iter_custom(|iterations| {
                let elapsed = on_threads(threads, iterations, |thread, iterations| {
                    chase(thread, iterations, vec_read)
                });
                baseline_chase.record(iterations, elapsed)
            })
        });
        group.finish();
        if threads == 1 && keel.median_nanos().is_some() {
            page_read_ran.set(true);
        }
        common::report_time_ratio(
            &format!("{name}: pager_read_u64 / vec_read_u64"),
            &keel,
            &baseline,
            "<= 3x",
        );
        common::report_time_ratio(
            &format!("{name}: pager_read_u64_chase / vec_read_u64_chase"),
            &keel_chase,
            &baseline_chase,
            "<= 3x",
        );
    }
    if page_read_ran.get() {
        // One thread, the two independent-read loops interleaved (see
        // `common::report_paired_ratio`).
        let (mut next_keel, mut next_baseline) = (0, 0);
        common::report_paired_ratio(
            "page_read/1 thread(s): pager_read_u64 / vec_read_u64",
            common::PAIRED_ROUNDS,
            || {
                let time = common::timed(|| {
                    each_access(0, 1, PAIRED_BATCH as u64, |index| {
                        black_box(pager_read(at(next_keel + index)));
                    })
                });
                next_keel += PAIRED_BATCH;
                time
            },
            || {
                let time = common::timed(|| {
                    each_access(0, 1, PAIRED_BATCH as u64, |index| {
                        black_box(vec_read(at(next_baseline + index)));
                    })
                });
                next_baseline += PAIRED_BATCH;
                time
            },
            "<= 3x",
        );
    }
}

/// Reads per side in each round of the paired measurement (a few µs).
const PAIRED_BATCH: usize = 4096;

// ---- the page-table alternatives ---------------------------------------

/// A copy of `keel_pager`'s page table (`src/page_table.rs`, crate-private):
/// a fixed directory of lazily allocated chunks of atomic entries, indexed
/// by page id; an entry is `frame + 1`, 0 when absent.
struct DirectTable {
    chunks: Box<[OnceLock<Box<[AtomicU32]>>]>,
}

const CHUNK_BITS: u32 = 16;
const CHUNK_ENTRIES: usize = 1 << CHUNK_BITS;
/// Entries with this bit set are being evicted (as in `residency.rs`).
const EVICTING: u32 = 1 << 31;

impl DirectTable {
    fn new() -> Self {
        let chunks = ((PageId::MAX.get() as usize) >> CHUNK_BITS) + 1;
        Self {
            chunks: (0..chunks).map(|_| OnceLock::new()).collect(),
        }
    }

    fn insert(&self, page: u64, frame: u32) {
        let id = page as usize;
        let chunk = self.chunks[id >> CHUNK_BITS]
            .get_or_init(|| (0..CHUNK_ENTRIES).map(|_| AtomicU32::new(0)).collect());
        chunk[id & (CHUNK_ENTRIES - 1)].store(frame + 1, Ordering::Release);
    }

    fn lookup(&self, page: u64) -> Option<u32> {
        let id = page as usize;
        let entry = self.chunks.get(id >> CHUNK_BITS).and_then(OnceLock::get)?
            [id & (CHUNK_ENTRIES - 1)]
            .load(Ordering::Acquire);
        (entry != 0 && entry & EVICTING == 0).then(|| entry - 1)
    }
}

/// A multiplicative hash of a `u64` key (the fastest reasonable choice for
/// dense integer keys; SipHash would only make the hash map slower).
#[derive(Default)]
struct MultiplyHasher(u64);

impl Hasher for MultiplyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }
}

const SHARDS: usize = 16;

/// Page id → frame in 16 shards (by the page id's low bits), each a hash
/// map under a reader-writer lock on a cache line of its own.
struct ShardedTable {
    shards: Vec<CachePadded<RwLock<Shard>>>,
}

/// One shard: page id → frame.
type Shard = HashMap<u64, u32, BuildHasherDefault<MultiplyHasher>>;

impl ShardedTable {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(RwLock::default()))
                .collect(),
        }
    }

    fn insert(&self, page: u64, frame: u32) {
        self.shards[page as usize % SHARDS]
            .write()
            .insert(page, frame);
    }

    fn lookup(&self, page: u64) -> Option<u32> {
        self.shards[page as usize % SHARDS]
            .read()
            .get(&page)
            .copied()
    }
}

fn page_table(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let pager = loaded_pager(dir.path());
    let accesses = accesses();
    let at = |index: usize| accesses[index & (ACCESSES - 1)];
    let direct = DirectTable::new();
    let sharded = ShardedTable::new();
    for page in 1..=PAGES {
        // Any frame numbering will do: page p in frame p - 1.
        direct.insert(page, page as u32 - 1);
        sharded.insert(page, page as u32 - 1);
    }

    for threads in THREAD_COUNTS {
        let mut group = c.benchmark_group(format!("page_table/{threads} thread(s)"));
        let optimistic = Tally::default();
        group.bench_function(BenchmarkId::from_parameter("pager_optimistic"), |b| {
            b.iter_custom(|iterations| {
                let elapsed = on_threads(threads, iterations, |thread, iterations| {
                    each_access(thread, threads, iterations, |index| {
                        // Nothing to release: an optimistic guard holds no latch.
                        let guard = pager.optimistic(PageId::new(at(index).page));
                        black_box(guard.expect("optimistic"));
                    })
                });
                optimistic.record(iterations, elapsed)
            })
        });
        let direct_tally = Tally::default();
        group.bench_function(BenchmarkId::from_parameter("direct_table"), |b| {
            b.iter_custom(|iterations| {
                let elapsed = on_threads(threads, iterations, |thread, iterations| {
                    each_access(thread, threads, iterations, |index| {
                        black_box(direct.lookup(at(index).page).expect("resident"));
                    })
                });
                direct_tally.record(iterations, elapsed)
            })
        });
        let sharded_tally = Tally::default();
        group.bench_function(BenchmarkId::from_parameter("sharded_hash_map"), |b| {
            b.iter_custom(|iterations| {
                let elapsed = on_threads(threads, iterations, |thread, iterations| {
                    each_access(thread, threads, iterations, |index| {
                        black_box(sharded.lookup(at(index).page).expect("resident"));
                    })
                });
                sharded_tally.record(iterations, elapsed)
            })
        });
        group.finish();
        let name = format!("page_table/{threads} thread(s)");
        common::report_time_ratio(
            &format!("{name}: sharded_hash_map / direct_table"),
            &sharded_tally,
            &direct_tally,
            "> 1: the direct table is the faster",
        );
        common::report_time_ratio(
            &format!("{name}: sharded_hash_map / pager_optimistic"),
            &sharded_tally,
            &optimistic,
            "for scale: the whole optimistic entry against a hash lookup alone",
        );
    }
}

criterion_group! {
    name = benches;
    config = common::config(50, 3);
    targets = page_read, page_table
}
criterion_main!(benches);
