//! DEBUG: the subcommands Redis's test suite and tools use, as far as
//! they mean something for keel.
//!
//! - OBJECT, DIGEST, DIGEST-VALUE read data (`data_commands.rs`).
//! - RELOAD and LOADAOF: Redis reloads its data from disk; keel's data on
//!   disk is its data, so the backend checkpoints (RELOAD, unless NOSAVE)
//!   or syncs the log (LOADAOF) and answers OK. The keys, values and
//!   deadlines are then what a restart would find.
//! - SLEEP blocks the connection's event loop, as it blocks Redis.
//! - SET-ACTIVE-EXPIRE, DICT-RESIZING, JMAP, CHANGE-REPL-ID and other
//!   knobs of Redis's internals (QUICKLIST-PACKED-THRESHOLD,
//!   REPLYBUFFER …): accepted. keel
//!   hides a key from the moment its deadline passes, whether or not
//!   anything removed it yet, so a test that expects an expired key to
//!   linger until it is touched sees it gone.
//! - LOG writes its message to the server's log.

use std::time::Duration;

use bytes::Bytes;

use crate::resp::Reply;

/// Longest DEBUG SLEEP honoured, so a typo cannot stall a loop for days.
pub const DEBUG_SLEEP_MAX: Duration = Duration::from_secs(3600);

/// DEBUG HELP's lines (the subcommands keel knows).
pub const HELP_LINES: &[&str] = &[
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "DICT-RESIZING <0|1>",
    "    Accepted; keel has no hash tables to resize.",
    "LOADAOF",
    "    Sync the log: keel's data on disk is its data.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about the <key> and associated value.",
    "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
    "    Checkpoint (unless NOSAVE): keel's data on disk is its data.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Accepted; keel hides a key once its deadline passes either way.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "SLEEP <seconds>",
    "    Stop the server's event loop for <seconds> (fractions allowed).",
];

/// DEBUG PROTOCOL type: a reply of that RESP3 type (downgraded for a
/// RESP2 client), Redis's values. An attribute has no counterpart here:
/// only the reply that follows it is sent.
pub fn protocol_reply(kind: &[u8]) -> Reply {
    let kind = String::from_utf8_lossy(kind).to_ascii_lowercase();
    let three = || (0..3).map(Reply::Integer).collect::<Vec<_>>();
    match kind.as_str() {
        "string" => Reply::bulk("Hello World"),
        "integer" => Reply::Integer(12345),
        // Redis's value, not π.
        "double" => Reply::Double("3.141".parse().unwrap_or_default()),
        "bignum" => Reply::BigNumber("1234567999999999999999999999999999999".to_owned()),
        "null" => Reply::NullBulk,
        "array" => Reply::Array(three()),
        "set" => Reply::Set(three()),
        "map" => Reply::Map(
            (0..3)
                .map(|index| (Reply::Integer(index), Reply::Boolean(index == 1)))
                .collect(),
        ),
        "attrib" => Reply::bulk("Some real reply following the attribute"),
        "push" => Reply::Push(three()),
        "verbatim" => Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"This is a verbatim\nstring"),
        },
        "true" => Reply::Boolean(true),
        "false" => Reply::Boolean(false),
        _ => Reply::error(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

/// Redis's reply to an unknown DEBUG subcommand or a wrong argument count.
pub fn unknown_subcommand(subcommand: &[u8]) -> Reply {
    let shown = &subcommand[..subcommand.len().min(128)];
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(shown)
    ))
}

/// The DEBUG subcommands that need no data (`arguments` is the whole
/// command, at least two arguments).
pub fn reply_without_data(arguments: &[Bytes]) -> Reply {
    let subcommand = String::from_utf8_lossy(&arguments[1]).to_ascii_lowercase();
    match (subcommand.as_str(), arguments.len()) {
        ("help", 2) => {
            let mut lines = vec![Reply::Simple(
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".to_owned(),
            )];
            lines.extend(
                HELP_LINES
                    .iter()
                    .map(|line| Reply::Simple((*line).to_owned())),
            );
            lines.push(Reply::Simple("HELP".to_owned()));
            lines.push(Reply::Simple("    Prints this help.".to_owned()));
            Reply::Array(lines)
        }
        ("sleep", 3) => {
            // Redis reads the seconds with strtod: anything else is 0.
            let seconds = std::str::from_utf8(&arguments[2])
                .ok()
                .and_then(|text| text.trim().parse::<f64>().ok())
                .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
                .unwrap_or(0.0);
            std::thread::sleep(Duration::from_secs_f64(seconds).min(DEBUG_SLEEP_MAX));
            Reply::ok()
        }
        // Knobs of Redis's internals keel does not have: accepted.
        ("set-active-expire" | "dict-resizing" | "quicklist-packed-threshold", 3)
        | (
            "set-skip-checksum-validation"
            | "set-disable-deny-scripts"
            | "pause-cron"
            | "replybuffer",
            3..,
        )
        | ("change-repl-id" | "jmap", 2) => Reply::ok(),
        ("stringmatch-len", 2) => {
            Reply::Simple("Apparently Redis did not crash: test passed".to_owned())
        }
        ("log", 3) => {
            tracing::info!(message = %String::from_utf8_lossy(&arguments[2]), "DEBUG LOG");
            Reply::ok()
        }
        ("reload", _) => {
            for option in &arguments[2..] {
                if ![&b"MERGE"[..], b"NOFLUSH", b"NOSAVE"]
                    .iter()
                    .any(|known| option.eq_ignore_ascii_case(known))
                {
                    return Reply::error(format!(
                        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options, got '{}'",
                        String::from_utf8_lossy(option)
                    ));
                }
            }
            Reply::ok()
        }
        ("loadaof", 2) => Reply::ok(),
        ("protocol", 3) => protocol_reply(&arguments[2]),
        _ => unknown_subcommand(&arguments[1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(parts: &[&str]) -> Reply {
        let arguments: Vec<Bytes> = parts
            .iter()
            .map(|part| Bytes::copy_from_slice(part.as_bytes()))
            .collect();
        reply_without_data(&arguments)
    }

    #[test]
    fn accepted_subcommands_answer_ok() {
        for parts in [
            &["DEBUG", "set-active-expire", "0"][..],
            &["debug", "DICT-RESIZING", "1"],
            &["DEBUG", "sleep", "0"],
            &["DEBUG", "sleep", "0.001"],
            &["DEBUG", "sleep", "soon"],
            &["DEBUG", "log", "hello"],
            &["DEBUG", "reload"],
            &["DEBUG", "reload", "nosave", "MERGE"],
            &["DEBUG", "loadaof"],
            &["DEBUG", "jmap"],
            &["DEBUG", "quicklist-packed-threshold", "100"],
        ] {
            assert_eq!(run(parts), Reply::ok(), "{parts:?}");
        }
    }

    #[test]
    fn unknown_subcommands_and_counts_get_redis_text() {
        assert_eq!(
            run(&["DEBUG", "nope"]),
            Reply::error(
                "ERR unknown subcommand or wrong number of arguments for 'nope'. Try DEBUG HELP."
            )
        );
        assert_eq!(
            run(&["DEBUG", "sleep"]),
            Reply::error(
                "ERR unknown subcommand or wrong number of arguments for 'sleep'. Try DEBUG HELP."
            )
        );
        assert!(run(&["DEBUG", "reload", "bogus"]).is_error());
        let Reply::Array(lines) = run(&["DEBUG", "HELP"]) else {
            panic!("an array");
        };
        assert!(lines.len() > 4);
    }
}
