//! A minimal RESP2 client over a loopback socket, for tests that must know
//! exactly which replies arrived before a connection broke: commands are
//! encoded by hand, sent in one write (a pipeline) or one at a time, and
//! each reply is read on its own. Client libraries hide which replies of a
//! pipeline arrived when the server dies, and a crash test needs exactly
//! that.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use super::STARTUP_TIMEOUT;

/// Bytes of one bulk reply the client accepts (a safety net against a
/// garbled length).
pub const BULK_BYTES_MAX: usize = 64 << 20;

/// Elements of one array reply the client accepts.
pub const ARRAY_LENGTH_MAX: usize = 1 << 20;

/// A RESP2 reply.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3 abc`, or `$-1` (`None`).
    Bulk(Option<Vec<u8>>),
    /// `*2 …`, or `*-1` (`None`).
    Array(Option<Vec<Value>>),
}

impl Value {
    /// `+OK`.
    pub fn ok() -> Value {
        Value::Simple("OK".to_owned())
    }

    /// A bulk string.
    pub fn bulk(text: &str) -> Value {
        Value::Bulk(Some(text.as_bytes().to_vec()))
    }

    /// The bulk string as text, if this is one (not nil).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Bytes of a bulk shown in a failure message.
        const SHOWN_BYTES_MAX: usize = 64;
        match self {
            Value::Simple(text) => write!(formatter, "+{text}"),
            Value::Error(text) => write!(formatter, "-{text}"),
            Value::Integer(number) => write!(formatter, ":{number}"),
            Value::Bulk(None) => write!(formatter, "nil"),
            Value::Bulk(Some(bytes)) => {
                let shown = &bytes[..bytes.len().min(SHOWN_BYTES_MAX)];
                write!(formatter, "{:?}", String::from_utf8_lossy(shown))?;
                if bytes.len() > SHOWN_BYTES_MAX {
                    write!(formatter, "…({} bytes)", bytes.len())?;
                }
                Ok(())
            }
            Value::Array(None) => write!(formatter, "nil-array"),
            Value::Array(Some(items)) => formatter.debug_list().entries(items).finish(),
        }
    }
}

/// Appends `arguments` as one RESP multibulk command to `out`.
pub fn encode<S: AsRef<[u8]>>(arguments: &[S], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", arguments.len()).as_bytes());
    for argument in arguments {
        let argument = argument.as_ref();
        out.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
        out.extend_from_slice(argument);
        out.extend_from_slice(b"\r\n");
    }
}

/// One connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    /// Connects to `127.0.0.1:port`; reads and writes time out after
    /// [`STARTUP_TIMEOUT`] (a safety net: a test never waits on it).
    pub fn open(port: u16) -> io::Result<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(STARTUP_TIMEOUT))?;
        stream.set_write_timeout(Some(STARTUP_TIMEOUT))?;
        Ok(Connection {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends already encoded commands (see [`encode`]) in one write.
    pub fn send_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends one command.
    pub fn send<S: AsRef<[u8]>>(&mut self, arguments: &[S]) -> io::Result<()> {
        let mut bytes = Vec::new();
        encode(arguments, &mut bytes);
        self.send_encoded(&bytes)
    }

    /// Sends one command and reads its reply.
    pub fn call<S: AsRef<[u8]>>(&mut self, arguments: &[S]) -> io::Result<Value> {
        self.send(arguments)?;
        self.read()
    }

    /// Reads the next reply.
    pub fn read(&mut self) -> io::Result<Value> {
        let line = self.read_line()?;
        let (kind, rest) = line
            .split_first()
            .ok_or_else(|| invalid("an empty reply line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        match kind {
            b'+' => Ok(Value::Simple(text)),
            b'-' => Ok(Value::Error(text)),
            b':' => Ok(Value::Integer(parse_integer(&text)?)),
            b'$' => {
                let length = parse_integer(&text)?;
                if length < 0 {
                    return Ok(Value::Bulk(None));
                }
                let length = usize::try_from(length).map_err(|_| invalid("bulk length"))?;
                if length > BULK_BYTES_MAX {
                    return Err(invalid("bulk longer than BULK_BYTES_MAX"));
                }
                let mut bytes = vec![0; length + 2];
                self.reader.read_exact(&mut bytes)?;
                if !bytes.ends_with(b"\r\n") {
                    return Err(invalid("bulk not followed by CRLF"));
                }
                bytes.truncate(length);
                Ok(Value::Bulk(Some(bytes)))
            }
            b'*' => {
                let length = parse_integer(&text)?;
                if length < 0 {
                    return Ok(Value::Array(None));
                }
                let length = usize::try_from(length).map_err(|_| invalid("array length"))?;
                if length > ARRAY_LENGTH_MAX {
                    return Err(invalid("array longer than ARRAY_LENGTH_MAX"));
                }
                let mut items = Vec::with_capacity(length.min(1024));
                for _ in 0..length {
                    items.push(self.read()?);
                }
                Ok(Value::Array(Some(items)))
            }
            _ => Err(invalid("an unknown reply type")),
        }
    }

    /// A line without its CRLF; a connection closed before it is an error.
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let read = self.reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if !line.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a reply line",
            ));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

fn parse_integer(text: &str) -> io::Result<i64> {
    text.parse()
        .map_err(|_| invalid("a reply integer that does not parse"))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("RESP: {what}"))
}
