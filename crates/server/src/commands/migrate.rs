//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
//! [AUTH password | AUTH2 username password] [KEYS key …]: moves keys to
//! another keel serve or a redis-server with DUMP's payload (Redis's own,
//! `rdb/`) and RESTORE, as Redis does.
//!
//! It runs on the connection, not in one transaction: each key's DUMP and
//! PTTL are read (a transaction each), the target is sent AUTH, SELECT and
//! a RESTORE per key in one pipeline outside any transaction (a
//! transaction may be retried, and a retry must not restore twice), and
//! the keys the target took are deleted with one DEL unless COPY. A write
//! to a key between its DUMP and that DEL is lost with it, where Redis,
//! single-threaded, has no such window. Connections are not cached
//! (Redis keeps one per target for 10 s).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;

use super::Request;
use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::client::Client;
use super::table;
use crate::resp::{Command, Reply};

/// The timeout Redis uses when the one given is not positive.
const TIMEOUT_DEFAULT_MS: i64 = 1000;

/// The longest reply line read from the target (its errors are short).
const REPLY_LINE_BYTES_MAX: u64 = 64 * 1024;

const KEYS_NEED_EMPTY_KEY_TEXT: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
const CONNECT_ERROR_TEXT: &str = "IOERR error or timeout connecting to the client";
const WRITE_ERROR_TEXT: &str = "IOERR error or timeout writing to target instance";
const READ_ERROR_TEXT: &str = "IOERR error or timeout reading to target instance";

/// MIGRATE's arguments.
#[derive(Debug, PartialEq, Eq)]
struct MigrateOptions {
    host: String,
    port: u16,
    database: i64,
    timeout_ms: u64,
    copy: bool,
    replace: bool,
    username: Option<Bytes>,
    password: Option<Bytes>,
    keys: Vec<Bytes>,
}

/// Reads MIGRATE's arguments as Redis's `migrateCommand` does.
fn parse(arguments: &[Bytes]) -> Result<MigrateOptions, Reply> {
    let (mut copy, mut replace) = (false, false);
    let (mut username, mut password) = (None, None);
    let mut keys = vec![arguments[3].clone()];
    let mut index = 6;
    while index < arguments.len() {
        let option = &arguments[index];
        let more = arguments.len() - 1 - index;
        if option.eq_ignore_ascii_case(b"COPY") {
            copy = true;
        } else if option.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"AUTH") && more >= 1 {
            password = Some(arguments[index + 1].clone());
            index += 1;
        } else if option.eq_ignore_ascii_case(b"AUTH2") && more >= 2 {
            username = Some(arguments[index + 1].clone());
            password = Some(arguments[index + 2].clone());
            index += 2;
        } else if option.eq_ignore_ascii_case(b"KEYS") {
            if !arguments[3].is_empty() {
                return Err(Reply::error(KEYS_NEED_EMPTY_KEY_TEXT));
            }
            keys = arguments[index + 1..].to_vec();
            break;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        index += 1;
    }
    let timeout_ms = integer_argument(&arguments[5])?;
    let database = integer_argument(&arguments[4])?;
    let port = integer_argument(&arguments[2])?;
    Ok(MigrateOptions {
        host: String::from_utf8_lossy(&arguments[1]).into_owned(),
        port: u16::try_from(port).map_err(|_| Reply::error(CONNECT_ERROR_TEXT))?,
        database,
        timeout_ms: if timeout_ms <= 0 {
            TIMEOUT_DEFAULT_MS
        } else {
            timeout_ms
        } as u64,
        copy,
        replace,
        username,
        password,
        keys,
    })
}

/// Runs data command `parts` on the client's session.
fn run(client: &mut Client, parts: Vec<Bytes>) -> Reply {
    let Some(spec) = table::lookup(&parts[0]) else {
        return Reply::error("ERR unknown command");
    };
    client.session.execute(&Request {
        database: client.database,
        spec,
        command: Command::new(parts),
        protocol: client.protocol,
    })
}

