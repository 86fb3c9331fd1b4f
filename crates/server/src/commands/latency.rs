//! LATENCY: Redis's latency monitor records events (a slow fork, a slow
//! fsync, a slow command) above `latency-monitor-threshold`; keel records
//! none, so LATENCY answers as Redis does with no event: empty LATEST and
//! HISTORY, RESET of nothing, GRAPH without samples, and DOCTOR's report
//! for a quiet (or disabled) monitor. keel's own latency figures are in
//! INFO keel and `/metrics`.

use bytes::Bytes;

use super::client::Client;
use crate::resp::Reply;

/// LATENCY LATEST: no event.
pub(crate) fn latest(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Array(Vec::new()))
}

/// LATENCY HISTORY event: no sample.
pub(crate) fn history(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Array(Vec::new()))
}

/// LATENCY RESET [event …]: how many events were reset, none.
pub(crate) fn reset(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Integer(0))
}

/// LATENCY GRAPH event.
pub(crate) fn graph(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(Reply::error(format!(
        "ERR No samples available for event '{}'",
        String::from_utf8_lossy(&arguments[2])
    )))
}

/// LATENCY DOCTOR: Redis's report with no event, which depends on
/// whether the monitor is enabled.
pub(crate) fn doctor(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    let threshold = super::config::lookup("latency-monitor-threshold")
        .map(|parameter| client.shared.config.value(parameter))
        .unwrap_or_default();
    let report = if threshold == "0" {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
    } else {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
    };
    Some(Reply::verbatim_text(report))
}

/// The lines of LATENCY HELP.
pub(crate) const HELP_LINES: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
];
