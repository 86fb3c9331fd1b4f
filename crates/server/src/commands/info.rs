//! INFO's text: the server's own sections (server, clients, memory,
//! stats, replication, errorstats, commandstats) and the backend's
//! (persistence, keyspace, keel and more stats), merged by name, in
//! Redis's order, with the field names Redis exporters read.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::client::Client;
use crate::backend::InfoSection;
use crate::state::{Shared, lock};

/// Redis's section order; keel's own last.
const ORDER: [&str; 10] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "errorstats",
    "keyspace",
    "commandstats",
    "keel",
];

fn section(name: &str, fields: Vec<(&str, String)>) -> InfoSection {
    InfoSection {
        name: name.to_owned(),
        fields: fields
            .into_iter()
            .map(|(field, value)| (field.to_owned(), value))
            .collect(),
    }
}

fn server_section(shared: &Shared) -> InfoSection {
    let options = &shared.options;
    let uptime_seconds = shared.started.elapsed().as_secs();
    section(
        "server",
        vec![
            ("redis_version", options.redis_version.clone()),
            ("keel_version", env!("CARGO_PKG_VERSION").to_owned()),
            ("redis_mode", "standalone".to_owned()),
            ("os", std::env::consts::OS.to_owned()),
            ("arch_bits", usize::BITS.to_string()),
            ("multiplexing_api", "epoll".to_owned()),
            ("process_id", std::process::id().to_string()),
            ("run_id", shared.run_id.clone()),
            ("tcp_port", shared.local_address.port().to_string()),
            ("uptime_in_seconds", uptime_seconds.to_string()),
            ("uptime_in_days", (uptime_seconds / 86_400).to_string()),
            ("io_threads_active", options.io_threads.to_string()),
        ],
    )
}

fn clients_section(shared: &Shared) -> InfoSection {
    let connected = lock(&shared.clients).len();
    let (_, _, _, subscribers) = shared.pubsub.totals();
    section(
        "clients",
        vec![
            ("connected_clients", connected.to_string()),
            ("maxclients", shared.options.max_clients.to_string()),
            (
                "blocked_clients",
                shared
                    .blocked_clients
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string(),
            ),
            ("tracking_clients", "0".to_owned()),
            ("pubsub_clients", subscribers.to_string()),
        ],
    )
}

fn stats_section(shared: &Shared) -> InfoSection {
    let stats = &shared.stats;
    let (channels, patterns, shard_channels, _) = shared.pubsub.totals();
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed).to_string();
    section(
        "stats",
        vec![
            (
                "total_connections_received",
                load(&stats.connections_received),
            ),
            ("total_commands_processed", load(&stats.commands_processed)),
            ("instantaneous_ops_per_sec", "0".to_owned()),
            ("total_net_input_bytes", load(&stats.net_input_bytes)),
            ("total_net_output_bytes", load(&stats.net_output_bytes)),
            ("rejected_connections", load(&stats.connections_rejected)),
            ("keyspace_hits", "0".to_owned()),
            ("keyspace_misses", "0".to_owned()),
            ("pubsub_channels", channels.to_string()),
            ("pubsub_patterns", patterns.to_string()),
            ("pubsubshard_channels", shard_channels.to_string()),
            // MIGRATE caches no connection (`migrate.rs`).
            ("migrate_cached_sockets", "0".to_owned()),
            ("total_error_replies", load(&stats.error_replies)),
            ("keel_commit_groups", load(&stats.groups)),
            ("keel_grouped_commands", load(&stats.grouped_commands)),
        ],
    )
}