/// A RESP request of `parts`.
fn request(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// A key to send: its name, payload and TTL in milliseconds (0: none).
struct Outgoing {
    key: Bytes,
    payload: Bytes,
    ttl_ms: i64,
}

/// The keys that exist, with their payloads and TTLs.
fn gather(client: &mut Client, keys: &[Bytes]) -> Result<Vec<Outgoing>, Reply> {
    let mut outgoing = Vec::new();
    for key in keys {
        let payload = match run(client, vec![Bytes::from_static(b"DUMP"), key.clone()]) {
            Reply::Bulk(payload) => payload,
            Reply::NullBulk => continue,
            error @ Reply::Error(_) => return Err(error),
            _ => continue,
        };
        let ttl_ms = match run(client, vec![Bytes::from_static(b"PTTL"), key.clone()]) {
            Reply::Integer(-2) => continue, // Expired between the two.
            Reply::Integer(ttl) if ttl > 0 => ttl,
            _ => 0,
        };
        outgoing.push(Outgoing {
            key: key.clone(),
            payload,
            ttl_ms,
        });
    }
    Ok(outgoing)
}

/// One reply line of the target: `Ok(None)` for success, `Ok(Some(text))`
/// for an error reply.
fn read_reply<R: BufRead>(reader: &mut R) -> Result<Option<String>, Reply> {
    let mut line = Vec::new();
    std::io::Read::take(reader, REPLY_LINE_BYTES_MAX)
        .read_until(b'\n', &mut line)
        .map_err(|_| Reply::error(READ_ERROR_TEXT))?;
    match line.first() {
        Some(b'+') | Some(b':') => Ok(None),
        Some(b'-') => {
            let text = String::from_utf8_lossy(&line[1..]);
            Ok(Some(text.trim_end().to_owned()))
        }
        _ => Err(Reply::error(READ_ERROR_TEXT)),
    }
}

/// Sends `keys` to the target; the keys it took, or the error to reply
/// with and the keys it took before it.
fn send(options: &MigrateOptions, keys: &[Outgoing]) -> Result<Vec<Bytes>, (Reply, Vec<Bytes>)> {
    let timeout = Duration::from_millis(options.timeout_ms);
    let fail = |text: &str| (Reply::error(text), Vec::new());
    let address = (options.host.as_str(), options.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| fail(CONNECT_ERROR_TEXT))?;
    let stream =
        TcpStream::connect_timeout(&address, timeout).map_err(|_| fail(CONNECT_ERROR_TEXT))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let _ = stream.set_nodelay(true);
    let mut out = Vec::new();
    let mut preamble = 0;
    if let Some(password) = &options.password {
        match &options.username {
            Some(username) => request(&mut out, &[b"AUTH", username, password]),
            None => request(&mut out, &[b"AUTH", password]),
        }
        preamble += 1;
    }
    request(
        &mut out,
        &[b"SELECT", options.database.to_string().as_bytes()],
    );
    preamble += 1;
    for key in keys {
        let ttl = key.ttl_ms.to_string();
        let mut parts: Vec<&[u8]> = vec![b"RESTORE", &key.key, ttl.as_bytes(), &key.payload];
        if options.replace {
            parts.push(b"REPLACE");
        }
        request(&mut out, &parts);
    }
    let mut writer = &stream;
    writer.write_all(&out).map_err(|_| fail(WRITE_ERROR_TEXT))?;
    let mut reader = BufReader::new(&stream);
    for _ in 0..preamble {
        if let Some(error) = read_reply(&mut reader).map_err(|reply| (reply, Vec::new()))? {
            let text = format!("ERR Target instance replied with error: {error}");
            return Err((Reply::error(text), Vec::new()));
        }
    }
    let mut taken = Vec::new();
    let mut first_error = None;
    for key in keys {
        match read_reply(&mut reader) {
            Ok(None) => taken.push(key.key.clone()),
            Ok(Some(error)) => {
                let text = format!("ERR Target instance replied with error: {error}");
                first_error.get_or_insert(Reply::error(text));
            }
            Err(reply) => return Err((reply, taken)),
        }
    }
    match first_error {
        Some(error) => Err((error, taken)),
        None => Ok(taken),
    }
}

/// MIGRATE.
pub(crate) fn migrate(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let options = match parse(arguments) {
        Ok(options) => options,
        Err(reply) => return Some(reply),
    };
    let keys = match gather(client, &options.keys) {
        Ok(keys) => keys,
        Err(reply) => return Some(reply),
    };
    if keys.is_empty() {
        return Some(Reply::Simple("NOKEY".to_owned()));
    }
    let (reply, taken) = match send(&options, &keys) {
        Ok(taken) => (Reply::ok(), taken),
        Err((reply, taken)) => (reply, taken),
    };
    if !options.copy && !taken.is_empty() {
        let mut delete = vec![Bytes::from_static(b"DEL")];
        delete.extend(taken);
        if let error @ Reply::Error(_) = run(client, delete) {
            return Some(error);
        }
    }
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|part| Bytes::copy_from_slice(part.as_bytes()))
            .collect()
    }

    #[test]
    fn options_are_read_as_redis_reads_them() {
        let options = parse(&arguments(&[
            "MIGRATE", "h", "7000", "", "3", "0", "COPY", "AUTH2", "u", "p", "KEYS", "a", "b",
        ]))
        .unwrap();
        assert_eq!(options.port, 7000);
        assert_eq!((options.database, options.timeout_ms), (3, 1000));
        assert!(options.copy && !options.replace);
        assert_eq!(options.username.as_deref(), Some(&b"u"[..]));
        assert_eq!(options.password.as_deref(), Some(&b"p"[..]));
        assert_eq!(options.keys, arguments(&["a", "b"]));
        let refused = [
            (
                &["MIGRATE", "h", "1", "k", "0", "5", "KEYS", "a"][..],
                KEYS_NEED_EMPTY_KEY_TEXT,
            ),
            (
                &["MIGRATE", "h", "1", "k", "0", "5", "AUTH"][..],
                SYNTAX_ERROR_TEXT,
            ),
            (
                &["MIGRATE", "h", "1", "k", "0", "5", "AUTH2", "u"][..],
                SYNTAX_ERROR_TEXT,
            ),
            (
                &["MIGRATE", "h", "1", "k", "0", "5", "bogus"][..],
                SYNTAX_ERROR_TEXT,
            ),
            (
                &["MIGRATE", "h", "1", "k", "db", "5"][..],
                "ERR value is not an integer or out of range",
            ),
        ];
        for (parts, error) in refused {
            assert_eq!(
                parse(&arguments(parts)),
                Err(Reply::error(error)),
                "{parts:?}"
            );
        }
    }
}
