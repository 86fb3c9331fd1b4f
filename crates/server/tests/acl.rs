//! ACL over real sockets: users made with ACL SETUSER authenticate with
//! AUTH, run only their commands on their keys and channels (NOPERM
//! otherwise, alone, pipelined or queued in MULTI), see a change to their
//! rules at their next command, and are disconnected when deleted; the ACL
//! subcommands answer with Redis 7.0's replies.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use common::{Client, Value, error, ok, words};
use engine_support::EngineServer;
use keel_server::AppendFsync;

const NO_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

#[test]
fn a_user_runs_only_its_commands_on_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut admin = Client::connect(server.address);
    let mut alice = Client::connect(server.address);
    assert_eq!(words(&mut admin, "ACL WHOAMI"), Value::bulk("default"));
    assert_eq!(
        words(
            &mut admin,
            "ACL SETUSER alice on >pw ~cached:* &news +get +set +publish +multi +exec"
        ),
        ok()
    );
    assert_eq!(
        words(&mut admin, "ACL SETUSER alice +bogus"),
        error(
            "ERR Error in ACL SETUSER modifier '+bogus': Unknown command or category name in ACL"
        )
    );
    assert_eq!(
        words(&mut admin, "ACL USERS"),
        Value::Array(vec![Value::bulk("alice"), Value::bulk("default")])
    );
    assert_eq!(
        words(&mut alice, "AUTH alice wrong"),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(words(&mut alice, "AUTH alice pw"), ok());
    assert_eq!(
        words(&mut alice, "ACL WHOAMI").clone(),
        error("NOPERM this user has no permissions to run the 'acl' command")
    );
    assert_eq!(words(&mut alice, "SET cached:1 v"), ok());
    assert_eq!(words(&mut alice, "GET cached:1"), Value::bulk("v"));
    assert_eq!(words(&mut alice, "GET secret"), error(NO_KEY));
    assert_eq!(
        words(&mut alice, "DEL cached:1"),
        error("NOPERM this user has no permissions to run the 'del' command")
    );
    assert_eq!(
        words(&mut alice, "PUBLISH sports score"),
        error(
            "NOPERM this user has no permissions to access one of the channels used as arguments"
        )
    );
    assert_eq!(words(&mut alice, "PUBLISH news hi"), Value::Integer(0));
    // Pipelined: the second request is refused on its own.
    alice.send(&["GET", "cached:1"]);
    alice.send(&["GET", "secret"]);
    assert_eq!(alice.read(), Value::bulk("v"));
    assert_eq!(alice.read(), error(NO_KEY));
    // Queued in MULTI: refused at once, and EXEC aborts.
    assert_eq!(words(&mut alice, "MULTI"), ok());
    assert_eq!(words(&mut alice, "GET secret"), error(NO_KEY));
    assert_eq!(
        words(&mut alice, "EXEC"),
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    let list = words(&mut admin, "CLIENT LIST").text();
    assert!(
        list.contains(" user=alice ") && list.contains(" user=default "),
        "{list}"
    );
    assert_eq!(
        words(&mut admin, "CLIENT KILL USER nobody"),
        error("ERR No such user 'nobody'")
    );
    // A change to her rules applies at her next command.
    assert_eq!(words(&mut admin, "ACL SETUSER alice +del allkeys"), ok());
    assert_eq!(words(&mut alice, "DEL secret"), Value::Integer(0));
    let Value::Array(line) = words(&mut admin, "ACL LIST") else {
        panic!("ACL LIST");
    };
    assert_eq!(
        line[0].text(),
        "user alice on sanitize-payload #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &news -@all +get +set +publish +multi +exec +del"
    );
    assert_eq!(
        words(&mut admin, "ACL GETUSER alice").field("keys"),
        Value::bulk("~*")
    );
    assert_eq!(words(&mut admin, "ACL GETUSER nobody"), Value::NullBulk);
    // Deleted: her connection is closed.
    assert_eq!(
        words(&mut admin, "ACL DELUSER default"),
        error("ERR The 'default' user cannot be removed")
    );
    assert_eq!(
        words(&mut admin, "ACL DELUSER alice nobody"),
        Value::Integer(1)
    );
    alice.send(&["GET", "cached:1"]);
    assert!(alice.read_until_closed().is_empty());
}

#[test]
fn acl_subcommands_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = Client::connect(server.address);
    let Value::Array(categories) = words(&mut client, "ACL CAT") else {
        panic!("ACL CAT");
    };
    assert_eq!(categories.len(), 21);
    assert!(categories.contains(&Value::bulk("keyspace")));
    let Value::Array(hash) = words(&mut client, "ACL CAT hash") else {
        panic!("ACL CAT hash");
    };
    assert!(hash.contains(&Value::bulk("hset")) && !hash.contains(&Value::bulk("get")));
    assert_eq!(
        words(&mut client, "ACL CAT nope"),
        error("ERR Unknown category 'nope'")
    );
    assert_eq!(words(&mut client, "ACL GENPASS").text().len(), 64);
    assert_eq!(words(&mut client, "ACL GENPASS 5").text().len(), 2);
    assert_eq!(words(&mut client, "ACL LOG"), Value::Array(Vec::new()));
    assert_eq!(
        words(&mut client, "ACL SETUSER reader on nopass allkeys +@read"),
        ok()
    );
    assert_eq!(words(&mut client, "ACL DRYRUN reader GET k"), ok());
    assert_eq!(
        words(&mut client, "ACL DRYRUN reader SET k v"),
        Value::bulk("This user has no permissions to run the 'set' command")
    );
    assert_eq!(
        words(&mut client, "ACL WHOAMI extra"),
        error("ERR unknown subcommand or wrong number of arguments for 'WHOAMI'. Try ACL HELP.")
    );
    // AUTH with a password when the default user has none.
    assert_eq!(
        words(&mut client, "AUTH pw"),
        error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
        )
    );
    assert_eq!(words(&mut client, "AUTH reader anything"), ok());
    assert_eq!(
        words(&mut client, "ACL WHOAMI"),
        error("NOPERM this user has no permissions to run the 'acl' command")
    );
    assert_eq!(words(&mut client, "RESET"), Value::Simple("RESET".into()));
    assert_eq!(words(&mut client, "ACL WHOAMI"), Value::bulk("default"));
}

#[test]
fn a_script_runs_with_its_callers_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut admin = Client::connect(server.address);
    assert_eq!(
        words(&mut admin, "ACL SETUSER carol on nopass ~own:* +eval +get"),
        ok()
    );
    let mut carol = Client::connect(server.address);
    assert_eq!(words(&mut carol, "AUTH carol x"), ok());
    let script = |body: &str| vec!["EVAL".to_owned(), body.to_owned(), "0".to_owned()];
    let run = |client: &mut Client, body: &str| {
        let parts = script(body);
        client.call(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(
        run(&mut carol, "return redis.call('get', 'own:1')"),
        Value::NullBulk
    );
    let Value::Error(text) = run(&mut carol, "return redis.call('del', 'own:1')") else {
        panic!("DEL from a script ran");
    };
    assert!(
        text.contains("The user executing the script can't run this command or subcommand"),
        "{text}"
    );
    let Value::Error(text) = run(&mut carol, "return redis.call('get', 'other')") else {
        panic!("GET of another key from a script ran");
    };
    assert!(
        text.contains("can't access at least one of the keys"),
        "{text}"
    );
}
