//! The engine killed with SIGKILL at scale: child processes commit with
//! `Sync` from several threads while fold, checkpoint, truncation and
//! archiving run at aggressive settings, and are killed back to back
//! (`keel_torture::kill_loop`). CI runs `KEEL_SIGKILL_KILLS` (default 60)
//! kills; the long mode sets it to thousands (release build).
//!
//! The binary is its own child (`harness = false`): with `--child` it runs
//! `kill_child::run_child`.

#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.

use std::process::Command;

use keel_torture::kill_child::{ChildArguments, run_child};
use keel_torture::kill_loop::{KillConfig, run};

const KILLS_DEFAULT: u64 = 60;

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map_or(default, |value| value.parse().unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--child") {
        let arguments = ChildArguments::parse(&args).unwrap();
        if let Err(error) = run_child(&arguments) {
            eprintln!("kill-loop child: {error}");
            std::process::exit(2);
        }
        return;
    }
    if args.iter().any(|arg| arg == "--list") {
        println!("sigkill_at_scale_loses_no_acknowledged_commit: test");
        return;
    }
    let filtered_out = args.iter().skip(1).any(|arg| {
        !arg.starts_with('-')
            && !"sigkill_at_scale_loses_no_acknowledged_commit".contains(arg.as_str())
    });
    if filtered_out {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let config = KillConfig {
        seed: number("KEEL_SIGKILL_SEED", rand::random::<u64>() % 100_000),
        kills: number("KEEL_SIGKILL_KILLS", KILLS_DEFAULT),
        duration: None,
        threads: 4,
        dir: scratch.path().join("db"),
    };
    let exe = std::env::current_exe().unwrap();
    let report = run(&config, |_| {
        let mut command = Command::new(&exe);
        command.arg("--child");
        command
    });
    println!("{report}");
    assert!(report.failure.is_none(), "{report}");
    assert_eq!(report.lost, 0);
    assert!(report.kills >= config.kills);
    assert!(report.verified > 0, "no acknowledged commit was checked");
    println!("test sigkill_at_scale_loses_no_acknowledged_commit ... ok");
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
