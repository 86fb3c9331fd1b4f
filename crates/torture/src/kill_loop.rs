//! The real-process kill loop: a child process ([`crate::kill_child`])
//! commits with `Sync` durability from several threads on the real file
//! system while fold, checkpoint, truncation and archiving run at
//! aggressive settings; the parent kills it with SIGKILL at a seeded
//! random moment, back to back. Each next child recovers the last one's
//! crash (there is never a clean close in between) and reports the state
//! it found, which the parent checks against every acknowledgement:
//!
//! - each thread's recovered `last` is at least its last acknowledged
//!   commit and at most one more (the commit in flight at the kill);
//! - every slot holds exactly what the thread's commits up to `last`
//!   leave there, and the shared counter what they add up to, so a commit
//!   is there whole or not at all, and nothing uncommitted appears.
//!
//! Some rounds kill the child during recovery, right after an open, right
//! after an open and a checkpoint, or after it idled.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::kill_child::{COUNTER_EVERY, ChildArguments, ChildMode, Operation, SLOTS_PER_THREAD};

/// How long a child may take to open and report its state.
pub const CHILD_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A kill-loop run.
#[derive(Debug, Clone)]
pub struct KillConfig {
    /// Seeds the kill moments and the round kinds.
    pub seed: u64,
    /// Stop after this many kills.
    pub kills: u64,
    /// Or once this much time has passed.
    pub duration: Option<Duration>,
    /// Committing threads in each child.
    pub threads: u64,
    /// The database directory (created; it should start empty).
    pub dir: PathBuf,
}

/// What a kill-loop run found.
#[derive(Debug, Clone, Default)]
pub struct KillReport {
    /// The seed of the run.
    pub seed: u64,
    /// Children killed.
    pub kills: u64,
    /// Of them, killed during recovery (before they reported).
    pub kills_in_recovery: u64,
    /// Recovered states checked.
    pub checks: u64,
    /// Commits acknowledged by the children.
    pub acknowledged: u64,
    /// Acknowledged commits found in a recovered state (each counted at
    /// the first check after it).
    pub verified: u64,
    /// Acknowledged commits missing (must be 0).
    pub lost: u64,
    /// The first thing that was wrong, in words.
    pub failure: Option<String>,
    /// How long it ran.
    pub elapsed: Duration,
}

impl fmt::Display for KillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kill loop (seed {}): {} kills ({} during recovery), {} recovered states checked, {} commits acknowledged, {} verified, {} lost, in {:.1} s",
            self.seed,
            self.kills,
            self.kills_in_recovery,
            self.checks,
            self.acknowledged,
            self.verified,
            self.lost,
            self.elapsed.as_secs_f64()
        )?;
        match &self.failure {
            None => write!(f, "no acknowledged commit lost, nothing uncommitted found"),
            Some(failure) => write!(f, "FAILED: {failure}"),
        }
    }
}

/// The parent's model: per thread, the commits known to be in the
/// database (`recovered`), the last acknowledged since, and what each slot
/// holds after `recovered`.
#[derive(Debug, Default)]
struct Model {
    threads: Vec<ThreadModel>,
}

#[derive(Debug, Default, Clone)]
struct ThreadModel {
    /// The last commit found after the last recovery (`None`: none yet).
    recovered: Option<u64>,
    /// The last commit acknowledged since.
    acknowledged: Option<u64>,
    /// Slot → the commit whose write is there (`None`: deleted).
    slots: HashMap<u64, Option<u64>>,
    /// Counter increments of commits `0..=recovered`.
    counted: u64,
}

impl ThreadModel {
    /// Applies commits after `recovered` through `last`.
    fn advance(&mut self, thread: u64, last: Option<u64>) {
        let from = self.recovered.map_or(0, |n| n + 1);
        let Some(last) = last else {
            return;
        };
        for n in from..=last {
            let operation = Operation::of(thread, n);
            self.slots
                .insert(operation.slot, operation.value.map(|_| n));
            self.counted += u64::from(operation.counts);
        }
        self.recovered = Some(last);
        debug_assert_eq!(self.counted, last / COUNTER_EVERY + 1);
    }

    /// What slot `slot` holds after `recovered`, as the child reports it.
    fn expected(&self, slot: u64) -> String {
        match self.slots.get(&slot) {
            Some(Some(n)) => n.to_string(),
            _ => "-".into(),
        }
    }
}

