//! The protocol's per-request costs, without sockets: parsing a pipeline
//! of SET requests, encoding GET replies, matching a glob.
//!
//! `cargo bench -p keel-server --bench protocol`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_server::{Command, GlobPattern, Limits, ProtocolVersion, Reply, parse_all};

const REQUESTS: usize = 1000;

fn pipeline() -> Vec<u8> {
    let mut stream = Vec::new();
    for index in 0..REQUESTS {
        Command::from_parts(["SET", &format!("key:{index:08}"), "value-of-sixteen"])
            .encode(&mut stream);
    }
    stream
}

fn parse(criterion: &mut Criterion) {
    let stream = pipeline();
    let limits = Limits::default();
    let mut group = criterion.benchmark_group("parse");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    group.bench_function("multibulk_set_pipeline", |bencher| {
        bencher.iter(|| {
            let (commands, consumed, error) = parse_all(black_box(&stream), &limits);
            assert!(error.is_none() && consumed == stream.len());
            commands.len()
        });
    });
    let inline: Vec<u8> = (0..REQUESTS)
        .flat_map(|index| format!("SET key:{index:08} value-of-sixteen\r\n").into_bytes())
        .collect();
    group.bench_function("inline_set_pipeline", |bencher| {
        bencher.iter(|| parse_all(black_box(&inline), &limits).0.len());
    });
    group.finish();
}

fn encode(criterion: &mut Criterion) {
    let replies: Vec<Reply> = (0..REQUESTS)
        .map(|_| Reply::Bulk(Bytes::from_static(b"value-of-sixteen")))
        .collect();
    let mut group = criterion.benchmark_group("encode");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    for version in [ProtocolVersion::Resp2, ProtocolVersion::Resp3] {
        group.bench_function(format!("bulk_replies_{version:?}"), |bencher| {
            let mut out = Vec::with_capacity(64 * REQUESTS);
            bencher.iter(|| {
                out.clear();
                for reply in &replies {
                    reply.encode(version, &mut out);
                }
                out.len()
            });
        });
    }
    group.finish();
}

fn glob(criterion: &mut Criterion) {
    let pattern = GlobPattern::new(b"user:*:session:[0-9]*", false);
    let keys: Vec<String> = (0..REQUESTS)
        .map(|index| format!("user:{index}:session:{}", index % 7))
        .collect();
    let mut group = criterion.benchmark_group("glob");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    group.bench_function("match_keys", |bencher| {
        bencher.iter(|| {
            keys.iter()
                .filter(|key| pattern.matches(black_box(key.as_bytes())))
                .count()
        });
    });
    group.finish();
}

criterion_group!(benches, parse, encode, glob);
criterion_main!(benches);
