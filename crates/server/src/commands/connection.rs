//! The connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO,
//! RESET, WAIT.

use bytes::Bytes;

use super::arguments::NOT_AN_INTEGER_TEXT;
use super::client::{After, Client};
use super::id::CommandId;
use super::table;
use crate::backend::DatabaseIndex;
use crate::resp::{ProtocolVersion, Reply, parse_integer};

/// AUTH with a password when no password is configured (Redis 6+).
pub const AUTH_WITHOUT_PASSWORD_TEXT: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

/// A wrong user name or password (Redis 6+).
pub const WRONGPASS_TEXT: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// HELLO before authentication, without its AUTH option.
pub const HELLO_NOAUTH_TEXT: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

/// PING [message]: in RESP2 pub/sub mode, `pong` and the message as an
/// array.
pub(crate) fn ping(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    if arguments.len() <= 2
        && let Some(reply) = super::pubsub::subscribed_pong(client, arguments.get(1))
    {
        return Some(reply);
    }
    Some(match arguments.len() {
        1 => Reply::Simple("PONG".to_owned()),
        2 => Reply::Bulk(arguments[1].clone()),
        _ => table::wrong_arity(table::spec_of(CommandId::Ping)),
    })
}

/// ECHO message.
pub(crate) fn echo(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(Reply::Bulk(arguments[1].clone()))
}

/// QUIT: +OK, then the connection closes.
pub(crate) fn quit(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    client.after = After::Close;
    Some(Reply::ok())
}

/// SELECT index.
pub(crate) fn select(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(match database_index(client, &arguments[1]) {
        Ok(index) => {
            client.database = index;
            Reply::ok()
        }
        Err(reply) => reply,
    })
}

/// A database index as SELECT reads it.
pub(crate) fn database_index(client: &Client, index: &[u8]) -> Result<DatabaseIndex, Reply> {
    let Some(index) = parse_integer(index) else {
        return Err(Reply::error(NOT_AN_INTEGER_TEXT));
    };
    if i32::try_from(index).is_err() {
        // Redis reads the index as a C int (`getIntFromObjectOrReply`).
        return Err(Reply::error(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    match DatabaseIndex::try_from(index) {
        Ok(index) if index < client.shared.options.databases => Ok(index),
        _ => Err(Reply::error("ERR DB index is out of range")),
    }
}

/// AUTH [username] password.
pub(crate) fn auth(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    if arguments.len() > 3 {
        return Some(Reply::error("ERR syntax error"));
    }
    if arguments.len() == 2 && client.shared.users.default_user().nopass {
        return Some(Reply::error(AUTH_WITHOUT_PASSWORD_TEXT));
    }
    let (user, password) = match arguments {
        [_, password] => (&b"default"[..], password),
        [_, user, password] => (&user[..], password),
        _ => return Some(table::wrong_arity(table::spec_of(CommandId::Auth))),
    };
    Some(authenticate(client, user, password))
}

/// Checks credentials against the ACL users (`acl.rs`); `+OK` or
/// WRONGPASS.
fn authenticate(client: &mut Client, user: &[u8], password: &[u8]) -> Reply {
    client.log_in(user, password)
}

/// HELLO's arguments.
#[derive(Default)]
struct Hello {
    version: Option<ProtocolVersion>,
    credentials: Option<(Bytes, Bytes)>,
    name: Option<Bytes>,
}

fn parse_hello(arguments: &[Bytes]) -> Result<Hello, Reply> {
    let mut hello = Hello::default();
    let mut next = 1;
    if let Some(requested) = arguments.get(1) {
        let Some(number) = parse_integer(requested) else {
            return Err(Reply::error(
                "ERR Protocol version is not an integer or out of range",
            ));
        };
        hello.version = match number {
            2 => Some(ProtocolVersion::Resp2),
            3 => Some(ProtocolVersion::Resp3),
            _ => return Err(Reply::error("NOPROTO unsupported protocol version")),
        };
        next = 2;
    }
    while next < arguments.len() {
        let option = &arguments[next];
        let more = arguments.len() - 1 - next;
        if option.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            hello.credentials = Some((arguments[next + 1].clone(), arguments[next + 2].clone()));
            next += 3;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            hello.name = Some(arguments[next + 1].clone());
            next += 2;
        } else {
            return Err(Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(option)
            )));
        }
    }
    Ok(hello)
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]].
pub(crate) fn hello(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let hello = match parse_hello(arguments) {
        Ok(hello) => hello,
        Err(reply) => return Some(reply),
    };
    if let Some((user, password)) = hello.credentials {
        let reply = authenticate(client, &user, &password);
        if reply.is_error() {
            return Some(reply);
        }
    }
    if !client.authenticated {
        return Some(Reply::error(HELLO_NOAUTH_TEXT));
    }
    if let Some(name) = hello.name {
        let reply = client.set_name(&name);
        if reply.is_error() {
            return Some(reply);
        }
    }
    if let Some(version) = hello.version {
        client.set_protocol(version);
    }
    let field = |name: &str, value: Reply| (Reply::bulk(name), value);
    Some(Reply::Map(vec![
        field("server", Reply::bulk("redis")),
        field("version", Reply::bulk(&client.shared.options.redis_version)),
        field("proto", Reply::Integer(client.protocol.number())),
        field(
            "id",
            Reply::Integer(i64::try_from(client.id()).unwrap_or(i64::MAX)),
        ),
        field("mode", Reply::bulk("standalone")),
        field("role", Reply::bulk("master")),
        field("modules", Reply::Array(Vec::new())),
    ]))
}

/// RESET: the connection as it was when it connected (Redis 6.2): no
/// MULTI, nothing watched, no subscription, database 0, RESP2, no name,
/// and unauthenticated again where a password is required.
pub(crate) fn reset(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    client.transaction = None;
    client.session.unwatch();
    super::pubsub::forget(client);
    client.database = 0;
    client.set_protocol(ProtocolVersion::Resp2);
    client.name = None;
    client.user = client.shared.users.default_user();
    client.user_generation = client.shared.users.generation();
    client.authenticated = super::client::default_needs_no_password(&client.shared);
    Some(Reply::Simple("RESET".to_owned()))
}

/// WAIT numreplicas timeout: keel has no replicas, so none acknowledged,
/// at once (Redis would block up to `timeout` for a positive count; keel
/// never blocks its event loop for replicas that cannot come).
pub(crate) fn wait(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    if parse_integer(&arguments[1]).is_none() {
        return Some(Reply::error(NOT_AN_INTEGER_TEXT));
    }
    Some(match parse_integer(&arguments[2]) {
        None => Reply::error("ERR timeout is not an integer or out of range"),
        Some(timeout) if timeout < 0 => Reply::error("ERR timeout is negative"),
        Some(_) => Reply::Integer(0),
    })
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell an attacker how much of a guess was right.
pub(crate) fn constant_time_equal(expected: &[u8], given: &[u8]) -> bool {
    let mut difference = u8::from(expected.len() != given.len());
    for (index, &byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(index).copied().unwrap_or(!byte);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equal_compares_whole_strings() {
        assert!(constant_time_equal(b"secret", b"secret"));
        assert!(!constant_time_equal(b"secret", b"secreT"));
        assert!(!constant_time_equal(b"secret", b"secre"));
        assert!(!constant_time_equal(b"secret", b"secrets"));
        assert!(constant_time_equal(b"", b""));
    }
}