/// What a child reported at open.
#[derive(Debug, Default)]
struct State {
    slots: HashMap<(u64, u64), String>,
    lasts: HashMap<u64, Option<u64>>,
    counter: u64,
}

/// Runs the loop. `child` builds the command that runs a child with
/// these arguments (a test binary re-running itself, or `keel
/// torture-child`).
pub fn run(config: &KillConfig, child: impl Fn(&ChildArguments) -> Command) -> KillReport {
    run_with_progress(config, child, Duration::MAX, |_| {})
}

/// [`run`], calling `progress` with the report so far every `interval`.
pub fn run_with_progress(
    config: &KillConfig,
    child: impl Fn(&ChildArguments) -> Command,
    interval: Duration,
    mut progress: impl FnMut(&KillReport),
) -> KillReport {
    let started = Instant::now();
    let mut reported = started;
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let mut report = KillReport {
        seed: config.seed,
        ..KillReport::default()
    };
    let mut model = Model {
        threads: vec![ThreadModel::default(); config.threads as usize],
    };
    let archive = rng.random_bool(0.5);
    while report.kills < config.kills
        && config
            .duration
            .is_none_or(|limit| started.elapsed() < limit)
    {
        let mode = match rng.random_range(0..20) {
            0..2 => ChildMode::Idle,
            2..5 => ChildMode::Checkpoint,
            _ => ChildMode::Work,
        };
        let arguments = ChildArguments {
            dir: config.dir.clone(),
            threads: config.threads,
            mode,
            archive,
        };
        if let Err(failure) = round(&mut rng, &arguments, &child, &mut model, &mut report) {
            report.failure = Some(format!("after {} kills: {failure}", report.kills));
            break;
        }
        if reported.elapsed() >= interval {
            reported = Instant::now();
            report.elapsed = started.elapsed();
            progress(&report);
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// One child: started, perhaps checked, killed.
fn round(
    rng: &mut SmallRng,
    arguments: &ChildArguments,
    child: &impl Fn(&ChildArguments) -> Command,
    model: &mut Model,
    report: &mut KillReport,
) -> Result<(), String> {
    let mut process = Killed(
        child(arguments)
            .args(arguments.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot start the child: {error}"))?,
    );
    let lines = read_lines(process.0.stdout.take());
    if rng.random_bool(0.05) {
        // Killed during recovery: the next child recovers both.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
        kill(&mut process)?;
        report.kills += 1;
        report.kills_in_recovery += 1;
        return drain(&lines, model, report, true);
    }
    let state = read_state(&lines, arguments.threads)?;
    check(&state, model, report)?;
    let acks_wanted = rng.random_range(1..400u64);
    let deadline = Instant::now() + Duration::from_millis(rng.random_range(0..400));
    let mut acks = 0;
    while Instant::now() < deadline && acks < acks_wanted {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => acks += u64::from(take_ack(&line, model, report)?),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("the child ({:?}) exited", arguments.mode));
            }
        }
    }
    kill(&mut process)?;
    report.kills += 1;
    drain(&lines, model, report, false)
}

fn read_lines(stdout: Option<ChildStdout>) -> Receiver<String> {
    let (sender, receiver) = channel();
    if let Some(stdout) = stdout {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else {
                    return;
                };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
    }
    receiver
}

/// A child that is killed when dropped, so that no path out of a round
/// (a failed check included) leaves it running. (The child also exits
/// when its standard input closes: when the parent dies.)
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill(process: &mut Killed) -> Result<(), String> {
    process
        .0
        .kill()
        .map_err(|error| format!("cannot kill the child: {error}"))?;
    process
        .0
        .wait()
        .map_err(|error| format!("cannot reap the child: {error}"))?;
    Ok(())
}

/// Reads the acknowledgements printed before the kill (every one counts).
/// A child killed in recovery may have reported its state already: then
/// it is checked like any other.
fn drain(
    lines: &Receiver<String>,
    model: &mut Model,
    report: &mut KillReport,
    in_recovery: bool,
) -> Result<(), String> {
    let mut state = State::default();
    let mut complete = false;
    while let Ok(line) = lines.recv_timeout(CHILD_READY_TIMEOUT) {
        if in_recovery && !complete {
            complete = parse_state_line(&line, &mut state)?;
            if complete {
                check(&state, model, report)?;
            }
            continue;
        }
        take_ack(&line, model, report)?;
    }
    Ok(())
}

/// Counts an `ack T N` line; other lines (`checkpointed`) are ignored.
fn take_ack(line: &str, model: &mut Model, report: &mut KillReport) -> Result<bool, String> {
    let Some(rest) = line.strip_prefix("ack ") else {
        return Ok(false);
    };
    let (thread, n) = two_numbers(rest).ok_or_else(|| format!("bad line {line:?}"))?;
    let thread_model = model
        .threads
        .get_mut(thread as usize)
        .ok_or_else(|| format!("ack from unknown thread: {line:?}"))?;
    let expected = thread_model
        .acknowledged
        .or(thread_model.recovered)
        .map_or(0, |n| n + 1);
    if n != expected {
        return Err(format!(
            "thread {thread} acknowledged commit {n}, expected {expected}"
        ));
    }
    thread_model.acknowledged = Some(n);
    report.acknowledged += 1;
    Ok(true)
}

fn two_numbers(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once(' ')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Reads the child's state report, up to `ready`.
fn read_state(lines: &Receiver<String>, threads: u64) -> Result<State, String> {
    let mut state = State::default();
    loop {
        let line = lines.recv_timeout(CHILD_READY_TIMEOUT).map_err(|_| {
            "the child did not report its state (see its standard error)".to_string()
        })?;
        if parse_state_line(&line, &mut state)? {
            if state.lasts.len() as u64 != threads {
                return Err(format!("the child reported {} threads", state.lasts.len()));
            }
            return Ok(state);
        }
    }
}

/// Takes one line of the state report; true at `ready`.
fn parse_state_line(line: &str, state: &mut State) -> Result<bool, String> {
    let words: Vec<&str> = line.split(' ').collect();
    let number = |word: &str| {
        word.parse::<u64>()
            .map_err(|_| format!("bad line {line:?}"))
    };
    match words.as_slice() {
        ["state", thread, slot, found] => {
            state
                .slots
                .insert((number(thread)?, number(slot)?), (*found).to_string());
        }
        ["last", thread, "-"] => {
            state.lasts.insert(number(thread)?, None);
        }
        ["last", thread, n] => {
            state.lasts.insert(number(thread)?, Some(number(n)?));
        }
        ["counter", counter] => state.counter = number(counter)?,
        ["ready"] => return Ok(true),
        _ => return Err(format!("unexpected line before ready: {line:?}")),
    }
    Ok(false)
}

/// Checks a recovered state against the model, then makes it the model's.
fn check(state: &State, model: &mut Model, report: &mut KillReport) -> Result<(), String> {
    let mut counted = 0;
    for (thread, thread_model) in model.threads.iter_mut().enumerate() {
        let thread = thread as u64;
        let last = state.lasts.get(&thread).copied().flatten();
        let floor = thread_model.acknowledged.or(thread_model.recovered);
        let ceiling = floor.map_or(0, |n| n + 1);
        if last < floor {
            let lost = floor.map_or(0, |n| n + 1) - last.map_or(0, |n| n + 1);
            report.lost += lost;
            return Err(format!(
                "thread {thread}: commits through {floor:?} were acknowledged, the recovered state ends at {last:?}: {lost} lost"
            ));
        }
        if last.is_some_and(|n| n > ceiling) {
            return Err(format!(
                "thread {thread}: commit {last:?} is there, but only {ceiling} was ever attempted after {floor:?}"
            ));
        }
        report.verified += floor.map_or(0, |n| n + 1) - thread_model.recovered.map_or(0, |n| n + 1);
        thread_model.advance(thread, last);
        thread_model.acknowledged = None;
        for slot in 0..SLOTS_PER_THREAD {
            let expected = thread_model.expected(slot);
            let found = state
                .slots
                .get(&(thread, slot))
                .map_or("(missing)", String::as_str);
            if found != expected {
                return Err(format!(
                    "thread {thread}, slot {slot}: commits through {last:?} leave {expected}, found {found} (a torn commit, a lost write or an uncommitted one)"
                ));
            }
        }
        counted += thread_model.counted;
    }
    if state.counter != counted {
        return Err(format!(
            "the counter is {}, the recovered commits add up to {counted}",
            state.counter
        ));
    }
    report.checks += 1;
    Ok(())
}
