//! Large values through a keel-server over a real keel database: a bulk
//! argument of tens of MiB read into a buffer sized for it and stored
//! without a copy, then read back whole, byte for byte — with arguments
//! and requests after it in the same reads.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod engine_support;

use std::io::{Read, Write};
use std::net::TcpStream;

use engine_support::{EngineServer, READ_TIMEOUT};
use keel_server::AppendFsync;

/// A value whose every byte depends on its position, so that a shifted,
/// truncated or mixed-up copy cannot compare equal.
fn patterned(len: usize) -> Vec<u8> {
    (0..len)
        .map(|index| (index % 251) as u8 ^ (index >> 16) as u8)
        .collect()
}

fn bulk_header(len: usize) -> Vec<u8> {
    format!("${len}\r\n").into_bytes()
}

/// Reads from `stream` until `len` bytes arrived.
fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    stream.read_exact(&mut out).unwrap();
    out
}

#[test]
fn a_64_mib_value_round_trips_byte_exact_with_requests_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::EverySec);
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let value = patterned(64 << 20);

    // SET big <value> PX 600000, the value in uneven writes, the
    // arguments after it and a PING in the write that ends it.
    let mut head = b"*5\r\n$3\r\nSET\r\n$3\r\nbig\r\n".to_vec();
    head.extend_from_slice(&bulk_header(value.len()));
    head.extend_from_slice(&value[..1000]);
    stream.write_all(&head).unwrap();
    for piece in value[1000..].chunks(3 << 20) {
        stream.write_all(piece).unwrap();
    }
    stream
        .write_all(b"\r\n$2\r\nPX\r\n$6\r\n600000\r\n*1\r\n$4\r\nPING\r\n")
        .unwrap();
    assert_eq!(read_exactly(&mut stream, 12), b"+OK\r\n+PONG\r\n");

    // MSET of two 8 MiB values in one request, then both read back.
    let small = patterned(8 << 20);
    let mut mset = b"*5\r\n$4\r\nMSET\r\n$1\r\na\r\n".to_vec();
    mset.extend_from_slice(&bulk_header(small.len()));
    mset.extend_from_slice(&small);
    mset.extend_from_slice(b"\r\n$1\r\nb\r\n");
    mset.extend_from_slice(&bulk_header(small.len()));
    mset.extend_from_slice(&small);
    mset.extend_from_slice(b"\r\n");
    stream.write_all(&mset).unwrap();
    assert_eq!(read_exactly(&mut stream, 5), b"+OK\r\n");

    for (key, expected) in [("big", &value), ("a", &small), ("b", &small)] {
        stream
            .write_all(format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes())
            .unwrap();
        let header = bulk_header(expected.len());
        assert_eq!(read_exactly(&mut stream, header.len()), header, "{key}");
        let got = read_exactly(&mut stream, expected.len() + 2);
        assert!(
            got[..expected.len()] == expected[..],
            "{key}: the value differs"
        );
        assert_eq!(&got[expected.len()..], b"\r\n");
    }
    stream
        .write_all(b"*2\r\n$6\r\nSTRLEN\r\n$3\r\nbig\r\n")
        .unwrap();
    let strlen = format!(":{}\r\n", value.len());
    assert_eq!(read_exactly(&mut stream, strlen.len()), strlen.as_bytes());
    drop(stream);
    server.stop();
}