fn memory_section(shared: &Shared) -> InfoSection {
    let resident_bytes = resident_bytes();
    let setting = |name: &str| {
        super::config::lookup(name)
            .map(|parameter| shared.config.value(parameter))
            .unwrap_or_default()
    };
    let human = format!("{:.2}M", resident_bytes as f64 / 1_048_576.0);
    section(
        "memory",
        vec![
            ("used_memory", resident_bytes.to_string()),
            ("used_memory_human", human.clone()),
            ("used_memory_rss", resident_bytes.to_string()),
            ("used_memory_rss_human", human),
            ("used_memory_peak", resident_bytes.to_string()),
            ("used_memory_lua", shared.scripts.lua_bytes().to_string()),
            (
                "used_memory_vm_eval",
                shared.scripts.lua_bytes().to_string(),
            ),
            (
                "used_memory_scripts_eval",
                shared.scripts.cached_bytes().to_string(),
            ),
            (
                "number_of_cached_scripts",
                shared.scripts.cached_count().to_string(),
            ),
            ("maxmemory", setting("maxmemory")),
            ("maxmemory_policy", setting("maxmemory-policy")),
            ("mem_fragmentation_ratio", "1.00".to_owned()),
            ("mem_allocator", shared.options.mem_allocator.clone()),
        ],
    )
}

fn replication_section() -> InfoSection {
    section(
        "replication",
        vec![
            ("role", "master".to_owned()),
            ("connected_slaves", "0".to_owned()),
            ("master_failover_state", "no-failover".to_owned()),
            ("master_repl_offset", "0".to_owned()),
            ("repl_backlog_active", "0".to_owned()),
        ],
    )
}

fn errorstats_section(shared: &Shared) -> InfoSection {
    InfoSection {
        name: "errorstats".to_owned(),
        fields: shared
            .stats
            .error_counts()
            .into_iter()
            .map(|(code, count)| (format!("errorstat_{code}"), format!("count={count}")))
            .collect(),
    }
}

fn commandstats_section(shared: &Shared) -> InfoSection {
    let fields = shared
        .stats
        .command_lines()
        .into_iter()
        .map(|(name, counters)| {
            let per_call = if counters.calls == 0 {
                0.0
            } else {
                counters.usec as f64 / counters.calls as f64
            };
            (
                format!("cmdstat_{name}"),
                format!(
                    "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                    counters.calls, counters.usec, counters.rejected_calls, counters.failed_calls
                ),
            )
        })
        .collect();
    InfoSection {
        name: "commandstats".to_owned(),
        fields,
    }
}

/// Every section, the backend's merged in, in Redis's order.
pub(crate) fn sections(shared: &Shared) -> Vec<InfoSection> {
    let mut sections = vec![
        server_section(shared),
        clients_section(shared),
        stats_section(shared),
        memory_section(shared),
        replication_section(),
        errorstats_section(shared),
        commandstats_section(shared),
    ];
    for section in shared.backend.info_sections() {
        match sections
            .iter_mut()
            .find(|existing| existing.name == section.name)
        {
            Some(existing) => existing.fields.extend(section.fields),
            None => sections.push(section),
        }
    }
    sections.sort_by_key(|section| {
        ORDER
            .iter()
            .position(|name| *name == section.name)
            .unwrap_or(ORDER.len())
    });
    sections
}

/// INFO's text for the requested sections: none or `default` is every
/// section but commandstats; `all` and `everything` all.
pub(crate) fn text(client: &Client, requested: &[Bytes]) -> String {
    let requested: Vec<String> = requested
        .iter()
        .map(|section| String::from_utf8_lossy(section).to_ascii_lowercase())
        .collect();
    let all = requested
        .iter()
        .any(|section| matches!(section.as_str(), "all" | "everything"));
    let default = requested.is_empty() || requested.iter().any(|section| section == "default");
    let mut text = String::new();
    for section in sections(&client.shared) {
        let wanted =
            all || requested.contains(&section.name) || (default && section.name != "commandstats");
        if !wanted {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let mut title = section.name.clone();
        if let Some(first) = title.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        text.push_str(&format!("# {title}\r\n"));
        for (field, value) in section.fields {
            text.push_str(&format!("{field}:{value}\r\n"));
        }
    }
    text
}

/// The process's resident set size in bytes (Linux: /proc/self/statm;
/// 0 elsewhere or when unreadable).
pub(crate) fn resident_bytes() -> u64 {
    const PAGE_BYTES: u64 = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * PAGE_BYTES)
}
